import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import { WeChatApiError } from './errors.ts';
import { sharedValue } from './shared.ts';
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

  /** The jsapi_ticket, fetched by one instance at a time (getticket has a small daily quota). */
  async ticket(): Promise<string> {
    return sharedValue({
      kv: this.kv,
      key: this.key,
      field: 'ticket',
      clock: this.clock,
      marginMs: 180_000,
      fetch: async () => {
        const r = await this.c.call<{ ticket: string; expires_in: number }>('/cgi-bin/ticket/getticket', { method: 'GET', query: { type: 'jsapi' } });
        return { value: r.ticket, expiresAt: this.clock.now() + r.expires_in * 1000 };
      },
      timeout: () => new WeChatApiError(-1, 'timed out waiting for the jsapi_ticket refresh', 'getticket'),
    });
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
