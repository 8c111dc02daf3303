import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';
import type { ApiClient } from './client.ts';

export interface JsSdkConfig {
  appId: string;
  timestamp: number;
  nonceStr: string;
  signature: string;
}

/** JS-SDK: the jsapi_ticket (shared like the token) and the page signature. */
export class JsSdkApi {
  private readonly key: string;

  constructor(
    private readonly c: ApiClient,
    private readonly kv: Kv,
    private readonly clock: Clock,
  ) {
    this.key = `wechat:${c.appid}:jsapi_ticket`;
  }

  async ticket(): Promise<string> {
    const raw = await this.kv.get(this.key);
    if (raw) {
      const t = JSON.parse(raw) as { ticket: string; expiresAt: number };
      if (t.expiresAt - 180_000 > this.clock.now()) return t.ticket;
    }
    const lock = await tryLock(this.kv, `${this.key}:refresh`, 15_000);
    try {
      const r = await this.c.call<{ ticket: string; expires_in: number }>('/cgi-bin/ticket/getticket', { method: 'GET', query: { type: 'jsapi' } });
      await this.kv.set(this.key, JSON.stringify({ ticket: r.ticket, expiresAt: this.clock.now() + r.expires_in * 1000 }));
      return r.ticket;
    } finally {
      await lock?.release();
    }
  }

  /** The wx.config values for the page at `url` (without its #fragment). */
  async configFor(url: string): Promise<JsSdkConfig> {
    const ticket = await this.ticket();
    const nonceStr = randomBytes(8).toString('hex');
    const timestamp = Math.floor(this.clock.now() / 1000);
    return { appId: this.c.appid, timestamp, nonceStr, signature: jsSdkSignature(ticket, nonceStr, timestamp, url) };
  }
}

/** sha1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys in this order, url without #…). */
export function jsSdkSignature(ticket: string, nonceStr: string, timestamp: number, url: string): string {
  const clean = url.split('#')[0]!;
  return createHash('sha1').update(`jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${clean}`).digest('hex');
}
