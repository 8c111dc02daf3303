import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { DAY, HOUR, MINUTE, SECOND, type Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/log.ts';
import { encryptResource, nonce, parseAuthorization, paySignMessage, requestMessage, responseMessage, rsaSign, rsaVerify, SIGNATURE_WINDOW_S } from '../pay/crypto.ts';
import { DEMO_MERCHANT, type PayProfile } from '../pay/config.ts';
import { selfSignedCertificate } from './x509.ts';

/**
 * WeChat Pay API v3 as a merchant sees it (直连商户), on the real wire format, for the demo and the
 * tests: it generates its own keys at start and serves both verification modes (a WeChat Pay
 * public key `PUB_KEY_ID_…`, or platform certificates from /v3/certificates); checks every
 * merchant request's signature (401 SIGN_ERROR otherwise) and the JSAPI paySign; keeps orders and
 * refunds; sends signed, AES-256-GCM encrypted notifications on WeChat Pay's retry schedule until
 * answered 200/204 (and can be told to drop, duplicate or hold one); answers query, close and
 * refund; and produces the day's trade bill. Mounted only with the emulator.
 */

export interface EmulatedMerchant {
  mchid: string;
  appid: string;
  /** The merchant API certificate's serial, and its public key (requests are checked with it). */
  serial: string;
  publicKey: KeyObject;
  apiV3Key: string;
  /** How this merchant verifies WeChat Pay: which key signs responses and notifications. */
  verifyMode: 'public_key' | 'certificates';
  payee: string;
}

export type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND' | 'PAYERROR';

export interface EmulatedOrder {
  mchid: string;
  appid: string;
  out_trade_no: string;
  description: string;
  amount: number;
  notify_url: string;
  time_expire: number | null;
  trade_type: 'JSAPI' | 'NATIVE';
  payer_openid: string | null;
  prepay_id: string | null;
  code_url: string | null;
  state: TradeState;
  transaction_id: string | null;
  success_time: number | null;
  created: number;
  refunded: number;
  /** The order as first sent (a repeat with other values is refused). */
  fingerprint: string;
}

export interface EmulatedRefund {
  refund_id: string;
  out_refund_no: string;
  out_trade_no: string;
  transaction_id: string;
  amount: number;
  total: number;
  reason: string;
  notify_url: string | null;
  status: 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL';
  created: number;
  success_time: number | null;
}

interface Delivery {
  id: string;
  url: string;
  body: string;
  mchid: string;
  attempt: number;
  nextAt: number;
  held: boolean;
  done: boolean;
  answers: number[];
}

/** WeChat Pay's notification retries: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (about 24 hours). */
export const NOTIFY_SCHEDULE = [15 * SECOND, 15 * SECOND, 30 * SECOND, 3 * MINUTE, 10 * MINUTE, 20 * MINUTE, 30 * MINUTE, 30 * MINUTE, 30 * MINUTE, 60 * MINUTE, 3 * HOUR, 3 * HOUR, 3 * HOUR, 6 * HOUR, 6 * HOUR];

export type NotifyFault = 'drop' | 'duplicate' | 'hold';

class PayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class EmulatedPay {
  private readonly merchants = new Map<string, EmulatedMerchant>();
  readonly orders = new Map<string, EmulatedOrder>();
  readonly refunds = new Map<string, EmulatedRefund>();
  private readonly byPrepay = new Map<string, string>();
  private readonly byCodeUrl = new Map<string, string>();
  readonly deliveries: Delivery[] = [];
  private readonly faults: NotifyFault[] = [];
  private readonly bills = new Map<string, { body: Buffer; mchid: string }>();
  private timer: NodeJS.Timeout | null = null;
  private inflight = new Set<Promise<void>>();
  private seq = 0;
  /** Requests refused, for tests (what, why). */
  readonly refused: { path: string; code: string }[] = [];

  constructor(
    private readonly o: {
      clock: Clock;
      log: Logger;
      /** Rewrites a notify_url before sending (the account's public address → where this process listens). */
      route?: (url: string) => string;
      /** A payment opens the citizen's 48-hour customer-service window. */
      paid?: (openid: string) => void;
    },
  ) {}

  /** The platform's keys, made at first use (an RSA key takes a moment; most test instances never pay). */
  private get k(): PlatformKeys {
    return (this.keysMade ??= makeKeys(this.o.clock.now()));
  }
  private keysMade: PlatformKeys | null = null;
  get publicKeyId(): string {
    return this.k.publicKeyId;
  }
  get certificateSerial(): string {
    return this.k.certificateSerial;
  }
  get publicKey(): KeyObject {
    return this.k.publicKey;
  }
  get certificatePem(): string {
    return this.k.certificatePem;
  }
  private get privateKey(): KeyObject {
    return this.k.privateKey;
  }

  addMerchant(m: EmulatedMerchant): void {
    this.merchants.set(m.mchid, m);
  }

  merchant(mchid: string): EmulatedMerchant | undefined {
    return this.merchants.get(mchid);
  }

  /** The next notification is dropped, sent twice, or held until `release()`. */
  injectNotifyFault(f: NotifyFault): void {
    this.faults.push(f);
  }

  /** Let held notifications go (out of order, after later ones). */
  release(): void {
    for (const d of this.deliveries) if (d.held) {
      d.held = false;
      d.nextAt = this.o.clock.now();
    }
  }

  start(intervalMs = 1000): void {
    this.timer ??= setInterval(() => void this.deliverDue(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // ---- signing ---------------------------------------------------------------------------------

  private serialFor(m: EmulatedMerchant | undefined): string {
    return m?.verifyMode === 'certificates' ? this.certificateSerial : this.publicKeyId;
  }

  private signedHeaders(m: EmulatedMerchant | undefined, body: string): Record<string, string> {
    const ts = String(Math.floor(this.o.clock.now() / 1000));
    const n = nonce();
    return {
      'Wechatpay-Timestamp': ts,
      'Wechatpay-Nonce': n,
      'Wechatpay-Signature': rsaSign(responseMessage(ts, n, body), this.privateKey),
      'Wechatpay-Serial': this.serialFor(m),
      'Request-ID': `emu-${++this.seq}`,
    };
  }

  private authenticate(ctx: Context, path: string, raw: string): EmulatedMerchant {
    const a = parseAuthorization(ctx.get('authorization'));
    if (!a) throw new PayError(401, 'SIGN_ERROR', 'Authorization 头缺失或格式错误');
    const m = this.merchants.get(a.mchid);
    if (!m) throw new PayError(401, 'SIGN_ERROR', '商户号不存在');
    if (a.serial_no.toUpperCase() !== m.serial.toUpperCase()) throw new PayError(401, 'SIGN_ERROR', '商户证书序列号有误');
    if (!/^\d{1,12}$/.test(a.timestamp) || Math.abs(this.o.clock.now() / 1000 - Number(a.timestamp)) > SIGNATURE_WINDOW_S) throw new PayError(401, 'SIGN_ERROR', '请求时间戳与当前时间相差过大');
    if (!rsaVerify(requestMessage(ctx.method, path, a.timestamp, a.nonce_str, raw), a.signature, m.publicKey)) throw new PayError(401, 'SIGN_ERROR', '签名错误');
    return m;
  }

  /**
   * Sign any body as WeChat Pay would for this merchant (tests forge notifications with it: a
   * wrong amount that is properly signed, a tampered ciphertext re-signed).
   */
  signAs(mchid: string, body: string): Record<string, string> {
    return this.signedHeaders(this.merchants.get(mchid), body);
  }

  /** Encrypt a resource with the merchant's APIv3 key, as a notification carries it. */
  encryptFor(mchid: string, resource: object, originalType = 'transaction') {
    return { original_type: originalType, ...encryptResource(JSON.stringify(resource), this.merchants.get(mchid)!.apiV3Key, originalType) };
  }

  // ---- orders ------------------------------------------------------------------------------------

  private newOrder(m: EmulatedMerchant, b: any, type: 'JSAPI' | 'NATIVE'): EmulatedOrder {
    if (b?.appid !== m.appid) throw new PayError(400, 'PARAM_ERROR', 'appid和mch_id不匹配');
    if (b.mchid !== m.mchid) throw new PayError(400, 'PARAM_ERROR', 'mchid与请求头不一致');
    if (typeof b.description !== 'string' || !b.description || Buffer.byteLength(b.description) > 127) throw new PayError(400, 'PARAM_ERROR', 'description 长度不能超过127字节');
    if (typeof b.out_trade_no !== 'string' || !/^[0-9A-Za-z_\-|*]{6,32}$/.test(b.out_trade_no)) throw new PayError(400, 'PARAM_ERROR', 'out_trade_no 格式错误');
    if (typeof b.notify_url !== 'string' || !/^https?:\/\//.test(b.notify_url)) throw new PayError(400, 'PARAM_ERROR', 'notify_url 格式错误');
    const total = b.amount?.total;
    if (!Number.isSafeInteger(total) || total < 1) throw new PayError(400, 'PARAM_ERROR', '订单金额必须为正整数（分）');
    if (type === 'JSAPI' && (typeof b.payer?.openid !== 'string' || !b.payer.openid)) throw new PayError(400, 'PARAM_ERROR', '缺少 payer.openid');
    const timeExpire = typeof b.time_expire === 'string' ? Date.parse(b.time_expire) : NaN;
    const fingerprint = JSON.stringify([type, b.description, total, b.payer?.openid ?? null]);
    const existing = this.orders.get(`${m.mchid}:${b.out_trade_no}`);
    if (existing) {
      if (existing.state === 'SUCCESS' || existing.state === 'REFUND') throw new PayError(400, 'ORDERPAID', '该订单已支付');
      if (existing.state === 'CLOSED') throw new PayError(400, 'ORDER_CLOSED', '订单已关闭');
      if (existing.fingerprint !== fingerprint) throw new PayError(400, 'INVALID_REQUEST', '201 商户订单号重复');
      return existing;
    }
    const order: EmulatedOrder = {
      mchid: m.mchid,
      appid: m.appid,
      out_trade_no: b.out_trade_no,
      description: b.description,
      amount: total,
      notify_url: b.notify_url,
      time_expire: Number.isNaN(timeExpire) ? null : timeExpire,
      trade_type: type,
      payer_openid: type === 'JSAPI' ? b.payer.openid : null,
      prepay_id: type === 'JSAPI' ? `wx${Date.now().toString(36)}${randomBytes(10).toString('hex')}` : null,
      code_url: type === 'NATIVE' ? `weixin://wxpay/bizpayurl?pr=${randomBytes(6).toString('base64url')}` : null,
      state: 'NOTPAY',
      transaction_id: null,
      success_time: null,
      created: this.o.clock.now(),
      refunded: 0,
      fingerprint,
    };
    this.orders.set(`${m.mchid}:${order.out_trade_no}`, order);
    if (order.prepay_id) this.byPrepay.set(order.prepay_id, `${m.mchid}:${order.out_trade_no}`);
    if (order.code_url) this.byCodeUrl.set(order.code_url, `${m.mchid}:${order.out_trade_no}`);
    return order;
  }

  private transaction(o: EmulatedOrder) {
    return {
      appid: o.appid,
      mchid: o.mchid,
      out_trade_no: o.out_trade_no,
      ...(o.transaction_id ? { transaction_id: o.transaction_id } : {}),
      trade_type: o.trade_type,
      trade_state: o.state,
      trade_state_desc: { NOTPAY: '未支付', SUCCESS: '支付成功', CLOSED: '已关闭', REFUND: '转入退款', PAYERROR: '支付失败' }[o.state],
      ...(o.success_time ? { success_time: rfc3339(o.success_time), bank_type: 'OTHERS' } : {}),
      ...(o.payer_openid && o.state !== 'NOTPAY' ? { payer: { openid: o.payer_openid } } : {}),
      amount: { total: o.amount, ...(o.state === 'NOTPAY' || o.state === 'CLOSED' ? {} : { payer_total: o.amount }), currency: 'CNY', payer_currency: 'CNY' },
    };
  }

  /** The citizen pays (or cancels, or their balance is short) on the pay sheet. */
  confirm(openid: string, params: { appId?: string; timeStamp?: string; nonceStr?: string; package?: string; signType?: string; paySign?: string }, choice: 'pay' | 'cancel' | 'insufficient'): { err_msg: string; detail?: string } {
    const prepay = /^prepay_id=(.+)$/.exec(params.package ?? '')?.[1];
    const key = prepay ? this.byPrepay.get(prepay) : undefined;
    const order = key ? this.orders.get(key) : undefined;
    const m = order ? this.merchants.get(order.mchid) : undefined;
    if (!order || !m) return { err_msg: 'get_brand_wcpay_request:fail', detail: '订单不存在' };
    if (params.signType !== 'RSA' || params.appId !== m.appid || !params.timeStamp || !params.nonceStr || !params.paySign) return { err_msg: 'get_brand_wcpay_request:fail', detail: '支付参数缺失' };
    if (!rsaVerify(paySignMessage(params.appId, params.timeStamp, params.nonceStr, params.package!), params.paySign, m.publicKey)) return { err_msg: 'get_brand_wcpay_request:fail', detail: '支付验证签名失败' };
    if (order.payer_openid !== openid) return { err_msg: 'get_brand_wcpay_request:fail', detail: '下单账号与支付账号不一致' };
    if (choice === 'cancel') return { err_msg: 'get_brand_wcpay_request:cancel' };
    return this.settle(order, openid, choice);
  }

  /** A Native QR code scanned and paid from a phone. */
  scan(openid: string, codeUrl: string, choice: 'pay' | 'cancel' | 'insufficient'): { err_msg: string; detail?: string } {
    const key = this.byCodeUrl.get(codeUrl);
    const order = key ? this.orders.get(key) : undefined;
    if (!order) return { err_msg: 'fail', detail: '二维码已失效' };
    if (choice === 'cancel') return { err_msg: 'cancel' };
    order.payer_openid = openid;
    return this.settle(order, openid, choice);
  }

  private settle(order: EmulatedOrder, openid: string, choice: 'pay' | 'insufficient'): { err_msg: string; detail?: string } {
    const now = this.o.clock.now();
    if (order.state === 'SUCCESS' || order.state === 'REFUND') return { err_msg: 'get_brand_wcpay_request:fail', detail: '该订单已支付' };
    if (order.state === 'CLOSED') return { err_msg: 'get_brand_wcpay_request:fail', detail: '订单已关闭' };
    if (order.time_expire !== null && now > order.time_expire) return { err_msg: 'get_brand_wcpay_request:fail', detail: '订单已过期' };
    if (choice === 'insufficient') return { err_msg: 'get_brand_wcpay_request:fail', detail: '零钱余额不足，请更换支付方式' };
    order.state = 'SUCCESS';
    order.success_time = now;
    order.transaction_id = `4200${String(now).slice(-10)}${String(++this.seq).padStart(6, '0')}${randomBytes(2).toString('hex')}`.slice(0, 28);
    this.o.paid?.(openid);
    this.notify(order.mchid, order.notify_url, 'TRANSACTION.SUCCESS', 'transaction', '支付成功', this.transaction(order));
    return { err_msg: 'get_brand_wcpay_request:ok' };
  }

  /** What the pay sheet shows for a prepay_id. */
  describe(prepayOrCode: string): { description: string; amount: number; payee: string; state: TradeState } | null {
    const key = this.byPrepay.get(prepayOrCode) ?? this.byCodeUrl.get(prepayOrCode);
    const o = key ? this.orders.get(key) : undefined;
    if (!o) return null;
    return { description: o.description, amount: o.amount, payee: this.merchants.get(o.mchid)?.payee ?? '商户', state: o.state };
  }

  // ---- notifications -------------------------------------------------------------------------------

  private notify(mchid: string, url: string, eventType: string, originalType: string, summary: string, resource: object): void {
    const m = this.merchants.get(mchid)!;
    const id = randomUUID36();
    const body = JSON.stringify({
      id,
      create_time: rfc3339(this.o.clock.now()),
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary,
      resource: { original_type: originalType, ...encryptResource(JSON.stringify(resource), m.apiV3Key, originalType) },
    });
    const fault = this.faults.shift();
    if (fault === 'drop') return;
    const d = (): Delivery => ({ id, url, body, mchid, attempt: 0, nextAt: this.o.clock.now(), held: fault === 'hold', done: false, answers: [] });
    this.deliveries.push(d());
    if (fault === 'duplicate') this.deliveries.push(d());
    void this.deliverDue();
  }

  /** Send every notification that is due; a failed one is tried again on the schedule. */
  async deliverDue(): Promise<void> {
    const now = this.o.clock.now();
    const due = this.deliveries.filter((d) => !d.done && !d.held && d.nextAt <= now && !(d as any).sending);
    await Promise.all(due.map((d) => this.track(this.send(d))));
  }

  private track(p: Promise<void>): Promise<void> {
    this.inflight.add(p);
    return p.finally(() => this.inflight.delete(p));
  }

  /** Wait until every notification being sent has been answered (tests). */
  async flush(): Promise<void> {
    await this.deliverDue();
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  private async send(d: Delivery): Promise<void> {
    (d as any).sending = true;
    const m = this.merchants.get(d.mchid);
    let status = 0;
    try {
      const url = this.o.route ? this.o.route(d.url) : d.url;
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...this.signedHeaders(m, d.body) }, body: d.body, signal: AbortSignal.timeout(5_000) });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch {
      status = 0;
    } finally {
      (d as any).sending = false;
    }
    d.answers.push(status);
    d.attempt++;
    if (status === 200 || status === 204) d.done = true;
    else if (d.attempt > NOTIFY_SCHEDULE.length) d.done = true;
    else d.nextAt = this.o.clock.now() + NOTIFY_SCHEDULE[d.attempt - 1]!;
  }

  // ---- refunds -------------------------------------------------------------------------------------

  private refund(m: EmulatedMerchant, b: any): EmulatedRefund {
    const order = this.orders.get(`${m.mchid}:${b?.out_trade_no ?? ''}`);
    if (!order) throw new PayError(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
    if (typeof b.out_refund_no !== 'string' || !/^[0-9A-Za-z_\-|*@]{1,64}$/.test(b.out_refund_no)) throw new PayError(400, 'PARAM_ERROR', 'out_refund_no 格式错误');
    const existing = this.refunds.get(`${m.mchid}:${b.out_refund_no}`);
    if (existing) return existing;
    if (order.state !== 'SUCCESS' && order.state !== 'REFUND') throw new PayError(403, 'TRADE_ERROR', '订单未支付，不能退款');
    const amount = b.amount?.refund;
    if (b.amount?.total !== order.amount) throw new PayError(400, 'PARAM_ERROR', '订单金额与原订单不一致');
    if (!Number.isSafeInteger(amount) || amount < 1) throw new PayError(400, 'PARAM_ERROR', '退款金额必须为正整数（分）');
    if (order.refunded + amount > order.amount) throw new PayError(403, 'NOT_ENOUGH', '申请退款金额超过订单可退金额');
    order.refunded += amount;
    order.state = 'REFUND';
    const r: EmulatedRefund = {
      refund_id: `5030${String(this.o.clock.now()).slice(-10)}${String(++this.seq).padStart(6, '0')}`,
      out_refund_no: b.out_refund_no,
      out_trade_no: order.out_trade_no,
      transaction_id: order.transaction_id!,
      amount,
      total: order.amount,
      reason: String(b.reason ?? '').slice(0, 80),
      notify_url: typeof b.notify_url === 'string' ? b.notify_url : null,
      status: 'PROCESSING',
      created: this.o.clock.now(),
      success_time: null,
    };
    this.refunds.set(`${m.mchid}:${r.out_refund_no}`, r);
    // Refunds to the balance complete at once here (in WeChat Pay: seconds to days).
    r.status = 'SUCCESS';
    r.success_time = this.o.clock.now();
    if (r.notify_url) {
      this.notify(m.mchid, r.notify_url, 'REFUND.SUCCESS', 'refund', '退款成功', {
        mchid: m.mchid,
        out_trade_no: r.out_trade_no,
        transaction_id: r.transaction_id,
        out_refund_no: r.out_refund_no,
        refund_id: r.refund_id,
        refund_status: r.status,
        success_time: rfc3339(r.success_time),
        user_received_account: '支付用户零钱',
        amount: { total: r.total, refund: r.amount, payer_total: r.total, payer_refund: r.amount },
      });
    }
    return r;
  }

  private refundView(r: EmulatedRefund) {
    return {
      refund_id: r.refund_id,
      out_refund_no: r.out_refund_no,
      transaction_id: r.transaction_id,
      out_trade_no: r.out_trade_no,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      status: r.status,
      create_time: rfc3339(r.created),
      ...(r.success_time ? { success_time: rfc3339(r.success_time) } : {}),
      amount: { total: r.total, refund: r.amount, payer_total: r.total, payer_refund: r.amount, currency: 'CNY' },
    };
  }

  // ---- the trade bill ----------------------------------------------------------------------------

  /** 交易账单 of a China day: one line per payment and per refund, fields prefixed with ` as WeChat Pay does. */
  tradeBill(mchid: string, date: string): string {
    const start = Date.parse(`${date}T00:00:00+08:00`);
    const end = start + DAY;
    const head = '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
    const lines: string[] = [head];
    const yuan = (f: number) => (f / 100).toFixed(2);
    let paid = 0;
    let refunded = 0;
    let count = 0;
    for (const o of this.orders.values()) {
      if (o.mchid !== mchid || !o.success_time || o.success_time < start || o.success_time >= end) continue;
      count++;
      paid += o.amount;
      lines.push([chinaTime(o.success_time), o.appid, o.mchid, '0', '', o.transaction_id, o.out_trade_no, o.payer_openid ?? '', o.trade_type, 'SUCCESS', 'OTHERS', 'CNY', yuan(o.amount), '0.00', '0', '0', '0.00', '0.00', '', '', o.description, '', '0.00', '0.60%', yuan(o.amount), '0.00', ''].map((f) => `\`${f}`).join(','));
    }
    for (const r of this.refunds.values()) {
      const o = this.orders.get(`${mchid}:${r.out_trade_no}`);
      if (!o || !r.success_time || r.success_time < start || r.success_time >= end) continue;
      count++;
      refunded += r.amount;
      lines.push([chinaTime(r.success_time), o.appid, o.mchid, '0', '', r.transaction_id, r.out_trade_no, o.payer_openid ?? '', o.trade_type, 'REFUND', 'OTHERS', 'CNY', '0.00', '0.00', r.refund_id, r.out_refund_no, yuan(r.amount), '0.00', 'ORIGINAL', 'SUCCESS', o.description, '', '0.00', '0.60%', yuan(o.amount), yuan(r.amount), ''].map((f) => `\`${f}`).join(','));
    }
    lines.push('总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额');
    lines.push([String(count), yuan(paid), yuan(refunded), '0.00', '0.00', yuan(paid), yuan(refunded)].map((f) => `\`${f}`).join(','));
    return `${lines.join('\r\n')}\r\n`;
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  routes(prefix: string): Router {
    const r = new Router({ prefix });
    const api = (method: 'get' | 'post', path: string, fn: (ctx: Context, m: EmulatedMerchant, body: any) => unknown) => {
      r[method](path, async (ctx) => {
        const raw = method === 'post' ? await getRawBody(ctx.req, { limit: 64 * 1024, encoding: 'utf8' }) : '';
        const signedPath = ctx.originalUrl.slice(ctx.originalUrl.indexOf('/v3/'));
        let m: EmulatedMerchant | undefined;
        let status = 200;
        let out: unknown;
        try {
          m = this.authenticate(ctx, signedPath, raw);
          let body: any;
          if (raw) {
            try {
              body = JSON.parse(raw);
            } catch {
              throw new PayError(400, 'PARAM_ERROR', '请求体不是合法的 JSON');
            }
          }
          out = await fn(ctx, m, body);
          if (out === undefined) status = 204;
        } catch (err) {
          if (!(err instanceof PayError)) throw err;
          this.refused.push({ path, code: err.code });
          status = err.status;
          out = { code: err.code, message: err.message };
        }
        const text = status === 204 ? '' : JSON.stringify(out);
        ctx.set(this.signedHeaders(m ?? this.merchants.values().next().value, text));
        ctx.status = status;
        if (text) {
          ctx.type = 'application/json';
          ctx.body = text;
        }
      });
    };
    const find = (m: EmulatedMerchant, no: string) => {
      const o = this.orders.get(`${m.mchid}:${no}`);
      if (!o) throw new PayError(404, 'ORDER_NOT_EXIST', '订单不存在');
      return o;
    };

    api('post', '/v3/pay/transactions/jsapi', (_ctx, m, b) => ({ prepay_id: this.newOrder(m, b, 'JSAPI').prepay_id }));
    api('post', '/v3/pay/transactions/native', (_ctx, m, b) => ({ code_url: this.newOrder(m, b, 'NATIVE').code_url }));
    api('get', '/v3/pay/transactions/out-trade-no/:no', (ctx, m) => {
      if (ctx.query.mchid !== m.mchid) throw new PayError(400, 'PARAM_ERROR', 'mchid 参数错误');
      return this.transaction(find(m, ctx.params.no ?? ''));
    });
    api('post', '/v3/pay/transactions/out-trade-no/:no/close', (ctx, m, b) => {
      if (b?.mchid !== m.mchid) throw new PayError(400, 'PARAM_ERROR', 'mchid 参数错误');
      const o = find(m, ctx.params.no ?? '');
      if (o.state === 'SUCCESS' || o.state === 'REFUND') throw new PayError(400, 'ORDERPAID', '订单已支付，不能关闭');
      o.state = 'CLOSED';
      return undefined;
    });
    api('post', '/v3/refund/domestic/refunds', (_ctx, m, b) => this.refundView(this.refund(m, b)));
    api('get', '/v3/refund/domestic/refunds/:no', (ctx, m) => {
      const rf = this.refunds.get(`${m.mchid}:${ctx.params.no ?? ''}`);
      if (!rf) throw new PayError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
      return this.refundView(rf);
    });
    api('get', '/v3/bill/tradebill', (ctx, m) => {
      const date = String(ctx.query.bill_date ?? '');
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new PayError(400, 'PARAM_ERROR', 'bill_date 格式错误');
      const body = Buffer.from(this.tradeBill(m.mchid, date), 'utf8');
      const token = randomBytes(12).toString('hex');
      this.bills.set(token, { body, mchid: m.mchid });
      return { hash_type: 'SHA1', hash_value: createHash('sha1').update(body).digest('hex'), download_url: `https://api.mch.weixin.qq.com/v3/billdownload/file?token=${token}` };
    });
    r.get('/v3/billdownload/file', async (ctx) => {
      try {
        const m = this.authenticate(ctx, ctx.originalUrl.slice(ctx.originalUrl.indexOf('/v3/')), '');
        const bill = this.bills.get(String(ctx.query.token ?? ''));
        if (!bill || bill.mchid !== m.mchid) throw new PayError(404, 'NO_STATEMENT_EXIST', '账单不存在');
        ctx.type = 'text/csv; charset=utf-8';
        ctx.body = bill.body;
      } catch (err) {
        if (!(err instanceof PayError)) throw err;
        ctx.status = err.status;
        ctx.body = { code: err.code, message: err.message };
      }
    });
    api('get', '/v3/certificates', (_ctx, m) => ({
      data: [
        {
          serial_no: this.certificateSerial,
          effective_time: rfc3339(this.o.clock.now() - DAY),
          expire_time: rfc3339(this.o.clock.now() + 5 * 365 * DAY),
          encrypt_certificate: { ...encryptResource(this.certificatePem, m.apiV3Key, 'certificate'), associated_data: 'certificate' },
        },
      ],
    }));

    // The merchant platform's page where the WeChat Pay public key is downloaded (商户平台 → API安全).
    r.get('/merchant-platform/public-key', async (ctx) => {
      if (!this.merchants.has(String(ctx.query.mchid ?? ''))) {
        ctx.status = 404;
        return;
      }
      ctx.body = { id: this.publicKeyId, pem: this.publicKey.export({ type: 'spki', format: 'pem' }) };
    });

    // The citizen's phone: WeChat's pay sheet.
    r.get('/phone/order', async (ctx) => {
      const d = this.describe(String(ctx.query.ref ?? ''));
      if (!d) {
        ctx.status = 404;
        ctx.body = { error: '订单不存在' };
        return;
      }
      ctx.body = d;
    });
    // Native codes on a screen that a phone could scan now (the emulator cannot read a camera).
    r.get('/phone/codes', async (ctx) => {
      const now = this.o.clock.now();
      ctx.body = [...this.orders.values()]
        .filter((o) => o.trade_type === 'NATIVE' && o.state === 'NOTPAY' && (o.time_expire === null || o.time_expire > now))
        .map((o) => ({ codeUrl: o.code_url, description: o.description, amount: o.amount, payee: this.merchants.get(o.mchid)?.payee ?? '商户' }));
    });
    r.post('/phone/pay', async (ctx) => {
      let b: any;
      try {
        b = JSON.parse(await getRawBody(ctx.req, { limit: 16 * 1024, encoding: 'utf8' }));
      } catch {
        ctx.status = 400;
        ctx.body = { error: 'JSON body required' };
        return;
      }
      const openid = typeof b?.openid === 'string' && /^[A-Za-z0-9_-]{6,64}$/.test(b.openid) ? b.openid : null;
      const choice = ['pay', 'cancel', 'insufficient'].includes(b?.choice) ? (b.choice as 'pay' | 'cancel' | 'insufficient') : null;
      if (!openid || !choice) {
        ctx.status = 400;
        ctx.body = { error: 'openid and choice are required' };
        return;
      }
      ctx.body = typeof b.codeUrl === 'string' ? this.scan(openid, b.codeUrl, choice) : this.confirm(openid, b.params ?? {}, choice);
      await this.flush().catch(() => undefined);
    });
    return r;
  }
}

interface PlatformKeys {
  publicKeyId: string;
  certificateSerial: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificatePem: string;
}

function makeKeys(now: number): PlatformKeys {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificateSerial = randomBytes(20).toString('hex').toUpperCase().replace(/^[89A-F]/, '4');
  return {
    publicKeyId: `PUB_KEY_ID_01${randomBytes(10).toString('hex').toUpperCase()}`,
    certificateSerial,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    certificatePem: selfSignedCertificate({ publicKey: pair.publicKey, privateKey: pair.privateKey, serialHex: certificateSerial, commonName: 'Tenpay.com Root CA', notBefore: now - DAY, notAfter: now + 5 * 365 * DAY }),
  };
}

function randomUUID36(): string {
  return randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
}

export function rfc3339(ms: number): string {
  return `${new Date(ms + 8 * HOUR).toISOString().slice(0, 19)}+08:00`;
}

function chinaTime(ms: number): string {
  return new Date(ms + 8 * HOUR).toISOString().slice(0, 19).replace('T', ' ');
}

/** The emulator's demo merchant, as the profile names it (its keys are the committed demo keys). */
export function emulatedMerchant(p: PayProfile, appid: string): EmulatedMerchant {
  return { mchid: p.mchid, appid, serial: DEMO_MERCHANT.serial, publicKey: createPublicKey(DEMO_MERCHANT.privateKeyPem()), apiV3Key: DEMO_MERCHANT.apiV3Key, verifyMode: p.verify.mode, payee: p.payee };
}
