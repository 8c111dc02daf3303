import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import WxPay from 'wechatpay-node-v3';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/log.ts';
import type { PaySettings } from './config.ts';
import { decryptResource, loadPublicKey, nonce, paySignMessage, PayCryptoError, signedHeadersOf, verifySigned, type AeadResource, type VerifyFailure } from './crypto.ts';

/**
 * The WeChat Pay API v3 client (直连商户): JSAPI and Native orders, query, close, refunds, the
 * trade bill, and the notifications' verification.
 *
 * Taken from wechatpay-node-v3 2.2.1: the request signature and the Authorization header
 * (`getSignature`, `getAuthorization`) and the RSA-SHA256 signer behind `paySign` — those are
 * right. Written here instead: the HTTP (its order methods stamp wall-clock time, return HTTP
 * errors as values and never check a response's signature), the verification of responses and
 * notifications in both modes (it knows only platform certificates, verifies re-serialised JSON,
 * has no time window, and downloads certificates on every unknown serial), and the GCM decryption
 * (it never calls `final()`, so the tag is not checked). See WECHAT-NOTES.md.
 */

export class PayApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PayApiError';
  }
}

export interface Transaction {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: string;
  trade_state: 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';
  trade_state_desc?: string;
  success_time?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string };
}

export interface RefundResult {
  refund_id: string;
  out_refund_no: string;
  transaction_id?: string;
  out_trade_no: string;
  status: 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';
  success_time?: string;
  amount: { total: number; refund: number };
}

export type Notification =
  | { ok: true; eventType: string; id: string; resource: Record<string, any> }
  | { ok: false; reason: VerifyFailure | 'bad_json' | 'bad_resource' | 'bad_tag'; status: number };

export interface JsapiParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

const CERT_REFRESH_MS = 10 * 60_000;

export class PayClient {
  private readonly lib: WxPay;
  private certificates = new Map<string, { key: KeyObject; expires: number }>();
  private lastCertFetch = 0;
  private certFetch: Promise<void> | null = null;
  private emulatorKey: { id: string; key: KeyObject } | null = null;

  constructor(
    readonly s: PaySettings,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    // The library's constructor wants a "public key" to read the serial from; with serial_no given
    // it never reads it, so the merchant's own public key stands in.
    this.lib = new WxPay({ appid: s.appid, mchid: s.mchid, serial_no: s.serial, publicKey: Buffer.from('unused'), privateKey: Buffer.from(s.privateKeyPem) });
  }

  // ---- requests ----------------------------------------------------------------------------------

  private async request<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<{ status: number; data: T }> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const ts = String(Math.floor(this.clock.now() / 1000));
    const n = nonce();
    const signature = this.lib.getSignature(method, n, ts, path, payload || undefined);
    const authorization = this.lib.getAuthorization(n, ts, signature);
    let res: Response;
    try {
      res = await fetch(`${this.s.baseUrl}${path}`, {
        method,
        headers: { Authorization: authorization, Accept: 'application/json', 'User-Agent': 'weiban', ...(payload ? { 'Content-Type': 'application/json' } : {}) },
        ...(payload ? { body: payload } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new PayApiError(0, 'NETWORK', `WeChat Pay could not be reached: ${(err as Error).message}`);
    }
    const raw = await res.text();
    // Every answer is believed only once its signature holds (errors too: a forged 4xx could
    // make us give up on a paid order).
    const failure = await this.verifyResponse(res.headers, raw);
    if (failure) throw new PayApiError(res.status, 'UNVERIFIED', `the response to ${method} ${path.split('?')[0]} is not signed by WeChat Pay (${failure})`);
    let data: any = {};
    if (raw) {
      try {
        data = JSON.parse(raw);
      } catch {
        throw new PayApiError(res.status, 'BAD_JSON', `the response to ${method} ${path.split('?')[0]} is not JSON`);
      }
    }
    if (res.status >= 300) throw new PayApiError(res.status, String(data.code ?? 'HTTP_' + res.status), String(data.message ?? '').slice(0, 200));
    return { status: res.status, data: data as T };
  }

  private async verifyResponse(headers: Headers, raw: string): Promise<VerifyFailure | null> {
    const h = signedHeadersOf((k) => headers.get(k) ?? undefined);
    if (h.serial && !(await this.knowsSerial(h.serial))) return 'unknown_serial';
    return verifySigned(h, raw, (serial) => this.keyFor(serial), this.clock.now());
  }

  /** The key WeChat Pay signs with under `serial`, if we know it. */
  keyFor(serial: string): KeyObject | null {
    const v = this.s.verify;
    if (v.mode === 'public_key') {
      if ('key' in v) return serial === v.id ? v.key : null;
      return this.emulatorKey && serial === this.emulatorKey.id ? this.emulatorKey.key : null;
    }
    const c = this.certificates.get(serial);
    return c && c.expires > this.clock.now() ? c.key : null;
  }

  /**
   * Whether the serial is known, fetching what is needed first: the emulator's public key once,
   * or the platform certificates — at most once per 10 minutes, single-flight, so a stream of
   * forged serials cannot turn into a stream of downloads.
   */
  async knowsSerial(serial: string): Promise<boolean> {
    if (this.keyFor(serial)) return true;
    const v = this.s.verify;
    if (v.mode === 'public_key' && 'fromEmulator' in v && !this.emulatorKey) {
      const res = await fetch(`${this.s.baseUrl}/merchant-platform/public-key?mchid=${this.s.mchid}`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (res?.ok) {
        const b = (await res.json()) as { id: string; pem: string };
        this.emulatorKey = { id: b.id, key: loadPublicKey(b.pem) };
      }
    }
    if (v.mode === 'certificates' && this.clock.now() - this.lastCertFetch >= CERT_REFRESH_MS) {
      this.certFetch ??= this.fetchCertificates().finally(() => (this.certFetch = null));
      await this.certFetch.catch((err: unknown) => this.log.warn({ err }, 'WeChat Pay platform certificates could not be downloaded'));
    }
    return !!this.keyFor(serial);
  }

  /**
   * GET /v3/certificates: each certificate is AES-GCM encrypted with the APIv3 key (which only
   * WeChat Pay and we know) and the response is signed by one of them.
   */
  private async fetchCertificates(): Promise<void> {
    this.lastCertFetch = this.clock.now();
    const path = '/v3/certificates';
    const ts = String(Math.floor(this.clock.now() / 1000));
    const n = nonce();
    const authorization = this.lib.getAuthorization(n, ts, this.lib.getSignature('GET', n, ts, path));
    const res = await fetch(`${this.s.baseUrl}${path}`, { headers: { Authorization: authorization, Accept: 'application/json' }, signal: AbortSignal.timeout(10_000) });
    const raw = await res.text();
    if (!res.ok) throw new PayApiError(res.status, 'CERTIFICATES', raw.slice(0, 200));
    const body = JSON.parse(raw) as { data: { serial_no: string; expire_time: string; encrypt_certificate: AeadResource }[] };
    const fresh = new Map<string, { key: KeyObject; expires: number }>();
    for (const c of body.data ?? []) {
      const cert = new X509Certificate(decryptResource(c.encrypt_certificate, this.s.apiV3Key));
      if (cert.serialNumber.toUpperCase() !== c.serial_no.toUpperCase()) throw new Error(`certificate serial ${cert.serialNumber} is not the announced ${c.serial_no}`);
      fresh.set(c.serial_no.toUpperCase(), { key: cert.publicKey, expires: Math.min(Date.parse(c.expire_time), Date.parse(cert.validTo)) });
    }
    const h = signedHeadersOf((k) => res.headers.get(k) ?? undefined);
    const failure = verifySigned(h, raw, (s) => fresh.get(s.toUpperCase())?.key ?? null, this.clock.now());
    if (failure) throw new Error(`the certificate download is not signed by one of its certificates (${failure})`);
    this.certificates = fresh;
  }

  // ---- the API -----------------------------------------------------------------------------------

  private orderBody(o: { description: string; outTradeNo: string; amountFen: number; expiresAt: number; attach?: string }) {
    return {
      appid: this.s.appid,
      mchid: this.s.mchid,
      description: o.description,
      out_trade_no: o.outTradeNo,
      time_expire: rfc3339(o.expiresAt),
      ...(o.attach ? { attach: o.attach } : {}),
      notify_url: this.s.notifyUrl,
      amount: { total: o.amountFen, currency: 'CNY' },
    };
  }

  /** JSAPI order for the citizen's page → prepay_id. */
  async jsapi(o: { description: string; outTradeNo: string; amountFen: number; expiresAt: number; openid: string }): Promise<string> {
    const { data } = await this.request<{ prepay_id: string }>('POST', '/v3/pay/transactions/jsapi', { ...this.orderBody(o), payer: { openid: o.openid } });
    if (!data.prepay_id) throw new PayApiError(200, 'NO_PREPAY_ID', 'the JSAPI order answer has no prepay_id');
    return data.prepay_id;
  }

  /** Native order (a QR code to scan with WeChat) → code_url. */
  async native(o: { description: string; outTradeNo: string; amountFen: number; expiresAt: number }): Promise<string> {
    const { data } = await this.request<{ code_url: string }>('POST', '/v3/pay/transactions/native', this.orderBody(o));
    if (!data.code_url) throw new PayApiError(200, 'NO_CODE_URL', 'the Native order answer has no code_url');
    return data.code_url;
  }

  async query(outTradeNo: string): Promise<Transaction> {
    return (await this.request<Transaction>('GET', `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}?mchid=${this.s.mchid}`)).data;
  }

  /** Close an unpaid order (204). Closing a paid one fails with ORDERPAID. */
  async close(outTradeNo: string): Promise<void> {
    await this.request('POST', `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}/close`, { mchid: this.s.mchid });
  }

  async refund(o: { outTradeNo: string; outRefundNo: string; reason: string; refundFen: number; totalFen: number }): Promise<RefundResult> {
    return (
      await this.request<RefundResult>('POST', '/v3/refund/domestic/refunds', {
        out_trade_no: o.outTradeNo,
        out_refund_no: o.outRefundNo,
        reason: o.reason,
        notify_url: this.s.refundNotifyUrl,
        amount: { refund: o.refundFen, total: o.totalFen, currency: 'CNY' },
      })
    ).data;
  }

  async queryRefund(outRefundNo: string): Promise<RefundResult> {
    return (await this.request<RefundResult>('GET', `/v3/refund/domestic/refunds/${encodeURIComponent(outRefundNo)}`)).data;
  }

  /** The day's trade bill (交易账单) as CSV text, its SHA1 checked. `date` is YYYY-MM-DD. */
  async tradeBill(date: string): Promise<string> {
    const { data } = await this.request<{ download_url: string; hash_type: string; hash_value: string }>('GET', `/v3/bill/tradebill?bill_date=${date}&bill_type=ALL`);
    const url = new URL(data.download_url);
    const path = url.pathname.replace(/^.*?\/v3\//, '/v3/') + url.search;
    const ts = String(Math.floor(this.clock.now() / 1000));
    const n = nonce();
    const authorization = this.lib.getAuthorization(n, ts, this.lib.getSignature('GET', n, ts, path));
    const res = await fetch(`${this.s.baseUrl}${path}`, { headers: { Authorization: authorization }, signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new PayApiError(res.status, 'BILL_DOWNLOAD', (await res.text()).slice(0, 200));
    const bytes = Buffer.from(await res.arrayBuffer());
    const hash = createHash(data.hash_type === 'SHA1' ? 'sha1' : 'sha256').update(bytes).digest('hex');
    if (hash.toLowerCase() !== String(data.hash_value).toLowerCase()) throw new PayApiError(200, 'BILL_HASH', 'the downloaded bill does not match its hash');
    return bytes.toString('utf8');
  }

  /** What the page hands to getBrandWCPayRequest. */
  jsapiParams(prepayId: string): JsapiParams {
    const timeStamp = String(Math.floor(this.clock.now() / 1000));
    const nonceStr = nonce();
    const pkg = `prepay_id=${prepayId}`;
    return { appId: this.s.appid, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign: this.lib.sha256WithRsa(paySignMessage(this.s.appid, timeStamp, nonceStr, pkg)) };
  }

  // ---- notifications -------------------------------------------------------------------------------

  /**
   * Verify and decrypt a notification from its headers and the raw body bytes. `status` says how
   * to answer a refusal: 500 where a retry could succeed (an unknown serial before the
   * certificates are refreshed, a key mismatch being fixed), 401 for what is plainly forged.
   */
  async notification(get: (name: string) => string | undefined, raw: string): Promise<Notification> {
    const h = signedHeadersOf(get);
    if (h.serial && h.signature && !h.signature.startsWith('WECHATPAY/SIGNTEST/') && h.serial.length <= 64 && !(await this.knowsSerial(h.serial))) return { ok: false, reason: 'unknown_serial', status: 500 };
    const failure = verifySigned(h, raw, (s) => this.keyFor(s), this.clock.now());
    if (failure) return { ok: false, reason: failure, status: failure === 'unknown_serial' ? 500 : 401 };
    let body: { id?: string; event_type?: string; resource?: AeadResource };
    try {
      body = JSON.parse(raw);
    } catch {
      return { ok: false, reason: 'bad_json', status: 400 };
    }
    if (!body.resource || typeof body.resource !== 'object' || typeof body.event_type !== 'string') return { ok: false, reason: 'bad_resource', status: 400 };
    try {
      const plain = decryptResource(body.resource, this.s.apiV3Key);
      return { ok: true, eventType: body.event_type, id: String(body.id ?? ''), resource: JSON.parse(plain) };
    } catch (err) {
      if (err instanceof PayCryptoError && err.reason === 'bad_tag') return { ok: false, reason: 'bad_tag', status: 500 };
      return { ok: false, reason: 'bad_resource', status: 400 };
    }
  }
}

/** WeChat Pay's time format: 2018-06-08T10:34:56+08:00 (China time). */
export function rfc3339(ms: number): string {
  const d = new Date(ms + 8 * 3_600_000);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}
