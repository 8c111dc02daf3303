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
