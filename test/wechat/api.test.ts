import Koa from 'koa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator/index.ts';
import { FakeClock, HOUR, MINUTE, SECOND } from '../../src/platform/clock.ts';
import { MemoryKv, type Kv } from '../../src/platform/kv/index.ts';
import { RedisKv } from '../../src/platform/kv/redis.ts';
import { createLogger } from '../../src/platform/log.ts';
import { WeChatApi, WeChatApiError } from '../../src/wechat/api/index.ts';
import { jsSdkSignature } from '../../src/wechat/api/jssdk.ts';
import { available, KV_BACKENDS, uniqueName } from '../helpers/backends.ts';
import { serve } from '../helpers/http.ts';

const APPID = 'wx0123456789abcdef';
const SECRET = 'the-app-secret';
const log = createLogger({ level: 'silent' });

interface Rig {
  emulator: Emulator;
  api: (kv?: Kv) => WeChatApi;
  kv: Kv;
  clock: FakeClock;
  close(): Promise<void>;
}

async function rig(kv?: Kv): Promise<Rig> {
  const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
  const emulator = new Emulator({
    account: { callbackUrl: 'http://127.0.0.1:9/unused', originalId: 'gh_x', appid: APPID, token: 'tok', encoding: 'plain' },
    secret: SECRET,
    clock,
    log,
    templates: [{ id: 'TPL_PROGRESS', title: '办理进度通知', fields: ['thing1', 'character_string2', 'time3', 'phrase4'] }],
  });
  const app = new Koa();
  const r = emulator.routes();
  app.use(r.routes());
  const srv = await serve(app);
  const shared = kv ?? new MemoryKv(clock);
  const make = (k?: Kv) =>
    new WeChatApi({ baseUrl: `${srv.url}/emulator`, oauthBaseUrl: `${srv.url}/emulator`, appid: APPID, secret: SECRET, kv: k ?? shared, clock, log });
  return { emulator, api: make, kv: shared, clock, close: srv.close };
}

const tokenCalls = (e: Emulator) => e.platform.calls.filter((c) => c.path.includes('token') && !c.path.includes('oauth')).length;

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(async () => r.close());

describe('access token', () => {
  it('is fetched once and shared by every client on the same store', async () => {
    const a = r.api();
    const b = r.api();
    const tokens = await Promise.all([a.client.accessToken(), b.client.accessToken(), a.client.accessToken(), b.client.accessToken()]);
    expect(new Set(tokens).size).toBe(1);
    expect(tokenCalls(r.emulator)).toBe(1);
    await a.user.info('o_x').catch(() => undefined);
    expect(tokenCalls(r.emulator)).toBe(1);
  });

  it('is refreshed before it expires', async () => {
    const api = r.api();
    const first = await api.client.accessToken();
    r.clock.advance(2 * HOUR - 2 * MINUTE); // inside the refresh margin and stable_token's renewal window
    const second = await api.client.accessToken();
    expect(second).not.toBe(first);
    expect(tokenCalls(r.emulator)).toBe(2);
  });

  it('on 40001 expires the token only if it is still the failed one, refreshes and retries once', async () => {
    const api = r.api();
    r.emulator.platform.citizen('o_x').subscribed = true;
    await api.user.info('o_x');
    r.emulator.platform.revokeAllTokens(); // someone else's /cgi-bin/token call knocked it out
    const info = await api.user.info('o_x');
    expect(info.subscribe).toBe(1);
    expect(r.emulator.platform.calls.filter((c) => c.errcode === 40001)).toHaveLength(1);
    expect(tokenCalls(r.emulator)).toBe(2);
  });

  it('does not retry token errors forever', async () => {
    const api = r.api();
    r.emulator.platform.injectFault('/cgi-bin/user/info', 40001, 5);
    await expect(api.user.info('o_x')).rejects.toMatchObject({ errcode: 40001, kind: 'token_invalid' });
    expect(r.emulator.platform.calls.filter((c) => c.path === '/cgi-bin/user/info')).toHaveLength(2);
  });

  it('backs off and retries when the platform is busy (-1)', async () => {
    const api = r.api();
    r.emulator.platform.citizen('o_x').subscribed = true;
    r.emulator.platform.injectFault('/cgi-bin/user/info', -1, 2);
    const info = await api.user.info('o_x');
    expect(info.openid).toBe('o_x');
    expect(r.emulator.platform.calls.filter((c) => c.path === '/cgi-bin/user/info').map((c) => c.errcode)).toEqual([-1, -1, 0]);
  });

  it('turns error codes into typed errors', async () => {
    const api = r.api();
    const err = await api.user.info('nobody').catch((e) => e);
    expect(err).toBeInstanceOf(WeChatApiError);
    expect(err).toMatchObject({ errcode: 40003, kind: 'invalid_argument' });
    const bad = new WeChatApi({ baseUrl: 'http://127.0.0.1:9/none', oauthBaseUrl: 'x', appid: APPID, secret: SECRET, kv: new MemoryKv(r.clock), clock: r.clock, log });
    await expect(bad.client.accessToken()).rejects.toMatchObject({ kind: 'http' });
  });
});

for (const backend of KV_BACKENDS) {
  describe.skipIf(!available(backend))(`token refresh across instances (${backend.label})`, () => {
    it('many instances starting at once refresh the token once', async () => {
      const kvs: Kv[] = [];
      const prefix = `${uniqueName('tok')}:`;
      const local = await rig(backend.name === 'redis' ? new RedisKv(backend.url!, prefix) : undefined);
      try {
        const clients = Array.from({ length: 6 }, () => {
          const kv = backend.name === 'redis' ? new RedisKv(backend.url!, prefix) : local.kv;
          kvs.push(kv);
          return local.api(kv);
        });
        const tokens = await Promise.all(clients.map((c) => c.client.accessToken()));
        expect(new Set(tokens).size).toBe(1);
        expect(tokenCalls(local.emulator)).toBe(1);
      } finally {
        for (const kv of new Set(kvs)) await kv.close();
        await local.close();
      }
    });
  });
}

describe('customer-service messages follow WeChat rules', () => {
  it('deliver inside the window, 45047 past the quota, 45015 past 48 hours, 43004 after unfollow', async () => {
    const api = r.api();
    const p = r.emulator.platform;
    p.setSubscribed('o_x', true);
    p.interacted('o_x', 'message');
    for (let i = 0; i < 5; i++) await api.custom.send('o_x', { type: 'text', content: `第${i + 1}条` });
    await expect(api.custom.send('o_x', { type: 'text', content: 'six' })).rejects.toMatchObject({ errcode: 45047, kind: 'quota_exceeded' });
    p.interacted('o_x', 'message');
    r.clock.advance(48 * HOUR + SECOND);
    await expect(api.custom.send('o_x', { type: 'text', content: 'late' })).rejects.toMatchObject({ errcode: 45015, kind: 'out_of_window' });
    p.interacted('o_x', 'event'); // a menu click: 3 messages within a minute
    for (let i = 0; i < 3; i++) await api.custom.send('o_x', { type: 'text', content: 'ok' });
    await expect(api.custom.send('o_x', { type: 'text', content: 'x' })).rejects.toMatchObject({ errcode: 45047 });
    p.interacted('o_x', 'event');
    r.clock.advance(61 * SECOND);
    await expect(api.custom.send('o_x', { type: 'text', content: 'x' })).rejects.toMatchObject({ errcode: 45015 });
    p.setSubscribed('o_x', false);
    await expect(api.custom.send('o_x', { type: 'text', content: 'x' })).rejects.toMatchObject({ errcode: 43004, kind: 'user_unsubscribed' });
    expect(p.inbox('o_x').filter((i) => i.channel === 'custom')).toHaveLength(8);
  });

  it('a menu tap after a message adds its own short window; it does not shorten the message\'s 48 hours', async () => {
    const api = r.api();
    const p = r.emulator.platform;
    p.setSubscribed('o_tap', true);
    p.interacted('o_tap', 'message');
    r.clock.advance(HOUR);
    p.interacted('o_tap', 'event');
    r.clock.advance(2 * 60 * SECOND); // the tap's minute is over; the message's 48 hours are not
    for (let i = 0; i < 5; i++) await api.custom.send('o_tap', { type: 'text', content: `第${i + 1}条` });
    await expect(api.custom.send('o_tap', { type: 'text', content: 'six' })).rejects.toMatchObject({ errcode: 45047 });
    p.interacted('o_tap', 'event'); // a fresh tap: its 3 are spent before the message window's (closes first)
    for (let i = 0; i < 3; i++) await api.custom.send('o_tap', { type: 'text', content: 'tap' });
    await expect(api.custom.send('o_tap', { type: 'text', content: 'x' })).rejects.toMatchObject({ errcode: 45047 });
  });

  it('one article per news message (45008 beyond); news and msgmenu reach the phone', async () => {
    const api = r.api();
    const p = r.emulator.platform;
    p.setSubscribed('o_x', true);
    p.interacted('o_x', 'message');
    const article = { title: '办事指南', url: 'https://example.org/g', description: '材料' };
    await expect(
      api.client.call('/cgi-bin/message/custom/send', { body: { touser: 'o_x', msgtype: 'news', news: { articles: [article, article] } } }),
    ).rejects.toMatchObject({ errcode: 45008, kind: 'too_many_articles' });
    await api.custom.send('o_x', { type: 'news', article });
    await api.custom.send('o_x', { type: 'msgmenu', headContent: '请评价', list: [{ id: '5', content: '非常满意' }], tailContent: '谢谢' });
    expect(p.inbox('o_x').map((i) => i.message.type)).toEqual(['news', 'msgmenu']);
  });
});

describe('template messages', () => {
  it('are delivered, de-duplicated by client_msg_id, and refuse values over their limits (47003)', async () => {
    const api = r.api();
    const p = r.emulator.platform;
    p.setSubscribed('o_x', true);
    const data = { thing1: '居住证签注', character_string2: 'WB20261124-0001', time3: '2026-11-24 10:00', phrase4: '已受理' };
    await api.template.send('o_x', { templateId: 'TPL_PROGRESS', data, url: 'https://example.org/case', clientMsgId: 'push-1' });
    await api.template.send('o_x', { templateId: 'TPL_PROGRESS', data, url: 'https://example.org/case', clientMsgId: 'push-1' });
    expect(p.inbox('o_x').filter((i) => i.channel === 'template')).toHaveLength(1);
    await expect(api.template.send('o_x', { templateId: 'TPL_PROGRESS', data: { ...data, thing1: '这是一个超过二十个字符长度限制的事项名称会被拒绝' } })).rejects.toMatchObject({ errcode: 47003 });
    await expect(api.template.send('o_x', { templateId: 'TPL_PROGRESS', data: { ...data, character_string2: '中文编号' } })).rejects.toMatchObject({ errcode: 47003 });
    await expect(api.template.send('o_x', { templateId: 'TPL_PROGRESS', data: { ...data, phrase4: '已经受理完毕' } })).rejects.toMatchObject({ errcode: 47003 });
    await expect(api.template.send('o_x', { templateId: 'NOPE', data })).rejects.toMatchObject({ errcode: 40037 });
    await api.subscribe.bizsend('o_x', { templateId: 'TPL_PROGRESS', data });
    expect(p.inbox('o_x').filter((i) => i.channel === 'subscribe')).toHaveLength(1);
  });
});

describe('menu, QR codes, users, web authorisation, JS-SDK', () => {
  it('menu: created, read back, refused over its limits, deleted', async () => {
    const api = r.api();
    await api.menu.create([{ name: '办事', sub_button: [{ type: 'click', name: '指南', key: 'GUIDES' }] }]);
    expect((await api.menu.get()).menu?.button[0]?.name).toBe('办事');
    const four = Array.from({ length: 4 }, (_, i) => ({ type: 'click', name: `B${i}`, key: `K${i}` }));
    await expect(api.menu.create(four)).rejects.toMatchObject({ errcode: 40016 });
    await expect(api.menu.create([{ type: 'click', name: '这个名字太长了呀', key: 'K' }])).rejects.toMatchObject({ errcode: 40018 });
    const six = Array.from({ length: 6 }, (_, i) => ({ type: 'click', name: `S${i}`, key: `K${i}` }));
    await expect(api.menu.create([{ name: '多', sub_button: six }])).rejects.toMatchObject({ errcode: 40023 });
    await api.menu.delete();
    await expect(api.menu.get()).rejects.toMatchObject({ errcode: 46003 });
  });

  it('QR codes: permanent string scenes are stable; temporary ones expire', async () => {
    const api = r.api();
    const a = await api.qrcode.permanent('hall:changning');
    const b = await api.qrcode.permanent('hall:changning');
    expect(a.ticket).toBe(b.ticket);
    const t = await api.qrcode.temporary('visit:1', 3600);
    expect(t.expireSeconds).toBe(3600);
    expect(r.emulator.platform.qrByTicket(t.ticket)?.scene).toBe('visit:1');
    r.clock.advance(3601 * SECOND);
    expect(r.emulator.platform.qrByTicket(t.ticket)).toBeUndefined();
    await expect(api.qrcode.permanent('x'.repeat(65))).rejects.toThrow(RangeError);
  });

  it('web authorisation: snsapi_base URL, a code is exchanged once for the openid', async () => {
    const api = r.api();
    const url = new URL(api.oauth.authorizeUrl('https://example.org/h5/halls?x=1', 's1'));
    expect(url.searchParams.get('scope')).toBe('snsapi_base');
    expect(url.searchParams.get('redirect_uri')).toBe('https://example.org/h5/halls?x=1');
    expect(url.hash).toBe('#wechat_redirect');
    const code = r.emulator.platform.issueOAuthCode('o_citizen');
    expect(await api.oauth.exchange(code)).toEqual({ openid: 'o_citizen', scope: 'snsapi_base' });
    await expect(api.oauth.exchange(code)).rejects.toMatchObject({ errcode: 40163 });
    await expect(api.oauth.exchange('forged')).rejects.toMatchObject({ errcode: 40029 });
  });

  it('JS-SDK: the signature matches WeChat\'s published example, and the ticket is cached', async () => {
    expect(
      jsSdkSignature('sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg', 'Wm3WZYTPz0wzccnW', 1414587457, 'http://mp.weixin.qq.com?params=value'),
    ).toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
    const api = r.api();
    const c1 = await api.jssdk.configFor('https://example.org/h5/halls#top');
    const c2 = await api.jssdk.configFor('https://example.org/h5/halls');
    expect(c1.appId).toBe(APPID);
    expect(r.emulator.platform.calls.filter((c) => c.path.includes('getticket'))).toHaveLength(1);
    expect(c2.signature).toMatch(/^[0-9a-f]{40}$/);
  });

  it('the token and the ticket are stored in the shape every version reads ({ token }, { ticket })', async () => {
    const api = r.api();
    await r.kv.set(`wechat:${APPID}:access_token`, JSON.stringify({ token: 'TOKEN_OF_AN_OLDER_INSTANCE', expiresAt: r.clock.now() + 3_600_000 }));
    expect(await api.client.accessToken()).toBe('TOKEN_OF_AN_OLDER_INSTANCE');
    await api.jssdk.ticket();
    const ticket = JSON.parse((await r.kv.get(`wechat:${APPID}:jsapi_ticket`))!);
    expect(Object.keys(ticket).sort()).toEqual(['expiresAt', 'ticket']);
  });

  it('JS-SDK: instances that need the ticket at once ask the platform once (getticket has a daily quota)', async () => {
    const instances = Array.from({ length: 6 }, () => r.api());
    const tickets = await Promise.all(instances.map((api) => api.jssdk.ticket()));
    expect(new Set(tickets).size).toBe(1);
    expect(r.emulator.platform.calls.filter((c) => c.path.includes('getticket'))).toHaveLength(1);
  });
});

// ---- the client's wire behaviour, against a recording stand-in for the platform ----------------

interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: unknown;
}

/** A platform that records every request and answers with `answer` (JSON, or a Response, or a throw). */
function recordingPlatform(answer: (req: Sent) => unknown = () => ({ errcode: 0 })) {
  const sent: Sent[] = [];
  let tokens = 0;
  const f = (async (input: string | URL, init: RequestInit = {}) => {
    const req: Sent = { method: String(init.method), url: new URL(String(input)), headers: (init.headers ?? {}) as Record<string, string>, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) };
    sent.push(req);
    if (req.url.pathname.endsWith('/cgi-bin/stable_token')) return new Response(JSON.stringify({ access_token: `T${++tokens}`, expires_in: 7200 }));
    const a = answer(req);
    return a instanceof Response ? a : new Response(JSON.stringify(a));
  }) as typeof fetch;
  return { f, sent, calls: (path: string) => sent.filter((s) => s.url.pathname.endsWith(path)) };
}

function lineLog() {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } }), lines };
}

function wired(p: ReturnType<typeof recordingPlatform>, o: { baseUrl?: string; oauthBaseUrl?: string; kv?: Kv; clock?: FakeClock } = {}) {
  const clock = o.clock ?? new FakeClock(Date.UTC(2026, 10, 24, 2));
  return new WeChatApi({ baseUrl: o.baseUrl ?? 'https://api.example', oauthBaseUrl: o.oauthBaseUrl ?? 'https://open.example', appid: APPID, secret: SECRET, kv: o.kv ?? new MemoryKv(clock), clock, log, fetch: p.f });
}

describe('the API client on the wire', () => {
  it('asks for the token with stable_token, then sends GETs without a body and POSTs as JSON, whatever the base URL\'s trailing slash', async () => {
    for (const baseUrl of ['https://api.example', 'https://api.example/']) {
      const p = recordingPlatform();
      const api = wired(p, { baseUrl });
      await api.client.call('/cgi-bin/menu/get');
      await api.client.call('/cgi-bin/menu/create', { body: { button: [] } });
      const [token, get, post] = p.sent;
      expect(token!.url.href).toBe('https://api.example/cgi-bin/stable_token');
      expect(token).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json' }, body: { grant_type: 'client_credential', appid: APPID, secret: SECRET, force_refresh: false } });
      expect(get!.url.href).toBe('https://api.example/cgi-bin/menu/get?access_token=T1');
      expect(get).toMatchObject({ method: 'GET', headers: {}, body: undefined });
      expect(post!.url.href).toBe('https://api.example/cgi-bin/menu/create?access_token=T1');
      expect(post).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json' }, body: { button: [] } });
    }
  });

  it('keeps the token for its lifetime and logs each refresh', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
    const kv = new MemoryKv(clock);
    const { log: logger, lines } = lineLog();
    const p = recordingPlatform();
    const client = new WeChatApi({ baseUrl: 'https://api.example', oauthBaseUrl: 'x', appid: APPID, secret: SECRET, kv, clock, log: logger, fetch: p.f }).client;
    expect(await client.accessToken()).toBe('T1');
    expect(JSON.parse((await kv.get(`wechat:${APPID}:access_token`))!)).toEqual({ token: 'T1', expiresAt: clock.now() + 7200 * SECOND });
    expect(lines.filter((l) => l.msg === 'access token refreshed')).toEqual([expect.objectContaining({ appid: APPID, expiresIn: 7200 })]);
  });

  it('refuses a token answer without a token or without a lifetime, with the platform\'s code and text', async () => {
    for (const [answer, expected] of [
      [{ errcode: 40125, errmsg: 'invalid appsecret' }, { errcode: 40125, errmsg: 'invalid appsecret', api: 'stable_token' }],
      [{ access_token: 'T', expires_in: 0 }, { errcode: 0, errmsg: 'no access_token in answer', kind: 'http' }],
      [{ expires_in: 7200 }, { errcode: 0, errmsg: 'no access_token in answer' }],
    ] as const) {
      const f = (async () => new Response(JSON.stringify(answer))) as unknown as typeof fetch;
      const api = new WeChatApi({ baseUrl: 'https://api.example', oauthBaseUrl: 'x', appid: APPID, secret: SECRET, kv: new MemoryKv(r.clock), clock: r.clock, log, fetch: f });
      await expect(api.client.accessToken(), JSON.stringify(answer)).rejects.toMatchObject(expected);
    }
  });

  it('an error names the API, its code and text (for the staff\'s job list); a missing text is empty', async () => {
    const api = wired(recordingPlatform((req) => (req.url.pathname.endsWith('send') ? { errcode: 45009 } : { errcode: 48001, errmsg: 'api unauthorized' })));
    const quiet = await api.custom.send('o_x', { type: 'text', content: 'x' }).catch((e: unknown) => e);
    expect(quiet).toMatchObject({ name: 'WeChatApiError', errcode: 45009, errmsg: '', kind: 'rate_limited', message: 'WeChat /cgi-bin/message/custom/send failed: 45009 ' });
    await expect(api.menu.delete()).rejects.toMatchObject({ message: 'WeChat /cgi-bin/menu/delete failed: 48001 api unauthorized', kind: 'forbidden' });
  });

  it('a network failure and an answer that is not JSON are transport errors, worth retrying', async () => {
    const down = wired(recordingPlatform(() => {
      throw new TypeError('fetch failed');
    }));
    const err = await down.user.info('o_x').catch((e: unknown) => e);
    expect(err).toMatchObject({ errcode: 0, kind: 'http', errmsg: 'network error: fetch failed', api: '/cgi-bin/user/info', retryable: true });
    const gateway = wired(recordingPlatform(() => new Response('<html>Bad Gateway</html>', { status: 502 })));
    await expect(gateway.user.info('o_x')).rejects.toMatchObject({ kind: 'http', errmsg: 'HTTP 502, not JSON' });
  });

  it('a busy platform is asked again after each back-off, then the error is given up', async () => {
    const p = recordingPlatform(() => ({ errcode: -1, errmsg: 'system error' }));
    const client = new (await import('../../src/wechat/api/client.ts')).ApiClient({ baseUrl: 'https://api.example', appid: APPID, secret: SECRET, kv: new MemoryKv(r.clock), clock: r.clock, log, fetch: p.f, busyBackoffMs: [40, 40] });
    const started = Date.now();
    await expect(client.call('/cgi-bin/user/info', { query: { openid: 'o_x' } })).rejects.toMatchObject({ kind: 'busy', retryable: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(p.calls('/cgi-bin/user/info')).toHaveLength(3);
  });

  it('on a token error keeps a token another instance has put in meanwhile, and retries with it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
    const kv = new MemoryKv(clock);
    const key = `wechat:${APPID}:access_token`;
    const p = recordingPlatform((req) => {
      if (req.url.searchParams.get('access_token') === 'T1') {
        // Another instance refreshed while this call was on its way.
        void kv.set(key, JSON.stringify({ token: 'OTHER', expiresAt: clock.now() + 7200 * SECOND }));
        return { errcode: 40001, errmsg: 'invalid credential' };
      }
      return { subscribe: 1, openid: 'o_x' };
    });
    const api = wired(p, { kv, clock });
    expect(await api.user.info('o_x')).toMatchObject({ openid: 'o_x' });
    expect(p.calls('/cgi-bin/user/info').map((c) => c.url.searchParams.get('access_token'))).toEqual(['T1', 'OTHER']);
    expect(p.calls('/cgi-bin/stable_token')).toHaveLength(1);
  });

  it('on a token error with no token stored any more, fetches a new one and retries once', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
    const kv = new MemoryKv(clock);
    const p = recordingPlatform((req) => {
      if (req.url.searchParams.get('access_token') === 'T1') {
        void kv.del(`wechat:${APPID}:access_token`);
        return { errcode: 42001, errmsg: 'access_token expired' };
      }
      return { subscribe: 1, openid: 'o_x' };
    });
    expect(await wired(p, { kv, clock }).user.info('o_x')).toMatchObject({ openid: 'o_x' });
    expect(p.calls('/cgi-bin/user/info').map((c) => c.url.searchParams.get('access_token'))).toEqual(['T1', 'T2']);
  });
});

describe('what each API topic sends', () => {
  it('users: the profile in Chinese', async () => {
    const p = recordingPlatform(() => ({ subscribe: 1, openid: 'o_x' }));
    await wired(p).user.info('o_x');
    expect(Object.fromEntries(p.calls('/cgi-bin/user/info')[0]!.url.searchParams)).toEqual({ openid: 'o_x', lang: 'zh_CN', access_token: 'T1' });
  });

  it('web authorisation: the authorise URL in full, and a code exchanged without the access token', async () => {
    const p = recordingPlatform(() => ({ openid: 'o_c', scope: 'snsapi_base', access_token: 'WEB', expires_in: 7200 }));
    const api = wired(p, { oauthBaseUrl: 'https://open.example/' });
    expect(api.oauth.authorizeUrl('https://example.org/h5', 's1')).toBe(
      `https://open.example/connect/oauth2/authorize?appid=${APPID}&redirect_uri=https%3A%2F%2Fexample.org%2Fh5&response_type=code&scope=snsapi_base&state=s1#wechat_redirect`,
    );
    expect(await api.oauth.exchange('CODE')).toEqual({ openid: 'o_c', scope: 'snsapi_base' });
    const [ex] = p.calls('/sns/oauth2/access_token');
    expect(ex!.method).toBe('GET');
    expect(Object.fromEntries(ex!.url.searchParams)).toEqual({ appid: APPID, secret: SECRET, code: 'CODE', grant_type: 'authorization_code' });
    expect(p.calls('/cgi-bin/stable_token')).toHaveLength(0);
  });

  it('JS-SDK: the jsapi ticket is asked for by GET with type=jsapi; the config is stamped in seconds and signed', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2) + 789);
    const p = recordingPlatform(() => ({ errcode: 0, ticket: 'TICKET', expires_in: 7200 }));
    const api = wired(p, { clock });
    const c = await api.jssdk.configFor('https://example.org/h5/halls#top');
    const [get] = p.calls('/cgi-bin/ticket/getticket');
    expect(get!.method).toBe('GET');
    expect(get!.url.searchParams.get('type')).toBe('jsapi');
    expect(c.timestamp).toBe(Math.floor(clock.now() / 1000));
    expect(c.nonceStr).toMatch(/^[0-9a-f]{16}$/);
    expect(c.signature).toBe(jsSdkSignature('TICKET', c.nonceStr, c.timestamp, 'https://example.org/h5/halls'));
  });

  it('QR codes: a scene of 1 to 64 characters; a temporary code lives 60 seconds to 30 days, whole seconds', async () => {
    const p = recordingPlatform((req) => ({ ticket: 'TK', url: 'http://weixin.qq.com/q/x', ...((req.body as { expire_seconds?: number }).expire_seconds ? { expire_seconds: (req.body as { expire_seconds: number }).expire_seconds } : {}) }));
    const api = wired(p);
    // A permanent code has no lifetime at all (not an undefined one).
    expect(await api.qrcode.permanent('x'.repeat(64))).toStrictEqual({ ticket: 'TK', url: 'http://weixin.qq.com/q/x' });
    expect(await api.qrcode.permanent('x')).toStrictEqual({ ticket: 'TK', url: 'http://weixin.qq.com/q/x' });
    expect(p.calls('/cgi-bin/qrcode/create')[0]!.body).toEqual({ action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 'x'.repeat(64) } } });
    expect(await api.qrcode.temporary('v', 3600.7)).toEqual({ ticket: 'TK', url: 'http://weixin.qq.com/q/x', expireSeconds: 3600 });
    expect((await api.qrcode.temporary('v', 10)).expireSeconds).toBe(60);
    expect((await api.qrcode.temporary('x'.repeat(64), 90 * 86_400)).expireSeconds).toBe(2_592_000);
    expect(p.calls('/cgi-bin/qrcode/create')[2]!.body).toEqual({ action_name: 'QR_STR_SCENE', expire_seconds: 3600, action_info: { scene: { scene_str: 'v' } } });
    for (const scene of ['', 'x'.repeat(65)]) {
      await expect(api.qrcode.permanent(scene)).rejects.toThrow(new RangeError('scene_str must be 1–64 characters'));
      await expect(api.qrcode.temporary(scene, 3600)).rejects.toThrow(new RangeError('scene_str must be 1–64 characters'));
    }
    expect(p.calls('/cgi-bin/qrcode/create')).toHaveLength(5);
  });

  it('customer-service messages in WeChat\'s wire shape, optional parts empty', async () => {
    const { customBody } = await import('../../src/wechat/api/custom.ts');
    expect(customBody('o', { type: 'text', content: '您好' })).toEqual({ touser: 'o', msgtype: 'text', text: { content: '您好' } });
    expect(customBody('o', { type: 'image', mediaId: 'M' })).toEqual({ touser: 'o', msgtype: 'image', image: { media_id: 'M' } });
    expect(customBody('o', { type: 'voice', mediaId: 'M' })).toEqual({ touser: 'o', msgtype: 'voice', voice: { media_id: 'M' } });
    expect(customBody('o', { type: 'video', mediaId: 'M' })).toEqual({ touser: 'o', msgtype: 'video', video: { media_id: 'M', thumb_media_id: '', title: '', description: '' } });
    expect(customBody('o', { type: 'video', mediaId: 'M', thumbMediaId: 'TH', title: 'T', description: 'D' })).toEqual({ touser: 'o', msgtype: 'video', video: { media_id: 'M', thumb_media_id: 'TH', title: 'T', description: 'D' } });
    expect(customBody('o', { type: 'music', thumbMediaId: 'TH' })).toEqual({ touser: 'o', msgtype: 'music', music: { title: '', description: '', musicurl: '', hqmusicurl: '', thumb_media_id: 'TH' } });
    expect(customBody('o', { type: 'music', thumbMediaId: 'TH', title: 'T', description: 'D', musicUrl: 'm', hqMusicUrl: 'h' })).toEqual({
      touser: 'o',
      msgtype: 'music',
      music: { title: 'T', description: 'D', musicurl: 'm', hqmusicurl: 'h', thumb_media_id: 'TH' },
    });
    expect(customBody('o', { type: 'news', article: { title: 'T', url: 'u' } })).toEqual({ touser: 'o', msgtype: 'news', news: { articles: [{ title: 'T', description: '', url: 'u', picurl: '' }] } });
    expect(customBody('o', { type: 'news', article: { title: 'T', url: 'u', description: 'D', picUrl: 'p' } })).toEqual({ touser: 'o', msgtype: 'news', news: { articles: [{ title: 'T', description: 'D', url: 'u', picurl: 'p' }] } });
    const list = [{ id: '1', content: '满意' }];
    expect(customBody('o', { type: 'msgmenu', headContent: 'H', list })).toEqual({ touser: 'o', msgtype: 'msgmenu', msgmenu: { head_content: 'H', list, tail_content: '' } });
    expect(customBody('o', { type: 'msgmenu', headContent: 'H', list, tailContent: 'T' })).toEqual({ touser: 'o', msgtype: 'msgmenu', msgmenu: { head_content: 'H', list, tail_content: 'T' } });
  });

  it('the profile\'s menu in wire shape: relative links on the public URL, only what WeChat takes', async () => {
    const { toWireMenu } = await import('../../src/wechat/api/menu.ts');
    const menu = toWireMenu(
      [
        { type: 'click', name: '指南', key: 'GUIDES' },
        {
          name: '办事',
          sub_button: [
            { type: 'view', name: '预约', url: '/h5/bookings' },
            { type: 'view', name: '官网', url: 'https://gov.example/' },
            { type: 'miniprogram', name: '小程序', url: '/h5/fallback', appid: 'wxmini', pagepath: 'pages/index' },
          ],
        },
      ] as never,
      'https://weiban.example/',
    );
    // Strictly: a button carries only the fields of its type (WeChat refuses unknown ones).
    expect(menu).toStrictEqual([
      { type: 'click', name: '指南', key: 'GUIDES' },
      {
        name: '办事',
        sub_button: [
          { type: 'view', name: '预约', url: 'https://weiban.example/h5/bookings' },
          { type: 'view', name: '官网', url: 'https://gov.example/' },
          { type: 'miniprogram', name: '小程序', url: 'https://weiban.example/h5/fallback', appid: 'wxmini', pagepath: 'pages/index' },
        ],
      },
    ]);
  });
});

describe('what an error code means to the caller', () => {
  const KINDS: [number, string][] = [
    [-1, 'busy'],
    [40001, 'token_invalid'],
    [42001, 'token_invalid'],
    [40014, 'token_invalid'],
    [45015, 'out_of_window'],
    [45047, 'quota_exceeded'],
    [43004, 'user_unsubscribed'],
    [40003, 'invalid_argument'],
    [40037, 'invalid_argument'],
    [47001, 'invalid_argument'],
    [47003, 'invalid_argument'],
    [40016, 'invalid_argument'],
    [40017, 'invalid_argument'],
    [40018, 'invalid_argument'],
    [40019, 'invalid_argument'],
    [40023, 'invalid_argument'],
    [40024, 'invalid_argument'],
    [40025, 'invalid_argument'],
    [40026, 'invalid_argument'],
    [40027, 'invalid_argument'],
    [45008, 'too_many_articles'],
    [48001, 'forbidden'],
    [45009, 'rate_limited'],
    [40029, 'oauth_code_invalid'],
    [40163, 'oauth_code_invalid'],
    [0, 'http'],
    [99999, 'other'],
  ];

  it('each documented code has its kind; only a busy platform, a transport failure and a stale token are worth retrying', () => {
    for (const [code, kind] of KINDS) {
      const err = new WeChatApiError(code, 'm', '/x');
      expect(err.kind, String(code)).toBe(kind);
      expect(err.retryable, String(code)).toBe(kind === 'busy' || kind === 'http' || kind === 'token_invalid');
    }
  });

  it('isWeChatError tells platform errors (of a kind) from anything else', async () => {
    const { isWeChatError } = await import('../../src/wechat/api/index.ts');
    const closed = new WeChatApiError(45015, 'out of window', '/x');
    expect(isWeChatError(closed)).toBe(true);
    expect(isWeChatError(closed, 'out_of_window')).toBe(true);
    expect(isWeChatError(closed, 'quota_exceeded')).toBe(false);
    expect(isWeChatError(new Error('out of window'))).toBe(false);
    expect(isWeChatError(new Error('x'), 'out_of_window')).toBe(false);
  });
});

describe('a value shared by every instance (token, ticket)', () => {
  const key = 'wechat:wxtest:shared';
  const setup = () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
    const kv = new MemoryKv(clock);
    let fetched = 0;
    const o = {
      kv,
      key,
      field: 'token',
      clock,
      marginMs: 60_000,
      fetch: async () => ({ value: `NEW${++fetched}`, expiresAt: clock.now() + 7_200_000 }),
      timeout: () => new Error('gave up waiting'),
    };
    return { clock, kv, o, fetched: () => fetched };
  };

  it('is refreshed once its margin is reached, not a moment before', async () => {
    const { clock, kv, o, fetched } = setup();
    await kv.set(key, JSON.stringify({ token: 'OLD', expiresAt: clock.now() + 60_001 }));
    const { sharedValue } = await import('../../src/wechat/api/shared.ts');
    expect(await sharedValue(o)).toBe('OLD');
    clock.advance(1);
    expect(await sharedValue(o)).toBe('NEW1');
    expect(fetched()).toBe(1);
  });

  it('an entry of another shape counts as none', async () => {
    const { clock, kv, o } = setup();
    await kv.set(key, JSON.stringify({ access_token: 'ELSEWHERE', expiresAt: clock.now() + 3_600_000 }));
    const { sharedValue } = await import('../../src/wechat/api/shared.ts');
    expect(await sharedValue(o)).toBe('NEW1');
  });

  it('a valid value is read while another instance holds the refresh lock', async () => {
    const { clock, kv, o } = setup();
    await kv.set(key, JSON.stringify({ token: 'GOOD', expiresAt: clock.now() + 3_600_000 }));
    await kv.setIfAbsent(`lock:${key}:refresh`, 'someone', 60_000);
    const { sharedValue } = await import('../../src/wechat/api/shared.ts');
    const started = Date.now();
    expect(await sharedValue({ ...o, waitMs: 5_000 })).toBe('GOOD');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a value another instance stored while this one waited for the lock is taken, not fetched again', async () => {
    const { clock, kv, o, fetched } = setup();
    let reads = 0;
    const racing = Object.assign(Object.create(kv) as Kv, {
      get: async (k: string) => {
        const v = await kv.get(k);
        // The first read finds nothing; by the time the lock is ours another instance has stored one.
        if (k === key && reads++ === 0) await kv.set(key, JSON.stringify({ token: 'THEIRS', expiresAt: clock.now() + 3_600_000 }));
        return v;
      },
    });
    const { sharedValue } = await import('../../src/wechat/api/shared.ts');
    expect(await sharedValue({ ...o, kv: racing })).toBe('THEIRS');
    expect(fetched()).toBe(0);
  });

  it('waiting on another instance\'s refresh gives up after waitMs: with a value near its end if there is one, else with the timeout error', async () => {
    const { clock, kv, o } = setup();
    await kv.setIfAbsent(`lock:${key}:refresh`, 'someone', 60_000);
    const { sharedValue } = await import('../../src/wechat/api/shared.ts');
    const started = Date.now();
    await expect(sharedValue({ ...o, waitMs: 100 })).rejects.toThrow('gave up waiting');
    expect(Date.now() - started).toBeLessThan(2_000);
    await kv.set(key, JSON.stringify({ token: 'NEAR_ITS_END', expiresAt: clock.now() + 30_000 }));
    expect(await sharedValue({ ...o, waitMs: 100 })).toBe('NEAR_ITS_END');
    await kv.set(key, JSON.stringify({ token: 'EXPIRED', expiresAt: clock.now() }));
    await expect(sharedValue({ ...o, waitMs: 100 })).rejects.toThrow('gave up waiting');
  });
});
