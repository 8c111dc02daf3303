import { describe, expect, it } from 'vitest';
import { AuditEntity } from '../../src/admin/audit.ts';
import { BookingEntity } from '../../src/services/appointments/entities.ts';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { makeTeam, signedIn } from './client.ts';

const startApp = appsClosedAfterEach();

/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

async function setup() {
  const a = await startApp({ profile: (p) => (p.services.find((s: { id: string }) => s.id === 'residence-permit').appointment.collect = ['name', 'phone']) });
  const team = await makeTeam(a);
  const book = (openid: string, hh: number, mm = 0, hallId = 'center') =>
    a.appointments.book({ openid, serviceId: 'residence-permit', hallId, start: cst(2026, 11, 24, hh, mm), contact: { name: '王小明', phone: '13812345678' }, channel: 'h5', notify: false });
  const early = await book('o_h1', 10);
  const late = await book('o_h2', 14, 30);
  await book('o_h3', 10, 0, 'xinhua');
  a.clock.set(cst(2026, 11, 24, 9, 30));
  return { a, team, early, late };
}

describe('大厅 in the staff panel', () => {
  it('shows today\'s bookings of a hall in time order, contact masked, and marks arrived, handled, not come', async () => {
    const { a, team, early, late } = await setup();
    const duty = await signedIn(a, team.duty);
    const overview = await duty.page('/admin/halls');
    expect(overview.html).toContain('示范区行政服务中心');
    const hall = await duty.page('/admin/halls/center');
    expect(hall.status).toBe(200);
    expect(hall.html.indexOf(early.code)).toBeLessThan(hall.html.indexOf(late.code));
    expect(hall.html).toContain('138****5678');
    expect(hall.html).not.toContain('13812345678');
    expect(hall.html).not.toContain('王小明');
    expect(hall.html).not.toContain('签到二维码'); // printing the code is a supervisor's

    let res = await duty.post(`/admin/halls/center/bookings/${early.id}/arrived`);
    expect(res.status).toBe(302);
    expect(await a.db.getRepository(BookingEntity).findOneBy({ id: early.id })).toMatchObject({ status: 'checked_in', queueNo: 1 });
    expect((await duty.page('/admin/halls/center')).html).toContain(`${early.code}：已签到并取号，排队号 1。`);
    // Marking twice changes nothing and says why.
    await duty.post(`/admin/halls/center/bookings/${early.id}/arrived`);
    expect((await duty.page('/admin/halls/center')).html).toContain('这条预约不是待到场状态');
    await duty.post(`/admin/halls/center/bookings/${early.id}/served`);
    // Not come? Not before the booked time is over: the citizen may still be on the way.
    expect((await duty.page('/admin/halls/center')).html).not.toContain('/no-show');
    await duty.post(`/admin/halls/center/bookings/${late.id}/no-show`);
    expect((await duty.page('/admin/halls/center')).html).toContain('预约的时间还没过，不能标记为未到');
    expect((await a.db.getRepository(BookingEntity).findOneBy({ id: late.id }))?.status).toBe('booked');
    a.clock.set(cst(2026, 11, 24, 15, 5)); // 14:30–15:00 is over
    const later = await signedIn(a, team.duty);
    expect((await later.page('/admin/halls/center')).html).toContain(`/bookings/${late.id}/no-show`);
    await later.post(`/admin/halls/center/bookings/${late.id}/no-show`);
    // A mistake (the citizen was in the queue after all) can be undone, and marked again.
    await later.post(`/admin/halls/center/bookings/${late.id}/undo-no-show`);
    expect((await a.db.getRepository(BookingEntity).findOneBy({ id: late.id }))?.status).toBe('booked');
    await later.post(`/admin/halls/center/bookings/${late.id}/no-show`);
    const rows = await a.db.getRepository(BookingEntity).find({ where: { hallId: 'center' }, order: { id: 'ASC' } });
    expect(rows.map((r) => r.status)).toEqual(['served', 'no_show']);
    const audit = await a.db.getRepository(AuditEntity).find({ where: { actorId: team.duty.id }, order: { id: 'ASC' } });
    expect(audit.map((x) => x.action).filter((x) => x.startsWith('hall-'))).toEqual(['hall-arrived', 'hall-served', 'hall-no-show', 'hall-no-show-undone', 'hall-no-show']);
  });

  it('only today\'s bookings at that hall can be marked there, and only with the form\'s token', async () => {
    const { a, team, early } = await setup();
    const duty = await signedIn(a, team.duty);
    expect((await duty.post(`/admin/halls/xinhua/bookings/${early.id}/arrived`)).status).toBe(404);
    expect((await duty.post(`/admin/halls/center/bookings/${early.id}/arrived`, {}, { csrf: null })).status).toBe(403);
    const tomorrow = await a.appointments.book({ openid: 'o_h4', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), contact: { name: '李四', phone: '13900000000' }, channel: 'h5', notify: false });
    expect((await duty.post(`/admin/halls/center/bookings/${tomorrow.id}/arrived`)).status).toBe(404);
    expect((await a.db.getRepository(BookingEntity).findBy([{ id: early.id }, { id: tomorrow.id }])).map((b) => b.status)).toEqual(['booked', 'booked']);
  });

  it('the desk shows a check-in code on the hall\'s screen that changes every few minutes, without a staff session on the display', async () => {
    const { a, team } = await setup();
    const duty = await signedIn(a, team.duty);
    expect((await duty.page('/admin/halls/center')).html).toContain('在叫号屏上显示签到码');
    const opened = await duty.post('/admin/halls/center/screen');
    expect(opened.status).toBe(302);
    const link = opened.headers.get('location')!;
    expect(link).toMatch(/^\/hall-screen\/[A-Za-z0-9_-]{32}$/);
    expect((await duty.post('/admin/halls/center/screen', {}, { csrf: null })).status).toBe(403);
    // The display opens the link without any cookie.
    const show = async () => {
      const res = await fetch(`${a.url}${link}`);
      return { res, html: await res.text() };
    };
    const first = await show();
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(first.res.headers.get('cache-control')).toBe('no-store');
    expect(first.html).toMatch(/<svg[^>]*aria-label="签到二维码"/);
    expect(first.html).toMatch(/<meta http-equiv="refresh" content="\d+">/);
    const period = a.appointments.screenPeriod('center');
    const onPlatform = () => a.emulator!.platform.liveQrCodes().filter((q) => q.scene.startsWith('checkin:center:'));
    expect(onPlatform().map((q) => [q.scene, q.permanent])).toEqual([[period.scene, false]]);
    await show(); // the same period: the same platform code
    expect(onPlatform()).toHaveLength(1);
    // Scanning the screen checks in; a photo of it taken ten minutes ago does not.
    const scanned = (await a.emulator!.act('o_h1', { type: 'scan', scene: period.scene })).reply;
    expect(scanned && scanned.type === 'text' ? scanned.content : '').toContain('排队号');
    a.clock.advance(10 * 60_000);
    await show();
    expect(onPlatform().map((q) => q.scene)).toContain(a.appointments.screenPeriod('center').scene);
    const stale = (await a.emulator!.act('o_h2', { type: 'scan', scene: period.scene })).reply;
    expect(stale && stale.type === 'text' ? stale.content : '').toContain('这个签到码已经换了');
    // Recorded; the link ends with the day, and a made-up one shows nothing.
    expect((await a.audit.list({ action: 'hall-screen' })).map((r) => r.actor)).toEqual([team.duty.username]);
    expect((await fetch(`${a.url}/hall-screen/${'x'.repeat(32)}`)).status).toBe(404);
    a.clock.advance(16 * 3_600_000);
    expect((await show()).res.status).toBe(404);
  });

  it('a supervisor prints the hall\'s check-in code; scanning it checks the citizen in', async () => {
    const { a, team } = await setup();
    const sup = await signedIn(a, team.supervisor);
    const qr = await sup.page('/admin/halls/center/qrcode');
    expect(qr.status).toBe(200);
    expect(qr.html).toMatch(/<svg[^>]*aria-label="签到二维码"[\s\S]*<path d="M\d/);
    expect(qr.html).toContain('checkin:center');
    // The code the page draws is the platform's permanent code for that scene (the same one again).
    const codes = a.emulator!.platform.liveQrCodes().filter((q) => q.scene === 'checkin:center');
    expect(codes).toHaveLength(1);
    await sup.page('/admin/halls/center/qrcode');
    expect(a.emulator!.platform.liveQrCodes().filter((q) => q.scene === 'checkin:center')).toHaveLength(1);
    const scanned = (await a.emulator!.act('o_h1', { type: 'scan', scene: 'checkin:center' })).reply;
    expect(scanned && scanned.type === 'text' ? scanned.content : '').toContain('排队号');
    const duty = await signedIn(a, team.duty);
    expect((await duty.page('/admin/halls/center/qrcode')).status).toBe(403);
  });
});
