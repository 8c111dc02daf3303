import { describe, expect, it } from 'vitest';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { checkReport } from '../../src/ops/check-cli.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const startApp = appsClosedAfterEach();
const ops = (app: TestApp) => app.capabilities.find((c) => c.name === 'ops') as OpsCapability;
const byId = (rs: Awaited<ReturnType<OpsCapability['selfCheck']>>) => Object.fromEntries(rs.map((r) => [r.id, r]));

/** The demo profile as a department might leave it after a busy year. */
function neglected(p: Record<string, any>): void {
  const [open, service] = p.menu.buttons;
  // 政策解读 moved under 办政事 (the survey's own example of a wrong parent).
  const policy = open.sub_button.shift();
  service.sub_button.splice(4, 1, policy);
  // Last October's notice still in the menu.
  open.sub_button.push({ type: 'click', name: '国庆安排', key: 'notice-national-day-2026' });
  // A notice linking to a page that is gone, and an FAQ answer to a site that does not answer.
  const notices = p.navigation.find((n: any) => n.id === 'policy').children.find((n: any) => n.id === 'notices');
  notices.children.push({ id: 'notice-old-form', title: '下载申请表', reply: { text: '申请表在这里：<a href="/h5/forms/apply-2019.pdf">点击下载</a>' } });
  p.faq[0].answer += ' 详见 http://127.0.0.1:9/hours';
  // A template field WeChat would refuse.
  p.templates.case_progress.fields.phrase3 = '正在审核中请您耐心等待';
}

describe('the self-check (体检)', () => {
  it('finds a sub-menu under the wrong function, an expired item left in the menu, broken links and a template over its limit', async () => {
    const app = await startApp({ profile: neglected });
    const r = byId(await ops(app).selfCheck());
    expect(r.menu!.verdict).toBe('finding');
    expect(r.menu!.details.join('\n')).toContain('「办政事 › 政策解读」打开的是「政策解读和通知公告」（政务公开），却放在「办事服务」菜单下');
    expect(r.expired!.verdict).toBe('finding');
    expect(r.expired!.veto).toBe(true);
    expect(r.expired!.details.join('\n')).toContain('菜单「知政务 › 国庆安排」仍在菜单里，点开是过期的「国庆假期大厅开放安排」（2026-10-10 已到期）');
    expect(r.links!.verdict).toBe('finding');
    const broken = r.links!.details.join('\n');
    expect(broken).toContain('/h5/forms/apply-2019.pdf：404');
    expect(broken).toMatch(/http:\/\/127\.0\.0\.1:9\/hours：打不开/);
    expect(r.links!.details).toHaveLength(2); // every other link answers
    expect(r.templates!.details.join('\n')).toContain('phrase3（短语）固定文字就有 11 字，超过 5 字的上限');
    // No browser was given: the phone check says it did not look, rather than passing.
    expect(r.phone!.verdict).toBe('skipped');
    expect(r.calendar!.verdict).toBe('finding'); // 2027 is not in config/calendar.yaml yet
    expect(checkReport(Object.values(r))).toContain('含一票否决项');
  });

  it('the demo profile as shipped passes what it can, and counts unanswered citizens against the norms', async () => {
    const app = await startApp();
    const first = byId(await ops(app).selfCheck());
    for (const id of ['menu', 'links', 'expired', 'signin', 'pii', 'norms', 'templates']) expect(first[id]!.verdict, `${id}: ${first[id]!.details.join('; ')}`).toBe('pass');
    // A citizen nobody answers for two days: the norms point becomes a (veto) finding.
    await app.emulator!.act('o_chk', { type: 'subscribe' });
    await app.emulator!.act('o_chk', { type: 'text', content: '转人工' });
    app.clock.advance(2 * 86_400_000);
    const later = byId(await ops(app).selfCheck());
    expect(later.norms!).toMatchObject({ verdict: 'finding', veto: true });
    expect(later.norms!.details[0]).toContain('1 个请求超过时限仍未答复');
  });

  it('the panel shows the last result; only administrators run it', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const boss = await signedIn(app, team.supervisor);
    expect((await boss.page('/admin/ops/check')).html).toContain('还没有体检过');
    await app.kv.set('ops:check:last', JSON.stringify({ at: app.clock.now(), by: '管理员', results: await ops(app).selfCheck() }));
    const page = await boss.page('/admin/ops/check');
    expect(page.html).toContain('节假日日历包含今年和明年');
    expect(page.html).toContain('体检由管理员运行');
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await boss.page('/admin/ops/content')).html)![1]!;
    expect((await boss.post('/admin/ops/check', { _csrf: csrf }, { csrf: null })).status).toBe(403);
    const handler = await signedIn(app, team.handler);
    expect((await handler.page('/admin/ops/check')).status).toBe(403);
  });
});

describe('the weekly self-check', () => {
  it('stores its result and alerts the administrators when it finds something, then plans the next Monday', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    await app.jobs.enqueue('ops.weekly-check', {});
    await app.jobs.runDue();
    const stored = JSON.parse((await app.kv.get('ops:check:last'))!) as { by: string; results: { id: string; verdict: string }[] };
    expect(stored.by).toBe('每周自动体检');
    expect(stored.results.find((r) => r.id === 'calendar')!.verdict).toBe('finding'); // 2027 missing
    expect(await app.alerts.unread(team.admin.id)).toBe(1);
    const next = await app.jobs.list({ name: 'ops.weekly-check', status: 'pending' });
    expect(next).toHaveLength(1);
    expect(next[0]!.runAt).toBe(Date.UTC(2026, 10, 30, 0, 0)); // Monday 30 November, 08:00 China time
  });
});
