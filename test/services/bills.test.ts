import { join } from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import type { Alerts, AlertInput } from '../../src/alerts/index.ts';
import type { Outbox } from '../../src/chat/outbox.ts';
import { Audit, AuditEntity } from '../../src/admin/audit.ts';
import { PayApiError, type PayClient, type RefundResult, type Transaction } from '../../src/pay/client.ts';
import { WorkingCalendar, loadCalendarData } from '../../src/platform/calendar.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { openDatabase } from '../../src/platform/db.ts';
import { JobEntity, JobQueue } from '../../src/platform/jobs.ts';
import { openKv, tryLock } from '../../src/platform/kv/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import { BillCounterEntity, BillEntity, BillEventEntity, PayOrderEntity, RefundEntity } from '../../src/services/bills/entities.ts';
import type { StaffActor } from '../../src/policies/roles.ts';
import { BillError, Bills, STATUS_NAMES, yuan, type IssueBill } from '../../src/services/bills/index.ts';

/**
 * The bills' commands on their own: a real database (SQLite in memory), jobs, audit and key-value
 * store, and WeChat Pay as a fake whose every answer the test chooses — so each rule about money
 * (never charged twice, never a forged or mismatched payment applied, never refunded beyond what
 * was paid) is checked against the answer that would break it. The emulator journeys are in
 * test/pay/.
 */

/** A 2026 working Monday, 10:00 China time (as test/helpers/app.ts, without starting the app). */
const MONDAY_10AM = Date.UTC(2026, 10, 23, 2, 0, 0);
const MINUTE = 60_000;
const DAY = 86_400_000;
const MCHID = '1900000109';
const APPID = 'wxd0e0000000000001';
const OPENID = 'o_citizen_0001';
const CONFIG_DIR = join(import.meta.dirname, '..', '..', 'config');
const calendarData = loadCalendarData(join(CONFIG_DIR, 'calendar.yaml'));

type Answer<T> = T | Error | ((x: string) => T | Error);

class FakePay {
  readonly s = { mchid: MCHID, appid: APPID };
  readonly calls: string[] = [];
  readonly opened: { kind: 'jsapi' | 'native'; description: string; outTradeNo: string; amountFen: number; expiresAt: number; openid?: string }[] = [];
  readonly refunds: { outTradeNo: string; outRefundNo: string; reason: string; refundFen: number; totalFen: number }[] = [];
  openFails: Error | null = null;
  closeAnswers = new Map<string, Error>();
  queryAnswers = new Map<string, Answer<Transaction>>();
  refundAnswer: (o: { outRefundNo: string; refundFen: number; outTradeNo: string }) => RefundResult | Error = (o) => refundResult(o.outRefundNo, 'SUCCESS', o.refundFen, o.outTradeNo);
  refundQueries = new Map<string, RefundResult | Error>();
  bills = new Map<string, string>();
  private n = 0;

  async jsapi(o: { description: string; outTradeNo: string; amountFen: number; expiresAt: number; openid: string }): Promise<string> {
    this.calls.push(`jsapi ${o.outTradeNo}`);
    this.opened.push({ kind: 'jsapi', ...o });
    if (this.openFails) throw this.openFails;
    return `wx_prepay_${++this.n}`;
  }

  async native(o: { description: string; outTradeNo: string; amountFen: number; expiresAt: number }): Promise<string> {
    this.calls.push(`native ${o.outTradeNo}`);
    this.opened.push({ kind: 'native', ...o });
    if (this.openFails) throw this.openFails;
    return `weixin://wxpay/bizpayurl?pr=${++this.n}`;
  }

  jsapiParams(prepayId: string) {
    return { appId: APPID, timeStamp: '1763863200', nonceStr: 'N', package: `prepay_id=${prepayId}`, signType: 'RSA' as const, paySign: 'sig' };
  }

  async close(outTradeNo: string): Promise<void> {
    this.calls.push(`close ${outTradeNo}`);
    const e = this.closeAnswers.get(outTradeNo);
    if (e) throw e;
  }

  async query(outTradeNo: string): Promise<Transaction> {
    this.calls.push(`query ${outTradeNo}`);
    let a = this.queryAnswers.get(outTradeNo) ?? tx(outTradeNo, 'NOTPAY');
    if (typeof a === 'function') a = a(outTradeNo);
    if (a instanceof Error) throw a;
    return a;
  }

  async refund(o: { outTradeNo: string; outRefundNo: string; reason: string; refundFen: number; totalFen: number }): Promise<RefundResult> {
    this.calls.push(`refund ${o.outRefundNo}`);
    this.refunds.push(o);
    const a = this.refundAnswer(o);
    if (a instanceof Error) throw a;
    return a;
  }

  async queryRefund(outRefundNo: string): Promise<RefundResult> {
    this.calls.push(`query-refund ${outRefundNo}`);
    const a = this.refundQueries.get(outRefundNo) ?? new PayApiError(404, 'RESOURCE_NOT_EXISTS', 'no such refund');
    if (a instanceof Error) throw a;
    return a;
  }

  async tradeBill(date: string): Promise<string> {
    this.calls.push(`trade-bill ${date}`);
    return this.bills.get(date) ?? '';
  }
}

function tx(outTradeNo: string, state: Transaction['trade_state'], o: { total?: number; payer?: string | null; success_time?: string | null; mchid?: string; appid?: string } = {}): Transaction {
  return {
    appid: o.appid ?? APPID,
    mchid: o.mchid ?? MCHID,
    out_trade_no: outTradeNo,
    transaction_id: '4200000000202611230000000001',
    trade_type: 'JSAPI',
    trade_state: state,
    ...(o.success_time === null ? {} : { success_time: o.success_time ?? '2026-11-23T10:03:00+08:00' }),
    ...(o.payer === null ? {} : { payer: { openid: o.payer ?? OPENID } }),
    amount: { total: o.total ?? 20_000, payer_total: o.total ?? 20_000, currency: 'CNY' },
  };
}

function refundResult(outRefundNo: string, status: RefundResult['status'], refundFen: number, outTradeNo = 'X'): RefundResult {
  return { refund_id: `5030${outRefundNo}`, out_refund_no: outRefundNo, out_trade_no: outTradeNo, status, amount: { total: 20_000, refund: refundFen } };
}

// One database for the file, emptied before each test: migrating a fresh one costs more than the test.
let shared: DataSource | null = null;
afterAll(async () => {
  await shared?.destroy();
});

async function emptyDatabase(): Promise<DataSource> {
  // The whole schema from the migrations; only the tables the bills touch mapped (and emptied).
  shared ??= await openDatabase({ target: { kind: 'sqlite', location: ':memory:' }, entities: [JobEntity, AuditEntity, BillCounterEntity, BillEntity, BillEventEntity, PayOrderEntity, RefundEntity], migrations });
  await shared.query('PRAGMA foreign_keys = OFF');
  for (const m of shared.entityMetadatas) await shared.query(`DELETE FROM "${m.tableName}"`);
  await shared.query('PRAGMA foreign_keys = ON');
  return shared;
}

async function setup(o: { pay?: boolean; departments?: string[]; orderTimeoutMs?: number } = {}) {
  const clock = new FakeClock(MONDAY_10AM);
  // Warnings and errors kept for the tests: what staff read when money goes wrong.
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
  const logged = (msg: string) => logs.filter((l) => l.msg === msg).map(({ time: _t, pid: _p, hostname: _h, level: _l, msg: _m, ...rest }) => rest);
  const ds = await emptyDatabase();
  const kv = await openKv({ clock });
  const jobs = new JobQueue(ds, clock, log);
  jobs.define('outbox.send', { run: async () => undefined });
  const outbox = { send: (m: unknown, opts: object) => jobs.enqueue('outbox.send', m, opts) } as unknown as Outbox;
  const raised: AlertInput[] = [];
  const alerts = {
    raise: async (a: AlertInput) => {
      raised.push(a);
      return [];
    },
  } as unknown as Alerts;
  const pay = new FakePay();
  const bills = new Bills({
    ds,
    clock,
    kv,
    jobs,
    outbox,
    audit: new Audit(ds, clock),
    alerts,
    calendar: new WorkingCalendar({ data: calendarData, hours: { default: [['09:00', '17:30']] } }),
    log,
    pay: o.pay === false ? null : (pay as unknown as PayClient),
    publicUrl: 'https://gov.example.cn',
    payee: '示范区政务服务中心',
    ...(o.departments ? { departments: new Set(o.departments) } : {}),
    orderTimeoutMs: o.orderTimeoutMs ?? 30 * MINUTE,
    queryAfterMs: 5 * MINUTE,
  });
  const messages = async () => (await jobs.list({ name: 'outbox.send' })).map((j) => ({ key: j.uniqueKey, ...(JSON.parse(j.payload) as { openid: string; ref: string; messages: { content: string }[] }) }));
  const pending = async (name: string) => (await jobs.list({ name, status: 'pending' })).map((j) => ({ runAt: j.runAt, key: j.uniqueKey, payload: JSON.parse(j.payload) as Record<string, unknown> }));
  const events = async (billId: number) => (await bills.timeline(billId)).map((e) => `${e.kind} ${e.actor}: ${e.note ?? ''}`);
  const issue = (b: Partial<IssueBill> = {}) => bills.issue({ openid: OPENID, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'JJ-1' }, ...b });
  return { clock, ds, kv, jobs, bills, pay, raised, messages, pending, events, issue, logged };
}

type World = Awaited<ReturnType<typeof setup>>;

async function refusal(p: Promise<unknown>): Promise<BillError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BillError);
  expect((err as Error).name).toBe('BillError');
  return err as BillError;
}

/** A bill paid by its first JSAPI order. */
async function paidBill(w: World, b: Partial<IssueBill> = {}) {
  const bill = await w.issue(b);
  const c = await w.bills.checkout(bill.openid, bill.id);
  expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS', { total: bill.amountFen, payer: bill.openid }), 'notify')).toBe('paid');
  return { bill: (await w.bills.get(bill.id))!, order: c.order };
}

describe('amounts and words', () => {
  it('yuan: fen as yuan with two decimals', () => {
    expect(yuan(20_000)).toBe('200.00');
    expect(yuan(12_345)).toBe('123.45');
    expect(yuan(5)).toBe('0.05');
    expect(yuan(100)).toBe('1.00');
    expect(yuan(1)).toBe('0.01');
  });

  it('a citizen reads 待缴费 whether or not an order is open', () => {
    expect(STATUS_NAMES).toEqual({ unpaid: '待缴费', paying: '待缴费', paid: '已缴费', refunding: '退款中', partially_refunded: '部分退款', refunded: '已退款', closed: '已关闭' });
  });
});

describe('issue', () => {
  it('writes the bill, its number of the day, the issued event, the due job and one message with the link', async () => {
    const w = await setup();
    const due = MONDAY_10AM + 2 * DAY;
    const bill = await w.issue({ description: '  交通违法罚款\n 决定书  3101 ', dueAt: due, department: 'service-centre' });
    expect(bill).toMatchObject({ billNo: 'JF20261123-000001', openid: OPENID, amountFen: 20_000, description: '交通违法罚款 决定书 3101', department: 'service-centre', paysKind: 'event', paysRef: 'JJ-1', status: 'unpaid', dueAt: due, paidAt: null, paidOrderId: null, refundedFen: 0, closedAt: null, closedReason: null, createdAt: MONDAY_10AM, updatedAt: MONDAY_10AM });
    expect(await w.events(bill.id)).toEqual(['issued system: 交通违法罚款 决定书 3101 200.00 元']);
    expect(await w.pending(Bills.DUE)).toEqual([{ runAt: due, key: `bill-due:${bill.id}`, payload: { billId: bill.id } }]);
    expect(await w.messages()).toEqual([
      {
        key: `bill-issued:${bill.id}`,
        openid: OPENID,
        ref: `bill:${bill.id}`,
        messages: [{ type: 'text', content: `您有一笔待缴费用：交通违法罚款 决定书 3101，200.00 元，请在 11月25日 10:00 前缴纳。\n<a href="https://gov.example.cn/h5/pay/bills/${bill.id}">点这里缴费</a>（也可以在公众号里发送「缴费」查看）` }],
      },
    ]);
    expect(w.bills.link(bill)).toBe(`https://gov.example.cn/h5/pay/bills/${bill.id}`);

    const second = await w.issue({ pays: { kind: 'booking', ref: 'BK-7' }, amountFen: 1_005, dueAt: MONDAY_10AM + 90 * MINUTE + 5 * MINUTE });
    expect(second.billNo).toBe('JF20261123-000002');
    expect(second.department).toBeNull();
    expect((await w.messages())[1]!.messages[0]!.content).toContain('10.05 元，请在 11月23日 11:35 前缴纳，逾期预约将自动取消。');

    const plain = await w.issue({ pays: { kind: 'case', ref: 'C-1' } });
    expect(plain.dueAt).toBeNull();
    expect((await w.messages())[2]!.messages[0]!.content).toMatch(/^您有一笔待缴费用：交通违法罚款，200.00 元。\n/);
    expect(await w.pending(Bills.DUE)).toHaveLength(2);

    w.clock.advance(DAY);
    expect((await w.issue({ pays: { kind: 'event', ref: 'JJ-NEXT-DAY' } })).billNo).toBe('JF20261124-000001');
  });

  it('a department system pushing the same bill again gets the same bill, once; another citizen or amount under that reference is refused', async () => {
    const w = await setup();
    const one = await w.issue();
    expect((await w.issue()).id).toBe(one.id);
    expect((await refusal(w.issue({ amountFen: 20_001 }))).code).toBe('conflict');
    expect((await refusal(w.issue({ openid: 'o_someone_else' }))).code).toBe('conflict');
    // Another kind with the same reference is another bill.
    expect((await w.issue({ pays: { kind: 'case', ref: 'JJ-1' } })).id).not.toBe(one.id);
    expect(await w.ds.getRepository(BillEntity).count()).toBe(2);
    expect(await w.messages()).toHaveLength(2);
  });

  it('refuses what WeChat Pay or the citizen could not use, writing nothing', async () => {
    const w = await setup({ departments: ['service-centre', 'social-security'] });
    const bad: Partial<IssueBill>[] = [
      { openid: 'o_1' },
      { openid: 'o_citizen 01' },
      { openid: 'o'.repeat(65) },
      { openid: 42 as unknown as string },
      { amountFen: 0 },
      { amountFen: -100 },
      { amountFen: 12.5 },
      { amountFen: Number.NaN },
      { amountFen: 100_000_001 },
      { description: '' },
      { description: ' \n ' },
      { description: 7 as unknown as string },
      { description: '罚'.repeat(42) + 'ab' },
      { pays: { kind: 'fine' as 'event', ref: 'JJ-1' } },
      { pays: { kind: 'event', ref: '' } },
      { pays: { kind: 'event', ref: 'JJ 1' } },
      { pays: { kind: 'event', ref: 'J'.repeat(65) } },
      { pays: { kind: 'event', ref: 5 as unknown as string } },
      { pays: undefined as unknown as IssueBill['pays'] },
      { department: 'police' },
      { dueAt: MONDAY_10AM },
      { dueAt: MONDAY_10AM - 1 },
      { dueAt: MONDAY_10AM + 0.5 + DAY },
    ];
    for (const b of bad) {
      const e = await refusal(w.issue(b));
      expect(e.code, JSON.stringify(b)).toBe('invalid');
    }
    expect((await refusal(w.issue({ department: 'police' }))).message).toBe('department：没有这个部门（police）');
    expect((await refusal(w.issue({ department: 'p'.repeat(60) }))).message).toBe(`department：没有这个部门（${'p'.repeat(48)}）`);
    expect(await w.ds.getRepository(BillEntity).count()).toBe(0);

    // The limits themselves are allowed.
    const ok: Partial<IssueBill>[] = [
      { openid: 'o_abcd', pays: { kind: 'event', ref: 'A' } },
      { openid: 'o'.repeat(64), pays: { kind: 'event', ref: 'B' } },
      { openid: 'oA-z_9', amountFen: 1, pays: { kind: 'event', ref: 'C' } },
      { amountFen: 100_000_000, pays: { kind: 'event', ref: 'D' } },
      { description: '罚'.repeat(42) + 'a', pays: { kind: 'event', ref: 'E' } },
      { pays: { kind: 'event', ref: 'J'.repeat(64) } },
      { pays: { kind: 'event', ref: 'a_b-c.d:e/f' } },
      { department: 'social-security', dueAt: MONDAY_10AM + 1, pays: { kind: 'event', ref: 'F' } },
      { dueAt: null, pays: { kind: 'event', ref: 'G' } },
    ];
    for (const b of ok) expect((await w.issue(b)).status, JSON.stringify(b)).toBe('unpaid');
  });

  it('without a list of departments, any department is kept as given', async () => {
    const w = await setup();
    expect((await w.issue({ department: 'anything' })).department).toBe('anything');
  });

  it("inside the caller's transaction: rolled back with it, message and all", async () => {
    const w = await setup();
    await expect(
      w.ds.transaction(async (m) => {
        const b = await w.bills.issue({ openid: OPENID, amountFen: 500, description: '挂号费', pays: { kind: 'booking', ref: 'BK-1' } }, m);
        expect(b.status).toBe('unpaid');
        throw new Error('the booking failed');
      }),
    ).rejects.toThrow('the booking failed');
    expect(await w.ds.getRepository(BillEntity).count()).toBe(0);
    expect(await w.messages()).toEqual([]);
  });
});

describe('reading', () => {
  it("a citizen's own bills, newest first (at most 100), the unpaid ones oldest first (at most 20); another's is not found", async () => {
    const w = await setup();
    const ids: number[] = [];
    const first = await w.issue({ pays: { kind: 'event', ref: 'R-0' } });
    ids.push(first.id);
    const more = Array.from({ length: 100 }, (_, i) => ({ ...first, id: undefined as unknown as number, billNo: `JF-${i + 1}`, paysRef: `R-${i + 1}` }));
    await w.ds.getRepository(BillEntity).insert(more);
    ids.push(...(await w.ds.getRepository(BillEntity).find({ where: { openid: OPENID }, order: { id: 'ASC' } })).slice(1).map((b) => b.id));
    await w.issue({ openid: 'o_other_0001', pays: { kind: 'event', ref: 'OTHER' } });
    const mine = await w.bills.mine(OPENID);
    expect(mine).toHaveLength(100);
    expect(mine[0]!.id).toBe(ids[100]);
    expect(mine.every((b) => b.openid === OPENID)).toBe(true);
    await w.ds.getRepository(BillEntity).update({ id: ids[0]! }, { status: 'paid' });
    await w.ds.getRepository(BillEntity).update({ id: ids[1]! }, { status: 'paying' });
    const unpaid = await w.bills.unpaid(OPENID);
    expect(unpaid).toHaveLength(20);
    expect(unpaid.map((b) => b.id)).toEqual(ids.slice(1, 21));

    expect((await w.bills.own(OPENID, ids[3]!)).id).toBe(ids[3]);
    expect((await refusal(w.bills.own('o_other_0001', ids[3]!))).code).toBe('not_found');
    expect((await refusal(w.bills.own(OPENID, 99_999))).code).toBe('not_found');
    expect((await refusal(w.bills.own(OPENID, Number.NaN))).code).toBe('not_found');
    expect((await w.bills.get(ids[2]!))!.id).toBe(ids[2]);
    expect(await w.bills.get(1.5)).toBeNull();
    expect((await w.bills.byPays('event', 'R-7'))!.id).toBe(ids[7]);
    expect(await w.bills.byPays('case', 'R-7')).toBeNull();
  });

  it('the staff list: by status and department, newest first, 200 unless asked', async () => {
    const w = await setup();
    const a = await w.issue({ department: 'a', pays: { kind: 'event', ref: 'A' } });
    const b = await w.issue({ department: 'b', pays: { kind: 'event', ref: 'B' } });
    const c = await w.issue({ department: 'b', pays: { kind: 'event', ref: 'C' } });
    await w.ds.getRepository(BillEntity).update({ id: c.id }, { status: 'paid' });
    expect((await w.bills.list()).map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    expect((await w.bills.list({ status: [] })).map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    expect((await w.bills.list({ status: ['paid'] })).map((x) => x.id)).toEqual([c.id]);
    expect((await w.bills.list({ department: ['a'] })).map((x) => x.id)).toEqual([a.id]);
    expect((await w.bills.list({ department: null })).map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    expect((await w.bills.list({ department: ['b'], status: ['unpaid'] })).map((x) => x.id)).toEqual([b.id]);
    expect((await w.bills.list({ take: 2 })).map((x) => x.id)).toEqual([c.id, b.id]);
    await w.ds.getRepository(BillEntity).insert(Array.from({ length: 200 }, (_, i) => ({ ...a, id: undefined as unknown as number, billNo: `X-${i}`, paysRef: `X-${i}` })));
    expect(await w.bills.list()).toHaveLength(200);
  });
});

describe('pay off', () => {
  it('bills exist, paying or refunding them says so', async () => {
    const w = await setup({ pay: false });
    expect(w.bills.enabled).toBe(false);
    const bill = await w.issue();
    const e = await refusal(w.bills.checkout(OPENID, bill.id));
    expect(e.code).toBe('pay_off');
    expect(e.message).toBe('暂时不能在线缴费，请到窗口缴纳。');
    expect((await refusal(w.bills.refund({ billId: bill.id, amountFen: 1, reason: '退', staff: null }))).code).toBe('pay_off');
    expect((await refusal(w.bills.reconcile('2026-11-23'))).code).toBe('pay_off');
    await w.bills.scheduleReconciliation();
    expect(await w.jobs.list({ name: Bills.RECONCILE })).toEqual([]);
    expect(w.bills.payee).toBe('示范区政务服务中心');
    expect((await setup()).bills.enabled).toBe(true);
  });
});

describe('checkout (去支付)', () => {
  it('JSAPI: the order row first, then WeChat Pay; the bill is paying, its query and expiry jobs queued', async () => {
    const w = await setup();
    const bill = await w.issue({ description: '居民身份证补领工本费' });
    const c = await w.bills.checkout(OPENID, bill.id);
    const no = 'JF20261123000001N1';
    expect(w.pay.opened).toEqual([{ kind: 'jsapi', description: '居民身份证补领工本费', outTradeNo: no, amountFen: 20_000, expiresAt: MONDAY_10AM + 30 * MINUTE, openid: OPENID }]);
    expect(c.bill.status).toBe('paying');
    expect(c.order).toMatchObject({ billId: bill.id, outTradeNo: no, tradeType: 'JSAPI', amountFen: 20_000, status: 'open', prepayId: 'wx_prepay_1', codeUrl: null, payerOpenid: OPENID, expiresAt: MONDAY_10AM + 30 * MINUTE });
    expect(c.params!.package).toBe('prepay_id=wx_prepay_1');
    expect(c.codeUrl).toBeUndefined();
    expect('codeUrl' in c).toBe(false);
    expect((await w.bills.orders(bill.id))[0]).toMatchObject({ prepayId: 'wx_prepay_1', codeUrl: null });
    expect(await w.events(bill.id)).toContain(`order_opened citizen: 微信内支付，订单号 ${no}`);
    expect(await w.pending(Bills.QUERY)).toEqual([{ runAt: MONDAY_10AM + 5 * MINUTE, key: `pay-query:${c.order.id}:0`, payload: { orderId: c.order.id, n: 0 } }]);
    expect(await w.pending(Bills.EXPIRE)).toEqual([{ runAt: MONDAY_10AM + 30 * MINUTE, key: `pay-expire:${c.order.id}`, payload: { orderId: c.order.id } }]);
  });

  it('Native: a code URL for the QR, no payer named, no JSAPI parameters', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id, 'NATIVE');
    expect(c.codeUrl).toBe('weixin://wxpay/bizpayurl?pr=1');
    expect('params' in c).toBe(false);
    expect(c.order).toMatchObject({ tradeType: 'NATIVE', payerOpenid: null, prepayId: null, codeUrl: 'weixin://wxpay/bizpayurl?pr=1' });
    expect(w.pay.opened[0]).toEqual({ kind: 'native', description: '交通违法罚款', outTradeNo: 'JF20261123000001N1', amountFen: 20_000, expiresAt: MONDAY_10AM + 30 * MINUTE });
    expect(await w.events(bill.id)).toContain('order_opened citizen: 扫码支付，订单号 JF20261123000001N1');
    // Reused as it is, the code URL with it.
    const again = await w.bills.checkout(OPENID, bill.id, 'NATIVE');
    expect(again.order.id).toBe(c.order.id);
    expect(again.codeUrl).toBe(c.codeUrl);
    expect('params' in again).toBe(false);
    expect(w.pay.opened).toHaveLength(1);
  });

  it('an open order is reused while more than two minutes are left, for the same way of paying; otherwise closed at WeChat Pay before a new one', async () => {
    const w = await setup();
    const bill = await w.issue();
    const first = await w.bills.checkout(OPENID, bill.id);
    w.clock.advance(28 * MINUTE - 1); // 2 minutes and 1 ms left
    const again = await w.bills.checkout(OPENID, bill.id);
    expect(again.order.id).toBe(first.order.id);
    expect(again.params!.package).toBe('prepay_id=wx_prepay_1');
    expect(w.pay.calls).toEqual(['jsapi JF20261123000001N1']);
    w.clock.advance(1); // exactly 2 minutes left: not reused
    const third = await w.bills.checkout(OPENID, bill.id);
    expect(third.order.outTradeNo).toBe('JF20261123000001N2');
    expect(w.pay.calls).toEqual(['jsapi JF20261123000001N1', 'close JF20261123000001N1', 'jsapi JF20261123000001N2']);
    expect((await w.bills.orders(bill.id)).map((o) => o.status)).toEqual(['closed', 'open']);
    expect(third.bill.status).toBe('paying');
    // Another way of paying: the JSAPI order is closed, a Native one opened.
    const qr = await w.bills.checkout(OPENID, bill.id, 'NATIVE');
    expect(qr.order.outTradeNo).toBe('JF20261123000001N3');
    expect((await w.bills.orders(bill.id)).map((o) => `${o.tradeType} ${o.status}`)).toEqual(['JSAPI closed', 'JSAPI closed', 'NATIVE open']);
    expect(await w.events(bill.id)).toContain('order_closed system: 订单 JF20261123000001N2 已关闭');
  });

  it('an open order without its prepay_id or code URL (WeChat Pay never answered) is not reused', async () => {
    const w = await setup();
    const bill = await w.issue();
    w.pay.openFails = new Error('socket hang up');
    const e = await refusal(w.bills.checkout(OPENID, bill.id));
    expect(e.code).toBe('upstream');
    expect(e.message).toBe('微信支付暂时没有响应，请稍后再试。');
    expect(w.logged('WeChat Pay did not open the order')).toEqual([{ err: expect.objectContaining({ message: 'socket hang up' }), order: (await w.bills.orders(bill.id))[0]!.id }]);
    // The row stays for the query and expiry jobs.
    expect((await w.bills.orders(bill.id)).map((o) => `${o.status} ${o.prepayId}`)).toEqual(['open null']);
    w.pay.openFails = null;
    const c = await w.bills.checkout(OPENID, bill.id);
    expect(c.order.outTradeNo).toBe('JF20261123000001N2');
    expect(w.pay.calls).toContain('close JF20261123000001N1');
    w.pay.openFails = new Error('socket hang up');
    await refusal(w.bills.checkout(OPENID, bill.id, 'NATIVE'));
    w.pay.openFails = null;
    const qr = await w.bills.checkout(OPENID, bill.id, 'NATIVE');
    expect(qr.order.outTradeNo).toBe('JF20261123000001N4');
  });

  it("an open JSAPI order named for another payer is not offered", async () => {
    const w = await setup();
    const bill = await w.issue();
    const first = await w.bills.checkout(OPENID, bill.id);
    await w.ds.getRepository(PayOrderEntity).update({ id: first.order.id }, { payerOpenid: 'o_someone_else' });
    expect((await w.bills.checkout(OPENID, bill.id)).order.id).not.toBe(first.order.id);
  });

  it('an order lasts until the due time if that comes first; under a minute left is refused', async () => {
    const w = await setup();
    const bill = await w.issue({ dueAt: MONDAY_10AM + 10 * MINUTE });
    expect((await w.bills.checkout(OPENID, bill.id)).order.expiresAt).toBe(MONDAY_10AM + 10 * MINUTE);
    const late = await w.issue({ pays: { kind: 'event', ref: 'LATE' }, dueAt: MONDAY_10AM + MINUTE - 1 });
    const e = await refusal(w.bills.checkout(OPENID, late.id));
    expect(e.code).toBe('closed');
    expect(e.message).toBe('缴费期限就要到了，来不及在线缴费，请联系办理部门。');
    expect(await w.bills.orders(late.id)).toEqual([]);
    const justInTime = await w.issue({ pays: { kind: 'event', ref: 'JUST' }, dueAt: MONDAY_10AM + MINUTE });
    expect((await w.bills.checkout(OPENID, justInTime.id)).order.expiresAt).toBe(MONDAY_10AM + MINUTE);
  });

  it('refused: another citizen, a bill paid, refunded or closed, and a second click while the first is being prepared', async () => {
    const w = await setup();
    const bill = await w.issue();
    expect((await refusal(w.bills.checkout('o_someone_else', bill.id))).code).toBe('not_found');
    for (const status of ['paid', 'refunding', 'partially_refunded', 'refunded'] as const) {
      await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status });
      const e = await refusal(w.bills.checkout(OPENID, bill.id));
      expect(e.code, status).toBe('already_paid');
      expect(e.message).toBe('这笔费用已经缴过了。');
    }
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status: 'closed', closedReason: '部门撤回' });
    expect((await refusal(w.bills.checkout(OPENID, bill.id))).message).toBe('这笔费用已关闭：部门撤回。');
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { closedReason: null });
    expect((await refusal(w.bills.checkout(OPENID, bill.id))).message).toBe('这笔费用已关闭。');
    expect(w.pay.calls).toEqual([]);

    const other = await w.issue({ pays: { kind: 'event', ref: 'BUSY' } });
    const held = await tryLock(w.kv, `bill-checkout:${other.id}`, 30_000);
    const e = await refusal(w.bills.checkout(OPENID, other.id));
    expect(e.code).toBe('busy');
    await held!.release();
    await w.bills.checkout(OPENID, other.id);
    // The lock is released after a checkout, and after a refusal.
    await w.bills.checkout(OPENID, other.id);
    await refusal(w.bills.checkout('o_someone_else', other.id));
    await w.bills.checkout(OPENID, other.id);
  });

  it('paid meanwhile: closing the old order finds it paid, the payment is applied and the citizen is not charged again', async () => {
    const w = await setup();
    const bill = await w.issue();
    const first = await w.bills.checkout(OPENID, bill.id);
    w.clock.advance(29 * MINUTE);
    w.pay.closeAnswers.set(first.order.outTradeNo, new PayApiError(400, 'ORDERPAID', '该订单已支付'));
    w.pay.queryAnswers.set(first.order.outTradeNo, tx(first.order.outTradeNo, 'SUCCESS'));
    const e = await refusal(w.bills.checkout(OPENID, bill.id));
    expect(e.code).toBe('already_paid');
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
    expect(w.pay.opened).toHaveLength(1);
  });
});

describe('a payment WeChat Pay reports that cannot be applied', () => {
  it('is neither told as paid nor paid again: checkout refuses until staff have checked it, and the bill is not closed', async () => {
    const w = await setup();
    const bill = await w.issue();
    const first = await w.bills.checkout(OPENID, bill.id);
    w.clock.advance(29 * MINUTE);
    // Closing the old order: WeChat Pay says it was paid — by someone else (the alert goes to supervisors).
    w.pay.closeAnswers.set(first.order.outTradeNo, new PayApiError(400, 'ORDERPAID', '该订单已支付'));
    w.pay.queryAnswers.set(first.order.outTradeNo, tx(first.order.outTradeNo, 'SUCCESS', { payer: 'o_someone_else' }));
    const e = await refusal(w.bills.checkout(OPENID, bill.id));
    expect(e.code).toBe('busy');
    expect(e.message).toContain('正在核对');
    expect(e.message).toContain('不要重复缴费');
    expect((await w.bills.get(bill.id))!.status).not.toBe('paid');
    expect(w.pay.opened).toHaveLength(1); // no second order to pay
    expect(await w.bills.closeOrder(first.order)).toBe('checking');
    // Past its due time it is not closed as unpaid either: money was taken for it.
    expect(await w.bills.closeIfUnpaid(bill.id, '超过缴费期限未缴费，已关闭')).toBe(false);
    expect((await w.bills.get(bill.id))!.status).not.toBe('closed');
  });
});

describe('closeOrder', () => {
  it('closed at WeChat Pay and here; the bill is unpaid again once no order is open', async () => {
    const w = await setup();
    const bill = await w.issue();
    const jsapi = await w.bills.checkout(OPENID, bill.id);
    const native = await w.bills.checkout(OPENID, bill.id, 'NATIVE');
    expect((await w.bills.orders(bill.id)).map((o) => o.status)).toEqual(['closed', 'open']);
    expect(jsapi.order.status).toBe('open');
    w.clock.advance(MINUTE);
    expect(await w.bills.closeOrder(native.order)).toBe('closed');
    const o = (await w.bills.orders(bill.id))[1]!;
    expect(o).toMatchObject({ status: 'closed', closedAt: MONDAY_10AM + MINUTE, updatedAt: MONDAY_10AM + MINUTE });
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'unpaid', updatedAt: MONDAY_10AM + MINUTE });
    // Again: nothing changes, no second event.
    expect(await w.bills.closeOrder(native.order)).toBe('closed');
    expect((await w.events(bill.id)).filter((e) => e.startsWith('order_closed'))).toHaveLength(2);
  });

  it('with another order still open, the bill stays paying', async () => {
    const w = await setup();
    const bill = await w.issue();
    const a = await w.bills.checkout(OPENID, bill.id);
    // A second open order, as a crash between two checkouts could leave.
    await w.ds.getRepository(PayOrderEntity).insert({ ...a.order, id: undefined as unknown as number, outTradeNo: 'JF20261123000001N9' });
    expect(await w.bills.closeOrder(a.order)).toBe('closed');
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
  });

  it("WeChat Pay's 'not there' and 'closed already' still close it here; any other error leaves it open", async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    const no = c.order.outTradeNo;
    w.pay.closeAnswers.set(no, new PayApiError(500, 'SYSTEM_ERROR', '系统繁忙'));
    await expect(w.bills.closeOrder(c.order)).rejects.toThrow('系统繁忙');
    w.pay.closeAnswers.set(no, new Error('ECONNRESET'));
    await expect(w.bills.closeOrder(c.order)).rejects.toThrow('ECONNRESET');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('open');
    w.pay.closeAnswers.set(no, new PayApiError(404, 'ORDER_NOT_EXIST', '订单不存在'));
    expect(await w.bills.closeOrder(c.order)).toBe('closed');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('closed');

    const c2 = await w.bills.checkout(OPENID, bill.id);
    w.pay.closeAnswers.set(c2.order.outTradeNo, new PayApiError(400, 'ORDER_CLOSED', '订单已关闭'));
    expect(await w.bills.closeOrder(c2.order)).toBe('closed');
    expect((await w.bills.get(bill.id))!.status).toBe('unpaid');
  });

  it("'paid' when WeChat Pay says the order was paid: the payment is applied instead", async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.pay.closeAnswers.set(c.order.outTradeNo, new PayApiError(400, 'ORDERPAID', '该订单已支付'));
    w.pay.queryAnswers.set(c.order.outTradeNo, tx(c.order.outTradeNo, 'SUCCESS'));
    expect(await w.bills.closeOrder(c.order)).toBe('paid');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('paid');
    expect((await w.events(bill.id)).at(-1)).toBe('paid wechatpay: 微信支付交易单号 4200000000202611230000000001（主动查询）');
  });
});

describe('apply (a verified notification or a query answer)', () => {
  it('paid once: the bill and the order, the event, the hooks inside the transaction and the receipt message', async () => {
    const w = await setup();
    const bill = await w.issue({ department: 'service-centre' });
    const c = await w.bills.checkout(OPENID, bill.id);
    const seen: string[] = [];
    w.bills.onPaid(async (b, m) => {
      seen.push(`${b.id} ${b.status} ${(await m.getRepository(BillEntity).findOneByOrFail({ id: b.id })).status}`);
    });
    w.clock.advance(3 * MINUTE);
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS', { success_time: '2026-11-23T10:02:30+08:00' }), 'notify')).toBe('paid');
    const paidAt = Date.parse('2026-11-23T10:02:30+08:00');
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'paid', paidAt, paidOrderId: c.order.id, updatedAt: MONDAY_10AM + 3 * MINUTE });
    expect((await w.bills.orders(bill.id))[0]).toMatchObject({ status: 'paid', transactionId: '4200000000202611230000000001', payerOpenid: OPENID, paidAt, updatedAt: MONDAY_10AM + 3 * MINUTE });
    expect(seen).toEqual([`${bill.id} paid paid`]);
    expect((await w.events(bill.id)).at(-1)).toBe('paid wechatpay: 微信支付交易单号 4200000000202611230000000001（支付通知）');
    expect((await w.messages()).at(-1)).toEqual({ key: `bill-paid:${bill.id}`, openid: OPENID, ref: `bill:${bill.id}`, messages: [{ type: 'text', content: `缴费成功：交通违法罚款，200.00 元，收款方：示范区政务服务中心。\n<a href="https://gov.example.cn/h5/pay/bills/${bill.id}/receipt">查看电子收据</a>` }] });

    // The same notification again (WeChat Pay retries): answered, nothing twice.
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('already');
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'REFUND'), 'query')).toBe('already');
    expect(seen).toHaveLength(1);
    expect((await w.events(bill.id)).filter((e) => e.startsWith('paid'))).toHaveLength(1);
    expect((await w.messages()).filter((m) => m.key === `bill-paid:${bill.id}`)).toHaveLength(1);
    expect(await w.jobs.list({ name: Bills.DUPLICATE_REFUND })).toEqual([]);
    expect(w.raised).toEqual([]);
  });

  it('the time of payment is WeChat Pay\'s when it says one, else now; a query names itself in the event', async () => {
    const w = await setup();
    const one = await w.issue({ pays: { kind: 'event', ref: 'T1' } });
    const c1 = await w.bills.checkout(OPENID, one.id);
    w.clock.advance(MINUTE);
    expect(await w.bills.apply(tx(c1.order.outTradeNo, 'SUCCESS', { success_time: null }), 'query')).toBe('paid');
    expect((await w.bills.get(one.id))!.paidAt).toBe(MONDAY_10AM + MINUTE);
    expect((await w.events(one.id)).at(-1)).toContain('（主动查询）');
    const two = await w.issue({ pays: { kind: 'event', ref: 'T2' } });
    const c2 = await w.bills.checkout(OPENID, two.id);
    expect(await w.bills.apply(tx(c2.order.outTradeNo, 'SUCCESS', { success_time: 'yesterday' }), 'notify')).toBe('paid');
    expect((await w.bills.get(two.id))!.paidAt).toBe(MONDAY_10AM + MINUTE);
  });

  it('a Native order takes the payer WeChat Pay names; a JSAPI payment without a payer keeps the order\'s', async () => {
    const w = await setup();
    const one = await w.issue({ pays: { kind: 'event', ref: 'N1' } });
    const qr = await w.bills.checkout(OPENID, one.id, 'NATIVE');
    expect(await w.bills.apply(tx(qr.order.outTradeNo, 'SUCCESS', { payer: 'o_family_member' }), 'notify')).toBe('paid');
    expect((await w.bills.orders(one.id))[0]!.payerOpenid).toBe('o_family_member');
    const two = await w.issue({ pays: { kind: 'event', ref: 'N2' } });
    const c = await w.bills.checkout(OPENID, two.id);
    const t = { ...tx(c.order.outTradeNo, 'SUCCESS', { payer: null }) };
    delete t.transaction_id;
    expect(await w.bills.apply(t, 'notify')).toBe('paid');
    expect((await w.bills.orders(two.id))[0]).toMatchObject({ payerOpenid: OPENID, transactionId: null });
    expect((await w.events(two.id)).at(-1)).toBe('paid wechatpay: 微信支付交易单号 （支付通知）');
  });

  it('a payment whose amount or payer is not the order\'s is not applied, and supervisors are alerted at once', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    const no = c.order.outTradeNo;
    expect(await w.bills.apply(tx(no, 'SUCCESS', { total: 1 }), 'notify')).toBe('mismatch');
    expect(await w.bills.apply(tx(no, 'SUCCESS', { total: 20_001 }), 'query')).toBe('mismatch');
    const noAmount = tx(no, 'SUCCESS');
    delete noAmount.amount;
    expect(await w.bills.apply(noAmount, 'notify')).toBe('mismatch');
    expect(await w.bills.apply(tx(no, 'SUCCESS', { payer: 'o_someone_else' }), 'notify')).toBe('mismatch');
    expect(await w.bills.apply(tx(no, 'REFUND', { total: 2 }), 'notify')).toBe('mismatch');
    expect(w.raised).toHaveLength(5);
    expect(w.logged("WeChat Pay reported a payment whose amount or payer is not the order's: not applied").slice(0, 2)).toEqual([{ order: c.order.id, source: 'notify' }, { order: c.order.id, source: 'query' }]);
    expect(w.raised[0]).toEqual({ kind: 'pay_mismatch', department: null, to: 'supervisors', title: `缴费异常：订单 ${no} 的支付金额与订单不符，请核对`, link: `/admin/bills/${bill.id}`, urgent: true });
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('open');
    expect(await w.events(bill.id)).not.toContainEqual(expect.stringMatching(/^paid/));
  });

  it('a failing alert does not turn a mismatch into an error (WeChat Pay would only retry it)', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    (w.bills as unknown as { d: { alerts: { raise: () => Promise<never> } } }).d.alerts.raise = () => Promise.reject(new Error('alerts down'));
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS', { total: 1 }), 'notify')).toBe('mismatch');
  });

  it('another merchant, another account or an order we do not have: unknown_order, nothing changes', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    const no = c.order.outTradeNo;
    expect(await w.bills.apply(tx(no, 'SUCCESS', { mchid: '1900000999' }), 'notify')).toBe('unknown_order');
    expect(await w.bills.apply(tx(no, 'SUCCESS', { appid: 'wx_other' }), 'notify')).toBe('unknown_order');
    expect(await w.bills.apply(tx('JF20261123999999N1', 'SUCCESS'), 'notify')).toBe('unknown_order');
    expect(await w.bills.apply({ ...tx(no, 'SUCCESS'), out_trade_no: 7 as unknown as string }, 'notify')).toBe('unknown_order');
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
  });

  it('a second payment for a bill already paid is recorded as a duplicate, refunded in full and told to supervisors; once', async () => {
    const w = await setup();
    const bill = await w.issue({ department: 'service-centre' });
    const jsapi = await w.bills.checkout(OPENID, bill.id);
    const native = await w.bills.checkout(OPENID, bill.id, 'NATIVE'); // the JSAPI order closed here, but paid at WeChat Pay a moment before
    expect(await w.bills.apply(tx(native.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('paid');
    w.clock.advance(MINUTE);
    expect(await w.bills.apply(tx(jsapi.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('duplicate');
    const orders = await w.bills.orders(bill.id);
    expect(orders.map((o) => o.status)).toEqual(['duplicate', 'paid']);
    expect(orders[0]).toMatchObject({ transactionId: '4200000000202611230000000001', updatedAt: MONDAY_10AM + MINUTE });
    expect((await w.bills.get(bill.id))!.paidOrderId).toBe(native.order.id);
    expect((await w.events(bill.id)).at(-1)).toBe(`duplicate_paid wechatpay: 订单 ${jsapi.order.outTradeNo} 重复支付，将原路全额退回`);
    expect(await w.pending(Bills.DUPLICATE_REFUND)).toEqual([{ runAt: MONDAY_10AM + MINUTE, key: `pay-dup-refund:${jsapi.order.id}`, payload: { orderId: jsapi.order.id } }]);
    expect(w.raised).toEqual([{ kind: 'pay_duplicate', department: 'service-centre', to: 'supervisors', title: `重复支付：账单 ${bill.billNo} 又收到一笔 200.00 元，已自动原路退回`, link: `/admin/bills/${bill.id}`, urgent: false }]);
    expect(await w.bills.apply(tx(jsapi.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('already');
    expect(w.raised).toHaveLength(1);

    // The refund job: the whole amount back, under the order's own refund number.
    await w.jobs.runDue();
    expect(w.pay.refunds).toEqual([{ outTradeNo: jsapi.order.outTradeNo, outRefundNo: `${jsapi.order.outTradeNo}D`, reason: '重复支付退款', refundFen: 20_000, totalFen: 20_000 }]);
    expect((await w.events(bill.id)).at(-1)).toBe(`refunded wechatpay: 重复支付的 200.00 元已退回（订单 ${jsapi.order.outTradeNo}）`);
    expect((await w.jobs.list({ name: Bills.DUPLICATE_REFUND }))[0]!.status).toBe('done');
  });

  it('the duplicate refund is retried until WeChat Pay accepts it; a PROCESSING answer is accepted', async () => {
    const w = await setup();
    const { bill } = await paidBill(w);
    const second = await w.ds.getRepository(PayOrderEntity).insert({ billId: bill.id, outTradeNo: 'JF20261123000001N2', tradeType: 'NATIVE', amountFen: 20_000, status: 'open', prepayId: null, codeUrl: 'weixin://x', transactionId: null, payerOpenid: null, expiresAt: MONDAY_10AM + 30 * MINUTE, paidAt: null, closedAt: null, createdAt: MONDAY_10AM, updatedAt: MONDAY_10AM });
    const orderId = second.identifiers[0]!.id as number;
    expect(await w.bills.apply(tx('JF20261123000001N2', 'SUCCESS'), 'notify')).toBe('duplicate');
    for (const status of ['ABNORMAL', 'CLOSED'] as const) {
      w.pay.refundAnswer = (o) => refundResult(o.outRefundNo, status, o.refundFen);
      await w.jobs.runDue();
      const [job] = await w.jobs.list({ name: Bills.DUPLICATE_REFUND });
      expect(job!.lastError).toContain(`duplicate refund ${status}`);
      expect(job!.status).toBe('pending');
      w.clock.advance(DAY);
    }
    w.pay.refundAnswer = (o) => refundResult(o.outRefundNo, 'PROCESSING', o.refundFen);
    await w.jobs.runDue();
    expect((await w.jobs.list({ name: Bills.DUPLICATE_REFUND }))[0]!.status).toBe('done');
    expect((await w.events(bill.id)).filter((e) => e.startsWith('refunded'))).toHaveLength(1);
    expect(w.pay.refunds.map((r) => r.outRefundNo)).toEqual(['JF20261123000001N2D', 'JF20261123000001N2D', 'JF20261123000001N2D']);
    expect(orderId).toBeGreaterThan(0);
  });

  it('a payment for a bill closed meanwhile is a duplicate too: the money goes back', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status: 'closed' });
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('duplicate');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('duplicate');
    expect((await w.bills.get(bill.id))!.status).toBe('closed');
  });

  it('a hook that fails undoes the payment (WeChat Pay retries the notification)', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.bills.onPaid(async () => {
      throw new Error('the case could not be updated');
    });
    await expect(w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS'), 'notify')).rejects.toThrow('the case could not be updated');
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('open');
    expect(await w.messages()).toHaveLength(1);
  });

  it('an order that is paid already cannot be paid for another bill state: the payment is refused as changed underneath', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    await w.ds.getRepository(PayOrderEntity).update({ id: c.order.id }, { status: 'duplicate' });
    await expect(w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS'), 'notify')).rejects.toThrow('order changed under a payment being applied');
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
  });

  it('closed, revoked or failed at WeChat Pay: the order is closed; not paid yet: pending', async () => {
    const w = await setup();
    const bill = await w.issue();
    for (const state of ['NOTPAY', 'USERPAYING'] as const) {
      const c = await w.bills.checkout(OPENID, bill.id);
      expect(await w.bills.apply(tx(c.order.outTradeNo, state), 'query')).toBe('pending');
      expect((await w.bills.orders(bill.id)).at(-1)!.status).toBe('open');
    }
    for (const state of ['CLOSED', 'REVOKED', 'PAYERROR'] as const) {
      const open = (await w.bills.orders(bill.id)).at(-1)!;
      w.clock.advance(MINUTE);
      expect(await w.bills.apply(tx(open.outTradeNo, state), 'query')).toBe('closed');
      expect((await w.bills.orders(bill.id)).at(-1)).toMatchObject({ status: 'closed', closedAt: w.clock.now(), updatedAt: w.clock.now() });
      w.clock.advance(29 * MINUTE);
      await w.bills.checkout(OPENID, bill.id);
    }
    // A late CLOSED for an order paid already changes nothing.
    const { order } = await paidBill(w, { pays: { kind: 'event', ref: 'LATE-CLOSED' } });
    expect(await w.bills.apply(tx(order.outTradeNo, 'CLOSED'), 'query')).toBe('closed');
    expect((await w.ds.getRepository(PayOrderEntity).findOneByOrFail({ id: order.id })).status).toBe('paid');
  });
});

describe('the query and expiry jobs', () => {
  it('a notification that never came: asked after five minutes, then on a back-off of 1, 2, 5, 10, 30 minutes while the order lasts', async () => {
    const w = await setup({ orderTimeoutMs: 120 * MINUTE });
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    const no = c.order.outTradeNo;
    const runs: number[] = [];
    for (const wait of [5, 1, 2, 5, 10, 30, 30]) {
      w.clock.advance(wait * MINUTE);
      await w.jobs.runDue();
      runs.push(w.pay.calls.filter((x) => x === `query ${no}`).length);
    }
    expect(runs).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const next = await w.pending(Bills.QUERY);
    expect(next).toEqual([{ runAt: MONDAY_10AM + 113 * MINUTE, key: `pay-query:${c.order.id}:7`, payload: { orderId: c.order.id, n: 7 } }]);
    // The next one would be after the order's end: none is queued.
    w.clock.advance(30 * MINUTE);
    w.pay.queryAnswers.set(no, tx(no, 'NOTPAY'));
    await w.jobs.runDue();
    expect(await w.pending(Bills.QUERY)).toEqual([]);
  });

  it('the query finds the payment: applied once, no further query', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.pay.queryAnswers.set(c.order.outTradeNo, tx(c.order.outTradeNo, 'SUCCESS'));
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
    expect(await w.pending(Bills.QUERY)).toEqual([]);
    // The expiry job finds the order paid: WeChat Pay is not asked again.
    w.clock.advance(30 * MINUTE);
    await w.jobs.runDue();
    expect(w.pay.calls.filter((x) => x.startsWith('query') || x.startsWith('close'))).toEqual([`query ${c.order.outTradeNo}`]);
  });

  it('an order WeChat Pay never heard of is closed by its query; the bill is payable again', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.pay.queryAnswers.set(c.order.outTradeNo, new PayApiError(404, 'ORDER_NOT_EXIST', '订单不存在'));
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    expect((await w.bills.orders(bill.id))[0]).toMatchObject({ status: 'closed', closedAt: MONDAY_10AM + 5 * MINUTE, updatedAt: MONDAY_10AM + 5 * MINUTE });
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'unpaid', updatedAt: MONDAY_10AM + 5 * MINUTE });
    expect((await w.events(bill.id)).at(-1)).toBe(`order_closed system: 订单 ${c.order.outTradeNo} 未在微信支付下单成功，已关闭`);
    expect(await w.pending(Bills.QUERY)).toEqual([]);
    expect(await w.bills.refresh(c.order.id)).toBe('already');
  });

  it('an order never heard of, with another still open: the bill stays paying; a second close changes nothing', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    await w.ds.getRepository(PayOrderEntity).insert({ ...c.order, id: undefined as unknown as number, outTradeNo: 'JF20261123000001N9' });
    w.pay.queryAnswers.set(c.order.outTradeNo, new PayApiError(404, 'ORDER_NOT_EXIST', '订单不存在'));
    expect(await w.bills.refresh(c.order.id)).toBe('closed');
    expect((await w.bills.get(bill.id))!.status).toBe('paying');
    await w.ds.getRepository(PayOrderEntity).update({ id: c.order.id }, { status: 'open' });
    await w.ds.getRepository(PayOrderEntity).update({ outTradeNo: 'JF20261123000001N9' }, { status: 'paid' });
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status: 'paid' });
    expect(await w.bills.refresh(c.order.id)).toBe('closed');
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
    expect((await w.events(bill.id)).filter((e) => e.includes('未在微信支付下单成功'))).toHaveLength(2);
  });

  it("a query that fails otherwise is the job's failure, retried; the order stays open", async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.pay.queryAnswers.set(c.order.outTradeNo, new PayApiError(500, 'SYSTEM_ERROR', '系统繁忙'));
    await expect(w.bills.refresh(c.order.id)).rejects.toThrow('系统繁忙');
    w.pay.queryAnswers.set(c.order.outTradeNo, new Error('ORDER_NOT_EXIST'));
    await expect(w.bills.refresh(c.order.id)).rejects.toThrow('ORDER_NOT_EXIST');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('open');
  });

  it('refresh: asks about an open order only', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    expect(await w.bills.refresh(c.order.id)).toBe('pending');
    expect(await w.bills.refresh(99_999)).toBe('already');
    w.pay.queryAnswers.set(c.order.outTradeNo, tx(c.order.outTradeNo, 'SUCCESS'));
    expect(await w.bills.refresh(c.order.id)).toBe('paid');
    expect(await w.bills.refresh(c.order.id)).toBe('already');
    expect(w.pay.calls.filter((x) => x.startsWith('query'))).toHaveLength(2);
  });

  it('expiry: asked once more, then closed if still unpaid; a paid order is left alone; with pay off nothing is asked', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    await w.bills.expireOrder(c.order.id);
    expect(w.pay.calls.slice(-2)).toEqual([`query ${c.order.outTradeNo}`, `close ${c.order.outTradeNo}`]);
    expect((await w.bills.get(bill.id))!.status).toBe('unpaid');
    await w.bills.expireOrder(c.order.id);
    await w.bills.expireOrder(99_999);
    expect(w.pay.calls).toHaveLength(3);

    const c2 = await w.bills.checkout(OPENID, bill.id);
    w.pay.queryAnswers.set(c2.order.outTradeNo, tx(c2.order.outTradeNo, 'SUCCESS'));
    await w.bills.expireOrder(c2.order.id);
    expect(w.pay.calls.at(-1)).toBe(`query ${c2.order.outTradeNo}`);
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
  });

  it('with pay switched off, the jobs leave open orders alone', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    (w.bills as unknown as { d: { pay: null } }).d.pay = null;
    await w.bills.expireOrder(c.order.id);
    expect(await w.bills.refresh(c.order.id)).toBe('already');
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    expect(w.pay.calls).toEqual([`jsapi ${c.order.outTradeNo}`]);
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('open');
  });
});

describe('closing an unpaid bill', () => {
  it('its open orders closed at WeChat Pay first, then the bill, with the reason, the event and the hooks', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    const seen: string[] = [];
    w.bills.onClosedUnpaid(async (b, m) => {
      seen.push(`${b.status} ${(await m.getRepository(BillEntity).findOneByOrFail({ id: b.id })).closedReason}`);
    });
    w.clock.advance(MINUTE);
    expect(await w.bills.closeIfUnpaid(bill.id, '部门撤回', 'staff:7')).toBe(true);
    expect(w.pay.calls.at(-1)).toBe(`close ${c.order.outTradeNo}`);
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'closed', closedAt: MONDAY_10AM + MINUTE, closedReason: '部门撤回', updatedAt: MONDAY_10AM + MINUTE });
    expect((await w.events(bill.id)).at(-1)).toBe('closed staff:7: 部门撤回');
    expect(seen).toEqual(['closed 部门撤回']);
    expect(await w.bills.closeIfUnpaid(bill.id, '再关一次')).toBe(false);
    expect(seen).toHaveLength(1);
    expect(await w.bills.closeIfUnpaid(99_999, '没有')).toBe(false);
  });

  it('the reason is kept to 200 characters; the actor is the system unless named', async () => {
    const w = await setup();
    const bill = await w.issue();
    expect(await w.bills.closeIfUnpaid(bill.id, '因'.repeat(250))).toBe(true);
    expect((await w.bills.get(bill.id))!.closedReason).toBe('因'.repeat(200));
    expect((await w.bills.timeline(bill.id)).at(-1)).toMatchObject({ actor: 'system', note: '因'.repeat(250) });
  });

  it('a paid bill is not closed; nor one found paid while its order is closed', async () => {
    const w = await setup();
    const { bill } = await paidBill(w);
    expect(await w.bills.closeIfUnpaid(bill.id, '部门撤回')).toBe(false);
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
    const other = await w.issue({ pays: { kind: 'event', ref: 'RACE' } });
    const c = await w.bills.checkout(OPENID, other.id);
    w.pay.closeAnswers.set(c.order.outTradeNo, new PayApiError(400, 'ORDERPAID', '该订单已支付'));
    w.pay.queryAnswers.set(c.order.outTradeNo, tx(c.order.outTradeNo, 'SUCCESS'));
    const closed: number[] = [];
    w.bills.onClosedUnpaid(async (b) => void closed.push(b.id));
    expect(await w.bills.closeIfUnpaid(other.id, '超过缴费期限未缴费，已关闭')).toBe(false);
    expect((await w.bills.get(other.id))!.status).toBe('paid');
    expect(closed).toEqual([]);
  });

  it('a hook that fails leaves the bill open', async () => {
    const w = await setup();
    const bill = await w.issue();
    w.bills.onClosedUnpaid(async () => {
      throw new Error('the booking could not be released');
    });
    await expect(w.bills.closeIfUnpaid(bill.id, '超时')).rejects.toThrow('the booking could not be released');
    expect((await w.bills.get(bill.id))!.status).toBe('unpaid');
  });

  it('the due job closes an unpaid bill at its due time', async () => {
    const w = await setup();
    const bill = await w.issue({ dueAt: MONDAY_10AM + DAY });
    w.clock.advance(DAY);
    await w.jobs.runDue();
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'closed', closedReason: '超过缴费期限未缴费，已关闭' });
  });
});

describe('withdrawing a bill (what it was for is gone)', () => {
  it('unpaid: closed; paid: refunded in full; partly refunded: the rest; queued inside the caller\'s transaction', async () => {
    const w = await setup();
    const unpaid = await w.issue({ pays: { kind: 'booking', ref: 'B1' } });
    const { bill: paid } = await paidBill(w, { pays: { kind: 'booking', ref: 'B2' } });
    const { bill: part } = await paidBill(w, { pays: { kind: 'booking', ref: 'B3' } });
    await w.bills.refund({ billId: part.id, amountFen: 5_000, reason: '部分退', staff: null });
    await w.ds.transaction(async (m) => {
      for (const b of [unpaid, paid, part]) await w.bills.withdrawLater(b.id, '预约已取消', m);
    });
    await expect(w.ds.transaction(async (m) => {
      await w.bills.withdrawLater(999, '不会发生', m);
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect((await w.pending(Bills.WITHDRAW)).map((j) => j.key)).toEqual([`bill-withdraw:${unpaid.id}`, `bill-withdraw:${paid.id}`, `bill-withdraw:${part.id}`]);
    expect((await w.pending(Bills.WITHDRAW))[0]!.payload).toEqual({ billId: unpaid.id, reason: '预约已取消' });
    await w.jobs.runDue();
    expect((await w.bills.get(unpaid.id))!).toMatchObject({ status: 'closed', closedReason: '预约已取消' });
    expect((await w.bills.get(paid.id))!).toMatchObject({ status: 'refunded', refundedFen: 20_000 });
    expect((await w.bills.get(part.id))!).toMatchObject({ status: 'refunded', refundedFen: 20_000 });
    expect(w.pay.refunds.slice(-2).map((r) => `${r.refundFen} ${r.reason}`)).toEqual(['20000 预约已取消，退还费用', '15000 预约已取消，退还费用']);
    // Nothing left: a second withdrawal asks for nothing.
    const before = w.pay.refunds.length;
    await w.jobs.enqueue(Bills.WITHDRAW, { billId: paid.id, reason: '再次' });
    await w.jobs.enqueue(Bills.WITHDRAW, { billId: 99_999, reason: '没有' });
    await w.jobs.runDue();
    expect(w.pay.refunds).toHaveLength(before);
  });

  it('a refund reason over 80 characters is cut; a bill being refunded is left to its refund', async () => {
    const w = await setup();
    const { bill } = await paidBill(w);
    await w.jobs.enqueue(Bills.WITHDRAW, { billId: bill.id, reason: '因'.repeat(90) });
    await w.jobs.runDue();
    expect(w.pay.refunds.at(-1)!.reason).toBe('因'.repeat(80));
    const { bill: busy } = await paidBill(w, { pays: { kind: 'event', ref: 'BUSY' } });
    await w.ds.getRepository(BillEntity).update({ id: busy.id }, { status: 'refunding' });
    await w.jobs.enqueue(Bills.WITHDRAW, { billId: busy.id, reason: '撤回' });
    await w.jobs.runDue();
    expect(w.pay.refunds).toHaveLength(1);
  });
});

const SUPERVISOR: StaffActor = { kind: 'staff', id: 7, username: 'zhang', name: '张主任', role: 'supervisor', department: 'service-centre' };

describe('refunds', () => {
  it('a supervisor refunds part, with the reason, audited; WeChat Pay confirms it; the citizen is told; then the rest, never more', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w, { department: 'service-centre' });
    w.clock.advance(MINUTE);
    const r1 = await w.bills.refund({ billId: bill.id, amountFen: 5_000, reason: '  材料不全，退部分费用 ', staff: SUPERVISOR, ip: '10.0.0.8' });
    expect(w.pay.refunds).toEqual([{ outTradeNo: order.outTradeNo, outRefundNo: `${order.outTradeNo}R1`, reason: '材料不全，退部分费用', refundFen: 5_000, totalFen: 20_000 }]);
    expect(r1).toMatchObject({ billId: bill.id, orderId: order.id, outRefundNo: `${order.outTradeNo}R1`, amountFen: 5_000, reason: '材料不全，退部分费用', status: 'success', staffId: 7, refundId: `5030${order.outTradeNo}R1`, createdAt: MONDAY_10AM + MINUTE, succeededAt: MONDAY_10AM + MINUTE });
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'partially_refunded', refundedFen: 5_000, updatedAt: MONDAY_10AM + MINUTE });
    expect((await w.events(bill.id)).slice(-2)).toEqual(['refund_requested staff:7: 退款 50.00 元：材料不全，退部分费用', 'refunded wechatpay: 已退款 50.00 元']);
    const audit = await w.ds.getRepository(AuditEntity).find();
    expect(audit).toEqual([expect.objectContaining({ actorId: 7, action: 'bill-refund', target: `bill:${bill.id}`, department: 'service-centre', detail: `退款 50.00 元（${bill.billNo}）：材料不全，退部分费用`, ip: '10.0.0.8' })]);
    expect((await w.messages()).at(-1)).toEqual({ key: `bill-refund:${r1.id}`, openid: OPENID, ref: `bill:${bill.id}`, messages: [{ type: 'text', content: '退款 50.00 元已原路退回您的微信支付账户（交通违法罚款）。原因：材料不全，退部分费用' }] });
    expect(await w.pending(Bills.REFUND_QUERY)).toEqual([{ runAt: MONDAY_10AM + 6 * MINUTE, key: `refund-query:${r1.id}`, payload: { refundId: r1.id } }]);

    const tooMuch = await refusal(w.bills.refund({ billId: bill.id, amountFen: 15_001, reason: '多退一分', staff: SUPERVISOR }));
    expect(tooMuch.code).toBe('too_much');
    expect(tooMuch.message).toBe('最多还能退 150.00 元。');
    const r2 = await w.bills.refund({ billId: bill.id, amountFen: 15_000, reason: '不予受理，全部退还', staff: null });
    expect(r2).toMatchObject({ outRefundNo: `${order.outTradeNo}R2`, staffId: null, status: 'success' });
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'refunded', refundedFen: 20_000 });
    expect((await w.events(bill.id)).at(-2)).toBe('refund_requested system: 退款 150.00 元：不予受理，全部退还');
    expect((await w.ds.getRepository(AuditEntity).find()).at(-1)).toMatchObject({ actorId: null, actor: 'system', ip: null });
    expect((await refusal(w.bills.refund({ billId: bill.id, amountFen: 1, reason: '再退', staff: null }))).code).toBe('wrong_state');
    // Refunded in full but for a refund still under way: nothing is left to refund.
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status: 'refunding' });
    const none = await refusal(w.bills.refund({ billId: bill.id, amountFen: 1, reason: '再退', staff: null }));
    expect(none.code).toBe('too_much');
    expect(none.message).toBe('最多还能退 0.00 元。');
  });

  it('refused before anything is written: no reason, too long a reason, no amount, a bill not paid or not there, a refund under way', async () => {
    const w = await setup();
    const { bill } = await paidBill(w);
    const cases: [Parameters<Bills['refund']>[0], string][] = [
      [{ billId: bill.id, amountFen: 100, reason: '', staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: 100, reason: '   ', staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: 100, reason: undefined as unknown as string, staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: 100, reason: '退'.repeat(81), staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: 0, reason: '退', staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: -5, reason: '退', staff: null }, 'invalid'],
      [{ billId: bill.id, amountFen: 1.5, reason: '退', staff: null }, 'invalid'],
      [{ billId: 99_999, amountFen: 100, reason: '退', staff: null }, 'not_found'],
    ];
    for (const [o, code] of cases) expect((await refusal(w.bills.refund(o))).code, JSON.stringify(o)).toBe(code);
    expect((await refusal(w.bills.refund(cases[0]![0]))).message).toBe('请写明退款原因（80 字以内）。');
    expect((await refusal(w.bills.refund(cases[4]![0]))).message).toBe('退款金额须为正数。');
    const unpaid = await w.issue({ pays: { kind: 'event', ref: 'UNPAID' } });
    const e = await refusal(w.bills.refund({ billId: unpaid.id, amountFen: 100, reason: '退', staff: null }));
    expect(e.code).toBe('wrong_state');
    expect(e.message).toBe('只有已缴费的费用可以退款。');
    // Paid status without the paying order is not refundable either.
    await w.ds.getRepository(BillEntity).update({ id: unpaid.id }, { status: 'paid' });
    expect((await refusal(w.bills.refund({ billId: unpaid.id, amountFen: 100, reason: '退', staff: null }))).code).toBe('wrong_state');
    for (const status of ['refunded', 'closed'] as const) {
      await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status });
      expect((await refusal(w.bills.refund({ billId: bill.id, amountFen: 100, reason: '退', staff: null }))).code, status).toBe('wrong_state');
    }
    await w.ds.getRepository(BillEntity).update({ id: bill.id }, { status: 'paid' });
    const held = await tryLock(w.kv, `bill-refund:${bill.id}`, 30_000);
    expect((await refusal(w.bills.refund({ billId: bill.id, amountFen: 100, reason: '退', staff: null }))).code).toBe('busy');
    await held!.release();
    expect(await w.ds.getRepository(RefundEntity).count()).toBe(0);
    expect(w.pay.refunds).toEqual([]);
    expect(await w.ds.getRepository(AuditEntity).count()).toBe(0);
    // The limits themselves: 80 characters, 1 fen; and the lock is released after each.
    expect((await w.bills.refund({ billId: bill.id, amountFen: 1, reason: '退'.repeat(80), staff: null })).status).toBe('success');
    expect((await w.bills.refund({ billId: bill.id, amountFen: 1, reason: '退', staff: null })).status).toBe('success');
    await refusal(w.bills.refund({ billId: bill.id, amountFen: 20_000, reason: '退', staff: null }));
    expect((await w.bills.refund({ billId: bill.id, amountFen: 19_998, reason: '退', staff: null })).status).toBe('success');
  });

  it('a refund not yet confirmed counts against what is left; it stays 退款中 until the query job hears', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    w.pay.refundAnswer = () => new Error('timeout');
    const r = await w.bills.refund({ billId: bill.id, amountFen: 12_000, reason: '退一部分', staff: null });
    expect(r.status).toBe('processing');
    expect((await w.bills.get(bill.id))!.status).toBe('refunding');
    expect(w.logged('refund request not confirmed yet')).toEqual([{ err: expect.objectContaining({ message: 'timeout' }), refund: r.id }]);
    const e = await refusal(w.bills.refund({ billId: bill.id, amountFen: 8_001, reason: '再退', staff: null }));
    expect(e.message).toBe('最多还能退 80.00 元。');
    // A second one while the first is processing is allowed up to the rest; the bill stays 退款中 until both are done.
    w.pay.refundAnswer = (o) => refundResult(o.outRefundNo, 'SUCCESS', o.refundFen);
    const r2 = await w.bills.refund({ billId: bill.id, amountFen: 8_000, reason: '再退', staff: null });
    expect(r2.status).toBe('success');
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'refunding', refundedFen: 8_000 });

    // The query job, five minutes on: still processing (retried), then done.
    w.pay.refundQueries.set(r.outRefundNo, refundResult(r.outRefundNo, 'PROCESSING', 12_000));
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    const job = (await w.jobs.list({ name: Bills.REFUND_QUERY })).find((j) => j.uniqueKey === `refund-query:${r.id}`)!;
    expect(job.lastError).toContain('refund still processing');
    w.pay.refundQueries.set(r.outRefundNo, refundResult(r.outRefundNo, 'SUCCESS', 12_000));
    w.clock.advance(DAY);
    await w.jobs.runDue();
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'refunded', refundedFen: 20_000 });
    expect(w.pay.refunds.map((x) => x.outRefundNo)).toEqual([`${order.outTradeNo}R1`, `${order.outTradeNo}R2`]);
  });

  it('a refund WeChat Pay never received (a crash before the request) is requested by the query job, under the same number', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    w.pay.refundAnswer = () => new Error('crash');
    const r = await w.bills.refund({ billId: bill.id, amountFen: 3_000, reason: '退', staff: null });
    w.pay.refundAnswer = (o) => refundResult(o.outRefundNo, 'SUCCESS', o.refundFen);
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    expect(w.pay.calls.slice(-2)).toEqual([`query-refund ${r.outRefundNo}`, `refund ${r.outRefundNo}`]);
    expect(w.pay.refunds.at(-1)).toEqual({ outTradeNo: order.outTradeNo, outRefundNo: r.outRefundNo, reason: '退', refundFen: 3_000, totalFen: 20_000 });
    expect((await w.bills.get(bill.id))!).toMatchObject({ status: 'partially_refunded', refundedFen: 3_000 });
  });

  it('the refund query job: another error is retried; a refund no longer processing or pay off is left alone', async () => {
    const w = await setup();
    const { bill } = await paidBill(w);
    w.pay.refundAnswer = () => new Error('crash');
    const r = await w.bills.refund({ billId: bill.id, amountFen: 3_000, reason: '退', staff: null });
    w.pay.refundQueries.set(r.outRefundNo, new PayApiError(500, 'SYSTEM_ERROR', '系统繁忙'));
    w.clock.advance(5 * MINUTE);
    await w.jobs.runDue();
    expect((await w.jobs.list({ name: Bills.REFUND_QUERY }))[0]!.lastError).toContain('系统繁忙');
    expect(w.pay.calls.filter((x) => x.startsWith('refund '))).toHaveLength(1);
    await w.ds.getRepository(RefundEntity).update({ id: r.id }, { status: 'success' });
    const calls = w.pay.calls.length;
    w.clock.advance(DAY);
    await w.jobs.runDue();
    expect(w.pay.calls).toHaveLength(calls);
    expect((await w.jobs.list({ name: Bills.REFUND_QUERY }))[0]!.status).toBe('done');
  });
});

describe('applyRefund (a refund notification, the refund answer, a query)', () => {
  async function processing(w: World, amountFen = 5_000) {
    const { bill } = await paidBill(w);
    w.pay.refundAnswer = () => new Error('timeout');
    const r = await w.bills.refund({ billId: bill.id, amountFen, reason: '退', staff: null });
    return { bill, r };
  }

  it('unknown states and refund numbers, and a different amount, are not applied; PROCESSING is pending', async () => {
    const w = await setup();
    const { bill, r } = await processing(w);
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo })).toBe('unknown');
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, status: 'DONE' as 'SUCCESS' })).toBe('unknown');
    expect(await w.bills.applyRefund({ out_refund_no: 'NOPE', status: 'SUCCESS' })).toBe('unknown');
    expect(await w.bills.applyRefund({ status: 'SUCCESS' })).toBe('unknown');
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, status: 'PROCESSING' })).toBe('pending');
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, status: 'SUCCESS', amount: { refund: 5_001 } })).toBe('unknown');
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, status: 'SUCCESS', amount: { refund: 0 } })).toBe('unknown');
    expect(w.logged("WeChat Pay reported a refund amount that is not the request's: not applied")).toEqual([{ refund: r.id }, { refund: r.id }]);
    expect((await w.ds.getRepository(RefundEntity).findOneByOrFail({ id: r.id })).status).toBe('processing');
    expect((await w.bills.get(bill.id))!.status).toBe('refunding');
  });

  it("a notification names the state refund_status; applied once, without the amount when not given", async () => {
    const w = await setup();
    const { bill, r } = await processing(w);
    w.clock.advance(MINUTE);
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, refund_status: 'SUCCESS', status: 'PROCESSING' })).toBe('applied');
    expect(await w.ds.getRepository(RefundEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'success', refundId: null, succeededAt: MONDAY_10AM + MINUTE, updatedAt: MONDAY_10AM + MINUTE });
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'partially_refunded', refundedFen: 5_000, updatedAt: MONDAY_10AM + MINUTE });
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, refund_status: 'SUCCESS', refund_id: 'R9' })).toBe('already');
    expect((await w.events(bill.id)).filter((e) => e.startsWith('refunded'))).toHaveLength(1);
  });

  it('closed or abnormal: the refund is not money back; the bill is paid again, as it was', async () => {
    const w = await setup();
    const { bill, r } = await processing(w);
    expect(await w.bills.applyRefund({ out_refund_no: r.outRefundNo, status: 'CLOSED', refund_id: 'R1', amount: { refund: 5_000 } })).toBe('applied');
    expect(await w.ds.getRepository(RefundEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'closed', refundId: 'R1', succeededAt: null });
    expect(await w.bills.get(bill.id)).toMatchObject({ status: 'paid', refundedFen: 0 });
    expect((await w.events(bill.id)).at(-1)).toBe('refunded wechatpay: 退款未成功（CLOSED）');
    expect((await w.messages()).filter((m) => m.key?.startsWith('bill-refund:'))).toEqual([]);
    const again = await w.bills.refund({ billId: bill.id, amountFen: 20_000, reason: '全部', staff: null });
    expect(await w.bills.applyRefund({ out_refund_no: again.outRefundNo, status: 'ABNORMAL' })).toBe('applied');
    expect((await w.ds.getRepository(RefundEntity).findOneByOrFail({ id: again.id })).status).toBe('abnormal');
    expect((await w.bills.get(bill.id))!.status).toBe('paid');
    expect((await w.events(bill.id)).at(-1)).toBe('refunded wechatpay: 退款未成功（ABNORMAL）');
  });
});

describe('reconciliation', () => {
  const HEAD = '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
  const cols = HEAD.split(',');
  const line = (f: Record<string, string>) => cols.map((c) => `\`${f[c] ?? ''}`).join(',');
  const payment = (no: string, yuanText: string) => line({ 商户订单号: no, 交易状态: 'SUCCESS', 应结订单金额: yuanText });
  const refundLine = (no: string, refundNo: string, yuanText: string) => line({ 商户订单号: no, 交易状态: 'REFUND', 商户退款单号: refundNo, 退款金额: yuanText });
  const csv = (...rows: string[]) => [HEAD, ...rows, '总交易单数,应结订单总金额,退款总金额', '`9,`999.00,`999.00', ''].join('\r\n');

  it('matching records: no differences, the sums of both sides', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    const r = await w.bills.refund({ billId: bill.id, amountFen: 1_234, reason: '退', staff: null });
    w.pay.bills.set('2026-11-23', csv(payment(order.outTradeNo, '200.00'), refundLine(order.outTradeNo, r.outRefundNo, '12.34')));
    expect(await w.bills.reconcile('2026-11-23')).toEqual({
      date: '2026-11-23',
      remote: { payments: 1, refunds: 1, paidFen: 20_000, refundedFen: 1_234 },
      local: { payments: 1, refunds: 1, paidFen: 20_000, refundedFen: 1_234 },
      differences: [],
    });
    expect(w.pay.calls.at(-1)).toBe('trade-bill 2026-11-23');
  });

  it('every difference listed: missing here, missing there, amounts that differ; a duplicate refund is not a difference', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    const r = await w.bills.refund({ billId: bill.id, amountFen: 1_000, reason: '退', staff: null });
    const { bill: b2, order: o2 } = await paidBill(w, { pays: { kind: 'event', ref: 'TWO' }, amountFen: 3_000 });
    const r2 = await w.bills.refund({ billId: b2.id, amountFen: 500, reason: '退', staff: null });
    w.pay.bills.set(
      '2026-11-23',
      csv(
        payment(order.outTradeNo, '199.99'),
        payment('JF20261123999999N1', '5.00'),
        line({ 商户订单号: 'X', 交易状态: 'NOTPAY', 应结订单金额: '1.00' }),
        refundLine(order.outTradeNo, r.outRefundNo, '10.01'),
        refundLine(order.outTradeNo, 'JF20261123999999N1R1', '2.00'),
        refundLine(order.outTradeNo, `${order.outTradeNo}D`, '200.00'),
      ),
    );
    const rec = await w.bills.reconcile('2026-11-23');
    expect(rec.remote).toEqual({ payments: 2, refunds: 3, paidFen: 20_499, refundedFen: 21_201 });
    expect(rec.local).toEqual({ payments: 2, refunds: 2, paidFen: 23_000, refundedFen: 1_500 });
    expect(rec.differences).toEqual([
      { kind: '金额不符', ref: order.outTradeNo, detail: '微信 199.99 元，本地 200.00 元' },
      { kind: '微信有、本地无', ref: 'JF20261123999999N1', detail: '微信支付记录收款 5.00 元，本地没有这笔已支付订单' },
      { kind: '本地有、微信无', ref: o2.outTradeNo, detail: '本地记为已支付 30.00 元，账单里没有' },
      { kind: '金额不符', ref: r.outRefundNo, detail: '退款：微信 10.01 元，本地 10.00 元' },
      { kind: '微信有、本地无', ref: 'JF20261123999999N1R1', detail: '微信退款 2.00 元，本地没有这笔退款' },
      { kind: '本地有、微信无', ref: r2.outRefundNo, detail: '本地记为已退款 5.00 元，账单里没有' },
    ]);
  });

  it("only the China day's local records, paid or duplicate orders and successful refunds; the summary ends the rows", async () => {
    const w = await setup();
    w.clock.set(Date.parse('2026-11-22T23:59:59+08:00'));
    const { order: before } = await paidBill(w, { pays: { kind: 'event', ref: 'BEFORE' } });
    w.clock.set(Date.parse('2026-11-23T00:00:00+08:00'));
    await w.ds.getRepository(PayOrderEntity).update({ id: before.id }, { paidAt: w.clock.now() - 1 });
    const dup = await w.ds.getRepository(PayOrderEntity).insert({ ...before, id: undefined as unknown as number, outTradeNo: 'DUP1', status: 'duplicate', paidAt: w.clock.now() });
    await w.ds.getRepository(PayOrderEntity).insert({ ...before, id: undefined as unknown as number, outTradeNo: 'OPEN1', status: 'open', paidAt: w.clock.now() });
    const { bill: last, order: lastOrder } = await paidBill(w, { pays: { kind: 'event', ref: 'LAST' } });
    await w.ds.getRepository(PayOrderEntity).update({ id: lastOrder.id }, { paidAt: Date.parse('2026-11-23T23:59:59.999+08:00') });
    const { order: next } = await paidBill(w, { pays: { kind: 'event', ref: 'NEXT' } });
    await w.ds.getRepository(PayOrderEntity).update({ id: next.id }, { paidAt: Date.parse('2026-11-24T00:00:00+08:00') });
    w.pay.refundAnswer = (o) => refundResult(o.outRefundNo, 'PROCESSING', o.refundFen);
    await w.bills.refund({ billId: last.id, amountFen: 100, reason: '退', staff: null });
    w.pay.bills.set('2026-11-23', [HEAD, payment('DUP1', '200.00'), payment(lastOrder.outTradeNo, '200.00'), '总交易单数', payment('AFTER-SUMMARY', '1.00')].join('\n'));
    const rec = await w.bills.reconcile('2026-11-23');
    expect(dup.identifiers).toHaveLength(1);
    expect(rec.differences).toEqual([]);
    expect(rec.local).toEqual({ payments: 2, refunds: 0, paidFen: 40_000, refundedFen: 0 });
  });

  it('an empty trade bill and a bad date', async () => {
    const w = await setup();
    expect(await w.bills.reconcile('2026-11-20')).toEqual({ date: '2026-11-20', remote: { payments: 0, refunds: 0, paidFen: 0, refundedFen: 0 }, local: { payments: 0, refunds: 0, paidFen: 0, refundedFen: 0 }, differences: [] });
    for (const d of ['2026-1-2', '20261123', 'x2026-11-23', '2026-11-23x']) {
      const e = await refusal(w.bills.reconcile(d));
      expect(e.code).toBe('invalid');
      expect(e.message).toBe('日期格式应为 2026-11-23');
    }
  });

  it('scheduled for 10:05 China time the day after: before then today, yesterday; after, tomorrow, today', async () => {
    const w = await setup();
    await w.bills.scheduleReconciliation();
    expect(await w.pending(Bills.RECONCILE)).toEqual([{ runAt: Date.parse('2026-11-23T10:05:00+08:00'), key: 'bills-reconcile:2026-11-22', payload: { date: '2026-11-22' } }]);
    const w2 = await setup();
    w2.clock.set(Date.parse('2026-11-23T10:05:00+08:00'));
    await w2.bills.scheduleReconciliation();
    expect(await w2.pending(Bills.RECONCILE)).toEqual([{ runAt: Date.parse('2026-11-24T10:05:00+08:00'), key: 'bills-reconcile:2026-11-23', payload: { date: '2026-11-23' } }]);
    await w2.bills.scheduleReconciliation('2026-11-01');
    expect((await w2.pending(Bills.RECONCILE)).at(-1)).toEqual({ runAt: Date.parse('2026-11-02T10:05:00+08:00'), key: 'bills-reconcile:2026-11-01', payload: { date: '2026-11-01' } });
  });

  it('the daily run alerts supervisors of differences and queues the next day; after a long outage it resumes a week back', async () => {
    const w = await setup();
    const { order } = await paidBill(w);
    w.pay.bills.set('2026-11-23', csv(payment(order.outTradeNo, '200.00')));
    await w.jobs.enqueue(Bills.RECONCILE, { date: '2026-11-23' });
    await w.jobs.runDue();
    expect(w.raised).toEqual([]);
    expect((await w.pending(Bills.RECONCILE)).map((j) => `${j.key} ${new Date(j.runAt).toISOString()}`)).toEqual(['bills-reconcile:2026-11-24 2026-11-25T02:05:00.000Z']);

    w.pay.bills.set('2026-11-24', csv(payment('JF20261124999999N1', '1.00')));
    w.clock.set(Date.parse('2026-11-25T10:05:00+08:00'));
    await w.jobs.runDue();
    expect(w.logged('reconciliation found differences')).toEqual([{ date: '2026-11-24', differences: 1 }]);
    expect(w.raised).toEqual([{ kind: 'pay_reconcile', department: null, to: 'supervisors', title: '对账：2026-11-24 微信支付账单与本地记录有 1 处差异', link: '/admin/bills/reconcile?date=2026-11-24', urgent: false }]);
    expect((await w.pending(Bills.RECONCILE)).map((j) => j.key)).toEqual(['bills-reconcile:2026-11-25']);

    // Ten days later: the run catches up from a week back, not from the day after the last.
    w.clock.set(Date.parse('2026-12-05T10:05:00+08:00'));
    await w.jobs.runDue();
    const done = (await w.jobs.list({ name: Bills.RECONCILE, status: 'done' })).map((j) => (JSON.parse(j.payload) as { date: string }).date);
    expect(done).toEqual(['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-28', '2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04']);
    expect((await w.pending(Bills.RECONCILE)).map((j) => j.key)).toEqual(['bills-reconcile:2026-12-05']);
    expect(w.logged('daily reconciliation was not run for over a week; the days before the last seven are left to the panel')).toEqual([{ from: '2026-11-26', to: '2026-11-28' }]);
  });
});

describe('races and leftovers', () => {
  it('a bill issued by a concurrent push between the lookup and the insert: the same bill, or a conflict if it differs', async () => {
    const w = await setup();
    const first = await w.issue();
    /** The transaction as a concurrent push leaves it: the first lookup does not see the bill yet. */
    const racing = (m: EntityManager): EntityManager => {
      let hidden = false;
      return new Proxy(m, {
        get(target, prop) {
          if (prop !== 'getRepository') return Reflect.get(target, prop);
          return (entity: unknown) => {
            const repo = target.getRepository(entity as typeof BillEntity);
            if (entity !== BillEntity || hidden) return repo;
            return new Proxy(repo, {
              get(r, p) {
                if (p !== 'findOneBy') return Reflect.get(r, p);
                hidden = true;
                return async () => null;
              },
            });
          };
        },
      });
    };
    const same = await w.ds.transaction((m) => w.bills.issue({ openid: OPENID, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'JJ-1' } }, racing(m)));
    expect(same.id).toBe(first.id);
    for (const b of [{ amountFen: 20_001, openid: OPENID }, { amountFen: 20_000, openid: 'o_someone_else' }]) {
      const e = await refusal(w.ds.transaction((m) => w.bills.issue({ ...b, description: '交通违法罚款', pays: { kind: 'event', ref: 'JJ-1' } }, racing(m))));
      expect(e.code).toBe('conflict');
      expect(e.message).toBe('这笔费用已经开过账单，市民或金额与原账单不同');
    }
    expect(await w.ds.getRepository(BillEntity).count()).toBe(1);
    expect(await w.messages()).toHaveLength(1);
    expect(await w.events(first.id)).toHaveLength(1);
  });

  it('an order number taken by a concurrent checkout: busy, WeChat Pay not asked', async () => {
    const w = await setup();
    const bill = await w.issue();
    const other = await w.issue({ pays: { kind: 'event', ref: 'OTHER' } });
    await w.ds.getRepository(PayOrderEntity).insert({ billId: other.id, outTradeNo: 'JF20261123000001N1', tradeType: 'JSAPI', amountFen: 20_000, status: 'closed', prepayId: null, codeUrl: null, transactionId: null, payerOpenid: OPENID, expiresAt: MONDAY_10AM, paidAt: null, closedAt: MONDAY_10AM, createdAt: MONDAY_10AM, updatedAt: MONDAY_10AM });
    const e = await refusal(w.bills.checkout(OPENID, bill.id));
    expect(e.code).toBe('busy');
    expect(e.message).toBe('正在为您准备支付，请稍等一下再点。');
    expect(w.pay.calls).toEqual([]);
    expect((await w.bills.get(bill.id))!.status).toBe('unpaid');
    expect(await w.bills.orders(bill.id)).toEqual([]);
  });

  it('the expiry job closes an unpaid order at its time', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    w.clock.advance(30 * MINUTE);
    await w.jobs.runDue();
    expect(w.pay.calls.at(-1)).toBe(`close ${c.order.outTradeNo}`);
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('closed');
    expect((await w.jobs.list({ name: Bills.EXPIRE }))[0]!.status).toBe('done');
  });

  it('jobs whose rows are gone or done, or with pay switched off, do nothing and finish', async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    await w.jobs.enqueue(Bills.QUERY, { orderId: 99_999, n: 0 });
    await w.jobs.enqueue(Bills.EXPIRE, { orderId: 99_999 });
    await w.jobs.enqueue(Bills.REFUND_QUERY, { refundId: 99_999 });
    await w.jobs.enqueue(Bills.DUPLICATE_REFUND, { orderId: 99_999 });
    await w.jobs.enqueue(Bills.DUPLICATE_REFUND, { orderId: order.id }); // paid, not a duplicate
    await w.jobs.enqueue(Bills.DUE, { billId: 99_999 });
    await w.jobs.runDue();
    expect(w.pay.refunds).toEqual([]); // the citizen's one payment is never sent back as a duplicate
    w.pay.refundAnswer = () => new Error('timeout');
    const r = await w.bills.refund({ billId: bill.id, amountFen: 100, reason: '退', staff: null });
    // Another bill, paid, and paid a second time by another order: a duplicate to refund.
    const { bill: other } = await paidBill(w, { pays: { kind: 'event', ref: 'OTHER' } });
    await w.ds.getRepository(PayOrderEntity).insert({ billId: other.id, outTradeNo: 'JF20261123000002N2', tradeType: 'NATIVE', amountFen: 20_000, status: 'open', prepayId: null, codeUrl: 'weixin://x', transactionId: null, payerOpenid: null, expiresAt: MONDAY_10AM + 30 * MINUTE, paidAt: null, closedAt: null, createdAt: MONDAY_10AM, updatedAt: MONDAY_10AM });
    expect(await w.bills.apply(tx('JF20261123000002N2', 'SUCCESS'), 'notify')).toBe('duplicate');
    (w.bills as unknown as { d: { pay: null } }).d.pay = null;
    await w.jobs.enqueue(Bills.REFUND_QUERY, { refundId: r.id });
    await w.jobs.enqueue(Bills.WITHDRAW, { billId: other.id, reason: '撤回' });
    await w.jobs.runDue();
    const jobs = (await w.jobs.list()).filter((j) => j.name.startsWith('bills.'));
    expect(jobs.filter((j) => j.lastError !== null || j.status === 'failed').map((j) => `${j.name} ${j.lastError}`)).toEqual([]);
    expect(jobs.filter((j) => j.status === 'done')).toHaveLength(9);
    expect(w.pay.calls.filter((x) => !x.startsWith('jsapi'))).toEqual([`refund ${r.outRefundNo}`]);
    expect((await w.bills.get(other.id))!.status).toBe('paid');
    expect((await w.bills.get(bill.id))!.status).toBe('refunding');
  });

  it('the job names are stored with queued jobs: a new name would orphan the jobs queued before an upgrade', async () => {
    expect([Bills.QUERY, Bills.EXPIRE, Bills.DUE, Bills.REFUND_QUERY, Bills.DUPLICATE_REFUND, Bills.WITHDRAW, Bills.RECONCILE]).toEqual(['bills.query', 'bills.expire', 'bills.due', 'bills.refund-query', 'bills.duplicate-refund', 'bills.withdraw', 'bills.reconcile']);
  });

  it('a failed daily reconciliation is retried an hour later', async () => {
    const w = await setup();
    w.pay.tradeBill = async () => {
      throw new PayApiError(500, 'SYSTEM_ERROR', '账单未生成');
    };
    await w.jobs.enqueue(Bills.RECONCILE, { date: '2026-11-22' });
    await w.jobs.runDue();
    const [job] = await w.jobs.list({ name: Bills.RECONCILE });
    expect(job).toMatchObject({ status: 'pending', runAt: MONDAY_10AM + 3_600_000 });
  });

  it("a bill's refunds, oldest first; a long note is kept to 300 characters, an empty one as none", async () => {
    const w = await setup();
    const { bill, order } = await paidBill(w);
    await w.bills.refund({ billId: bill.id, amountFen: 100, reason: '一', staff: null });
    await w.bills.refund({ billId: bill.id, amountFen: 200, reason: '二', staff: null });
    expect((await w.bills.refunds(bill.id)).map((r) => `${r.outRefundNo} ${r.amountFen}`)).toEqual([`${order.outTradeNo}R1 100`, `${order.outTradeNo}R2 200`]);
    expect(await w.bills.refunds(99_999)).toEqual([]);
    const a = await w.issue({ pays: { kind: 'event', ref: 'NOTE-1' } });
    await w.bills.closeIfUnpaid(a.id, '因'.repeat(400));
    expect((await w.bills.timeline(a.id)).at(-1)!.note).toBe('因'.repeat(300));
    const b = await w.issue({ pays: { kind: 'event', ref: 'NOTE-2' } });
    await w.bills.closeIfUnpaid(b.id, '');
    expect((await w.bills.timeline(b.id)).at(-1)).toMatchObject({ kind: 'closed', note: null });
  });
});

describe('one bill among others', () => {
  it("a bill's timeline, order numbers and refund numbers are its own", async () => {
    const w = await setup();
    const { bill: a, order: oa } = await paidBill(w, { pays: { kind: 'event', ref: 'A' } });
    const { bill: b, order: ob } = await paidBill(w, { pays: { kind: 'event', ref: 'B' } });
    expect(oa.outTradeNo).toBe('JF20261123000001N1');
    expect(ob.outTradeNo).toBe('JF20261123000002N1');
    await w.bills.refund({ billId: a.id, amountFen: 100, reason: '退', staff: null });
    expect((await w.bills.refund({ billId: b.id, amountFen: 100, reason: '退', staff: null })).outRefundNo).toBe(`${ob.outTradeNo}R1`);
    expect((await w.bills.timeline(b.id)).every((e) => e.billId === b.id)).toBe(true);
    expect((await w.events(b.id))[0]).toBe('issued system: 交通违法罚款 200.00 元');
  });

  it('a payment for an order closed here, its bill unpaid again, is still the payment of the bill', async () => {
    const w = await setup();
    const bill = await w.issue();
    const c = await w.bills.checkout(OPENID, bill.id);
    expect(await w.bills.closeOrder(c.order)).toBe('closed');
    expect((await w.bills.get(bill.id))!.status).toBe('unpaid');
    expect(await w.bills.apply(tx(c.order.outTradeNo, 'SUCCESS'), 'notify')).toBe('paid');
    expect((await w.bills.orders(bill.id))[0]!.status).toBe('paid');
  });

  it('a January bill number has the month and day in two digits', async () => {
    const w = await setup();
    w.clock.set(Date.parse('2027-01-05T10:00:00+08:00'));
    expect((await w.issue()).billNo).toBe('JF20270105-000001');
  });
});
