import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JobEntity } from '../../src/platform/jobs.ts';
import { BookingEntity, SlotCountEntity } from '../../src/services/appointments/entities.ts';
import { BookingError, parseCheckInScene } from '../../src/services/appointments/index.ts';
import { available, DB_BACKENDS, KV_BACKENDS } from '../helpers/backends.ts';
import { validId, wrongCheckDigit } from '../helpers/files.ts';
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

describe('what the citizen is told and shown', () => {
  it('each refusal explains itself in words the citizen can act on', async () => {
    const a = await app(); // Monday 2026-11-23 10:00
    const rule = a.profile.services.find((x) => x.id === 'residence-permit')!.appointment!;
    const center = a.profile.halls.find((h) => h.id === 'center')!;
    const book = (o: Partial<{ openid: string; serviceId: string; hallId: string; start: number }>) =>
      a.appointments.book({ openid: 'o_words', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false, ...o });
    expect(await message(book({ serviceId: 'divorce-registration' }))).toBe('not_bookable: 这项服务暂时不能预约。');
    expect(await message(book({ serviceId: 'passport', hallId: 'xinhua' }))).toBe('no_such_hall: 这个大厅不办理这项服务的预约，请换一个大厅。');
    expect(await message(book({ start: cst(2026, 11, 29, 10) }))).toBe(`closed: ${center.name}这一天不开放，请换一天。`);
    expect(await message(book({ start: cst(2026, 11, 25, 10, 7) }))).toBe('no_such_slot: 没有这个时间段，请从可选时间里选。');
    expect(await message(book({ start: cst(2026, 11, 23, 9) }))).toBe('past: 这个时间已经过去了，请选以后的时间。');
    expect(await message(book({ start: cst(2026, 12, 18, 10) }))).toBe(`beyond_window: 只能预约 ${rule.days_ahead} 个工作日内的时间。`);
    // Five minutes on, the 10:30 slot is inside its cut-off: too late, though not past.
    a.clock.set(cst(2026, 11, 23, 10, 5));
    expect(await message(book({ start: cst(2026, 11, 23, 10, 30) }))).toBe(`too_late: 开始前 ${rule.cutoff_minutes} 分钟内不能再预约这个时段了，请选更晚的时间。`);
    expect(await refused(book({ start: cst(2026, 11, 23, 11) }))).toBe('accepted');
    expect(await message(book({ start: cst(2026, 11, 23, 15) }))).toBe(`daily_limit: 同一天最多预约 ${rule.max_per_citizen_per_day} 次这项服务。如需换时间，请先取消原来的预约。`);
  });

  it('the offer counts bookings per item, slot and day, to the last bookable day; a full slot is not bookable', async () => {
    const a = await app();
    const days = await a.appointments.days('residence-permit', 'xinhua');
    const last = days.at(-1)!;
    const lastSlot = last.slots[0]!;
    // The last day of the window can be booked, and its bookings are counted.
    await a.appointments.book({ openid: 'o_last', serviceId: 'residence-permit', hallId: 'xinhua', start: lastSlot.start, channel: 'h5', notify: false });
    const after = (await a.appointments.days('residence-permit', 'xinhua')).at(-1)!;
    expect(after.slots[0]).toMatchObject({ booked: 1, free: lastSlot.capacity - 1, bookable: lastSlot.capacity > 1 });
    expect(after.free).toBe(last.free - 1);
    // Fill a slot: nothing free, not bookable, not counted in the day's free places.
    const tue = days.find((d) => d.label === '11月24日 周二')!;
    const slot = tue.slots[0]!;
    for (let i = 0; i < slot.capacity; i++) await a.appointments.book({ openid: `o_fill${i}`, serviceId: 'residence-permit', hallId: 'xinhua', start: slot.start, channel: 'h5', notify: false });
    const full = (await a.appointments.days('residence-permit', 'xinhua')).find((d) => d.label === '11月24日 周二')!;
    expect(full.slots[0]).toMatchObject({ booked: slot.capacity, free: 0, bookable: false });
    expect(full.free).toBe(tue.free - slot.capacity);
    // Another item at the same hall and time has its own places.
    const senior = (await a.appointments.days('senior-card', 'xinhua')).find((d) => d.label === '11月24日 周二')!;
    expect(senior.slots.find((x) => x.start === slot.start)).toMatchObject({ booked: 0 });
  });

  it('today: only slots after the cut-off are bookable, and only they count as free; a Sunday is a day of rest', async () => {
    const a = await app();
    a.clock.set(cst(2026, 11, 23, 10, 5));
    const [today] = await a.appointments.days('residence-permit', 'center');
    expect(today!.slots.filter((x) => x.bookable).map((x) => hm(a, x.start))[0]).toBe('11:00');
    expect(today!.free).toBe(today!.slots.filter((x) => x.bookable).reduce((n, x) => n + x.free, 0));
    expect(today!.free).toBeLessThan(today!.slots.reduce((n, x) => n + x.free, 0));
    a.clock.set(cst(2026, 11, 27, 10));
    const sunday = (await a.appointments.days('residence-permit', 'center')).find((d) => d.label === '11月29日 周日')!;
    expect(sunday).toMatchObject({ open: false, closedBecause: '休息日', free: 0, slots: [] });
  });

  it('a checked-in booking still counts towards the limit per day', async () => {
    const a = await app();
    const b = await a.appointments.book({ openid: 'o_twice', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 9, 40));
    await a.appointments.checkIn('o_twice', 'center');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ id: b.id })).status).toBe('checked_in');
    expect(await refused(a.appointments.book({ openid: 'o_twice', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 15), channel: 'h5', notify: false }))).toBe('daily_limit');
  });

  it('what can be booked where: an unknown or non-bookable item has no halls', async () => {
    const a = await app();
    expect(a.appointments.service('no-such-item')).toBeNull();
    expect(a.appointments.service('divorce-registration')).toBeNull();
    expect(a.appointments.hallsFor('divorce-registration')).toEqual([]);
    expect(a.appointments.hallsFor('passport').map((h) => h.id)).toEqual(['center']);
  });

  it('those who hang on a booking (the booking fee) are told of each new booking and each cancellation, not of a reschedule', async () => {
    const a = await app();
    const booked: string[] = [];
    const cancelled: string[] = [];
    a.appointments.onBooked(async (b, s) => void booked.push(`${b.openid}:${s.id}`));
    a.appointments.onCancelled(async (b) => void cancelled.push(`${b.openid}:${b.status}`));
    const b = await a.appointments.book({ openid: 'o_hook', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    const moved = await a.appointments.reschedule('o_hook', b.id, { hallId: 'center', start: cst(2026, 11, 25, 15), channel: 'h5', notify: false });
    await a.appointments.cancel('o_hook', moved.id, { notify: false });
    expect(booked).toEqual(['o_hook:residence-permit']);
    expect(cancelled).toEqual(['o_hook:cancelled', 'o_hook:cancelled']);
  });
});


describe('the contact details an item asks for', () => {
  const collectAll = (p: Record<string, any>) => (p.services.find((x: { id: string }) => x.id === 'residence-permit').appointment.collect = ['name', 'phone', 'id_card']);
  /** A synthetic ID whose check digit is X. */
  const idWithX = () => {
    for (let n = 100; n < 1000; n++) {
      const id = validId(`31010519800101${n}`);
      if (id.endsWith('X')) return id;
    }
    throw new Error('no X');
  };

  it('are checked one by one, with what is wrong; kept trimmed, the ID in capitals', async () => {
    const a = await app({ profile: collectAll });
    const book = (contact: Record<string, string>, openid = 'o_contact') =>
      a.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false, contact });
    const good = { name: '王小明', phone: '13812345678', id_card: validId() };
    for (const name of [undefined, '王', '1王小明', '王小明1', '王'.repeat(21)]) {
      const contact: Record<string, string> = { ...good };
      if (name === undefined) delete contact.name;
      else contact.name = name;
      expect(await message(book(contact)), String(name)).toBe('invalid_contact: 请填写办事人的真实姓名（2 到 20 个字）。');
    }
    for (const phone of ['1381234567', '138123456789', '213812345678', '12812345678']) {
      expect(await message(book({ ...good, phone })), phone).toBe('invalid_contact: 请填写 11 位手机号码。');
    }
    expect(await message(book({ ...good, id_card: wrongCheckDigit(validId()) }))).toBe('invalid_contact: 身份证号码不正确，请核对后再填。');
    expect(await a.db.getRepository(BookingEntity).count()).toBe(0);
    const x = idWithX();
    const b = await book({ name: ' Anna·李 ', phone: ' 13812345678 ', id_card: x.toLowerCase() });
    expect(JSON.parse(b.contact!)).toEqual({ name: 'Anna·李', phone: '13812345678', id_card: x });
  });
});

describe('suspension for no-shows', () => {
  it('names how many were missed and until when; it ends at the last missed visit plus the suspension, counted from the latest', async () => {
    const a = await app();
    const book = (start: number, openid = 'o_ns') => a.appointments.book({ openid, serviceId: 'social-security-card', hallId: 'center', start, channel: 'chat', notify: false });
    const missed = [];
    for (const d of [24, 25, 26]) missed.push(await book(cst(2026, 11, d, 15)));
    for (const b of missed) {
      a.clock.set(b.endsAt);
      await a.appointments.markNoShow(b.id);
    }
    a.clock.set(cst(2026, 12, 2, 10)); // six days after the last one: still suspended (the first one's week is over)
    expect(await message(book(cst(2026, 12, 4, 10)))).toBe('suspended: 您最近 30 天内有 3 次预约未到，12月3日前暂时不能预约。可以直接到大厅现场取号办理。');
    a.clock.set(cst(2026, 12, 3, 15)); // exactly seven days after 11/26 15:00
    expect(await refused(book(cst(2026, 12, 4, 10)))).toBe('accepted');
  });
});

describe('my bookings', () => {
  it('upcoming ones first (soonest first), then the last month\'s others, latest first', async () => {
    const a = await app();
    const book = (start: number, serviceId = 'residence-permit') => a.appointments.book({ openid: 'o_mine', serviceId, hallId: 'center', start, channel: 'h5', notify: false });
    a.clock.set(cst(2026, 10, 12, 10));
    const old = await book(cst(2026, 10, 13, 10)); // more than a month ago by 11/23
    a.clock.set(cst(2026, 11, 12, 10));
    const past = await book(cst(2026, 11, 13, 10));
    a.clock.set(cst(2026, 11, 23, 9, 30));
    const here = await book(cst(2026, 11, 23, 10), 'social-security-card');
    const later = await book(cst(2026, 11, 25, 10));
    const sooner = await book(cst(2026, 11, 24, 10));
    const dropped = await book(cst(2026, 11, 26, 10));
    await a.appointments.cancel('o_mine', dropped.id, { notify: false });
    a.clock.set(cst(2026, 11, 23, 9, 40));
    await a.appointments.checkIn('o_mine', 'center');
    await a.appointments.book({ openid: 'o_someone', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 11), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 23, 10, 30)); // the checked-in visit ends now: still upcoming
    expect((await a.appointments.mine('o_mine')).map((b) => b.id)).toEqual([here.id, sooner.id, later.id, dropped.id, past.id]);
    expect((await a.appointments.mine('o_mine')).map((b) => b.id)).not.toContain(old.id);
  });

  it('a cancellation is confirmed to the citizen unless the caller says it tells them itself; a booking already cancelled says so, whatever the time', async () => {
    const a = await app();
    await a.emulator!.act('o_cancel', { type: 'subscribe' });
    await a.emulator!.act('o_cancel', { type: 'text', content: '你好' });
    const book = (start: number) => a.appointments.book({ openid: 'o_cancel', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false });
    const b = await book(cst(2026, 11, 25, 10));
    const quiet = await book(cst(2026, 11, 26, 10));
    await a.appointments.cancel('o_cancel', b.id);
    await a.appointments.cancel('o_cancel', quiet.id, { notify: false });
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_cancel').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(sent).toEqual([`已取消您的预约：${a.appointments.serviceName('residence-permit')}，11月25日（周三）10:00–10:30，预约码 ${b.code}。`]);
    a.clock.set(cst(2026, 11, 25, 9, 30)); // inside the cut-off: the booking is still simply no longer active
    expect(await message(a.appointments.cancel('o_cancel', b.id))).toBe('not_active: 这条预约已经不能取消了。');
  });

  it('a booking may be cancelled up to the cut-off, not a minute after; other slots keep their count', async () => {
    const a = await app();
    const book = (start: number) => a.appointments.book({ openid: 'o_cut', serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false });
    const keep = await book(cst(2026, 11, 24, 10));
    const first = await book(cst(2026, 11, 23, 11));
    a.clock.set(cst(2026, 11, 23, 10)); // exactly the 60 minutes before
    await a.appointments.cancel('o_cut', first.id);
    expect(await a.db.getRepository(SlotCountEntity).findOneBy({ hallId: 'center', startsAt: keep.startsAt })).toMatchObject({ booked: 1 });
    const second = await a.appointments.book({ openid: 'o_cut2', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 23, 11), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 23, 10, 1));
    expect(await message(a.appointments.cancel('o_cut2', second.id))).toBe('cancel_too_late: 开始前 60 分钟内不能取消或改约了。如果来不了，请打电话告诉大厅。');
    expect(await message(a.appointments.cancel('o_cut2', 999_999))).toBe('not_found: 没有找到这条预约。');
  });

  it('rescheduling: only one\'s own booking; the citizen hears of the new time, not of a cancellation', async () => {
    const a = await app();
    await a.emulator!.act('o_re', { type: 'subscribe' });
    await a.emulator!.act('o_re', { type: 'text', content: '你好' });
    const b = await a.appointments.book({ openid: 'o_re', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    expect(await message(a.appointments.reschedule('o_other', b.id, { hallId: 'center', start: cst(2026, 11, 25, 15), channel: 'h5', notify: true }))).toBe('not_found: 没有找到这条预约。');
    const moved = await a.appointments.reschedule('o_re', b.id, { hallId: 'center', start: cst(2026, 11, 25, 15), channel: 'h5', notify: true });
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_re').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain(`预约码：${moved.code}`);
  });
});

describe('messages about a booking', () => {
  it('the confirmation in full: the item, the hall and its address, the time, the code, the materials numbered', async () => {
    const a = await app();
    await a.emulator!.act('o_msg', { type: 'subscribe' });
    await a.emulator!.act('o_msg', { type: 'text', content: '你好' });
    const b = await a.appointments.book({ openid: 'o_msg', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: true });
    const quiet = await a.appointments.book({ openid: 'o_msg', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 26, 10), channel: 'h5', notify: false });
    const second = await a.appointments.book({ openid: 'o_msg', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 27, 10), channel: 'h5', notify: true });
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_msg').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    const hall = a.profile.halls.find((h) => h.id === 'center')!;
    const materials = a.profile.services.find((x) => x.id === 'residence-permit')!.guide.materials;
    expect(materials.length).toBeGreaterThan(1);
    expect(sent).toHaveLength(2); // the quiet one is told by its caller
    expect(sent[0]).toBe(
      [
        '预约成功！',
        `事项：${a.appointments.serviceName('residence-permit')}`,
        `地点：${hall.name}（${hall.address}）`,
        '时间：11月25日（周三）10:00–10:30',
        `预约码：${b.code}`,
        '请带好：',
        ...materials.map((m, i) => `${i + 1}. ${m}`),
        '请按时到达；到大厅后扫服务台的二维码签到取号。',
        '要取消或改约，回复「我的预约」。',
      ].join('\n'),
    );
    expect(sent[1]).toContain(`预约码：${second.code}`);
    expect(sent.join()).not.toContain(quiet.code);
  });

  it('a booking of an item no longer in the profile is still described, by the item\'s id and without a list', async () => {
    const a = await app();
    const b = await a.appointments.book({ openid: 'o_gone', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    const text = a.appointments.confirmationText({ ...b, serviceId: 'gone-item' });
    expect(text).toContain('事项：gone-item');
    expect(text).not.toContain('请带好');
  });

  it('past the window the confirmation goes as the template, linking to the bookings page', async () => {
    const a = await app();
    await a.emulator!.act('o_tpl', { type: 'subscribe' });
    a.clock.advance(2 * 60_000); // following opened a one-minute window only
    const b = await a.appointments.book({ openid: 'o_tpl', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: true });
    await a.jobs.runDue();
    const [t] = a.emulator!.platform.inbox('o_tpl').filter((i) => i.channel === 'template');
    expect(t!.message).toMatchObject({ title: '预约成功通知', data: { character_string4: b.code, time2: '11月25日（周三）10:00–10:30' } });
    expect(String(t!.message.url)).toMatch(/\/h5\/bookings$/);
  });

  it('the reminder the evening before, in full, only for a booking still held; none for a booking made after that evening', async () => {
    const a = await app();
    await a.emulator!.act('o_rem', { type: 'subscribe' });
    await a.emulator!.act('o_rem2', { type: 'subscribe' });
    const keep = await a.appointments.book({ openid: 'o_rem', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    const drop = await a.appointments.book({ openid: 'o_rem2', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    await a.appointments.cancel('o_rem2', drop.id, { notify: false });
    a.clock.set(cst(2026, 11, 24, 17, 59));
    await a.emulator!.act('o_rem', { type: 'text', content: '你好' });
    await a.emulator!.act('o_rem2', { type: 'text', content: '你好' });
    a.clock.set(cst(2026, 11, 24, 18));
    await a.jobs.runDue();
    const hall = a.profile.halls.find((h) => h.id === 'center')!;
    const custom = (o: string) => a.emulator!.platform.inbox(o).filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(custom('o_rem')).toEqual([
      [
        `温馨提醒：您明天预约了「${a.appointments.serviceName('residence-permit')}」。`,
        '时间：11月25日（周三）10:00–10:30',
        `地点：${hall.name}（${hall.address}）`,
        `预约码：${keep.code}`,
        '来不了请提前回复「我的预约」取消，把时间让给别人。',
      ].join('\n'),
    ]);
    expect(custom('o_rem2').filter((t) => t.includes('温馨提醒'))).toEqual([]);
    // Booked at 18:00 for the next morning: the evening before has come, no reminder is planned.
    const late = await a.appointments.book({ openid: 'o_rem3', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 11), channel: 'h5', notify: false });
    expect(await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${late.id}:remind` })).toBeNull();
  });

  it('a place released for an unpaid fee goes back to others, and the citizen is told why', async () => {
    const a = await app();
    await a.emulator!.act('o_unpaid', { type: 'subscribe' });
    await a.emulator!.act('o_unpaid', { type: 'text', content: '你好' });
    const b = await a.appointments.book({ openid: 'o_unpaid', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), channel: 'h5', notify: false });
    const release = (id: number) => a.db.transaction((tx) => a.appointments.releaseUnpaid(id, tx, '工本费没有按时支付，预约已取消'));
    expect(await release(b.id)).toBe(true);
    expect(await a.db.getRepository(BookingEntity).findOneByOrFail({ id: b.id })).toMatchObject({ status: 'cancelled' });
    expect(await a.db.getRepository(SlotCountEntity).findOneBy({ hallId: 'center', startsAt: b.startsAt })).toMatchObject({ booked: 0 });
    expect((await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${b.id}:remind` }))?.status).toBe('cancelled');
    expect(await release(b.id)).toBe(false);
    expect(await release(999_999)).toBe(false);
    await a.jobs.runDue();
    const sent = a.emulator!.platform.inbox('o_unpaid').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(sent).toEqual([`工本费没有按时支付，预约已取消：${a.appointments.serviceName('residence-permit')}，11月25日（周三）10:00–10:30，预约码 ${b.code}。需要的话可以重新预约。`]);
  });
});

describe('the hall\'s desk', () => {
  it('today\'s list is the hall\'s own bookings of today, by time', async () => {
    const a = await app();
    const book = (openid: string, hallId: string, start: number, serviceId = 'residence-permit') => a.appointments.book({ openid, serviceId, hallId, start, channel: 'h5', notify: false });
    const late = await book('o_t1', 'center', cst(2026, 11, 24, 15));
    const early = await book('o_t2', 'center', cst(2026, 11, 24, 10));
    await book('o_t3', 'xinhua', cst(2026, 11, 24, 10));
    await book('o_t4', 'center', cst(2026, 11, 25, 10));
    a.clock.set(cst(2026, 11, 24, 8));
    expect((await a.appointments.today('center')).map((b) => b.id)).toEqual([early.id, late.id]);
  });

  it('arrived, no-show, undo and served each apply to the booking named, in the right state only', async () => {
    const a = await app();
    const book = (openid: string, start: number) => a.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'center', start, channel: 'h5', notify: false });
    await book('o_d1', cst(2026, 11, 24, 10));
    const b = await book('o_d2', cst(2026, 11, 24, 10));
    a.clock.set(cst(2026, 11, 24, 9, 50));
    expect(await message(a.appointments.markServed(b.id))).toBe('not_active: 只有已签到的预约可以标记为办结。');
    const arrived = await a.appointments.markArrived(b.id);
    expect(arrived).toMatchObject({ id: b.id, openid: 'o_d2', status: 'checked_in', queueNo: 1 });
    expect((await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${b.id}:remind` }))?.status).toBe('cancelled');
    expect(await message(a.appointments.markArrived(b.id))).toBe('not_active: 这条预约不是待到场状态。');
    expect(await message(a.appointments.markArrived(999_999))).toBe('not_active: 这条预约不是待到场状态。');
    expect(await message(a.appointments.markNoShow(999_999))).toBe('not_active: 只有还没到场的预约可以标记为未到。');
    expect(await message(a.appointments.markNoShow(b.id))).toBe('not_active: 只有还没到场的预约可以标记为未到。');
    // 未到 for the other one once its time is over; a mistake is undone, and only a 未到 can be.
    const other = (await a.db.getRepository(BookingEntity).findOneByOrFail({ openid: 'o_d1' })).id;
    expect(await message(a.appointments.markNoShow(other))).toBe('too_early: 预约的时间还没过，不能标记为未到。');
    a.clock.set(cst(2026, 11, 24, 10, 30));
    await a.appointments.markNoShow(other);
    expect(await message(a.appointments.markNoShow(other))).toBe('not_active: 只有还没到场的预约可以标记为未到。');
    await a.appointments.undoNoShow(other);
    expect(await a.db.getRepository(BookingEntity).findOneByOrFail({ id: other })).toMatchObject({ status: 'booked', updatedAt: a.clock.now() });
    expect(await message(a.appointments.undoNoShow(other))).toBe('not_active: 只有标记为未到的预约可以撤销。');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ id: b.id })).status).toBe('checked_in');
  });

  it('a scan at an unknown hall, and the screen code of an unknown hall, are refused; a screen code lives two periods', async () => {
    const a = await app({ profile: (p) => (p.halls.find((h: { id: string }) => h.id === 'center').check_in = { screen_code_minutes: 5 }) });
    expect(await message(a.appointments.checkIn('o_x', 'nowhere'))).toBe('no_such_hall: 没有这个大厅。');
    expect(() => a.appointments.screenPeriod('nowhere')).toThrow('没有这个大厅。');
    expect(a.appointments.screenPeriod('center').lifetimeSeconds).toBe(600);
  });

  it('a check-in names the soonest booking of the day, and the result is checked in; it cancels the reminder', async () => {
    const a = await app();
    await a.appointments.book({ openid: 'o_two', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 14), channel: 'h5', notify: false });
    const first = await a.appointments.book({ openid: 'o_two', serviceId: 'social-security-card', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 8));
    expect(await message(a.appointments.checkIn('o_two', 'center'))).toBe('too_early: 您预约的是今天 10:00，请在 9:00 以后到了大厅再扫码签到。');
    a.clock.set(cst(2026, 11, 24, 9, 45));
    const r = await a.appointments.checkIn('o_two', 'center');
    expect(r.booking).toMatchObject({ id: first.id, status: 'checked_in', queueNo: 1 });
    expect((await a.db.getRepository(JobEntity).findOneBy({ uniqueKey: `booking:${first.id}:remind` }))?.status).toBe('cancelled');
  });
});

describe('check-in codes', () => {
  it('a check-in scene names its hall, and a screen\'s code its period; anything else is not one', () => {
    expect(parseCheckInScene('checkin:center')).toEqual({ hallId: 'center', code: { kind: 'printed' } });
    expect(parseCheckInScene('checkin:center:zz')).toEqual({ hallId: 'center', code: { kind: 'screen', period: 35 * 36 + 35 } });
    for (const scene of ['xcheckin:center', 'checkin:', 'checkin:Center', 'checkin:center:', 'checkin:center:zz:1', 'hall:center']) expect(parseCheckInScene(scene), scene).toBeNull();
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
