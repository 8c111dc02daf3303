import { In, type DataSource, type EntityManager } from 'typeorm';
import type { Outbox } from '../../chat/outbox.ts';
import type { Audit } from '../../admin/audit.ts';
import type { Alerts } from '../../alerts/index.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { insertIgnoringDuplicate, nextNumber } from '../../platform/db.ts';
import type { JobQueue } from '../../platform/jobs.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';
import { SYSTEM, type StaffActor } from '../../policies/roles.ts';
import type { Logger } from '../../platform/log.ts';
import { PayApiError, type JsapiParams, type PayClient, type RefundResult, type Transaction } from '../../pay/client.ts';
import { BillCounterEntity, BillEntity, BillEventEntity, PayOrderEntity, RefundEntity, type BillEventKind, type BillEventRow, type BillKind, type BillRow, type BillStatus, type PayOrderRow, type RefundRow } from './entities.ts';

export type BillFailure = 'invalid' | 'not_found' | 'conflict' | 'already_paid' | 'closed' | 'busy' | 'pay_off' | 'upstream' | 'too_much' | 'wrong_state';

/** A refusal with a plain Chinese explanation; nothing was written. */
export class BillError extends Error {
  constructor(
    readonly code: BillFailure,
    message: string,
  ) {
    super(message);
    this.name = 'BillError';
  }
}

/** What a department system, a case or a booking hands over to make a bill. */
export interface IssueBill {
  openid: string;
  amountFen: number;
  /** What it is for, as the citizen reads it (at most 127 bytes: WeChat Pay's limit). */
  description: string;
  /** What it pays for: a case's fee, a booking's fee, or an event of a department's system (a fine). One bill per kind and ref. */
  pays: { kind: BillKind; ref: string };
  /** Pay by then; an unpaid bill is closed at that time (a booking's place is released). */
  dueAt?: number | null;
  department?: string | null;
}

export interface BillsDeps {
  ds: DataSource;
  clock: Clock;
  kv: Kv;
  jobs: JobQueue;
  outbox: Outbox;
  audit: Audit;
  alerts: Alerts;
  calendar: WorkingCalendar;
  log: Logger;
  /** null while the profile's pay section is off: bills exist, paying them says so. */
  pay: PayClient | null;
  publicUrl: string;
  payee: string;
  /** The profile's department ids: a bill names one of them (or none). */
  departments?: ReadonlySet<string>;
  orderTimeoutMs: number;
  queryAfterMs: number;
}

export interface Checkout {
  bill: BillRow;
  order: PayOrderRow;
  /** For getBrandWCPayRequest (JSAPI). */
  params?: JsapiParams;
  /** For a QR code (Native). */
  codeUrl?: string;
}

/** What a notification or a query did. */
export type Applied = 'paid' | 'already' | 'duplicate' | 'closed' | 'pending' | 'unknown_order' | 'mismatch';

/** Told inside the transaction that records a bill paid or closed unpaid (a case's timeline, a booking's place). */
export type BillHook = (bill: BillRow, tx: EntityManager) => Promise<void>;

const OPENID = /^[A-Za-z0-9_-]{6,64}$/;
const KINDS: BillKind[] = ['case', 'booking', 'event'];
const QUERY_BACKOFF = [60_000, 120_000, 300_000, 600_000, 1_800_000];
/** An open order is reused only while it has this much time left. */
const REUSE_MARGIN_MS = 2 * 60_000;

export const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

export const STATUS_NAMES: Record<BillStatus, string> = {
  unpaid: '待缴费',
  paying: '待缴费',
  paid: '已缴费',
  refunding: '退款中',
  partially_refunded: '部分退款',
  refunded: '已退款',
  closed: '已关闭',
};

/**
 * Bills and their payment in WeChat Pay: one command per action — issue, check out (JSAPI or
 * Native), apply what WeChat Pay says (notification or query, idempotently), close, refund,
 * reconcile — used alike by pages, chat, staff, department systems and jobs.
 */
export class Bills {
  static readonly QUERY = 'bills.query';
  static readonly EXPIRE = 'bills.expire';
  static readonly DUE = 'bills.due';
  static readonly REFUND_QUERY = 'bills.refund-query';
  static readonly DUPLICATE_REFUND = 'bills.duplicate-refund';
  static readonly WITHDRAW = 'bills.withdraw';
  static readonly RECONCILE = 'bills.reconcile';
  private readonly paidHooks: BillHook[] = [];
  private readonly closedHooks: BillHook[] = [];

  constructor(private readonly d: BillsDeps) {
    d.jobs.define<{ orderId: number; n: number }>(Bills.QUERY, { maxAttempts: 8, run: (p) => this.queryJob(p.orderId, p.n) });
    d.jobs.define<{ orderId: number }>(Bills.EXPIRE, { maxAttempts: 8, run: (p) => this.expireOrder(p.orderId) });
    d.jobs.define<{ billId: number }>(Bills.DUE, { maxAttempts: 8, run: async (p) => void (await this.closeIfUnpaid(p.billId, '超过缴费期限未缴费，已关闭')) });
    d.jobs.define<{ refundId: number }>(Bills.REFUND_QUERY, { maxAttempts: 10, run: (p) => this.queryRefund(p.refundId) });
    d.jobs.define<{ billId: number; reason: string }>(Bills.WITHDRAW, { maxAttempts: 10, run: (p) => this.withdraw(p.billId, p.reason) });
    d.jobs.define<{ date: string }>(Bills.RECONCILE, { maxAttempts: 6, backoffMs: () => 3_600_000, run: (p) => this.reconcileDaily(p.date) });
    d.jobs.define<{ orderId: number }>(Bills.DUPLICATE_REFUND, { maxAttempts: 10, run: (p) => this.refundDuplicate(p.orderId) });
  }

  get enabled(): boolean {
    return this.d.pay !== null;
  }

  get payee(): string {
    return this.d.payee;
  }

  onPaid(h: BillHook): void {
    this.paidHooks.push(h);
  }

  onClosedUnpaid(h: BillHook): void {
    this.closedHooks.push(h);
  }

  // ---- issuing ---------------------------------------------------------------------------------

  /**
   * Issue a bill to a citizen. Idempotent by what it pays for: the same `pays` again returns the
   * bill already issued (a department system retrying its push), unless it differs in citizen or
   * amount (refused). Pass `manager` to issue inside the caller's transaction (with the case or
   * booking it belongs to); the message to the citizen is queued in the same transaction.
   */
  async issue(b: IssueBill, manager?: EntityManager): Promise<BillRow> {
    if (typeof b.openid !== 'string' || !OPENID.test(b.openid)) throw new BillError('invalid', 'openid 格式不对');
    if (!Number.isSafeInteger(b.amountFen) || b.amountFen < 1 || b.amountFen > 100_000_000) throw new BillError('invalid', '金额须为 1 分到 100 万元之间的整数（单位：分）');
    const description = typeof b.description === 'string' ? b.description.trim().replace(/\s+/g, ' ') : '';
    if (!description || Buffer.byteLength(description) > 127) throw new BillError('invalid', '缴费说明须为 1 到 127 字节（约 42 个汉字）');
    if (!b.pays || !KINDS.includes(b.pays.kind) || typeof b.pays.ref !== 'string' || !/^[\w\-.:/]{1,64}$/.test(b.pays.ref)) throw new BillError('invalid', 'pays 须为 { kind: case | booking | event, ref: 1 到 64 个字母、数字或 -_.:/ }');
    if (b.department && this.d.departments && !this.d.departments.has(b.department)) throw new BillError('invalid', `department：没有这个部门（${String(b.department).slice(0, 48)}）`);
    if (b.dueAt !== undefined && b.dueAt !== null && (!Number.isSafeInteger(b.dueAt) || b.dueAt <= this.d.clock.now())) throw new BillError('invalid', '缴费期限须晚于现在');
    const run = async (tx: EntityManager): Promise<BillRow> => {
      const now = this.d.clock.now();
      const existing = await tx.getRepository(BillEntity).findOneBy({ paysKind: b.pays.kind, paysRef: b.pays.ref });
      if (existing) {
        if (existing.openid !== b.openid || existing.amountFen !== b.amountFen) throw new BillError('conflict', '这笔费用已经开过账单，市民或金额与原账单不同');
        return existing;
      }
      const p = this.d.calendar.localParts(now);
      const day = `${p.year}${String(p.month).padStart(2, '0')}${String(p.day).padStart(2, '0')}`;
      const no = await nextNumber(tx, BillCounterEntity, { day });
      const billNo = `JF${day}-${String(no).padStart(6, '0')}`;
      const id = await insertIgnoringDuplicate(tx, BillEntity, {
        billNo,
        openid: b.openid,
        amountFen: b.amountFen,
        description,
        department: b.department ?? null,
        paysKind: b.pays.kind,
        paysRef: b.pays.ref,
        status: 'unpaid',
        dueAt: b.dueAt ?? null,
        paidAt: null,
        paidOrderId: null,
        refundedFen: 0,
        closedAt: null,
        closedReason: null,
        createdAt: now,
        updatedAt: now,
      });
      if (id === null) {
        // Issued by a concurrent push a moment ago.
        const again = await tx.getRepository(BillEntity).findOneByOrFail({ paysKind: b.pays.kind, paysRef: b.pays.ref });
        if (again.openid !== b.openid || again.amountFen !== b.amountFen) throw new BillError('conflict', '这笔费用已经开过账单，市民或金额与原账单不同');
        return again;
      }
      const bill = await tx.getRepository(BillEntity).findOneByOrFail({ id });
      await this.event(tx, bill.id, 'issued', 'system', `${description} ${yuan(b.amountFen)} 元`);
      if (bill.dueAt) await this.d.jobs.enqueue(Bills.DUE, { billId: bill.id }, { runAt: bill.dueAt, uniqueKey: `bill-due:${bill.id}`, manager: tx });
      {
        const due = bill.dueAt ? `，请在 ${this.when(bill.dueAt)} 前缴纳${b.pays.kind === 'booking' ? '，逾期预约将自动取消' : ''}` : '';
        await this.d.outbox.send(
          { openid: bill.openid, ref: `bill:${bill.id}`, messages: [{ type: 'text', content: `您有一笔待缴费用：${description}，${yuan(bill.amountFen)} 元${due}。\n<a href="${this.link(bill)}">点这里缴费</a>（也可以在公众号里发送「缴费」查看）` }] },
          { uniqueKey: `bill-issued:${bill.id}`, manager: tx },
        );
      }
      return bill;
    };
    return manager ? run(manager) : this.d.ds.transaction(run);
  }

  link(bill: Pick<BillRow, 'id'>): string {
    return `${this.d.publicUrl}/h5/pay/bills/${bill.id}`;
  }

  private when(t: number): string {
    const p = this.d.calendar.localParts(t);
    return `${p.month}月${p.day}日 ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
  }

  private async event(tx: EntityManager, billId: number, kind: BillEventKind, actor: string, note: string | null): Promise<void> {
    await tx.getRepository(BillEventEntity).insert({ billId, kind, at: this.d.clock.now(), actor, note: note ? note.slice(0, 300) : null });
  }

  // ---- reading -----------------------------------------------------------------------------------

  async mine(openid: string): Promise<BillRow[]> {
    return this.d.ds.getRepository(BillEntity).find({ where: { openid }, order: { id: 'DESC' }, take: 100 });
  }

  async unpaid(openid: string): Promise<BillRow[]> {
    return this.d.ds.getRepository(BillEntity).find({ where: { openid, status: In(['unpaid', 'paying']) }, order: { id: 'ASC' }, take: 20 });
  }

  /** The citizen's own bill; another citizen's is "not found", as one that does not exist. */
  async own(openid: string, id: number): Promise<BillRow> {
    const b = Number.isSafeInteger(id) ? await this.d.ds.getRepository(BillEntity).findOneBy({ id }) : null;
    if (!b || b.openid !== openid) throw new BillError('not_found', '没有找到这笔费用');
    return b;
  }

  async get(id: number): Promise<BillRow | null> {
    return Number.isSafeInteger(id) ? this.d.ds.getRepository(BillEntity).findOneBy({ id }) : null;
  }

  async byPays(kind: BillKind, ref: string): Promise<BillRow | null> {
    return this.d.ds.getRepository(BillEntity).findOneBy({ paysKind: kind, paysRef: ref });
  }

  async orders(billId: number): Promise<PayOrderRow[]> {
    return this.d.ds.getRepository(PayOrderEntity).find({ where: { billId }, order: { id: 'ASC' } });
  }

  async refunds(billId: number): Promise<RefundRow[]> {
    return this.d.ds.getRepository(RefundEntity).find({ where: { billId }, order: { id: 'ASC' } });
  }

  async timeline(billId: number): Promise<BillEventRow[]> {
    return this.d.ds.getRepository(BillEventEntity).find({ where: { billId }, order: { at: 'ASC', id: 'ASC' } });
  }

  async list(o: { status?: BillStatus[]; department?: string[] | null; take?: number } = {}): Promise<BillRow[]> {
    const where: Record<string, unknown> = {};
    if (o.status?.length) where.status = In(o.status);
    if (o.department) where.department = In(o.department);
    return this.d.ds.getRepository(BillEntity).find({ where, order: { id: 'DESC' }, take: o.take ?? 200 });
  }

  private client(): PayClient {
    if (!this.d.pay) throw new BillError('pay_off', '暂时不能在线缴费，请到窗口缴纳。');
    return this.d.pay;
  }

  // ---- paying ------------------------------------------------------------------------------------

  /**
   * 去支付: the citizen's open order for the bill, reused while it has time left; otherwise the old
   * one is closed at WeChat Pay first (so it can no longer be paid) and a new one opened. The local
   * order row is written before WeChat Pay is asked, so a crash in between leaves an order the
   * query and expiry jobs still find.
   */
  async checkout(openid: string, billId: number, tradeType: 'JSAPI' | 'NATIVE' = 'JSAPI'): Promise<Checkout> {
    const pay = this.client();
    const lock = await tryLock(this.d.kv, `bill-checkout:${billId}`, 30_000);
    if (!lock) throw new BillError('busy', '正在为您准备支付，请稍等一下再点。');
    try {
      let bill = await this.own(openid, billId);
      if (bill.status === 'paid' || bill.status === 'refunding' || bill.status === 'partially_refunded' || bill.status === 'refunded') throw new BillError('already_paid', '这笔费用已经缴过了。');
      if (bill.status === 'closed') throw new BillError('closed', `这笔费用已关闭${bill.closedReason ? `：${bill.closedReason}` : ''}。`);
      const now = this.d.clock.now();
      const open = (await this.orders(bill.id)).filter((o) => o.status === 'open');
      const reusable = open.find((o) => o.tradeType === tradeType && o.expiresAt - now > REUSE_MARGIN_MS && (tradeType === 'JSAPI' ? !!o.prepayId : !!o.codeUrl) && (o.payerOpenid === null || o.payerOpenid === openid));
      if (reusable) return { bill, order: reusable, ...(reusable.prepayId ? { params: pay.jsapiParams(reusable.prepayId) } : {}), ...(reusable.codeUrl ? { codeUrl: reusable.codeUrl } : {}) };
      for (const o of open) {
        const r = await this.closeOrder(o);
        if (r === 'paid') throw new BillError('already_paid', '这笔费用已经缴过了。');
        if (r === 'checking') throw new BillError('busy', '这笔费用有一笔支付正在核对，请先不要重复缴费；核对后会通知您，也可以联系办理部门。');
      }
      const count = await this.d.ds.getRepository(PayOrderEntity).countBy({ billId: bill.id });
      const outTradeNo = `${bill.billNo.replace('-', '')}N${count + 1}`;
      const expiresAt = Math.min(now + this.d.orderTimeoutMs, bill.dueAt ?? Infinity);
      if (expiresAt - now < 60_000) throw new BillError('closed', '缴费期限就要到了，来不及在线缴费，请联系办理部门。');
      const order = await this.d.ds.transaction(async (tx) => {
        const id = await insertIgnoringDuplicate(tx, PayOrderEntity, {
          billId: bill.id,
          outTradeNo,
          tradeType,
          amountFen: bill.amountFen,
          status: 'open',
          prepayId: null,
          codeUrl: null,
          transactionId: null,
          payerOpenid: tradeType === 'JSAPI' ? openid : null,
          expiresAt,
          paidAt: null,
          closedAt: null,
          createdAt: now,
          updatedAt: now,
        });
        if (id === null) throw new BillError('busy', '正在为您准备支付，请稍等一下再点。');
        await tx.getRepository(BillEntity).update({ id: bill.id, status: In(['unpaid', 'paying']) }, { status: 'paying', updatedAt: now });
        await this.event(tx, bill.id, 'order_opened', 'citizen', `${tradeType === 'JSAPI' ? '微信内支付' : '扫码支付'}，订单号 ${outTradeNo}`);
        await this.d.jobs.enqueue(Bills.QUERY, { orderId: id, n: 0 }, { runAt: now + this.d.queryAfterMs, uniqueKey: `pay-query:${id}:0`, manager: tx });
        await this.d.jobs.enqueue(Bills.EXPIRE, { orderId: id }, { runAt: expiresAt, uniqueKey: `pay-expire:${id}`, manager: tx });
        return tx.getRepository(PayOrderEntity).findOneByOrFail({ id });
      });
      const o = { description: bill.description, outTradeNo, amountFen: bill.amountFen, expiresAt };
      let prepayId: string | undefined;
      let codeUrl: string | undefined;
      try {
        if (tradeType === 'JSAPI') prepayId = await pay.jsapi({ ...o, openid });
        else codeUrl = await pay.native(o);
      } catch (err) {
        this.d.log.warn({ err, order: order.id }, 'WeChat Pay did not open the order');
        throw new BillError('upstream', '微信支付暂时没有响应，请稍后再试。');
      }
      await this.d.ds.getRepository(PayOrderEntity).update({ id: order.id }, { prepayId: prepayId ?? null, codeUrl: codeUrl ?? null, updatedAt: this.d.clock.now() });
      bill = (await this.get(bill.id))!;
      const fresh = { ...order, prepayId: prepayId ?? null, codeUrl: codeUrl ?? null };
      return { bill, order: fresh, ...(prepayId ? { params: pay.jsapiParams(prepayId) } : {}), ...(codeUrl ? { codeUrl } : {}) };
    } finally {
      await lock.release();
    }
  }

  /**
   * Close an open order at WeChat Pay and here. If WeChat Pay says it was paid meanwhile, the
   * payment is applied instead ('paid').
   */
  async closeOrder(o: PayOrderRow): Promise<'closed' | 'paid' | 'checking'> {
    const pay = this.client();
    try {
      await pay.close(o.outTradeNo);
    } catch (err) {
      if (!(err instanceof PayApiError) || (err.code !== 'ORDERPAID' && err.code !== 'ORDER_NOT_EXIST' && err.code !== 'ORDER_CLOSED')) throw err;
      if (err.code === 'ORDERPAID') {
        const applied = await this.apply(await pay.query(o.outTradeNo), 'query');
        // WeChat Pay took money for this order, but what it says could not be applied (another
        // amount or payer: supervisors are alerted): neither paid nor open — staff check it.
        return applied === 'paid' || applied === 'already' || applied === 'duplicate' ? 'paid' : 'checking';
      }
    }
    await this.d.ds.transaction(async (tx) => {
      const r = await tx.getRepository(PayOrderEntity).update({ id: o.id, status: 'open' }, { status: 'closed', closedAt: this.d.clock.now(), updatedAt: this.d.clock.now() });
      if (r.affected) {
        await this.event(tx, o.billId, 'order_closed', 'system', `订单 ${o.outTradeNo} 已关闭`);
        const stillOpen = await tx.getRepository(PayOrderEntity).countBy({ billId: o.billId, status: 'open' });
        if (!stillOpen) await tx.getRepository(BillEntity).update({ id: o.billId, status: 'paying' }, { status: 'unpaid', updatedAt: this.d.clock.now() });
      }
    });
    return 'closed';
  }

  /**
   * Apply what WeChat Pay says about an order (a verified notification or a query answer),
   * idempotently: conditional updates in one transaction, so repeated, concurrent and
   * out-of-order notifications change nothing twice. A payment for a bill already paid by another
   * order (or closed) is recorded as a duplicate and refunded in full.
   */
  async apply(t: Transaction, source: 'notify' | 'query'): Promise<Applied> {
    const pay = this.client();
    if (t.mchid !== pay.s.mchid || t.appid !== pay.s.appid) return 'unknown_order';
    const order = typeof t.out_trade_no === 'string' ? await this.d.ds.getRepository(PayOrderEntity).findOneBy({ outTradeNo: t.out_trade_no }) : null;
    if (!order) return 'unknown_order';
    if (t.trade_state === 'SUCCESS' || t.trade_state === 'REFUND') {
      if (t.amount?.total !== order.amountFen || (t.payer?.openid && order.payerOpenid && t.payer.openid !== order.payerOpenid)) {
        this.d.log.error({ order: order.id, source }, 'WeChat Pay reported a payment whose amount or payer is not the order\'s: not applied');
        await this.d.alerts.raise({ kind: 'pay_mismatch', department: null, to: 'supervisors', title: `缴费异常：订单 ${order.outTradeNo} 的支付金额与订单不符，请核对`, link: `/admin/bills/${order.billId}`, urgent: true }).catch(() => undefined);
        return 'mismatch';
      }
      const now = this.d.clock.now();
      const paidAt = t.success_time ? Date.parse(t.success_time) || now : now;
      let result: Applied = 'already';
      let paidBill: BillRow | null = null;
      await this.d.ds.transaction(async (tx) => {
        const bills = tx.getRepository(BillEntity);
        const orders = tx.getRepository(PayOrderEntity);
        const won = await bills.update({ id: order.billId, status: In(['unpaid', 'paying']) }, { status: 'paid', paidAt, paidOrderId: order.id, updatedAt: now });
        const fields = { transactionId: t.transaction_id ?? null, payerOpenid: t.payer?.openid ?? order.payerOpenid, paidAt, updatedAt: now };
        if (won.affected) {
          const r = await orders.update({ id: order.id, status: In(['open', 'closed']) }, { ...fields, status: 'paid' });
          if (!r.affected) throw new Error('order changed under a payment being applied');
          await this.event(tx, order.billId, 'paid', 'wechatpay', `微信支付交易单号 ${t.transaction_id ?? ''}（${source === 'notify' ? '支付通知' : '主动查询'}）`);
          paidBill = await bills.findOneByOrFail({ id: order.billId });
          for (const h of this.paidHooks) await h(paidBill, tx);
          await this.d.outbox.send(
            { openid: paidBill.openid, ref: `bill:${paidBill.id}`, messages: [{ type: 'text', content: `缴费成功：${paidBill.description}，${yuan(paidBill.amountFen)} 元，收款方：${this.d.payee}。\n<a href="${this.link(paidBill)}/receipt">查看电子收据</a>` }] },
            { uniqueKey: `bill-paid:${paidBill.id}`, manager: tx },
          );
          result = 'paid';
          return;
        }
        // Paid already — by this order (a repeated notification) or by another (a second payment).
        const dup = await orders.update({ id: order.id, status: In(['open', 'closed']) }, { ...fields, status: 'duplicate' });
        if (dup.affected) {
          await this.event(tx, order.billId, 'duplicate_paid', 'wechatpay', `订单 ${order.outTradeNo} 重复支付，将原路全额退回`);
          await this.d.jobs.enqueue(Bills.DUPLICATE_REFUND, { orderId: order.id }, { uniqueKey: `pay-dup-refund:${order.id}`, manager: tx });
          const bill = await bills.findOneByOrFail({ id: order.billId });
          await this.d.alerts.raise({ kind: 'pay_duplicate', department: bill.department, to: 'supervisors', title: `重复支付：账单 ${bill.billNo} 又收到一笔 ${yuan(order.amountFen)} 元，已自动原路退回`, link: `/admin/bills/${bill.id}`, urgent: false }, tx);
          result = 'duplicate';
        }
      });
      return result;
    }
    if (t.trade_state === 'CLOSED' || t.trade_state === 'REVOKED' || t.trade_state === 'PAYERROR') {
      await this.d.ds.getRepository(PayOrderEntity).update({ id: order.id, status: 'open' }, { status: 'closed', closedAt: this.d.clock.now(), updatedAt: this.d.clock.now() });
      return 'closed';
    }
    return 'pending';
  }

  /**
   * Ask WeChat Pay about an order and apply the answer. An order WeChat Pay never heard of (the
   * instance died between writing the local row and asking for the prepay_id) is closed here.
   */
  private async ask(o: PayOrderRow): Promise<Applied> {
    try {
      return await this.apply(await this.client().query(o.outTradeNo), 'query');
    } catch (err) {
      if (err instanceof PayApiError && err.code === 'ORDER_NOT_EXIST') {
        await this.d.ds.transaction(async (tx) => {
          const r = await tx.getRepository(PayOrderEntity).update({ id: o.id, status: 'open' }, { status: 'closed', closedAt: this.d.clock.now(), updatedAt: this.d.clock.now() });
          if (r.affected) {
            await this.event(tx, o.billId, 'order_closed', 'system', `订单 ${o.outTradeNo} 未在微信支付下单成功，已关闭`);
            if (!(await tx.getRepository(PayOrderEntity).countBy({ billId: o.billId, status: 'open' }))) await tx.getRepository(BillEntity).update({ id: o.billId, status: 'paying' }, { status: 'unpaid', updatedAt: this.d.clock.now() });
          }
        });
        return 'closed';
      }
      throw err;
    }
  }

  /** A notification that never came: ask WeChat Pay, again on a back-off until the order expires. */
  private async queryJob(orderId: number, n: number): Promise<void> {
    const o = await this.d.ds.getRepository(PayOrderEntity).findOneBy({ id: orderId });
    if (!o || o.status !== 'open' || !this.d.pay) return;
    const r = await this.ask(o);
    const next = this.d.clock.now() + (QUERY_BACKOFF[n] ?? QUERY_BACKOFF.at(-1)!);
    if (r === 'pending' && next < o.expiresAt) await this.d.jobs.enqueue(Bills.QUERY, { orderId, n: n + 1 }, { runAt: next, uniqueKey: `pay-query:${orderId}:${n + 1}` });
  }

  /** Ask about one order now (the receipt page while the notification is on its way). */
  async refresh(orderId: number): Promise<Applied> {
    const o = await this.d.ds.getRepository(PayOrderEntity).findOneBy({ id: orderId });
    if (!o || o.status !== 'open' || !this.d.pay) return 'already';
    return this.ask(o);
  }

  /** An order past its time: asked about once more (paid at the last second?), else closed. */
  async expireOrder(orderId: number): Promise<void> {
    const o = await this.d.ds.getRepository(PayOrderEntity).findOneBy({ id: orderId });
    if (!o || o.status !== 'open' || !this.d.pay) return;
    const r = await this.ask(o);
    if (r === 'pending') await this.closeOrder(o);
  }

  /**
   * Close a bill nobody paid (due time passed, a booking released, a department withdrew it):
   * its open orders are closed at WeChat Pay first; a payment found there wins.
   */
  async closeIfUnpaid(billId: number, reason: string, actor = 'system'): Promise<boolean> {
    const bill = await this.get(billId);
    if (!bill || (bill.status !== 'unpaid' && bill.status !== 'paying')) return false;
    for (const o of (await this.orders(billId)).filter((x) => x.status === 'open')) {
      if ((await this.closeOrder(o)) !== 'closed') return false; // paid there (or being checked): a payment wins
    }
    return this.d.ds.transaction(async (tx) => {
      const now = this.d.clock.now();
      const r = await tx.getRepository(BillEntity).update({ id: billId, status: 'unpaid' }, { status: 'closed', closedAt: now, closedReason: reason.slice(0, 200), updatedAt: now });
      if (!r.affected) return false;
      await this.event(tx, billId, 'closed', actor, reason);
      const closed = await tx.getRepository(BillEntity).findOneByOrFail({ id: billId });
      for (const h of this.closedHooks) await h(closed, tx);
      return true;
    });
  }

  /**
   * What a bill was for is gone (a booking cancelled): queued inside that transaction, then the
   * bill is closed if unpaid, or refunded in full if paid.
   */
  async withdrawLater(billId: number, reason: string, tx: EntityManager): Promise<void> {
    await this.d.jobs.enqueue(Bills.WITHDRAW, { billId, reason }, { uniqueKey: `bill-withdraw:${billId}`, manager: tx });
  }

  private async withdraw(billId: number, reason: string): Promise<void> {
    if (await this.closeIfUnpaid(billId, reason)) return;
    const bill = await this.get(billId);
    if (!bill || (bill.status !== 'paid' && bill.status !== 'partially_refunded')) return;
    const left = bill.amountFen - bill.refundedFen;
    if (left > 0 && this.d.pay) await this.refund({ billId, amountFen: left, reason: `${reason}，退还费用`.slice(0, 80), staff: null });
  }

  // ---- refunds -----------------------------------------------------------------------------------

  /**
   * Refund part or all of a paid bill (a supervisor's action, with a reason; audited): never more
   * than was paid less what is refunded or being refunded.
   */
  async refund(o: { billId: number; amountFen: number; reason: string; staff: StaffActor | null; ip?: string }): Promise<RefundRow> {
    const pay = this.client();
    const reason = (o.reason ?? '').trim();
    if (!reason || reason.length > 80) throw new BillError('invalid', '请写明退款原因（80 字以内）。');
    if (!Number.isSafeInteger(o.amountFen) || o.amountFen < 1) throw new BillError('invalid', '退款金额须为正数。');
    const lock = await tryLock(this.d.kv, `bill-refund:${o.billId}`, 30_000);
    if (!lock) throw new BillError('busy', '这笔费用正在退款，请稍后刷新。');
    let refund: RefundRow;
    let order: PayOrderRow;
    try {
      ({ refund, order } = await this.d.ds.transaction(async (tx) => {
        const bill = await tx.getRepository(BillEntity).findOneBy({ id: o.billId });
        if (!bill) throw new BillError('not_found', '没有这笔费用。');
        if (!bill.paidOrderId || !['paid', 'partially_refunded', 'refunding'].includes(bill.status)) throw new BillError('wrong_state', '只有已缴费的费用可以退款。');
        const pending = (await tx.getRepository(RefundEntity).findBy({ billId: bill.id })).filter((r) => r.status === 'processing' || r.status === 'success').reduce((s, r) => s + r.amountFen, 0);
        if (o.amountFen > bill.amountFen - pending) throw new BillError('too_much', `最多还能退 ${yuan(bill.amountFen - pending)} 元。`);
        const order = await tx.getRepository(PayOrderEntity).findOneByOrFail({ id: bill.paidOrderId });
        const n = (await tx.getRepository(RefundEntity).countBy({ billId: bill.id })) + 1;
        const now = this.d.clock.now();
        const id = (await tx.getRepository(RefundEntity).insert({ billId: bill.id, orderId: order.id, outRefundNo: `${order.outTradeNo}R${n}`, amountFen: o.amountFen, reason, status: 'processing', staffId: o.staff?.id ?? null, refundId: null, createdAt: now, succeededAt: null, updatedAt: now })).identifiers[0]!.id as number;
        await tx.getRepository(BillEntity).update({ id: bill.id }, { status: 'refunding', updatedAt: now });
        await this.event(tx, bill.id, 'refund_requested', o.staff ? `staff:${o.staff.id}` : 'system', `退款 ${yuan(o.amountFen)} 元：${reason}`);
        await this.d.audit.record({ actor: o.staff ?? SYSTEM, action: 'bill-refund', target: `bill:${bill.id}`, department: bill.department, detail: `退款 ${yuan(o.amountFen)} 元（${bill.billNo}）：${reason}`, ...(o.ip ? { ip: o.ip } : {}) }, tx);
        await this.d.jobs.enqueue(Bills.REFUND_QUERY, { refundId: id }, { delayMs: 5 * 60_000, uniqueKey: `refund-query:${id}`, manager: tx });
        return { refund: await tx.getRepository(RefundEntity).findOneByOrFail({ id }), order };
      }));
    } finally {
      await lock.release();
    }
    try {
      const r = await pay.refund({ outTradeNo: order.outTradeNo, outRefundNo: refund.outRefundNo, reason, refundFen: refund.amountFen, totalFen: order.amountFen });
      await this.applyRefund(r);
    } catch (err) {
      // The query job asks again; the refund stays 退款中 meanwhile.
      this.d.log.warn({ err, refund: refund.id }, 'refund request not confirmed yet');
    }
    return (await this.d.ds.getRepository(RefundEntity).findOneByOrFail({ id: refund.id }));
  }

  /** Apply a refund's state (its notification, the refund answer, a query), idempotently. */
  async applyRefund(input: Partial<Pick<RefundResult, 'out_refund_no' | 'status' | 'refund_id'>> & { refund_status?: RefundResult['status']; amount?: { refund?: number } }): Promise<'applied' | 'already' | 'unknown' | 'pending'> {
    // A refund notification names the state refund_status; the API's answers name it status.
    const r = { ...input, status: input.refund_status ?? input.status };
    if (!r.status || !['SUCCESS', 'CLOSED', 'PROCESSING', 'ABNORMAL'].includes(r.status)) return 'unknown';
    const row = await this.d.ds.getRepository(RefundEntity).findOneBy({ outRefundNo: String(r.out_refund_no ?? '') });
    if (!row) return 'unknown';
    if (r.status === 'PROCESSING') return 'pending';
    if (r.amount?.refund !== undefined && r.amount.refund !== row.amountFen) {
      this.d.log.error({ refund: row.id }, 'WeChat Pay reported a refund amount that is not the request\'s: not applied');
      return 'unknown';
    }
    return this.d.ds.transaction(async (tx) => {
      const now = this.d.clock.now();
      const status = r.status === 'SUCCESS' ? 'success' : r.status === 'CLOSED' ? 'closed' : 'abnormal';
      const res = await tx.getRepository(RefundEntity).update({ id: row.id, status: 'processing' }, { status, refundId: r.refund_id ?? null, succeededAt: status === 'success' ? now : null, updatedAt: now });
      if (!res.affected) return 'already';
      const bill = await tx.getRepository(BillEntity).findOneByOrFail({ id: row.billId });
      const all = await tx.getRepository(RefundEntity).findBy({ billId: bill.id });
      const refunded = all.filter((x) => x.status === 'success').reduce((s, x) => s + x.amountFen, 0);
      const processing = all.some((x) => x.status === 'processing');
      const next: BillStatus = processing ? 'refunding' : refunded >= bill.amountFen ? 'refunded' : refunded > 0 ? 'partially_refunded' : 'paid';
      await tx.getRepository(BillEntity).update({ id: bill.id }, { status: next, refundedFen: refunded, updatedAt: now });
      await this.event(tx, bill.id, 'refunded', 'wechatpay', status === 'success' ? `已退款 ${yuan(row.amountFen)} 元` : `退款未成功（${r.status}）`);
      if (status === 'success') {
        await this.d.outbox.send({ openid: bill.openid, ref: `bill:${bill.id}`, messages: [{ type: 'text', content: `退款 ${yuan(row.amountFen)} 元已原路退回您的微信支付账户（${bill.description}）。原因：${row.reason}` }] }, { uniqueKey: `bill-refund:${row.id}`, manager: tx });
      }
      return 'applied';
    });
  }

  private async queryRefund(refundId: number): Promise<void> {
    const row = await this.d.ds.getRepository(RefundEntity).findOneBy({ id: refundId });
    if (!row || row.status !== 'processing' || !this.d.pay) return;
    let r: RefundResult;
    try {
      r = await this.d.pay.queryRefund(row.outRefundNo);
    } catch (err) {
      if (err instanceof PayApiError && err.status === 404) {
        // Never reached WeChat Pay (a crash before the request): ask for it now, same number.
        const order = await this.d.ds.getRepository(PayOrderEntity).findOneByOrFail({ id: row.orderId });
        r = await this.d.pay.refund({ outTradeNo: order.outTradeNo, outRefundNo: row.outRefundNo, reason: row.reason, refundFen: row.amountFen, totalFen: order.amountFen });
      } else throw err;
    }
    if ((await this.applyRefund(r)) === 'pending') throw new Error('refund still processing');
  }

  /** A second payment for one bill goes back in full, at once. */
  private async refundDuplicate(orderId: number): Promise<void> {
    const o = await this.d.ds.getRepository(PayOrderEntity).findOneBy({ id: orderId });
    if (!o || o.status !== 'duplicate' || !this.d.pay) return;
    const r = await this.d.pay.refund({ outTradeNo: o.outTradeNo, outRefundNo: `${o.outTradeNo}D`, reason: '重复支付退款', refundFen: o.amountFen, totalFen: o.amountFen });
    if (r.status !== 'SUCCESS' && r.status !== 'PROCESSING') throw new Error(`duplicate refund ${r.status}`);
    await this.d.ds.transaction(async (tx) => {
      await this.event(tx, o.billId, 'refunded', 'wechatpay', `重复支付的 ${yuan(o.amountFen)} 元已退回（订单 ${o.outTradeNo}）`);
    });
  }

  // ---- reconciliation ----------------------------------------------------------------------------

  /** The China day before `t`, as WeChat Pay names bill dates. */
  private dayBefore(t: number): string {
    return new Date(t + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
  }

  /**
   * Every morning at 10:00 China time (WeChat Pay's trade bill of the day before is ready after
   * 10:00), reconcile yesterday; any difference alerts the supervisors. The next day's run is
   * queued by each run, once (a unique key per date).
   */
  async scheduleReconciliation(date?: string): Promise<void> {
    if (!this.d.pay) return;
    const now = this.d.clock.now();
    // The day to reconcile, and when: 10:05 China time the day after it.
    let day = date ?? this.dayBefore(now);
    const at = (d: string) => Date.parse(`${d}T10:05:00+08:00`) + 86_400_000;
    if (!date && at(day) <= now) day = this.dayBefore(now + 86_400_000);
    await this.d.jobs.enqueue(Bills.RECONCILE, { date: day }, { runAt: at(day), uniqueKey: `bills-reconcile:${day}` });
  }

  private async reconcileDaily(date: string): Promise<void> {
    const r = await this.reconcile(date);
    if (r.differences.length) {
      this.d.log.warn({ date, differences: r.differences.length }, 'reconciliation found differences');
      await this.d.alerts.raise({ kind: 'pay_reconcile', department: null, to: 'supervisors', title: `对账：${date} 微信支付账单与本地记录有 ${r.differences.length} 处差异`, link: `/admin/bills/reconcile?date=${date}`, urgent: false });
    }
    // The next day, whether or not this run was late: a day is not skipped, back to a week ago
    // (after a longer outage the days before that are left to 对账 in the panel, and said so).
    const next = new Date(Date.parse(`${date}T12:00:00+08:00`) + 86_400_000 + 8 * 3_600_000).toISOString().slice(0, 10);
    const weekAgo = this.dayBefore(this.d.clock.now() - 6 * 86_400_000);
    if (next < weekAgo) this.d.log.warn({ from: next, to: weekAgo }, 'daily reconciliation was not run for over a week; the days before the last seven are left to the panel');
    await this.scheduleReconciliation(next < weekAgo ? weekAgo : next);
  }

  /**
   * 对账: the day's trade bill from WeChat Pay against the local orders and refunds of that China
   * day; every difference listed (missing here, missing there, amounts that differ).
   */
  async reconcile(date: string): Promise<{ date: string; remote: { payments: number; refunds: number; paidFen: number; refundedFen: number }; local: { payments: number; refunds: number; paidFen: number; refundedFen: number }; differences: { kind: string; ref: string; detail: string }[] }> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new BillError('invalid', '日期格式应为 2026-11-23');
    const csv = await this.client().tradeBill(date);
    const start = Date.parse(`${date}T00:00:00+08:00`);
    const end = start + 86_400_000;
    const lines = csv.split(/\r?\n/).filter(Boolean);
    const head = lines[0]?.split(',') ?? [];
    const col = (name: string) => head.indexOf(name);
    const remotePay = new Map<string, number>();
    const remoteRefund = new Map<string, number>();
    for (const line of lines.slice(1)) {
      if (!line.startsWith('`')) break; // the summary follows
      const f = line.split(',').map((x) => x.replace(/^`/, ''));
      const fen = (s: string | undefined) => Math.round(Number(s ?? '0') * 100);
      if (f[col('交易状态')] === 'SUCCESS') remotePay.set(f[col('商户订单号')]!, fen(f[col('应结订单金额')]));
      else if (f[col('交易状态')] === 'REFUND') remoteRefund.set(f[col('商户退款单号')]!, fen(f[col('退款金额')]));
    }
    const orders = await this.d.ds.getRepository(PayOrderEntity).createQueryBuilder('o').where('o.paid_at >= :start AND o.paid_at < :end', { start, end }).getMany();
    const refunds = await this.d.ds.getRepository(RefundEntity).createQueryBuilder('r').where('r.succeeded_at >= :start AND r.succeeded_at < :end', { start, end }).getMany();
    const differences: { kind: string; ref: string; detail: string }[] = [];
    const localPay = new Map(orders.filter((o) => o.status === 'paid' || o.status === 'duplicate').map((o) => [o.outTradeNo, o.amountFen]));
    for (const [no, fen] of remotePay) {
      const mine = localPay.get(no);
      if (mine === undefined) differences.push({ kind: '微信有、本地无', ref: no, detail: `微信支付记录收款 ${yuan(fen)} 元，本地没有这笔已支付订单` });
      else if (mine !== fen) differences.push({ kind: '金额不符', ref: no, detail: `微信 ${yuan(fen)} 元，本地 ${yuan(mine)} 元` });
    }
    for (const [no, fen] of localPay) if (!remotePay.has(no)) differences.push({ kind: '本地有、微信无', ref: no, detail: `本地记为已支付 ${yuan(fen)} 元，账单里没有` });
    const localRefund = new Map(refunds.filter((r) => r.status === 'success').map((r) => [r.outRefundNo, r.amountFen]));
    for (const [no, fen] of remoteRefund) {
      const mine = localRefund.get(no);
      if (mine === undefined && !no.endsWith('D')) differences.push({ kind: '微信有、本地无', ref: no, detail: `微信退款 ${yuan(fen)} 元，本地没有这笔退款` });
      else if (mine !== undefined && mine !== fen) differences.push({ kind: '金额不符', ref: no, detail: `退款：微信 ${yuan(fen)} 元，本地 ${yuan(mine)} 元` });
    }
    for (const [no, fen] of localRefund) if (!remoteRefund.has(no)) differences.push({ kind: '本地有、微信无', ref: no, detail: `本地记为已退款 ${yuan(fen)} 元，账单里没有` });
    const sum = (m: Map<string, number>) => [...m.values()].reduce((s, x) => s + x, 0);
    return {
      date,
      remote: { payments: remotePay.size, refunds: remoteRefund.size, paidFen: sum(remotePay), refundedFen: sum(remoteRefund) },
      local: { payments: localPay.size, refunds: localRefund.size, paidFen: sum(localPay), refundedFen: sum(localRefund) },
      differences,
    };
  }
}
