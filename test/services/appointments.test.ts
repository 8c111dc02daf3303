import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JobEntity } from '../../src/platform/jobs.ts';
import { BookingEntity, SlotCountEntity } from '../../src/services/appointments/entities.ts';
import { BookingError } from '../../src/services/appointments/index.ts';
import { available, DB_BACKENDS, KV_BACKENDS } from '../helpers/backends.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const app = appsClosedAfterEach();

/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const hm = (a: TestApp, t: number) => {
  const p = a.calendar.localParts(t);
  return `${String(Math.floor(p.minutes / 60)).padStart(2, '0')}:${String(p.minutes % 60).padStart(2, '0')}`;
};

/** How a command ended: 'accepted', or the refusal's code (with its message when asked). */
async function refused(p: Promise<unknown>, withMessage = false): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BookingError) return withMessage ? `${err.code}: ${err.message}` : err.code;
    throw err;
  }
  return 'accepted';
}
const message = (p: Promise<unknown>) => refused(p, true);

describe('slots follow the hall, the calendar and the closures', () => {
  it('an ordinary weekday: the hall\'s hours in slots, capacity from its windows', async () => {
    const a = await app(); // Monday 2026-11-23 10:00
    const days = await a.appointments.days('residence-permit', 'center');
    const tue = days.find((d) => d.label === '11月24日 周二')!;
    expect(tue.slots.map((s) => hm(a, s.start))[0]).toBe('09:00');
    expect(tue.slots).toHaveLength(16); // 9:00–17:00 in 30 minutes
    expect(tue.slots.every((s) => s.capacity === 2)).toBe(true); // windows A1 and A2 take it
    const xinhua = (await a.appointments.days('residence-permit', 'xinhua')).find((d) => d.label === '11月24日 周二')!;
    expect(xinhua.slots.map((s) => hm(a, s.start))).not.toContain('12:00'); // lunch break
    expect(xinhua.slots).toHaveLength(14);
    // today: slots before now + cut-off are not bookable
    const today = days[0]!;
    expect(today.label).toBe('11月23日 周一');
    expect(today.slots.filter((s) => s.bookable).map((s) => hm(a, s.start))[0]).toBe('10:30');
  });

  it('National Day closed, the 调休 Saturday open with working-day hours, ordinary Saturdays by the hall', async () => {
    const a = await app();
    a.clock.set(cst(2026, 9, 30, 10));
    const days = await a.appointments.days('residence-permit', 'xinhua');
    const byLabel = new Map(days.map((d) => [d.label, d]));
    for (let d = 1; d <= 7; d++) expect(byLabel.get(`10月${d}日 ${['', '周四', '周五', '周六', '周日', '周一', '周二', '周三'][d]}`)).toMatchObject({ open: false, closedBecause: '法定节假日' });
    expect(byLabel.get('10月10日 周六')).toMatchObject({ open: true }); // 调休上班
    expect(byLabel.get('10月10日 周六')!.slots).toHaveLength(14);
    expect(byLabel.get('10月11日 周日')).toMatchObject({ open: false });
    expect(days.at(-1)!.label).toBe('10月13日 周二'); // 5 working days after 9/30: 10/8, 9, 10, 12, 13
    a.clock.set(cst(2026, 11, 27, 10)); // Friday
    const sat = (await a.appointments.days('residence-permit', 'center')).find((d) => d.label === '11月28日 周六')!;
    expect(sat.slots.map((s) => hm(a, s.start))).toEqual(['09:00', '09:30', '10:00', '10:30', '11:00', '11:30']); // the center's Saturday morning
    const satX = (await a.appointments.days('residence-permit', 'xinhua')).find((d) => d.label === '11月28日 周六')!;
    expect(satX.open).toBe(false);
  });

  it('booking a public holiday is refused as closed, directly by the command; the 调休 Saturday is bookable', async () => {
    const a = await app();
    a.clock.set(cst(2026, 9, 30, 10));
    const book = (openid: string, start: number) => a.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'xinhua', start, channel: 'h5', notify: false });
    for (const d of [1, 2, 5, 7]) expect(await refused(book(`o_hol${d}`, cst(2026, 10, d, 10))), `10月${d}日`).toBe('closed');
    expect(await refused(book('o_tiaoxiu', cst(2026, 10, 10, 10)))).toBe('accepted');
    expect(await refused(book('o_sunday', cst(2026, 10, 11, 10)))).toBe('closed');
    expect(await a.db.getRepository(BookingEntity).count()).toBe(1);
  });

  it('a hall\'s own closure is respected and explained', async () => {
    const a = await app();
    a.clock.set(cst(2026, 11, 27, 10));
    const days = await a.appointments.days('residence-permit', 'chengjiaqiao');
    expect(days.find((d) => d.label === '11月30日 周一')).toMatchObject({ open: false, closedBecause: '办公场所搬迁' });
    expect(days.find((d) => d.label === '12月2日 周三')?.open).toBe(true);
  });
});

describe('booking', () => {
  it('books a slot: a short code, the counter, a reminder the day before at 18:00, and a message with the details', async () => {
    const a = await app();
    await a.emulator!.act('o_book', { type: 'subscribe' });
    const start = cst(2026, 11, 25, 10);
    const b = await a.appointments.book({ openid: 'o_book', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: true });
    expect(b.code).toMatch(/^[2-9A-HJ-NP-Z]{6}$/);
    expect(await a.db.getRepository(SlotCountEntity).findOneBy({ hallId: 'center', serviceId: 'residence-permit', startsAt: start })).toMatchObject({ booked: 1, capacity: 2 });
    const reminder = await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${b.id}:remind` });
    expect(reminder?.runAt).toBe(cst(2026, 11, 24, 18));
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_book').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain(`预约码：${b.code}`);
    expect(sent[0]).toContain('11月25日（周三）10:00–10:30');
    a.clock.set(cst(2026, 11, 24, 18, 1));
    await a.jobs.runDue();
    const later = a.emulator!.platform.inbox('o_book').filter((i) => i.channel !== 'citizen' && i.channel !== 'passive');
    // following opened only a one-minute window: the reminder goes as the profile's template message
    expect(later.map((i) => i.channel)).toEqual(['custom', 'template']);
    expect(later[1]!.message).toMatchObject({ title: '预约办事提醒', data: { character_string4: b.code, time2: '11月25日（周三）10:00–10:30' } });
  });

  it('refuses, with a reason and without changing anything: full, past, cut-off, beyond the window, closed day, no such slot, other hall, not bookable, bad contact', async () => {
    const a = await app();
    const book = (o: Partial<{ openid: string; serviceId: string; hallId: string; start: number; contact: Record<string, string> }>) =>
      a.appointments.book({ openid: 'o_x', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false, ...o });
    await book({ openid: 'o_1' });
    await book({ openid: 'o_2' });
    const before = await a.db.getRepository(BookingEntity).count();
    expect(await refused(book({ openid: 'o_3' }))).toBe('full');
    expect(await refused(book({ start: cst(2026, 11, 23, 9) }))).toBe('past');
    expect(await refused(book({ start: cst(2026, 11, 23, 10, 30) }))).toBe('accepted'); // exactly at the cut-off
    expect(await refused(book({ openid: 'o_y', start: cst(2026, 11, 23, 10, 0) }))).toBe('past');
    expect(await refused(book({ openid: 'o_y', start: cst(2026, 12, 18, 10) }))).toBe('beyond_window');
    expect(await refused(book({ openid: 'o_y', start: cst(2026, 11, 29, 10) }))).toBe('closed'); // a Sunday
    expect(await refused(book({ openid: 'o_y', start: cst(2026, 11, 25, 10, 7) }))).toBe('no_such_slot');
    expect(await refused(book({ openid: 'o_y', serviceId: 'passport', hallId: 'xinhua' }))).toBe('no_such_hall');
    expect(await refused(book({ openid: 'o_y', serviceId: 'divorce-registration' }))).toBe('not_bookable');
    expect(await refused(book({ openid: 'o_y', serviceId: 'passport', start: cst(2026, 11, 25, 10), contact: { phone: '12345' } }))).toBe('invalid_contact');
    expect(await a.db.getRepository(BookingEntity).count()).toBe(before + 1); // only the one at the cut-off
    expect(await refused(book({ openid: 'o_y', serviceId: 'passport', start: cst(2026, 11, 25, 10), contact: { phone: '13812345678' } }))).toBe('accepted');
  });

  it('one booking per citizen per item per day, and three no-shows in 30 days suspend booking for 7 days', async () => {
    const a = await app();
    const book = (start: number, openid = 'o_lim') => a.appointments.book({ openid, serviceId: 'social-security-card', hallId: 'center', start, channel: 'chat', notify: false });
    await book(cst(2026, 11, 25, 10));
    expect(await refused(book(cst(2026, 11, 25, 14)))).toBe('daily_limit');
    // three missed visits, each marked once its time was over (not before: the citizen may be on the way)
    const missed = [];
    for (const d of [24, 25, 26]) missed.push(await book(cst(2026, 11, d, 15), 'o_noshow'));
    expect(await refused(a.appointments.markNoShow(missed[0]!.id))).toBe('too_early');
    for (const b of missed) {
      a.clock.set(b.endsAt);
      await a.appointments.markNoShow(b.id);
    }
    a.clock.set(cst(2026, 11, 27, 10));
    expect(await refused(book(cst(2026, 11, 30, 10), 'o_noshow'))).toBe('suspended');
    a.clock.set(cst(2026, 12, 3, 16)); // seven days after the last missed visit (11/26 15:00)
    expect(await refused(book(cst(2026, 12, 4, 10), 'o_noshow'))).toBe('accepted');
  });
});

describe('my bookings: cancel and reschedule', () => {
  it('cancels only the citizen\'s own booking, before the cut-off, freeing the place and the reminder', async () => {
    const a = await app();
    const start = cst(2026, 11, 25, 10);
    const b = await a.appointments.book({ openid: 'o_own', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false });
    expect(await refused(a.appointments.cancel('o_other', b.id))).toBe('not_found'); // another citizen, a guessed id
    expect(await refused(a.appointments.cancel('o_own', 999_999))).toBe('not_found');
    await a.appointments.cancel('o_own', b.id);
    expect(await a.db.getRepository(SlotCountEntity).findOneBy({ startsAt: start, hallId: 'center' })).toMatchObject({ booked: 0 });
    expect((await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${b.id}:remind` }))?.status).toBe('cancelled');
    expect(await refused(a.appointments.cancel('o_own', b.id))).toBe('not_active');
    const soon = await a.appointments.book({ openid: 'o_own', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 23, 11), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 23, 10, 30));
    expect(await refused(a.appointments.cancel('o_own', soon.id))).toBe('cancel_too_late');
  });

  it('reschedules: the new place is taken and the old one freed together', async () => {
    const a = await app();
    const b = await a.appointments.book({ openid: 'o_move', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    const moved = await a.appointments.reschedule('o_move', b.id, { hallId: 'center', start: cst(2026, 11, 25, 15), channel: 'h5', notify: false }); // same day: allowed
    expect(moved.rescheduledFrom).toBe(b.id);
    const counts = await a.db.getRepository(SlotCountEntity).find({ where: { hallId: 'center' }, order: { startsAt: 'ASC' } });
    expect(counts.map((c) => c.booked)).toEqual([0, 1]);
    expect((await a.db.getRepository(BookingEntity).findOneBy({ id: b.id }))?.status).toBe('cancelled');
    // a failed move changes nothing
    expect(await refused(a.appointments.reschedule('o_move', moved.id, { hallId: 'center', start: cst(2026, 11, 29, 10), channel: 'h5', notify: false }))).toBe('closed');
    expect((await a.db.getRepository(BookingEntity).findOneBy({ id: moved.id }))?.status).toBe('booked');
  });
});

describe('at the hall', () => {
  it('check-in gives queue numbers in order with how many are ahead; scanning twice gives the same number', async () => {
    const a = await app();
    for (const who of ['o_q1', 'o_q2']) await a.appointments.book({ openid: who, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 9, 40));
    const first = await a.appointments.checkIn('o_q1', 'center');
    const second = await a.appointments.checkIn('o_q2', 'center');
    expect([first.queueNo, first.ahead, second.queueNo, second.ahead]).toEqual([1, 0, 2, 1]);
    expect((await a.appointments.checkIn('o_q2', 'center')).queueNo).toBe(2);
    expect(await refused(a.appointments.checkIn('o_nobody', 'center'))).toBe('no_booking_today');
    await a.appointments.markServed(first.booking.id);
    expect((await a.appointments.checkIn('o_q2', 'center')).ahead).toBe(0);
    expect((await a.appointments.today('center')).map((b) => b.status)).toEqual(['served', 'checked_in']);
  });
});

describe('check-in by scanning counts only around the booked time, and the screen\'s code only while current', () => {


  it('a citizen booked at 16:30 who scans the printed code from home at 11:34 is told when to come; at 15:35 at the hall gets a number', async () => {
    const a = await app();
    await a.appointments.book({ openid: 'o_home', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 16, 30), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 11, 34));
    expect(await message(a.appointments.checkIn('o_home', 'center'))).toBe('too_early: 您预约的是今天 16:30，请在 15:30 以后到了大厅再扫码签到。');
    a.clock.set(cst(2026, 11, 24, 15, 29));
    expect(await refused(a.appointments.checkIn('o_home', 'center'))).toBe('too_early');
    a.clock.set(cst(2026, 11, 24, 15, 30));
    expect((await a.appointments.checkIn('o_home', 'center')).queueNo).toBe(1);
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ openid: 'o_home' })).status).toBe('checked_in');
  });

  it('past the booked time plus the late minutes, the desk decides; once checked in, scanning again gives the same number', async () => {
    const a = await app();
    await a.appointments.book({ openid: 'o_late', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    await a.appointments.book({ openid: 'o_ontime', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 10, 30));
    expect((await a.appointments.checkIn('o_ontime', 'center')).queueNo).toBe(1); // 30 minutes late: still in
    a.clock.set(cst(2026, 11, 24, 10, 31));
    expect(await message(a.appointments.checkIn('o_late', 'center'))).toBe('check_in_closed: 您预约的 10:00 已经过了签到时间（预约时间后 30 分钟内），请到服务台找工作人员。');
    expect((await a.appointments.checkIn('o_ontime', 'center')).queueNo).toBe(1);
    // The desk can still check the late one in (they are standing there).
    const late = await a.db.getRepository(BookingEntity).findOneByOrFail({ openid: 'o_late' });
    expect((await a.appointments.markArrived(late.id)).queueNo).toBe(2);
  });

  it('the window comes from the profile', async () => {
    const a = await app({ profile: (p) => (p.halls.find((h: { id: string }) => h.id === 'center').check_in = { early_minutes: 15, late_minutes: 5 }) });
    await a.appointments.book({ openid: 'o_w', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 14), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 13, 44));
    expect(await message(a.appointments.checkIn('o_w', 'center'))).toBe('too_early: 您预约的是今天 14:00，请在 13:45 以后到了大厅再扫码签到。');
    a.clock.set(cst(2026, 11, 24, 14, 6));
    expect(await refused(a.appointments.checkIn('o_w', 'center'))).toBe('check_in_closed');
    a.clock.set(cst(2026, 11, 24, 14, 5));
    expect((await a.appointments.checkIn('o_w', 'center')).queueNo).toBe(1);
  });

  it('the screen\'s code counts while it is shown and for one period after; a hall may refuse the printed code', async () => {
    const a = await app({ profile: (p) => (p.halls.find((h: { id: string }) => h.id === 'center').check_in = { printed_code: false, screen_code_minutes: 5 }) });
    for (const [who, hh, mm] of [['o_s1', 10, 0], ['o_s2', 10, 0], ['o_s3', 10, 30]] as const) {
      await a.appointments.book({ openid: who, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, hh, mm), channel: 'h5', notify: false });
    }
    a.clock.set(cst(2026, 11, 24, 9, 40));
    expect(await message(a.appointments.checkIn('o_s1', 'center'))).toBe('screen_code_only: 请扫大厅叫号屏上的签到码签到（每几分钟换一次）。');
    const shown = a.appointments.screenPeriod('center');
    expect(shown.scene).toBe(`checkin:center:${shown.period.toString(36)}`);
    expect(shown.changesAt - a.clock.now()).toBeLessThanOrEqual(5 * 60_000);
    expect((await a.appointments.checkIn('o_s1', 'center', { kind: 'screen', period: shown.period })).queueNo).toBe(1);
    a.clock.set(shown.changesAt + 1000); // the screen moved on a moment ago: the code just shown still counts
    expect((await a.appointments.checkIn('o_s2', 'center', { kind: 'screen', period: shown.period })).queueNo).toBe(2);
    a.clock.set(shown.changesAt + 5 * 60_000 + 1000); // two periods later: a photo of it no longer counts
    expect(await message(a.appointments.checkIn('o_s3', 'center', { kind: 'screen', period: shown.period }))).toBe('code_expired: 这个签到码已经换了，请扫叫号屏上现在的签到码。');
    expect(await refused(a.appointments.checkIn('o_s3', 'center', { kind: 'screen', period: shown.period + 5 }))).toBe('code_expired'); // nor one not shown yet
  });
});

describe('capacity follows the profile', () => {
  it('a slot already booked once takes the capacity the profile has now, not the one it had then', async () => {
    const start = cst(2026, 11, 25, 10);
    const shared = `cap-${randomUUID()}`; // one SQLite file, two profiles over time
    const a = await app({ shared });
    await a.appointments.book({ openid: 'o_cap1', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false });
    // A window closed: the department lowers the places to one, and the same database serves on.
    await a.close();
    const b = await app({ shared, profile: (p) => (p.services.find((s: { id: string }) => s.id === 'residence-permit').appointment.capacity_per_slot = 1) });
    expect(await refused(b.appointments.book({ openid: 'o_cap2', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false }))).toBe('full');
  });
});

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`two scans at once (${db.label})`, () => {
    it('check the booking in once, with one queue number', async () => {
      const a = await app({ db: db.name });
      for (const who of ['o_s1', 'o_s2']) await a.appointments.book({ openid: who, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
      a.clock.set(cst(2026, 11, 24, 9, 40));
      const scans = await Promise.all(Array.from({ length: 6 }, () => a.appointments.checkIn('o_s1', 'center')));
      expect(new Set(scans.map((s) => s.queueNo))).toEqual(new Set([1]));
      // No number was spent on the lost races: the next citizen is 2.
      expect((await a.appointments.checkIn('o_s2', 'center')).queueNo).toBe(2);
    });
  });
}

const combos = DB_BACKENDS.flatMap((db) => KV_BACKENDS.map((kv) => ({ db, kv })));
for (const { db, kv } of combos) {
  describe.skipIf(!(available(db) && available(kv)))(`never oversold (${db.label} + ${kv.label})`, () => {
    it('200 concurrent attempts on the last 3 places make exactly 3 bookings', async () => {
      const a = await app({
        db: db.name,
        kv: kv.name,
        profile: (p) => (p.services.find((s: { id: string }) => s.id === 'senior-card').appointment.capacity_per_slot = 3),
      });
      const start = cst(2026, 11, 25, 10);
      const attempts = Array.from({ length: 200 }, (_, i) =>
        a.appointments.book({ openid: `o_rush_${i}`, serviceId: 'senior-card', hallId: 'xinhua', start, channel: 'h5', notify: false }).then(
          () => 'ok',
          (e: unknown) => (e instanceof BookingError ? e.code : String(e)),
        ),
      );
      const results = await Promise.all(attempts);
      expect(results.filter((r) => r === 'ok')).toHaveLength(3);
      expect(results.filter((r) => r !== 'ok').every((r) => r === 'full')).toBe(true);
      expect(await a.db.getRepository(BookingEntity).countBy({ startsAt: start, hallId: 'xinhua' })).toBe(3);
      expect(await a.db.getRepository(SlotCountEntity).findOneBy({ startsAt: start, hallId: 'xinhua', serviceId: 'senior-card' })).toMatchObject({ booked: 3, capacity: 3 });
    });
  });
}
