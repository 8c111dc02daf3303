import { describe, expect, it } from 'vitest';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { DAY, HOUR } from '../../src/platform/clock.ts';
import { RectificationEntity } from '../../src/services/ratings/entities.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { cst } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();
const XINHUA = { lat: 31.2071, lng: 121.4258 };
const ops = (app: TestApp) => (app.capabilities.find((c) => c.name === 'ops') as OpsCapability).operations;

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`the tickets', bills' and ratings' readers on ${backend.name}`, () => {
    it('count payments and tickets per item, tickets against their own deadlines, and 好差评 from the ratings table', async () => {
      const app = await startApp({ db: backend.name });
      const team = await makeTeam(app);
      const t = app.tickets!;
      app.clock.set(cst(2026, 11, 23, 9)); // Monday
      // A booking whose fee is paid, and one whose fee is left unpaid: one payment.
      const days = (await app.appointments.days('id-card', 'center')).filter((d) => d.slots.some((s) => s.bookable));
      const slots = days[1]!.slots.filter((s) => s.bookable);
      app.emulator!.platform.citizen('o_pay1', '李阿姨');
      const paid = await app.appointments.book({ openid: 'o_pay1', serviceId: 'id-card', hallId: 'center', start: slots[0]!.start, channel: 'h5', notify: false });
      await app.appointments.book({ openid: 'o_pay2', serviceId: 'id-card', hallId: 'center', start: slots[1]!.start, channel: 'h5', notify: false });
      const bill = (await app.bills.byPays('booking', String(paid.id)))!;
      const c = await app.bills.checkout('o_pay1', bill.id);
      app.emulator!.pay.confirm('o_pay1', c.params!, 'pay');
      await app.emulator!.pay.flush();
      expect((await app.bills.get(bill.id))!.status).toBe('paid');

      // Four reports: the road twice by 随手拍 and once in chat, noise once; the first and the chat one answered, noise refused.
      const road1 = await t.file({ channel: 'snap', openid: 'o_t1', category: 'road', description: '我家楼下路面塌了个大坑，老人晚上走路差点摔了，我电话13812345678', ...XINHUA });
      const road2 = await t.file({ channel: 'snap', openid: 'o_t2', category: 'road', description: '路灯不亮好几天了黑咕隆咚的', ...XINHUA });
      const road3 = await t.file({ channel: 'chat', openid: 'o_t3', category: 'road', description: '井盖没了 很危险', ...XINHUA });
      const noise = await t.file({ channel: 'snap', openid: 'o_t4', category: 'noise', description: '半夜还在装修吵死了', ...XINHUA });
      const staff = `staff:${team.supervisor.username}`;
      app.clock.advance(HOUR);
      await t.reject(noise.id, staff, '夜间装修请拨打 110，不属于本平台受理范围');
      for (const r of [road1, road3]) {
        await t.accept(r.id, staff);
        await t.dispatch(r.id, staff, 'xinhua-street');
      }
      app.clock.advance(DAY);
      await t.answer(road1.id, staff, '已安排修补，三天内完成。');
      await t.answer(road3.id, staff, '井盖已补上。');
      for (const r of [road1, road3]) await t.complete(r.id, staff);

      const p = ops(app).lastDays(30);
      const usage = await ops(app).usage(4);
      const rows = Object.fromEntries(usage.ranking.rows.map((r) => [r.key, r]));
      expect(rows['ticket:road']).toMatchObject({ name: '诉求：道路破损', kind: 'ticket', uses: 3, users: 3, byChannel: { chat: 1, menu: 0, page: 2 }, byAction: { ticket: 3 } });
      expect(rows['ticket:noise']).toMatchObject({ uses: 1, byAction: { ticket: 1 } });
      expect(rows['service:id-card']).toMatchObject({ uses: 3, users: 2, byAction: { book: 2, pay: 1 } });
      expect(usage.sources.find((s) => s.name === 'payments')?.uses).toBe(1);
      expect(usage.sources.find((s) => s.name === 'tickets')?.uses).toBe(4);

      const speed = await ops(app).speed(p, null);
      const tickets = speed.bySource.find((r) => r.key === 'ticket' || r.label === '诉求')!;
      expect(tickets).toMatchObject({ requests: 4, judged: 3, withinNorm: 3 });
      expect((await ops(app).unanswered(null)).map((r) => r.link)).toEqual([`/admin/tickets/${road2.id}`]);
      // road2's own deadline (求助: 10 working days) passes: it is overdue, not at the 3-day norm.
      app.clock.advance(5 * DAY);
      expect((await ops(app).speed(ops(app).lastDays(30), null)).overdue.map((r) => r.link)).not.toContain(`/admin/tickets/${road2.id}`);
      app.clock.advance(12 * DAY);
      expect((await ops(app).speed(ops(app).lastDays(30), null)).overdue.map((r) => r.link)).toContain(`/admin/tickets/${road2.id}`);

      // 好差评: road1 poorly, with a comment; road3 well.
      await app.ratings.rate('ticket', String(road1.id), 'o_t1', 1, '坑只填了一半，下雨又塌了，打我电话13812345678');
      await app.ratings.rate('ticket', String(road3.id), 'o_t3', 5);
      let v = await ops(app).satisfaction(ops(app).lastDays(30), null);
      expect(v.total).toMatchObject({ count: 2, average: 3, good: 1, poor: 1, rectified: 0, rectifiable: 1 });
      expect(Object.fromEntries(v.byItem.map((r) => [r.label, r.count]))).toEqual({ '诉求：道路破损': 2 });
      expect(Object.fromEntries(v.byChannel.map((r) => [r.key, r.count]))).toEqual({ page: 1, chat: 1 });
      expect(Object.fromEntries(v.byDepartment.map((r) => [r.key, [r.count, r.poor]]))).toEqual({ 'xinhua-street': [2, 1] });
      expect(v.poor).toHaveLength(1);
      expect(v.poor[0]).toMatchObject({ source: 'ticket', id: road1.id, link: `/admin/tickets/${road1.id}`, rectified: false });
      expect(v.poor[0]!.comment).toContain('下雨又塌了');
      expect(JSON.stringify(v.poor)).not.toContain('o_t1'); // the rater stays hidden
      // The rectification finished (submitted, approved): the share follows.
      const rect = await app.db.getRepository(RectificationEntity).findOneByOrFail({ department: 'xinhua-street' });
      await app.ratings.submitRectification(rect.id, team.handler.id, '查明施工队未按要求回填，已责令返工并每周巡查一次。');
      v = await ops(app).satisfaction(ops(app).lastDays(30), null);
      expect(v.total).toMatchObject({ rectified: 0, rectifiable: 1 }); // submitted is not finished
      await app.ratings.reviewRectification(rect.id, team.admin.id, true, '同意', '工单');
      v = await ops(app).satisfaction(ops(app).lastDays(30), null);
      expect(v.total).toMatchObject({ rectified: 1, rectifiable: 1 });
      expect((await ops(app).satisfaction(ops(app).lastDays(30), ['service-centre'])).total.count).toBe(0);

      // Supervisors read the comment masked, without the rater.
      const boss = await signedIn(app, team.admin);
      const page = await boss.page('/admin/ops/satisfaction?days=30');
      expect(page.status).toBe(200);
      expect(page.html).toContain('下雨又塌了');
      expect(page.html).toContain('工单 #');
      expect(page.html).not.toContain('13812345678');
      expect(page.html).not.toContain('o_t1');
    });
  });
}
