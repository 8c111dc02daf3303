import { describe, expect, it } from 'vitest';
import { CitizenEntity } from '../../src/chat/log.ts';
import { NoticeEntity, NoticeRecipientEntity } from '../../src/services/notices/index.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { PG_URL } from '../helpers/backends.ts';

const startApp = appsClosedAfterEach();

/** Followers, as many as a test needs, without a callback each: the account's table and the platform's. */
async function followers(a: TestApp, n: number, prefix = 'o_follower_'): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
  const now = a.clock.now();
  for (let i = 0; i < ids.length; i += 200) {
    await a.db.getRepository(CitizenEntity).insert(ids.slice(i, i + 200).map((openid) => ({ openid, subscribed: true, subscribedAt: now, unsubscribedAt: null, scene: null, firstSeenAt: now, lastInteractionAt: null, lastInteractionKind: null, lastMessageAt: null, audience: null, careMode: false, updatedAt: now })));
  }
  for (const id of ids) {
    a.emulator!.platform.citizen(id);
    a.emulator!.platform.setSubscribed(id, true);
  }
  return ids;
}

const templatesTo = (a: TestApp, openid: string) => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template');

async function compose(a: TestApp, fields: Record<string, string>) {
  const team = await makeTeam(a);
  const sup = await signedIn(a, team.supervisor);
  await sup.page('/admin/notices/new?template=booking_reminder');
  const res = await sup.post('/admin/notices', { template: 'booking_reminder', segment: 'all', url: '/h5/guides', ...fields });
  return { team, sup, res };
}

const GOOD = { f_thing1: '居住证签注集中办理', f_time2: '2026年12月5日 9:00', f_thing3: '各社区事务受理服务中心', f_character_string4: 'NOTICE-1205' };

describe('mass notices (群发通知)', () => {
  it('refuses a value over WeChat’s limit with its label, and only supervisors and administrators may send', async () => {
    const a = await startApp();
    const { team, res, sup } = await compose(a, { ...GOOD, f_thing1: '十二月起居住证签注可以在全市任意一个社区事务受理服务中心办理' });
    expect(res.status).toBe(422);
    const text = await res.text();
    expect(text).toContain('「预约事项」最多 20 个字');
    expect(text).toContain('十二月起居住证签注'); // what staff typed is kept for correcting
    const bad = await sup.post('/admin/notices', { template: 'booking_reminder', segment: 'all', ...GOOD, f_character_string4: '编号一' });
    expect(await bad.text()).toContain('只能填字母、数字和符号');
    const duty = await signedIn(a, team.duty);
    expect((await duty.get('/admin/notices')).status).toBe(403);
  });

  it('sends to every follower in batches, pauses and resumes, survives a run killed mid-send without sending anyone twice, and reports deliveries', async () => {
    const a = await startApp();
    const ids = await followers(a, 230);
    a.emulator!.platform.findCitizen(ids[7]!)!.blocked = true;
    const { res, sup } = await compose(a, GOOD);
    expect(res.status).toBe(302);
    const id = Number(/\/admin\/notices\/(\d+)/.exec(res.headers.get('location')!)![1]);
    const preview = await sup.page(`/admin/notices/${id}`);
    expect(preview.html).toContain('共 <strong>230</strong> 人');
    expect(preview.html).toContain('居住证签注集中办理');
    expect((await sup.post(`/admin/notices/${id}/send`)).status).toBe(302);
    expect((await sup.post(`/admin/notices/${id}/send`)).status).toBe(302); // a second click sends nothing more

    await a.jobs.runDue(); // the first batch (100); the next waits for the rate
    let n = await a.db.getRepository(NoticeEntity).findOneByOrFail({ id });
    expect(n).toMatchObject({ status: 'sending', total: 230, sent: 100 });
    const page = await sup.page(`/admin/notices/${id}`);
    expect(page.html).toContain('<progress max="230" value="100"></progress>');

    await sup.post(`/admin/notices/${id}/pause`);
    a.clock.advance(5_000);
    await a.jobs.runDue();
    expect((await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).sent).toBe(100);

    // A run killed after WeChat accepted a message but before it was marked: the recipient is left
    // `sending`, and the message is in their WeChat already.
    const rrepo = a.db.getRepository(NoticeRecipientEntity);
    const victim = (await rrepo.findOneByOrFail({ noticeId: id, openid: ids[150]! }))!;
    await rrepo.update({ id: victim.id }, { status: 'sending' });
    await a.api.template.send(victim.openid, { templateId: 'TPL_DEMO_BOOKING_REMINDER', data: { thing1: GOOD.f_thing1, time2: GOOD.f_time2, thing3: GOOD.f_thing3, character_string4: GOOD.f_character_string4 }, clientMsgId: `nt-${id}-${victim.id}` });

    await sup.page(`/admin/notices/${id}`);
    await sup.post(`/admin/notices/${id}/resume`);
    for (let i = 0; i < 5; i++) {
      a.clock.advance(1_000);
      await a.jobs.runDue();
    }
    n = await a.db.getRepository(NoticeEntity).findOneByOrFail({ id });
    expect(n).toMatchObject({ status: 'done', total: 230, sent: 230, failed: 0 });
    for (const o of ids) expect(templatesTo(a, o), o).toHaveLength(1);

    expect(await a.emulator!.reportDeliveries()).toBe(230); // one per message: the resend after the kill was dropped as a repeat
    n = await a.db.getRepository(NoticeEntity).findOneByOrFail({ id });
    expect(n.delivered).toBe(229);
    const report = await sup.page(`/admin/notices/${id}`);
    expect(report.html).toContain('成功 229，用户拒收 1');
  });

  it('sends a batch with several calls in flight and starts the next one an interval after this one started, not after it ended', async () => {
    const a = await startApp();
    const ids = await followers(a, 150);
    const { res, sup } = await compose(a, GOOD);
    const id = Number(/\/admin\/notices\/(\d+)/.exec(res.headers.get('location')!)![1]);
    await sup.page(`/admin/notices/${id}`);
    // Each call takes 3 ms on the clock; how many are in flight at once is counted.
    const send = a.api.template.send.bind(a.api.template);
    let inFlight = 0;
    let most = 0;
    a.api.template.send = async (...args) => {
      most = Math.max(most, ++inFlight);
      a.clock.advance(3);
      try {
        return await send(...args);
      } finally {
        inFlight--;
      }
    };
    const started = a.clock.now();
    await sup.post(`/admin/notices/${id}/send`);
    await a.jobs.runDue(); // the first batch (100 at the default 100 a second)
    expect(await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).toMatchObject({ status: 'sending', sent: 100 });
    expect(most).toBeGreaterThan(1);
    expect(a.clock.now() - started).toBe(300);
    const next = (await a.jobs.list({ status: 'pending', name: 'notices.batch' }))[0]!;
    expect(next.runAt).toBe(started + 1000); // 100 a second: one batch a second, counted from its start
    a.clock.set(next.runAt - 1);
    expect(await a.jobs.runDue()).toBe(0);
    a.clock.advance(1);
    await a.jobs.runDue();
    expect(await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).toMatchObject({ status: 'done', sent: 150 });
    for (const o of ids) expect(templatesTo(a, o), o).toHaveLength(1);
  });

  it('stops for the day when WeChat’s daily template quota is spent, keeping who is left', async () => {
    const a = await startApp();
    await followers(a, 30);
    a.emulator!.platform.templateDailyQuota = 12;
    const { res } = await compose(a, GOOD);
    const id = Number(/\/admin\/notices\/(\d+)/.exec(res.headers.get('location')!)![1]);
    const team = await signedIn(a, (await a.accounts.list()).find((s) => s.role === 'supervisor')!);
    await team.page(`/admin/notices/${id}`);
    await team.post(`/admin/notices/${id}/send`);
    await a.jobs.runDue();
    const n = await a.db.getRepository(NoticeEntity).findOneByOrFail({ id });
    expect(n).toMatchObject({ status: 'paused', sent: 12, failed: 0, total: 30 });
    expect(await a.db.getRepository(NoticeRecipientEntity).countBy({ noticeId: id, status: 'pending' })).toBe(18);
  });
  it('a quota stop puts back those this run claimed, and leaves those a dead run left `sending` to their own client_msg_id', async () => {
    const a = await startApp();
    await followers(a, 40);
    a.emulator!.platform.templateDailyQuota = 0;
    const { res } = await compose(a, GOOD);
    const id = Number(/\/admin\/notices\/(\d+)/.exec(res.headers.get('location')!)![1]);
    const team = await signedIn(a, (await a.accounts.list()).find((s) => s.role === 'supervisor')!);
    await team.page(`/admin/notices/${id}`);
    await team.post(`/admin/notices/${id}/send`);
    // A run that died left the first 20 `sending`: some may be in their WeChat already.
    const rrepo = a.db.getRepository(NoticeRecipientEntity);
    const all = await rrepo.find({ where: { noticeId: id }, order: { id: 'ASC' } });
    const leftByTheDead = new Set(all.slice(0, 20).map((r) => r.id));
    for (const rid of leftByTheDead) await rrepo.update({ id: rid }, { status: 'sending' });
    await a.jobs.runDue();
    expect(await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).toMatchObject({ status: 'paused', sent: 0 });
    const after = await rrepo.find({ where: { noticeId: id } });
    const stillSending = after.filter((r) => r.status === 'sending');
    expect(stillSending.length).toBeGreaterThan(0); // not tried before the quota stopped the batch
    for (const r of stillSending) expect(leftByTheDead.has(r.id), String(r.id)).toBe(true);
    for (const r of after) if (!leftByTheDead.has(r.id)) expect(r.status).toBe('pending');
  });
});

describe.skipIf(!PG_URL)(`notices on postgres${PG_URL ? '' : ' (SKIPPED: DATABASE_URL is not set to a postgres:// URL)'}`, () => {
  it('sends a notice to every follower, once each, and counts the delivery reports', async () => {
    const a = await startApp({ db: 'postgres' });
    const ids = await followers(a, 40, 'o_pg_follower_');
    const { res, sup } = await compose(a, GOOD);
    const id = Number(/\/admin\/notices\/(\d+)/.exec(res.headers.get('location')!)![1]);
    await sup.page(`/admin/notices/${id}`);
    await sup.post(`/admin/notices/${id}/send`);
    await a.jobs.runDue();
    expect(await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).toMatchObject({ status: 'done', sent: 40 });
    for (const o of ids) expect(templatesTo(a, o)).toHaveLength(1);
    await a.emulator!.reportDeliveries();
    expect((await a.db.getRepository(NoticeEntity).findOneByOrFail({ id })).delivered).toBe(40);
  });
});
