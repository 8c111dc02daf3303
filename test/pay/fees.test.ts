import { describe, expect, it } from 'vitest';
import { BookingEntity, SlotCountEntity } from '../../src/services/appointments/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();
const MINUTE = 60_000;

async function firstSlot(a: TestApp, serviceId: string, hallId: string) {
  // A slot on the next open day: far enough ahead to cancel after the fee's 30 minutes.
  const days = (await a.appointments.days(serviceId, hallId)).filter((d) => d.slots.some((s) => s.bookable));
  const day = days[1] ?? days[0]!;
  return day.slots.find((s) => s.bookable)!;
}

describe('a booking fee (工本费, 挂号费)', () => {
  it('is billed when the place is booked, and the place is released when it is not paid in time', async () => {
    const a = await startApp();
    const openid = 'o_booking_fee_01';
    a.emulator!.platform.citizen(openid, '王大爷');
    const slot = await firstSlot(a, 'id-card', 'center');
    const booking = await a.appointments.book({ openid, serviceId: 'id-card', hallId: 'center', start: slot.start, channel: 'h5', notify: true });
    const bill = (await a.bills.byPays('booking', String(booking.id)))!;
    expect(bill).toMatchObject({ amountFen: 2000, status: 'unpaid', description: '居民身份证换领补领工本费' });
    expect(bill.dueAt).toBe(Math.min(a.clock.now() + 30 * MINUTE, booking.startsAt));
    const taken = await a.db.getRepository(SlotCountEntity).findOneByOrFail({ hallId: 'center', serviceId: 'id-card', startsAt: slot.start });
    expect(taken.booked).toBe(1);

    a.clock.advance(31 * MINUTE);
    await a.jobs.runDue();
    expect((await a.bills.get(bill.id))!.status).toBe('closed');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ id: booking.id })).status).toBe('cancelled');
    expect((await a.db.getRepository(SlotCountEntity).findOneByOrFail({ hallId: 'center', serviceId: 'id-card', startsAt: slot.start })).booked).toBe(0);
  });

  it('paid in time, the booking stands; a paid booking cancelled later is refunded in full', async () => {
    const a = await startApp();
    const openid = 'o_booking_fee_02';
    a.emulator!.platform.citizen(openid, '李阿姨');
    const slot = await firstSlot(a, 'id-card', 'center');
    const booking = await a.appointments.book({ openid, serviceId: 'id-card', hallId: 'center', start: slot.start, channel: 'h5', notify: true });
    const bill = (await a.bills.byPays('booking', String(booking.id)))!;
    const c = await a.bills.checkout(openid, bill.id);
    a.emulator!.pay.confirm(openid, c.params!, 'pay');
    await a.emulator!.pay.flush();
    a.clock.advance(31 * MINUTE);
    await a.jobs.runDue();
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ id: booking.id })).status).toBe('booked');

    await a.appointments.cancel(openid, booking.id);
    await a.jobs.runDue();
    expect((await a.bills.get(bill.id))!).toMatchObject({ status: 'refunded', refundedFen: 2000 });
  });

  it('a payment whose notification is late is found by the expiry\'s query: applied, not closed; the late notification changes nothing', async () => {
    const a = await startApp();
    const openid = 'o_booking_fee_03';
    a.emulator!.platform.citizen(openid, '赵先生');
    const slot = await firstSlot(a, 'id-card', 'center');
    const booking = await a.appointments.book({ openid, serviceId: 'id-card', hallId: 'center', start: slot.start, channel: 'h5', notify: true });
    const bill = (await a.bills.byPays('booking', String(booking.id)))!;
    const c = await a.bills.checkout(openid, bill.id);
    // WeChat Pay took the money but its notification is held; then the order is closed locally first.
    a.emulator!.pay.injectNotifyFault('hold');
    a.emulator!.pay.confirm(openid, c.params!, 'pay');
    a.clock.advance(31 * MINUTE);
    await a.jobs.runDue(); // the expiry asks WeChat Pay first: it was paid, so it is applied, not closed
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ id: booking.id })).status).toBe('booked');
    a.emulator!.pay.release();
    await a.emulator!.pay.flush();
    expect((await a.bills.timeline(bill.id)).filter((e) => e.kind === 'paid')).toHaveLength(1);
  });
});

describe('never two paid orders for one bill', () => {
  it('a second payment (an order closed here but still open at WeChat Pay) is recorded as a duplicate and refunded in full', async () => {
    const a = await startApp();
    const openid = 'o_double_pay_01';
    a.emulator!.platform.citizen(openid, '周先生');
    const bill = await a.bills.issue({ openid, amountFen: 5_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'DOUBLE-1' } });
    const first = await a.bills.checkout(openid, bill.id);
    // As if the close never reached WeChat Pay (a crash after the local update).
    await a.db.query(`UPDATE pay_orders SET status = 'closed' WHERE id = ${first.order.id}`);
    await a.db.query(`UPDATE bills SET status = 'unpaid' WHERE id = ${bill.id}`);
    const second = await a.bills.checkout(openid, bill.id);
    expect(second.order.id).not.toBe(first.order.id);
    a.emulator!.pay.confirm(openid, second.params!, 'pay');
    a.emulator!.pay.confirm(openid, first.params!, 'pay');
    await a.emulator!.pay.flush();
    await a.jobs.runDue();
    const orders = await a.bills.orders(bill.id);
    expect(orders.map((o) => o.status).sort()).toEqual(['duplicate', 'paid']);
    expect((await a.bills.get(bill.id))!).toMatchObject({ status: 'paid', paidOrderId: second.order.id, amountFen: 5_000 });
    const remote = [...a.emulator!.pay.refunds.values()].filter((r) => r.out_trade_no === first.order.outTradeNo);
    expect(remote).toEqual([expect.objectContaining({ amount: 5_000, status: 'SUCCESS' })]);
    // And the database itself refuses a second paid order.
    await expect(a.db.query(`UPDATE pay_orders SET status = 'paid' WHERE id = ${first.order.id}`)).rejects.toThrow();
  });
});

describe('a case fee', () => {
  it('is billed when the handler accepts the case; the case page shows it and then the payment', async () => {
    const a = await startApp({ profile: (p) => (p.services.find((s: any) => s.id === 'residence-permit').application.fee_fen = 2_000) });
    const openid = 'o_case_fee_01';
    a.emulator!.platform.citizen(openid, '陈小姐');
    const v = new Visitor(`http://localhost:${a.port}`);
    v.cookie('emu_openid', openid);
    const page = await v.get('/h5/apply/residence-permit');
    const f = new FormData();
    f.set('_csrf', v.csrf(page.text));
    f.set('action', 'submit');
    for (const [k, val] of Object.entries({ name: '陈小红', id_card: validId(), phone: '13912345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' })) f.set(k, val);
    f.append('photo', new Blob([JPEG]), 'me.jpg');
    f.append('proof', new Blob([PDF]), 'contract.pdf');
    const r = await v.postMultipart('/h5/apply/residence-permit', f);
    expect(r.status).toBe(302);
    const caseId = Number(/\/h5\/cases\/(\d+)/.exec(r.location!)![1]);
    const c = await a.cases.get(caseId);
    expect(await a.bills.byPays('case', c!.caseNo)).toBeNull();
    expect((await v.get(`/h5/cases/${caseId}`)).text).toContain('受理后可在线缴纳');

    await a.cases.accept(caseId, 'staff:qian');
    const bill = (await a.bills.byPays('case', c!.caseNo))!;
    expect(bill).toMatchObject({ amountFen: 2_000, status: 'unpaid', department: c!.department });
    expect((await v.get(`/h5/cases/${caseId}`)).text).toContain(`/h5/pay/bills/${bill.id}`);

    const co = await a.bills.checkout(openid, bill.id);
    a.emulator!.pay.confirm(openid, co.params!, 'pay');
    await a.emulator!.pay.flush();
    const after = await v.get(`/h5/cases/${caseId}`);
    expect(after.text).toContain('已缴费 20.00 元');
  });
});
