import { describe, expect, it } from 'vitest';
import { BillEntity, PayOrderEntity } from '../../src/services/bills/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();
const MINUTE = 60_000;

async function setup(openid = 'o_bill_payer_01') {
  const a = await startApp();
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  a.emulator!.platform.citizen(openid, '老王');
  return { a, v, openid };
}

/** 去支付 on the page: the JSON the page's script asks for, as WeChat's browser would send it. */
async function checkout(v: Visitor, billId: number) {
  const page = await v.get(`/h5/pay/bills/${billId}`);
  expect(page.status).toBe(200);
  const r = await v.post(`/h5/pay/bills/${billId}/checkout`, { _csrf: v.csrf(page.text) }, { accept: 'application/json' });
  return { status: r.status, body: JSON.parse(r.text) as { params?: Record<string, string>; error?: string; receipt?: string } };
}

async function fine(a: TestApp, openid: string, ref = 'JJ-3101-2026-000123', amountFen = 20_000) {
  return a.bills.issue({ openid, amountFen, description: '交通违法罚款 决定书 3101-2026-000123', pays: { kind: 'event', ref }, dueAt: a.clock.now() + 15 * 86_400_000, department: 'service-centre' });
}


describe('a department bill paid on the phone', () => {
  it('pays once: order → pay sheet → verified notification → receipt and message; the page then shows the receipt', async () => {
    const { a, v, openid } = await setup();
    const bill = await fine(a, openid);
    expect(bill.status).toBe('unpaid');
    expect(bill.billNo).toMatch(/^JF20261123-\d{6}$/);

    const page = await v.get(`/h5/pay/bills/${bill.id}`);
    expect(page.text).toContain('200.00');
    expect(page.text).toContain('示范区政务服务中心（演示）');
    expect(page.text).toContain('交通违法罚款');

    const c = await checkout(v, bill.id);
    expect(c.status).toBe(200);
    expect(c.body.params!.package).toMatch(/^prepay_id=wx/);
    expect(c.body.params!.signType).toBe('RSA');
    expect((await a.bills.get(bill.id))!.status).toBe('paying');

    // The citizen confirms on WeChat's pay sheet; the emulator checks the paySign.
    const res = a.emulator!.pay.confirm(openid, c.body.params!, 'pay');
    expect(res.err_msg).toBe('get_brand_wcpay_request:ok');
    await a.emulator!.pay.flush();
    const paid = (await a.bills.get(bill.id))!;
    expect(paid.status).toBe('paid');
    expect(paid.paidOrderId).not.toBeNull();
    // The notification was answered 204 once, and never sent again.
    const d = a.emulator!.pay.deliveries.at(-1)!;
    expect(d.answers).toEqual([204]);

    const receipt = await v.get(`/h5/pay/bills/${bill.id}/receipt`);
    expect(receipt.text).toContain('缴费成功');
    expect(receipt.text).toMatch(/交易单号<\/dt><dd class="wb-break">4200/);
    expect((await v.get(`/h5/pay/bills/${bill.id}`)).url).toMatch(/\/receipt$/);
  });

  it('a second 去支付 reuses the open order; after it expires the old one is closed at WeChat Pay before a new one opens', async () => {
    const { a, v, openid } = await setup('o_bill_payer_02');
    const bill = await fine(a, openid, 'JJ-REUSE-1');
    const first = await checkout(v, bill.id);
    const again = await checkout(v, bill.id);
    expect(again.body.params!.package).toBe(first.body.params!.package);
    expect(await a.db.getRepository(PayOrderEntity).countBy({ billId: bill.id })).toBe(1);

    a.clock.advance(29 * MINUTE); // under two minutes left: not reused
    const third = await checkout(v, bill.id);
    expect(third.body.params!.package).not.toBe(first.body.params!.package);
    const orders = await a.bills.orders(bill.id);
    expect(orders.map((o) => o.status)).toEqual(['closed', 'open']);
    const oldPrepay = first.body.params!.package!.slice('prepay_id='.length);
    expect(a.emulator!.pay.describe(oldPrepay)!.state).toBe('CLOSED');
    // The old sheet can no longer be paid.
    expect(a.emulator!.pay.confirm(openid, first.body.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:fail');
    expect(a.emulator!.pay.confirm(openid, third.body.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
    await a.emulator!.pay.flush();
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
  });

  it('cancel and insufficient balance leave the bill unpaid and payable', async () => {
    const { a, v, openid } = await setup('o_bill_payer_03');
    const bill = await fine(a, openid, 'JJ-CANCEL-1');
    const c = await checkout(v, bill.id);
    expect(a.emulator!.pay.confirm(openid, c.body.params!, 'cancel').err_msg).toBe('get_brand_wcpay_request:cancel');
    const short = a.emulator!.pay.confirm(openid, c.body.params!, 'insufficient');
    expect(short.err_msg).toBe('get_brand_wcpay_request:fail');
    expect(short.detail).toContain('余额不足');
    await a.emulator!.pay.flush();
    expect((await a.bills.get(bill.id))!.status).toBe('paying');
    expect(a.emulator!.pay.confirm(openid, c.body.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
  });

  it('a missing notification is recovered by the query job; repeated and duplicated notifications change nothing twice', async () => {
    const { a, v, openid } = await setup('o_bill_payer_04');
    const bill = await fine(a, openid, 'JJ-DROP-1');
    const c = await checkout(v, bill.id);
    a.emulator!.pay.injectNotifyFault('drop');
    a.emulator!.pay.confirm(openid, c.body.params!, 'pay');
    await a.emulator!.pay.flush();
    expect((await a.bills.get(bill.id))!.status).toBe('paying');
    a.clock.advance(5 * MINUTE);
    await a.jobs.runDue();
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
    const events = await a.bills.timeline(bill.id);
    expect(events.filter((e) => e.kind === 'paid')).toHaveLength(1);
    expect(events.find((e) => e.kind === 'paid')!.note).toContain('主动查询');
  });

  it('a duplicated notification is answered 204 both times and applied once', async () => {
    const { a, v, openid } = await setup('o_bill_payer_05');
    const bill = await fine(a, openid, 'JJ-DUP-1');
    const c = await checkout(v, bill.id);
    a.emulator!.pay.injectNotifyFault('duplicate');
    a.emulator!.pay.confirm(openid, c.body.params!, 'pay');
    await a.emulator!.pay.flush();
    expect(a.emulator!.pay.deliveries.slice(-2).map((d) => d.answers)).toEqual([[204], [204]]);
    expect((await a.bills.timeline(bill.id)).filter((e) => e.kind === 'paid')).toHaveLength(1);
  });

  it('an unpaid order is closed when it times out, and the bill can be paid again', async () => {
    const { a, v, openid } = await setup('o_bill_payer_06');
    const bill = await fine(a, openid, 'JJ-EXPIRE-1');
    await checkout(v, bill.id);
    a.clock.advance(31 * MINUTE);
    await a.jobs.runDue();
    const orders = await a.bills.orders(bill.id);
    expect(orders[0]!.status).toBe('closed');
    expect((await a.bills.get(bill.id))!.status).toBe('unpaid');
    const order = [...a.emulator!.pay.orders.values()].find((o) => o.out_trade_no === orders[0]!.outTradeNo)!;
    expect(order.state).toBe('CLOSED');
  });
});

describe('who may see and pay a bill', () => {
  it('another citizen gets 404 on the page, the checkout, the receipt and the status', async () => {
    const { a, openid } = await setup('o_bill_owner_01');
    const bill = await fine(a, openid, 'JJ-OTHER-1');
    const other = new Visitor(`http://localhost:${a.port}`);
    other.cookie('emu_openid', 'o_bill_stranger');
    expect((await other.get(`/h5/pay/bills/${bill.id}`)).status).toBe(404);
    expect((await other.get(`/h5/pay/bills/${bill.id}/receipt`)).status).toBe(404);
    expect((await other.get(`/h5/pay/bills/${bill.id}/qr`)).status).toBe(404);
    const page = await other.get('/h5/pay');
    const r = await other.post(`/h5/pay/bills/${bill.id}/checkout`, { _csrf: other.csrf(page.text) }, { accept: 'application/json' });
    expect(r.status).toBe(404);
    expect(await a.db.getRepository(PayOrderEntity).countBy({ billId: bill.id })).toBe(0);
    expect((await other.get(`/h5/pay/bills/${bill.id}/status`)).status).toBe(404);
  });

  it('a department pushing the same bill twice gets the same bill; a different amount under the same reference is refused', async () => {
    const { a, openid } = await setup('o_bill_owner_02');
    const one = await fine(a, openid, 'JJ-SAME-1');
    const two = await fine(a, openid, 'JJ-SAME-1');
    expect(two.id).toBe(one.id);
    await expect(fine(a, openid, 'JJ-SAME-1', 30_000)).rejects.toThrow(/金额/);
    expect(await a.db.getRepository(BillEntity).countBy({ paysRef: 'JJ-SAME-1' })).toBe(1);
    await expect(a.bills.issue({ openid, amountFen: 100, description: '罚'.repeat(43), pays: { kind: 'event', ref: 'LONG-1' } })).rejects.toThrow(/127/);
    await expect(a.bills.issue({ openid, amountFen: 0, description: '罚款', pays: { kind: 'event', ref: 'ZERO-1' } })).rejects.toThrow(/金额/);
    await expect(a.bills.issue({ openid, amountFen: 12.5, description: '罚款', pays: { kind: 'event', ref: 'FRAC-1' } })).rejects.toThrow(/金额/);
  });
});


describe('a crash between the local order and WeChat Pay', () => {
  it('an order row WeChat Pay never heard of is closed by its jobs, and the next 去支付 opens a fresh one', async () => {
    const { a, v, openid } = await setup('o_bill_crash_01');
    const bill = await fine(a, openid, 'JJ-CRASH-1');
    const first = await checkout(v, bill.id);
    // As if the instance died after writing the row, before WeChat Pay was asked: the order is unknown there.
    const [order] = await a.bills.orders(bill.id);
    a.emulator!.pay.orders.delete(`1900000109:${order!.outTradeNo}`);
    await a.db.query(`UPDATE pay_orders SET prepay_id = NULL WHERE id = ${order!.id}`);
    a.clock.advance(5 * MINUTE);
    await a.jobs.runDue();
    expect((await a.bills.orders(bill.id))[0]!.status).toBe('closed');
    expect((await a.bills.get(bill.id))!.status).toBe('unpaid');
    const again = await checkout(v, bill.id);
    expect(again.body.params!.package).not.toBe(first.body.params!.package);
    expect(a.emulator!.pay.confirm(openid, again.body.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
    await a.emulator!.pay.flush();
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
  });
});
