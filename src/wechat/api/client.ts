import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import type { Logger } from '../../platform/log.ts';
import { WeChatApiError } from './errors.ts';
import { sharedValue, type Stored } from './shared.ts';

export interface ApiClientOptions {
  /** https://api.weixin.qq.com, or the emulator's address. */
  baseUrl: string;
  appid: string;
  secret: string;
  kv: Kv;
  clock: Clock;
  log: Logger;
  /** Refresh this long before the token expires (default 3 min; stable_token renews within 5). */
  refreshMarginMs?: number;
  /** Back-off before retrying a busy (-1) answer, per attempt. */
  busyBackoffMs?: number[];
  fetch?: typeof fetch;
  timeoutMs?: number;
}

interface CallOptions {
  query?: Record<string, string>;
  body?: unknown;
  method?: 'GET' | 'POST';
  /** The call needs no access_token (oauth code exchange). */
  noToken?: boolean;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Kept-alive connections to the platform, shared by every client in the process.
const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/**
 * One request with node:http rather than fetch: a mass notice makes thousands of calls a second,
 * and fetch's per-call machinery (Request/Response objects, web streams, an AbortSignal) was most of
 * weiban's CPU and garbage there (measured: see bench/README.md, fanout).
 */
function nodeRequest(url: URL, method: string, body: string | undefined, timeoutMs: number, retried = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = mod.request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A kept-alive connection the server had just closed: once more on a new one (Node's advice).
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(nodeRequest(url, method, body, timeoutMs, true));
      else reject(err);
    });
    req.end(body);
  });
}

/**
 * The one client that talks to the platform API. It owns the access token: kept in the shared kv
 * store so every instance uses the same one, refreshed before expiry by one caller at a time under
 * a lock (stable_token, which does not knock out other holders), and on a token error expired only
 * if it is still the token that failed (compare-and-expire) before one retry.
 */
export class ApiClient {
  readonly appid: string;
  private readonly tokenKey: string;
  private readonly f: typeof fetch | null;

  constructor(private readonly o: ApiClientOptions) {
    this.appid = o.appid;
    this.tokenKey = `wechat:${o.appid}:access_token`;
    this.f = o.fetch ?? null;
  }

  get baseUrl(): string {
    return this.o.baseUrl;
  }

  /** A valid access token, refreshing it when it is near its end. */
  async accessToken(): Promise<string> {
    return sharedValue({
      kv: this.o.kv,
      key: this.tokenKey,
      field: 'token',
      clock: this.o.clock,
      marginMs: this.o.refreshMarginMs ?? 180_000,
      fetch: () => this.refresh(),
      timeout: () => new WeChatApiError(-1, 'timed out waiting for the access token refresh', 'token'),
    });
  }

  private async refresh(): Promise<Stored> {
    const json = await this.http('POST', '/cgi-bin/stable_token', undefined, {
      grant_type: 'client_credential',
      appid: this.o.appid,
      secret: this.o.secret,
      force_refresh: false,
    });
    const token = String(json.access_token ?? '');
    const expiresIn = Number(json.expires_in ?? 0);
    if (!token || !(expiresIn > 0)) throw new WeChatApiError(Number(json.errcode ?? 0), String(json.errmsg ?? 'no access_token in answer'), 'stable_token');
    this.o.log.info({ appid: this.o.appid, expiresIn }, 'access token refreshed');
    return { value: token, expiresAt: this.o.clock.now() + expiresIn * 1000 };
  }

  /** Forget the token only if it is still the one that failed. */
  private async expireIfCurrent(failed: string): Promise<void> {
    const raw = await this.o.kv.get(this.tokenKey);
    if (!raw) return;
    const stored = JSON.parse(raw) as { token?: string };
    if (stored.token === failed) await this.o.kv.compareAndDelete(this.tokenKey, raw);
  }

  /** Call an API method; WeChat error codes become WeChatApiError. */
  async call<T = Record<string, unknown>>(path: string, opts: CallOptions = {}): Promise<T> {
    const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
    const backoff = this.o.busyBackoffMs ?? [200, 1000];
    let tokenRetried = false;
    for (let busyTry = 0; ; ) {
      const token = opts.noToken ? null : await this.accessToken();
      const query = { ...(opts.query ?? {}), ...(token ? { access_token: token } : {}) };
      const json = await this.http(method, path, query, opts.body);
      const errcode = Number(json.errcode ?? 0);
      if (!errcode) return json as T;
      const err = new WeChatApiError(errcode, String(json.errmsg ?? ''), path);
      if (err.kind === 'token_invalid' && token && !tokenRetried) {
        tokenRetried = true;
        await this.expireIfCurrent(token);
        continue;
      }
      if (err.kind === 'busy' && busyTry < backoff.length) {
        await pause(backoff[busyTry++]!);
        continue;
      }
      throw err;
    }
  }

  private async http(method: string, path: string, query: Record<string, string> | undefined, body: unknown): Promise<Record<string, any>> {
    const url = new URL(this.o.baseUrl.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    let status: number;
    let textBody: string;
    try {
      if (this.f) {
        const res = await this.f(url, { method, headers: payload === undefined ? {} : { 'content-type': 'application/json' }, body: payload, signal: AbortSignal.timeout(timeoutMs) });
        status = res.status;
        textBody = await res.text();
      } else {
        ({ status, text: textBody } = await nodeRequest(url, method, payload, timeoutMs));
      }
    } catch (err) {
      throw new WeChatApiError(0, `network error: ${(err as Error).message}`, path);
    }
    try {
      return JSON.parse(textBody) as Record<string, any>;
    } catch {
      throw new WeChatApiError(0, `HTTP ${status}, not JSON`, path);
    }
  }
}
