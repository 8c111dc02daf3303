import { describe, expect, it } from 'vitest';
import { AuditEntity } from '../../src/admin/audit.ts';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { makeTeam, signedIn, type StaffClient } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { uniqueName } from '../helpers/backends.ts';
import { cst } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();
const content = (app: TestApp) => (app.capabilities.find((c) => c.name === 'ops') as OpsCapability).content;

/** What the citizen's phone got last (the passive reply's text). */
async function ask(app: TestApp, openid: string, words: string): Promise<string> {
  await app.emulator!.act(openid, { type: 'subscribe' });
  const first = (await app.emulator!.act(openid, { type: 'text', content: words })) as { reply?: { content?: string } };
  const said = first.reply?.content ?? '';
  // A list of hits: the citizen opens the first, as most do.
  if (!said.includes('回复数字查看')) return said;
  const opened = (await app.emulator!.act(openid, { type: 'text', content: '1' })) as { reply?: { content?: string } };
  return `${said}\n${opened.reply?.content ?? ''}`;
}

const NEW_ANSWER = '从 12 月起，示范区行政服务中心周六全天开放（9:00–17:00），周日休息。冬至当天下午提前到 15:00 下班。';

async function csrfOf(c: StaffClient, path: string): Promise<string> {
  const p = await c.page(path);
  return /name="_csrf" value="([^"]+)"/.exec(p.html)![1]!;
}

describe('content staff edit in the panel', () => {
  it('an FAQ answer changed in the panel is what chat and search answer at once; audited; rolled back to the profile', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const boss = await signedIn(app, team.supervisor);
    expect(await ask(app, 'o_c1', '礼拜六能去办事吗')).toContain('周六上午 9:00–12:00');
    expect(await ask(app, 'o_c0', '冬至下班')).not.toContain('冬至当天'); // nothing says so yet

    const path = '/admin/ops/content/faq/weekend-hours';
    const edit = await boss.page(path);
    expect(edit.status).toBe(200);
    expect(edit.html).toContain('周末和节假日能办事吗');
    const csrf = await csrfOf(boss, path);
    // A preview saves nothing.
    const preview = await boss.post(path, { _csrf: csrf, base: '0', question: '周末和节假日能办事吗？', answer: NEW_ANSWER, intent: 'preview' }, { csrf: null });
    expect(preview.status).toBe(200);
    expect(await preview.text()).toContain('冬至当天');
    expect(await content(app).history('faq', 'weekend-hours')).toEqual([]);
    // Saved: live at once.
    const saved = await boss.post(path, { _csrf: csrf, base: '0', question: '周末和节假日能办事吗？', answer: NEW_ANSWER, note: '冬季开放时间调整', intent: 'save' }, { csrf: null });
    expect(saved.status).toBe(302);
    const reply = await ask(app, 'o_c2', '礼拜六能去办事吗');
    expect(reply).toContain('周六全天开放');
    expect(reply).not.toContain('周六上午 9:00–12:00');
    // Search reads the new words too: 冬至 appears only in the new answer.
    expect(await ask(app, 'o_c3', '冬至下班')).toContain('冬至当天');
    const audit = await app.db.getRepository(AuditEntity).findBy({ action: 'content-edit' as never });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: team.supervisor.username, target: 'content:faq:weekend-hours' });
    expect(audit[0]!.detail).toContain('第 1 版');

    // A stale form (made before the save) is refused, not applied over the newer text.
    const stale = await boss.post(path, { _csrf: csrf, base: '0', question: '周末和节假日能办事吗？', answer: '旧页面上的改动', intent: 'save' }, { csrf: null });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toContain('刚被别人改过');
    expect(await ask(app, 'o_c4', '礼拜六能去办事吗')).toContain('周六全天开放');

    // Back to the profile's text.
    const back = await boss.post(`${path}/rollback`, { _csrf: csrf, base: '1', version: '0' }, { csrf: null });
    expect(back.status).toBe(302);
    expect(await ask(app, 'o_c5', '礼拜六能去办事吗')).toContain('周六上午 9:00–12:00');
    expect((await content(app).history('faq', 'weekend-hours')).map((h) => [h.version, h.action])).toEqual([
      [2, 'rollback'],
      [1, 'edit'],
    ]);
    // ... and forward again to version 1.
    await boss.post(`${path}/rollback`, { _csrf: csrf, base: '2', version: '1' }, { csrf: null });
    expect(await ask(app, 'o_c6', '礼拜六能去办事吗')).toContain('周六全天开放');
  });

  it('wrong input is refused with a clear message and saves nothing; handlers may not edit', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const boss = await signedIn(app, team.supervisor);
    const path = '/admin/ops/content/notice/notice-saturday-service';
    const csrf = await csrfOf(boss, path);
    const cases: [Record<string, string>, RegExp][] = [
      [{ title: '', text: '正文' }, /「标题」不能为空/],
      [{ title: '周六服务', text: '长'.repeat(4001) }, /「正文」不超过 4000 字/],
      [{ title: '周六服务', text: '正文', valid_from: '2026年12月1日' }, /生效时间」要写成 2026-12-31/],
      [{ title: '周六服务', text: '正文', valid_from: '2026-02-30' }, /生效时间」要写成/],
      [{ title: '周六服务', text: '正文', valid_from: '2026-12-10', valid_until: '2026-12-01' }, /失效时间要晚于生效时间/],
    ];
    for (const [fields, message] of cases) {
      const res = await boss.post(path, { _csrf: csrf, base: '0', intent: 'save', ...fields }, { csrf: null });
      expect(res.status, JSON.stringify(fields).slice(0, 60)).toBe(422);
      expect(await res.text()).toMatch(message);
    }
    expect(await content(app).history('notice', 'notice-saturday-service')).toEqual([]);
    expect((await boss.page('/admin/ops/content/notice/no-such-thing')).status).toBe(404);
    expect((await boss.page('/admin/ops/content/bogus/notice-saturday-service')).status).toBe(404);
    const handler = await signedIn(app, team.handler);
    expect((await handler.page('/admin/ops/content')).status).toBe(403);
    expect((await handler.post(path, { _csrf: await csrfOf(boss, path), base: '0', intent: 'save', title: 'x', text: 'y' }, { csrf: null })).status).toBe(403);
  });

  it('a notice with a validity window disappears when it ends; guides change on the page; edits survive a restart and reach another instance', async () => {
    const shared = uniqueName('content');
    const clock = undefined;
    const a = await startApp({ shared, ...(clock ? { clock } : {}) });
    const team = await makeTeam(a);
    const actor = { kind: 'staff' as const, id: team.supervisor.id, username: team.supervisor.username, name: team.supervisor.name, role: team.supervisor.role, department: team.supervisor.department };
    const b = await startApp({ shared });
    // A: the Saturday notice gets an end date; the passport guide a new fee.
    await content(a).edit(actor, 'notice', 'notice-saturday-service', { title: '周六上午延时服务（至年底）', text: '12 月 31 日前每周六上午 9:00–12:00 开放。', valid_until: '2026-12-31' }, 0, null);
    const passport = content(a).get('guide', 'passport').state.values;
    await content(a).edit(actor, 'guide', 'passport', { ...Object.fromEntries(Object.entries(passport).map(([k, v]) => [k, Array.isArray(v) ? v.join('\n') : v])), fee: '护照 120 元（2026 年 12 月起）' }, 0, '收费调整');
    const page = await fetch(`${a.url}/h5/guide/passport`);
    expect(await page.text()).toContain('护照 120 元（2026 年 12 月起）');
    // B reads the shared database on its next poll (what the 3-second timer runs).
    expect(await content(b).refresh()).toBe(true);
    expect(await (await fetch(`${b.url}/h5/guide/passport`)).text()).toContain('护照 120 元');
    expect(content(b).get('notice', 'notice-saturday-service').state).toMatchObject({ values: { title: '周六上午延时服务（至年底）' }, valid_until: '2026-12-31' });
    // A restart lays the edits over the fresh profile again.
    await a.close();
    const again = await startApp({ shared });
    expect(await (await fetch(`${again.url}/h5/guide/passport`)).text()).toContain('护照 120 元');
    expect(content(again).get('guide', 'passport').version).toBe(1);
    // Past its end the notice is gone from the numbered lists.
    again.clock.set(cst(2027, 1, 2));
    await again.emulator!.act('o_n1', { type: 'subscribe' });
    await again.emulator!.act('o_n1', { type: 'click', key: 'notices' } as never);
    const inbox = JSON.stringify(again.emulator!.platform.inbox('o_n1'));
    expect(inbox).not.toContain('周六上午延时服务');
  });
});

/** What the phone shows after tapping a menu button (the passive reply's text). */
async function tap(app: TestApp, openid: string, key: string): Promise<string> {
  await app.emulator!.act(openid, { type: 'subscribe' });
  const r = (await app.emulator!.act(openid, { type: 'click', key } as never)) as { reply?: { content?: string } };
  return r.reply?.content ?? '';
}

const WINTER = { title: '冬季供暖期间大厅延时服务', text: '供暖期间（12 月 1 日至次年 3 月 15 日）示范区行政服务中心工作日延长到 18:30，腊八节当天照常开放。', valid_until: '2027-03-15' };

describe('content staff publish new notices and policy interpretations', () => {
  it('a new notice goes live at once in its list, in search and by id; audited; retired and brought back by rollback; handlers may not', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const boss = await signedIn(app, team.supervisor);
    expect(await tap(app, 'o_p0', 'notices')).not.toContain(WINTER.title);
    expect(await ask(app, 'o_p0s', '腊八节开门吗')).not.toContain('腊八节当天照常开放');
    expect((await boss.page('/admin/ops/content?kind=notice')).html).toContain('href="/admin/ops/content/new"');
    const form = await boss.page('/admin/ops/content/new');
    expect(form.status).toBe(200);
    expect(form.html).toContain('政策解读和通知公告 › 通知公告');
    const csrf = await csrfOf(boss, '/admin/ops/content/new');
    // A preview shows the text at phone width and saves nothing; a wrong form says why.
    const preview = await boss.post('/admin/ops/content/new', { _csrf: csrf, list: 'notices', ...WINTER, intent: 'preview' }, { csrf: null });
    expect(preview.status).toBe(200);
    expect(await preview.text()).toMatch(/class="phone-preview">供暖期间/);
    expect(await content(app).history('notice', 'x')).toEqual([]);
    const wrong = await boss.post('/admin/ops/content/new', { _csrf: csrf, list: 'guides', ...WINTER, intent: 'save' }, { csrf: null });
    expect(wrong.status).toBe(422);
    expect(await wrong.text()).toContain('请选择要发布到哪个栏目');
    expect((await boss.post('/admin/ops/content/new', { _csrf: csrf, list: 'notices', ...WINTER, title: '', intent: 'save' }, { csrf: null })).status).toBe(422);
    expect(content(app).items('notice').filter((i) => i.created)).toEqual([]);

    const saved = await boss.post('/admin/ops/content/new', { _csrf: csrf, list: 'notices', ...WINTER, note: '供暖期延时', intent: 'save' }, { csrf: null });
    expect(saved.status).toBe(302);
    const path = saved.headers.get('location')!;
    const id = /^\/admin\/ops\/content\/notice\/(new-[a-z0-9-]+)$/.exec(path)![1]!;
    // Live at once: first in the 通知公告 list, opened by its number, found by search.
    const list = await tap(app, 'o_p1', 'notices');
    expect(list).toContain(`msgmenuid=1">1</a>  ${WINTER.title}`);
    expect(list.indexOf(WINTER.title)).toBeLessThan(list.indexOf('周六上午延时服务'));
    expect(((await app.emulator!.act('o_p1', { type: 'text', content: '1' })) as { reply?: { content?: string } }).reply?.content).toContain('腊八节当天照常开放');
    expect(await ask(app, 'o_p2', '腊八节开门吗')).toContain('腊八节当天照常开放');
    expect(app.engine.navigation.find(id)?.path).toEqual(['policy', 'notices', id]);
    const audit = await app.db.getRepository(AuditEntity).findBy({ action: 'content-create' as never });
    expect(audit.map((x) => [x.actor, x.target])).toEqual([[team.supervisor.username, `content:notice:${id}`]]);
    expect(audit[0]!.detail).toContain('发布到「政策解读和通知公告 › 通知公告」');
    const page = await boss.page(path);
    expect(page.html).toContain(WINTER.title);
    expect(page.html).not.toContain('配置文件原文</td>'); // no version 0 to go back to

    // Retired: gone from the list, the search and every lookup; a rollback brings it back.
    expect((await boss.post(`${path}/retire`, { _csrf: csrf, base: '1', note: '供暖期改期' }, { csrf: null })).status).toBe(302);
    expect(await tap(app, 'o_p3', 'notices')).not.toContain(WINTER.title);
    expect(await ask(app, 'o_p4', '腊八节开门吗')).not.toContain('腊八节当天照常开放');
    expect(app.engine.navigation.find(id)).toBeUndefined();
    expect((await boss.page('/admin/ops/content?kind=notice')).html).toContain('已撤下');
    expect((await boss.post(`${path}/rollback`, { _csrf: csrf, base: '2', version: '0' }, { csrf: null })).status).toBe(404);
    expect((await boss.post(`${path}/rollback`, { _csrf: csrf, base: '2', version: '1' }, { csrf: null })).status).toBe(302);
    expect(await tap(app, 'o_p5', 'notices')).toContain(WINTER.title);
    expect((await content(app).history('notice', id)).map((h) => [h.version, h.action])).toEqual([
      [3, 'rollback'],
      [2, 'retire'],
      [1, 'create'],
    ]);
    expect((await app.db.getRepository(AuditEntity).findBy({ action: 'content-retire' as never })).map((x) => x.target)).toEqual([`content:notice:${id}`]);

    // A notice from the profile can be retired too; version 0 brings it back.
    const sat = '/admin/ops/content/notice/notice-saturday-service';
    expect((await boss.post(`${sat}/retire`, { _csrf: csrf, base: '0' }, { csrf: null })).status).toBe(302);
    expect(await tap(app, 'o_p6', 'notices')).not.toContain('周六上午延时服务');
    expect((await boss.post(`${sat}/rollback`, { _csrf: csrf, base: '1', version: '0' }, { csrf: null })).status).toBe(302);
    expect(await tap(app, 'o_p7', 'notices')).toContain('周六上午延时服务');

    const handler = await signedIn(app, team.handler);
    expect((await handler.page('/admin/ops/content/new')).status).toBe(403);
    expect((await handler.post('/admin/ops/content/new', { _csrf: csrf, list: 'notices', ...WINTER, intent: 'save' }, { csrf: null })).status).toBe(403);
    expect((await handler.post(`${path}/retire`, { _csrf: csrf, base: '3' }, { csrf: null })).status).toBe(403);
  });

  it('a new 政策解读 for one audience only; a full list refuses more; published items reach another instance and survive a restart', async () => {
    const shared = uniqueName('publish');
    const a = await startApp({ shared });
    const team = await makeTeam(a);
    const actor = { kind: 'staff' as const, id: team.supervisor.id, username: team.supervisor.username, name: team.supervisor.name, role: team.supervisor.role, department: team.supervisor.department };
    const b = await startApp({ shared });
    const policy = await content(a).create(actor, 'policy', { title: '小微企业社保费缓缴政策解读', text: '符合条件的小微企业可以申请缓缴三个月社保费，缓缴期间不收滞纳金。', 'audience-business': '1' }, null);
    expect(policy).toMatchObject({ created: true, place: '政策解读和通知公告', state: { audience: ['business'] } });
    expect(a.engine.navigation.find(policy.id)?.node.audience).toEqual(['business']);
    // Another instance has it after its next poll (what the 3-second timer runs).
    expect(b.engine.navigation.find(policy.id)).toBeUndefined();
    expect(await content(b).refresh()).toBe(true);
    expect(b.engine.navigation.find(policy.id)?.node).toMatchObject({ title: '小微企业社保费缓缴政策解读', audience: ['business'] });
    // Shown to businesses only: a resident's search does not find it, a business's does.
    const say = async (openid: string, content: string) => ((await b.emulator!.act(openid, { type: 'text', content })) as { reply?: { content?: string } }).reply?.content ?? '';
    expect(await ask(b, 'o_q0', '小微企业社保费缓缴')).not.toContain('不收滞纳金');
    await tap(b, 'o_q1', 'audience');
    expect(await say('o_q1', '2')).toContain('企业');
    const found = await say('o_q1', '小微企业社保费缓缴');
    expect(found.includes('不收滞纳金') ? found : await say('o_q1', '1')).toContain('不收滞纳金');
    // The list holds 9 at most (one digit each in chat): 通知公告 has 3, so 6 more fit.
    for (let i = 1; i <= 6; i++) await content(a).create(actor, 'notices', { title: `通知 ${i}`, text: `第 ${i} 条通知。` }, null);
    await expect(content(a).create(actor, 'notices', { title: '第十条', text: '放不下了。' }, null)).rejects.toThrow('最多 9 项');
    // A restart lays them over the fresh profile again.
    await a.close();
    const again = await startApp({ shared });
    expect(again.engine.navigation.find(policy.id)?.path).toEqual(['policy', policy.id]);
    expect(content(again).lists().find((l) => l.id === 'notices')?.count).toBe(9);
    expect(await tap(again, 'o_q2', 'notices')).toContain('通知 6');
  });
});
