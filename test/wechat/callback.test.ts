import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { CitizenWire } from '../../src/emulator/citizen.ts';
import { EmulatedPlatform } from '../../src/emulator/platform.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { MemoryKv, type Kv } from '../../src/platform/kv/index.ts';
import { RedisKv } from '../../src/platform/kv/redis.ts';
import { createLogger } from '../../src/platform/log.ts';
import { wechatCallback, type Attempt, type CallbackConfig, type MessageHandler } from '../../src/wechat/callback.ts';
import { WeChatCrypto } from '../../src/wechat/crypto.ts';
import type { InboundMessage } from '../../src/wechat/messages.ts';
import type { Reply } from '../../src/wechat/replies.ts';
import { sha1Signature } from '../../src/wechat/signature.ts';
import { available, KV_BACKENDS, uniqueName } from '../helpers/backends.ts';
import { serve } from '../helpers/http.ts';

const APPID = 'wx0123456789abcdef';
const TOKEN = 'cbToken';
const AES = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RecordingHandler implements MessageHandler {
  handled: InboundMessage[] = [];
  lateReplies: Reply[] = [];
  passive: Reply[] = [];
  delayMs = 0;
  fail = false;
  errorReply: Reply = { type: 'text', content: '系统繁忙' };
  /** Like the conversation log: a message answered before is answered from its stored reply. */
  async handle(a: Attempt): Promise<Reply | null> {
    const before = this.store.get(a.dedupKey);
    if (before) {
      a.answeredBefore = true;
      return before;
    }
    const m = a.message;
    this.handled.push(m);
    if (this.delayMs) await sleep(this.delayMs);
    if (this.fail) throw new Error('boom');
    if (m.kind === 'text') return { type: 'text', content: `echo:${m.content}` };
    return null;
  }
  async late(_a: Attempt, r: Reply) {
    this.lateReplies.push(r);
  }
  /** Stands in for the durable store; shared by every harness on the same kv, as a database would be. */
  constructor(private readonly store: Map<string, Reply> = new Map()) {}
  async replied(a: Attempt, r: Reply) {
    this.passive.push(r);
    this.store.set(a.dedupKey, r);
  }
}

interface Harness {
  url: string;
  handler: RecordingHandler;
  citizen: CitizenWire;
  platform: EmulatedPlatform;
  clock: FakeClock;
  close(): Promise<void>;
}

const opened: Harness[] = [];
afterEach(async () => {
  for (const h of opened.splice(0)) await h.close();
});

async function harness(config: Partial<CallbackConfig> = {}, kv?: Kv, clock = new FakeClock(Date.UTC(2026, 10, 24, 2)), store?: Map<string, Reply>): Promise<Harness> {
  const handler = new RecordingHandler(store);
  const full: CallbackConfig = {
    token: TOKEN,
    appid: APPID,
    aesKey: AES,
    encoding: 'safe',
    requireEncryption: false,
    maxBodyBytes: 4096,
    replyTimeoutMs: 1500,
    maxClockSkewSeconds: 300,
    dedupTtlSeconds: 600,
    ...config,
  };
  const app = new Koa();
  app.use(wechatCallback({ config: full, kv: kv ?? new MemoryKv(clock), clock, log, handler }));
  const srv = await serve(app);
  const platform = new EmulatedPlatform({ appid: APPID, secret: 'secret123', clock });
  const citizen = new CitizenWire({ callbackUrl: srv.url, originalId: 'gh_test', appid: APPID, token: TOKEN, aesKey: AES, encoding: full.encoding }, platform, clock);
  platform.setSubscribed('o_alice', true);
  const h = { url: srv.url, handler, citizen, platform, clock, close: srv.close };
  opened.push(h);
  return h;
}

function signedQuery(clock: FakeClock, extra: Record<string, string> = {}, token = TOKEN): URLSearchParams {
  const timestamp = String(Math.floor(clock.now() / 1000));
  const nonce = '12345';
  return new URLSearchParams({ timestamp, nonce, signature: sha1Signature(token, timestamp, nonce), ...extra });
}

const textXml = (content: string, msgId = '10001', from = 'o_alice') =>
  `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>1795000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${msgId}</MsgId></xml>`;

describe('URL check (GET)', () => {
  it('echoes echostr only for a valid signature', async () => {
    const h = await harness();
    const ok = await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: 'hello123' })}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('hello123');
    const bad = await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: 'hello123' }, 'wrong')}`);
    expect(bad.status).toBe(403);
    expect(await bad.text()).not.toContain('hello123');
    expect((await fetch(`${h.url}/?${signedQuery(h.clock)}`)).status).toBe(400);
    expect((await fetch(`${h.url}/`)).status).toBe(403);
  });
});

describe('plain, compatible and safe mode', () => {
  it('safe mode: decrypts, answers encrypted and signed, from the ToUserName', async () => {
    const h = await harness();
    const res = await h.citizen.act('o_alice', { type: 'text', content: '你好' });
    expect(res.status).toBe(200);
    expect(res.raw).toContain('<Encrypt>');
    expect(res.raw).not.toContain('echo:');
    expect(res.reply).toEqual({ type: 'text', content: 'echo:你好' });
    const inner = new WeChatCrypto(TOKEN, AES, APPID).decrypt(/<Encrypt><!\[CDATA\[(.*?)\]\]>/.exec(res.raw)![1]!);
    expect(inner).toContain('<FromUserName><![CDATA[gh_test]]></FromUserName>');
    expect(inner).toContain('<ToUserName><![CDATA[o_alice]]></ToUserName>');
    expect(inner).toMatch(/<CreateTime>\d{10}<\/CreateTime>/);
  });

  it('safe mode refuses plain messages', async () => {
    const h = await harness();
    const res = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('hi') });
    expect(res.status).toBe(400);
    expect(h.handler.handled).toHaveLength(0);
  });

  it('plain mode checks the signature too (a forged message gets nothing)', async () => {
    const h = await harness({ encoding: 'plain' });
    const ok = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('进度') });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('echo:进度');
    const forged = await fetch(`${h.url}/?${signedQuery(h.clock, {}, 'guessed')}`, { method: 'POST', body: textXml('进度', '10002') });
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain('echo');
    const unsigned = await fetch(`${h.url}/?timestamp=1&nonce=2`, { method: 'POST', body: textXml('进度', '10003') });
    expect(unsigned.status).toBe(403);
    expect(h.handler.handled).toHaveLength(1);
  });

  it('compatible mode takes both, answering encrypted requests encrypted and plain ones plain', async () => {
    const h = await harness({ encoding: 'compatible' });
    const enc = await h.citizen.act('o_alice', { type: 'text', content: 'a' });
    expect(enc.raw).toContain('<Encrypt>');
    expect(enc.reply).toEqual({ type: 'text', content: 'echo:a' });
    const plain = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('b', '20001') });
    expect(await plain.text()).toContain('<Content><![CDATA[echo:b]]></Content>');
  });

  it('compatible mode with require_encryption refuses plain messages', async () => {
    const h = await harness({ encoding: 'compatible', requireEncryption: true });
    const plain = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('b') });
    expect(plain.status).toBe(400);
    expect((await h.citizen.act('o_alice', { type: 'text', content: 'a' })).reply).toEqual({ type: 'text', content: 'echo:a' });
  });
});

describe('bad input is refused cleanly and handled never', () => {
  async function postSafe(h: Harness, body: string, q: URLSearchParams) {
    return fetch(`${h.url}/?${q}`, { method: 'POST', body });
  }
  function safeQuery(h: Harness, encrypt: string, token = TOKEN) {
    const q = signedQuery(h.clock);
    q.set('encrypt_type', 'aes');
    q.set('msg_signature', sha1Signature(token, q.get('timestamp')!, q.get('nonce')!, encrypt));
    return q;
  }
  const envelope = (enc: string) => `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`;

  it('wrong msg_signature → 403', async () => {
    const h = await harness();
    const enc = new WeChatCrypto(TOKEN, AES, APPID).encrypt(textXml('x'));
    expect((await postSafe(h, envelope(enc), safeQuery(h, enc, 'forged'))).status).toBe(403);
  });

  it('bad Base64 and bad block length → 400', async () => {
    const h = await harness();
    for (const enc of ['%%%notbase64%%%', Buffer.alloc(20, 1).toString('base64'), 'QUJD']) {
      expect((await postSafe(h, envelope(enc), safeQuery(h, enc))).status).toBe(400);
    }
  });

  it('bad padding → 400', async () => {
    const h = await harness();
    const enc = Buffer.alloc(64, 9).toString('base64');
    expect((await postSafe(h, envelope(enc), safeQuery(h, enc))).status).toBe(400);
  });

  it('a message encrypted for another appid → 403', async () => {
    const h = await harness();
    const enc = new WeChatCrypto(TOKEN, AES, 'wxffffffffffffffff').encrypt(textXml('x'));
    expect((await postSafe(h, envelope(enc), safeQuery(h, enc))).status).toBe(403);
  });

  it('malformed XML, DOCTYPE/entities, missing fields → 400 (outer and inner document)', async () => {
    const h = await harness({ encoding: 'compatible' });
    const post = (body: string) => fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body });
    expect((await post('<xml><Content>oops</xml>')).status).toBe(400);
    expect((await post('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>')).status).toBe(400);
    expect((await post('<xml><MsgType>text</MsgType></xml>')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    const inner = new WeChatCrypto(TOKEN, AES, APPID).encrypt('<!DOCTYPE x><xml></xml>');
    expect((await postSafe(h, envelope(inner), safeQuery(h, inner))).status).toBe(400);
  });

  it('bodies over the limit → 413, declared or streamed', async () => {
    const h = await harness({ encoding: 'plain', maxBodyBytes: 2048 });
    const big = textXml('x'.repeat(5000));
    expect((await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: big })).status).toBe(413);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const chunked = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('timestamps far from our clock → 403 (a replayed capture)', async () => {
    const h = await harness({ encoding: 'plain' });
    const q = signedQuery(h.clock);
    h.clock.advance(10 * 60 * 1000);
    expect((await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x') })).status).toBe(403);
  });

  it('unknown message types are handed on as such (to be stored) and answered success', async () => {
    const h = await harness({ encoding: 'plain' });
    const xml = textXml('x').replace('<MsgType><![CDATA[text]]></MsgType>', '<MsgType><![CDATA[hologram]]></MsgType>');
    const res = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: xml });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('success');
    expect(h.handler.handled.map((m) => m.kind)).toEqual(['unknown']);
  });

  // The bytes C3 28 FF: a lead byte with a wrong continuation, then a byte UTF-8 never uses.
  const invalidUtf8 = (xml: string) => {
    const [head, tail] = xml.split('BAD');
    return Buffer.concat([Buffer.from(head!, 'utf8'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(tail!, 'utf8')]);
  };

  it('invalid UTF-8 in an encrypted message → 400, never stored altered (safe mode)', async () => {
    const h = await harness();
    const enc = new WeChatCrypto(TOKEN, AES, APPID).encrypt(invalidUtf8(textXml('请帮我查一下 BAD 这个')));
    const res = await postSafe(h, envelope(enc), safeQuery(h, enc));
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/utf-?8/i);
    expect(h.handler.handled).toHaveLength(0);
    // The same text, well formed, goes through.
    expect((await h.citizen.act('o_alice', { type: 'text', content: '请帮我查一下 这个' })).reply).toEqual({ type: 'text', content: 'echo:请帮我查一下 这个' });
  });

  it('invalid UTF-8 in a plain message → 400 (plain and compatible mode)', async () => {
    for (const encoding of ['plain', 'compatible'] as const) {
      const h = await harness({ encoding });
      const res = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: invalidUtf8(textXml('我的身份证 BAD 号码')) });
      expect(res.status).toBe(400);
      expect(h.handler.handled).toHaveLength(0);
    }
  });

  it('an openid, original id, MsgId or menu key longer than WeChat ever sends → 400', async () => {
    const h = await harness({ encoding: 'plain' });
    const post = (body: string) => fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body });
    expect((await post(textXml('长', '1'.repeat(33)))).status).toBe(400);
    expect((await post(textXml('长', '10001', `o_${'x'.repeat(63)}`))).status).toBe(400);
    expect((await post(textXml('长').replace('gh_test', `gh_${'y'.repeat(62)}`))).status).toBe(400);
    const click = (key: string) =>
      `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_alice]]></FromUserName><CreateTime>1795000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[${key}]]></EventKey></xml>`;
    expect((await post(click('k'.repeat(129)))).status).toBe(400);
    expect(h.handler.handled).toHaveLength(0);
    // At the limits they are taken.
    expect((await post(textXml('长', '1'.repeat(20), `o_${'x'.repeat(62)}`))).status).toBe(200);
    expect((await post(click('k'.repeat(128)))).status).toBe(200);
    expect(h.handler.handled).toHaveLength(2);
  });

  it('other methods → 405; repeated query parameters → 400', async () => {
    const h = await harness({ encoding: 'plain' });
    expect((await fetch(h.url, { method: 'PUT' })).status).toBe(405);
    const q = signedQuery(h.clock);
    q.append('signature', 'x');
    expect((await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x') })).status).toBe(400);
  });
});

describe('replies that take time, fail, or are retried', () => {
  it('a handler error is answered with the error reply, not a crash', async () => {
    const h = await harness();
    h.handler.fail = true;
    const res = await h.citizen.act('o_alice', { type: 'text', content: 'x' });
    expect(res.reply).toEqual({ type: 'text', content: '系统繁忙' });
  });

  it('a slow handler: success within the window, the reply handed over for a customer-service message', async () => {
    const h = await harness({ replyTimeoutMs: 150 });
    h.handler.delayMs = 400;
    const started = Date.now();
    const res = await h.citizen.act('o_alice', { type: 'text', content: 'slow' });
    expect(Date.now() - started).toBeLessThan(380);
    expect(res.reply).toBeNull();
    expect(res.raw).toBe('success');
    await sleep(400);
    expect(h.handler.lateReplies).toEqual([{ type: 'text', content: 'echo:slow' }]);
    expect(h.handler.passive).toEqual([]);
  });

  it('handles the exact retry of a message once and gives it the same reply', async () => {
    const h = await harness({ encoding: 'plain' });
    const q = signedQuery(h.clock);
    const first = await (await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次') })).text();
    const second = await (await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次') })).text();
    expect(second).toBe(first);
    expect(h.handler.handled).toHaveLength(1);
    // the same MsgId from another citizen is another message
    await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次', '10001', 'o_bob') });
    expect(h.handler.handled).toHaveLength(2);
  });
});

for (const backend of KV_BACKENDS) {
  describe.skipIf(!available(backend))(`de-duplication across instances (${backend.label})`, () => {
    it('a retry arriving while the first is still being handled — at another instance — gets the same reply', async () => {
      const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
      const shared: Kv = backend.name === 'redis' ? new RedisKv(backend.url!, `${uniqueName('dedup')}:`) : new MemoryKv(clock);
      try {
        const db = new Map<string, Reply>();
        const a = await harness({ encoding: 'plain' }, shared, clock, db);
        const b = await harness({ encoding: 'plain' }, shared, clock, db);
        a.handler.delayMs = 300;
        b.handler.delayMs = 300;
        const q = signedQuery(clock);
        const [ra, rb] = await Promise.all([
          fetch(`${a.url}/?${q}`, { method: 'POST', body: textXml('并发') }).then((r) => r.text()),
          sleep(50).then(() => fetch(`${b.url}/?${q}`, { method: 'POST', body: textXml('并发') }).then((r) => r.text())),
        ]);
        expect(a.handler.handled.length + b.handler.handled.length).toBe(1);
        expect(ra).toContain('echo:并发');
        expect(rb).toBe(ra);
        // events: two clicks in the same second with different keys are two events
        const click = (key: string) =>
          `<xml><ToUserName>gh_test</ToUserName><FromUserName>o_alice</FromUserName><CreateTime>1795000000</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>${key}</EventKey></xml>`;
        a.handler.delayMs = 0;
        b.handler.delayMs = 0;
        await fetch(`${a.url}/?${q}`, { method: 'POST', body: click('A') });
        await fetch(`${b.url}/?${q}`, { method: 'POST', body: click('B') });
        await fetch(`${b.url}/?${q}`, { method: 'POST', body: click('A') });
        expect([...a.handler.handled, ...b.handler.handled].filter((m) => m.kind === 'click')).toHaveLength(2);
      } finally {
        await shared.close();
      }
    });
  });
}
