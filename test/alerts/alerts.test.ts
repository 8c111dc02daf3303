import { describe, expect, it } from 'vitest';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';

const app = appsClosedAfterEach();

const textOf = (r: unknown) => ((r as { content?: string } | null)?.content ?? '') as string;

describe('staff alerts', () => {
  it('go to the department\'s supervisors, else its administrators; duty alerts to its duty officers', async () => {
    const a = await app();
    const team = await makeTeam(a);
    const toSup = await a.alerts.raise({ kind: 'urgent-ticket', department: 'service-centre', to: 'supervisors', title: '紧急工单：井盖缺失', link: '/admin/inbox' });
    expect(toSup.map((s) => s.id)).toEqual([team.supervisor.id]);
    const toDuty = await a.alerts.raise({ kind: 'urgent-handoff', department: 'service-centre', to: 'duty', title: '紧急留言', link: '/admin/inbox' });
    expect(toDuty.map((s) => s.id)).toEqual([team.duty.id]);
    // 民政局 has nobody in post: its alerts reach the administrators instead of nobody.
    const none = await a.alerts.raise({ kind: 'urgent-ticket', department: 'civil-affairs', to: 'duty', title: '紧急', link: '/admin/inbox' });
    expect(none.map((s) => s.id)).toEqual([team.admin.id]);
    expect(await a.alerts.unread(team.supervisor.id)).toBe(1);
    expect(await a.alerts.unread(team.handler.id)).toBe(0);
  });

  it.each(DB_BACKENDS)('raised inside a transaction that fails, leave nothing behind ($label)', async (b) => {
    if (!available(b)) return;
    const a = await app({ db: b.name });
    const team = await makeTeam(a);
    await expect(
      a.db.transaction(async (m) => {
        await a.alerts.raise({ kind: 'escalation', department: 'service-centre', to: 'supervisors', title: '督办', link: '/admin/inbox' }, m);
        throw new Error('the change it reports failed');
      }),
    ).rejects.toThrow('failed');
    expect(await a.alerts.unread(team.supervisor.id)).toBe(0);
  });

  it('show in the panel with a badge, mask personal data, open where they are acted on, and are one\'s own', async () => {
    const a = await app();
    const team = await makeTeam(a);
    await a.alerts.raise({ kind: 'urgent-ticket', department: 'service-centre', to: 'supervisors', title: '紧急：市民 13812345678 反映燃气泄漏', link: '/admin/inbox?view=escalated', urgent: true });
    const [id] = (await a.alerts.list(team.supervisor.id)).map((x) => x.id);
    const boss = await signedIn(a, team.supervisor);
    const inbox = await boss.page('/admin/inbox');
    expect(inbox.html).toMatch(/id="nav-alerts"[^>]*>提醒<em class="badge badge-red">1<\/em>/);
    const list = await boss.page('/admin/alerts');
    expect(list.html).toContain('紧急');
    expect(list.html).not.toContain('13812345678');
    expect(list.html).toContain('138****5678');
    // Someone else's alert does not exist for them.
    const other = await signedIn(a, team.handler);
    expect((await other.get(`/admin/alerts/${id}`)).status).toBe(404);
    const open = await boss.get(`/admin/alerts/${id}`);
    expect(open.status).toBe(302);
    expect(open.headers.get('location')).toBe('/admin/inbox?view=escalated');
    expect(await a.alerts.unread(team.supervisor.id)).toBe(0);
    expect((await boss.page('/admin/inbox')).html).toMatch(/id="nav-alerts"[^>]*>提醒<em class="badge badge-red" hidden>0<\/em>/);
  });

  it('change the live pulse of an open inbox page, and the fragment carries the count', async () => {
    const a = await app();
    const team = await makeTeam(a);
    const boss = await signedIn(a, team.supervisor);
    const before = (await boss.get('/admin/inbox/fragment')).headers.get('x-pulse');
    await a.alerts.raise({ kind: 'urgent-handoff', department: 'service-centre', to: 'supervisors', title: '紧急留言', link: '/admin/inbox' });
    const res = await boss.get('/admin/inbox/fragment');
    expect(res.headers.get('x-pulse')).not.toBe(before);
    expect(res.headers.get('x-alerts')).toBe('1');
  });

  it('reach a staff member\'s own WeChat once they bound it by scanning the panel\'s one-time code', async () => {
    const a = await app();
    const team = await makeTeam(a);
    const boss = await signedIn(a, team.supervisor);
    await boss.page('/admin/account/wechat');
    const res = await boss.post('/admin/account/wechat/code');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<svg');
    // The code the panel drew is a temporary parametric code on the platform: the phone scans it.
    const code = a.emulator!.platform.liveQrCodes().find((q) => q.scene.startsWith('staffbind:'));
    expect(code).toBeDefined();
    await a.emulator!.act('o_wang_phone', { type: 'subscribe' });
    const bound = await a.emulator!.act('o_wang_phone', { type: 'scan', scene: code!.scene });
    expect(textOf(bound.reply)).toContain('已绑定：王主任');
    expect((await a.accounts.get(team.supervisor.id))!.wechatOpenid).toBe('o_wang_phone');
    // Once only: the same code scanned again (or by someone else) binds nothing.
    const again = await a.emulator!.act('o_someone_else', { type: 'scan', scene: code!.scene });
    expect(textOf(again.reply)).toContain('已经失效');
    expect((await a.accounts.get(team.supervisor.id))!.wechatOpenid).toBe('o_wang_phone');

    await a.alerts.raise({ kind: 'urgent-ticket', department: 'service-centre', to: 'supervisors', title: '紧急工单：路面塌陷', link: '/admin/inbox', urgent: true });
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_wang_phone').filter((i) => i.channel === 'template');
    expect(sent).toHaveLength(1);
    expect(Object.values(sent[0]!.message.data as Record<string, string>).join(' ')).toContain('紧急工单');
    // A second run sends nothing twice.
    await a.jobs.runDue();
    expect(a.emulator!.platform.inbox('o_wang_phone').filter((i) => i.channel === 'template')).toHaveLength(1);

    // Unbound: alerts stay in the panel.
    await boss.page('/admin/account/wechat');
    expect((await boss.post('/admin/account/wechat/unbind')).status).toBe(302);
    await a.alerts.raise({ kind: 'urgent-ticket', department: 'service-centre', to: 'supervisors', title: '紧急工单：二次', link: '/admin/inbox' });
    await a.jobs.runDue();
    expect(a.emulator!.platform.inbox('o_wang_phone').filter((i) => i.channel === 'template')).toHaveLength(1);
    expect(await a.alerts.unread(team.supervisor.id)).toBe(2);
  });
});
