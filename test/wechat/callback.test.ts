import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { CitizenWire } from '../../src/emulator/citizen.ts';
import { EmulatedPlatform } from '../../src/emulator/platform.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { MemoryKv, type Kv } from '../../src/platform/kv/index.ts';
import { RedisKv } from '../../src/platform/kv/redis.ts';
import { createLogger, type Logger } from '../../src/platform/log.ts';
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
/** What the operators see: the callback's log lines, parsed. */
type LogLine = { level: number; msg: string } & Record<string, unknown>;
function capturingLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { log: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) } }), lines };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RecordingHandler implements MessageHandler {
  handled: InboundMessage[] = [];
  lateReplies: Reply[] = [];
  passive: Reply[] = [];
  delayMs = 0;
  fail = false;
  errorReply: Reply = { type: 'text', content: '系统繁忙' };
  /** How many times the handler read its record before answering. */
  lookups = 0;
  /** Another attempt's reply, stored while this one was being handled. */
  storedMeanwhile: Reply | null = null;
  /** Like the conversation log: a message answered before is answered from its stored reply. */
  async handle(a: Attempt): Promise<Reply | null> {
    if (!a.firstAttempt) {
      // The shared store cannot vouch for this attempt: the record decides.
      this.lookups++;
      const before = this.store.get(a.dedupKey);
      if (before) {
        a.answeredBefore = true;
        return before;
      }
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
    if (this.storedMeanwhile) this.store.set(a.dedupKey, this.storedMeanwhile);
    // Like the log: the reply stored first stands.
    const first = this.store.get(a.dedupKey);
    if (first) return first;
    this.passive.push(r);
    this.store.set(a.dedupKey, r);
    return r;
  }
}

interface Harness {
  url: string;
  handler: RecordingHandler;
  logs: LogLine[];
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
  app.silent = true;
  const { log, lines } = capturingLog();
  app.use(wechatCallback({ config: full, kv: kv ?? new MemoryKv(clock), clock, log, handler }));
  const srv = await serve(app);
  const platform = new EmulatedPlatform({ appid: APPID, secret: 'secret123', clock });
  const citizen = new CitizenWire({ callbackUrl: srv.url, originalId: 'gh_test', appid: APPID, token: TOKEN, aesKey: AES, encoding: full.encoding }, platform, clock);
  platform.setSubscribed('o_alice', true);
  const h = { url: srv.url, handler, logs: lines, citizen, platform, clock, close: srv.close };
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

  it('refuses an empty echostr, and a URL check that carries only a message signature', async () => {
    const h = await harness();
    const empty = await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: '' })}`);
    expect(empty.status).toBe(400);
    expect(await empty.text()).toBe('missing echostr');
    // encrypt_type=aes with a msg_signature gets past the first gate (a POST is checked on its Encrypt);
    // a URL check has no Encrypt, so its own signature must be right.
    const q = signedQuery(h.clock, { echostr: 'hello123', encrypt_type: 'aes', msg_signature: 'f'.repeat(40) }, 'wrong');
    const res = await fetch(`${h.url}/?${q}`);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('invalid signature');
  });

  it('echoes echostr as plain text, never as a page', async () => {
    const h = await harness();
    const res = await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: '<script>alert(1)</script>' })}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('<script>alert(1)</script>');
  });

  it('answers HEAD like GET; other methods get 405 with the allowed ones', async () => {
    const h = await harness();
    expect((await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: 'hello123' })}`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${h.url}/?${signedQuery(h.clock, { echostr: 'hello123' }, 'wrong')}`, { method: 'HEAD' })).status).toBe(403);
    const put = await fetch(h.url, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
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
    expect(await res.text()).toBe('plain messages are not accepted');
    expect(h.handler.handled).toHaveLength(0);
  });

  it('plain mode checks the signature too (a forged message gets nothing)', async () => {
    const h = await harness({ encoding: 'plain' });
    const ok = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('进度') });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(await ok.text()).toContain('echo:进度');
    const forged = await fetch(`${h.url}/?${signedQuery(h.clock, {}, 'guessed')}`, { method: 'POST', body: textXml('进度', '10002') });
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain('echo');
    const unsigned = await fetch(`${h.url}/?timestamp=1&nonce=2`, { method: 'POST', body: textXml('进度', '10003') });
    expect(unsigned.status).toBe(403);
    expect(h.handler.handled).toHaveLength(1);
    // encrypt_type=raw is the plain mode spelled out.
    const raw = await fetch(`${h.url}/?${signedQuery(h.clock, { encrypt_type: 'raw' })}`, { method: 'POST', body: textXml('进度', '10004') });
    expect(await raw.text()).toContain('echo:进度');
  });

  it('an unsigned request is refused before its body is read or parsed', async () => {
    const h = await harness({ encoding: 'compatible', maxBodyBytes: 64 });
    const q = (extra: Record<string, string>) => new URLSearchParams({ timestamp: String(Math.floor(h.clock.now() / 1000)), nonce: '1', ...extra });
    for (const query of [q({}), q({ signature: 'f'.repeat(40) }), q({ encrypt_type: 'aes' }), q({ msg_signature: 'f'.repeat(40) }), q({ encrypt_type: '', msg_signature: 'f'.repeat(40) }), q({ encrypt_type: 'raw', msg_signature: 'f'.repeat(40) })]) {
      const res = await fetch(`${h.url}/?${query}`, { method: 'POST', body: 'not xml at all, and longer than the sixty-four bytes this account takes' });
      expect(res.status, String(query)).toBe(403);
      expect(await res.text()).toBe('invalid signature');
    }
    expect(h.handler.handled).toHaveLength(0);
  });

  it('an account in plain mode, or without an EncodingAESKey, refuses encrypted messages', async () => {
    for (const config of [{ encoding: 'plain' as const }, { encoding: 'compatible' as const, aesKey: undefined }]) {
      const h = await harness(config);
      const enc = new WeChatCrypto(TOKEN, AES, APPID).encrypt(textXml('x'));
      const q = signedQuery(h.clock, { encrypt_type: 'aes' });
      q.set('msg_signature', sha1Signature(TOKEN, q.get('timestamp')!, q.get('nonce')!, enc));
      const res = await fetch(`${h.url}/?${q}`, { method: 'POST', body: `<xml><ToUserName>gh_test</ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>` });
      expect(res.status, config.encoding).toBe(400);
      expect(await res.text()).toBe('encrypted message but the account is in plain mode');
      expect(h.handler.handled).toHaveLength(0);
    }
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
    const res = await postSafe(h, envelope(enc), safeQuery(h, enc, 'forged'));
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('invalid msg_signature');
  });

  it('an encrypted message is checked on its msg_signature alone (no plain signature needed)', async () => {
    const h = await harness();
    const enc = new WeChatCrypto(TOKEN, AES, APPID).encrypt(textXml('只签了密文'));
    const q = safeQuery(h, enc);
    q.delete('signature');
    const res = await postSafe(h, envelope(enc), q);
    expect(res.status).toBe(200);
    expect(h.handler.handled).toHaveLength(1);
  });

  it('an envelope without Encrypt → 400', async () => {
    const h = await harness();
    const res = await postSafe(h, '<xml><ToUserName><![CDATA[gh_test]]></ToUserName></xml>', safeQuery(h, ''));
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('missing Encrypt');
  });

  it('an unknown encrypt_type → 400', async () => {
    const h = await harness({ encoding: 'plain' });
    const res = await fetch(`${h.url}/?${signedQuery(h.clock, { encrypt_type: 'rsa' })}`, { method: 'POST', body: textXml('x') });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('unsupported encrypt_type');
    expect(h.handler.handled).toHaveLength(0);
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
    const oops = await post('<xml><Content>oops</xml>');
    expect(oops.status).toBe(400);
    expect(await oops.text()).toMatch(/^malformed XML: <\/xml> closes <Content>/);
    expect((await post('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>')).status).toBe(400);
    expect((await post('<xml><MsgType>text</MsgType></xml>')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    const inner = new WeChatCrypto(TOKEN, AES, APPID).encrypt('<!DOCTYPE x><xml></xml>');
    const res = await postSafe(h, envelope(inner), safeQuery(h, inner));
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('inner DOCTYPE and entity declarations are not accepted');
  });

  it('bodies over the limit → 413, declared or streamed', async () => {
    const h = await harness({ encoding: 'plain', maxBodyBytes: 2048 });
    const big = textXml('x'.repeat(5000));
    const declared = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: big });
    expect(declared.status).toBe(413);
    expect(await declared.text()).toBe('payload too large');
    expect(h.logs.filter((l) => l.msg === 'wechat callback refused').at(-1)).toMatchObject({ level: 40, status: 413, reason: 'body over the size limit', method: 'POST' });
    // Exactly at the limit is taken.
    const fits = textXml('x'.repeat(2048 - textXml('').length));
    expect(Buffer.byteLength(fits)).toBe(2048);
    expect((await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: fits })).status).toBe(200);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const chunked = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(h.logs.filter((l) => l.msg === 'wechat callback refused').at(-1)).toMatchObject({ status: 413, reason: 'body over the size limit' });
  });

  it('a body declared over the limit is refused at once, without waiting for it to arrive', async () => {
    const h = await harness({ encoding: 'plain', maxBodyBytes: 2048 });
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', headers: { 'content-length': '5000' } }, (res) => {
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on('error', reject);
      req.write('<xml>'); // the rest never comes
    });
    expect(status).toBe(413);
  });

  it('timestamps far from our clock → 403 (a replayed capture)', async () => {
    const h = await harness({ encoding: 'plain' });
    const q = signedQuery(h.clock);
    h.clock.advance(10 * 60 * 1000);
    const res = await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x') });
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('timestamp outside the accepted window');
  });

  it('the timestamp window: up to max_clock_skew_seconds either way is taken; 0 turns it off', async () => {
    const h = await harness({ encoding: 'plain' });
    const q = signedQuery(h.clock);
    h.clock.advance(300_000);
    expect((await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x', '30001') })).status).toBe(200);
    h.clock.advance(1000);
    expect((await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x', '30002') })).status).toBe(403);
    const off = await harness({ encoding: 'plain', maxClockSkewSeconds: 0 });
    const old = signedQuery(off.clock);
    off.clock.advance(24 * 3600_000);
    expect((await fetch(`${off.url}/?${old}`, { method: 'POST', body: textXml('x') })).status).toBe(200);
  });

  it('unknown message types are handed on as such (to be stored) and answered success', async () => {
    const h = await harness({ encoding: 'plain' });
    const xml = textXml('x').replace('<MsgType><![CDATA[text]]></MsgType>', '<MsgType><![CDATA[hologram]]></MsgType>');
    const res = await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: xml });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('success');
    expect(h.handler.handled.map((m) => m.kind)).toEqual(['unknown']);
    // Logged for the operators, with what it was; ordinary messages are not.
    expect(h.logs.filter((l) => l.msg === 'unknown message type, answered success')).toEqual([expect.objectContaining({ level: 30, msgType: 'hologram' })]);
    await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('x', '10002') });
    expect(h.logs.filter((l) => l.msg === 'unknown message type, answered success')).toHaveLength(1);
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
      expect(await res.text()).toBe('body is not valid UTF-8');
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
    const res = await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('x') });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('repeated query parameter signature');
    expect(h.logs.filter((l) => l.msg === 'wechat callback refused')).toEqual([expect.objectContaining({ level: 40, status: 400, reason: 'repeated query parameter signature', method: 'POST' })]);
  });
});

describe('replies that take time, fail, or are retried', () => {
  it('a handler error is answered with the error reply, not a crash', async () => {
    const h = await harness();
    h.handler.fail = true;
    const res = await h.citizen.act('o_alice', { type: 'text', content: 'x' });
    expect(res.reply).toEqual({ type: 'text', content: '系统繁忙' });
    expect(h.logs.filter((l) => l.msg === 'message handler failed')).toEqual([expect.objectContaining({ level: 50, kind: 'text', err: expect.objectContaining({ message: 'boom' }) })]);
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
    expect(h.logs.filter((l) => l.msg === 'reply not ready in time; answering success and sending it later')).toEqual([expect.objectContaining({ level: 40, kind: 'text', afterMs: 150 })]);
  });

  it('a slow handler with nothing to say sends nothing later', async () => {
    const h = await harness({ replyTimeoutMs: 100, encoding: 'plain' });
    h.handler.delayMs = 200;
    const click = `<xml><ToUserName>gh_test</ToUserName><FromUserName>o_alice</FromUserName><CreateTime>1795000000</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>A</EventKey></xml>`;
    expect(await (await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: click })).text()).toBe('success');
    await sleep(250);
    expect(h.handler.handled).toHaveLength(1);
    expect(h.handler.lateReplies).toEqual([]);
  });

  it('a late reply that cannot be handed over is logged, not lost silently', async () => {
    const h = await harness({ replyTimeoutMs: 100 });
    h.handler.delayMs = 200;
    h.handler.late = async () => {
      throw new Error('customer-service queue down');
    };
    expect((await h.citizen.act('o_alice', { type: 'text', content: 'slow' })).raw).toBe('success');
    await sleep(250);
    expect(h.logs.filter((l) => l.msg === 'late reply could not be handed over')).toEqual([expect.objectContaining({ level: 50, err: expect.objectContaining({ message: 'customer-service queue down' }) })]);
  });

  it('the reply that goes out is the one stored: that of another attempt, when it stored one first', async () => {
    const h = await harness({ encoding: 'plain' });
    h.handler.storedMeanwhile = { type: 'text', content: '先到的答复' };
    const got = await (await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml('同时') })).text();
    expect(got).toContain('先到的答复');
    expect(got).not.toContain('echo:同时');
    expect(h.handler.passive).toHaveLength(0);
  });

  it('the in-process store: once up for longer than dedup_ttl_seconds, a first attempt is answered without reading the record; a retry still reads it', async () => {
    const h = await harness({ encoding: 'plain', dedupTtlSeconds: 30 });
    const post = async (content: string, msgId: string) => (await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: textXml(content, msgId) })).text();
    // Just started: an attempt may be the retry of one answered before a restart.
    await post('刚启动', '30001');
    expect(h.handler.lookups).toBe(1);
    h.clock.advance(30_000);
    const first = await post('你好', '30002');
    expect(h.handler.lookups).toBe(1);
    // WeChat's retry of it (the answer was lost on its way): the record gives the same reply.
    expect(await post('你好', '30002')).toBe(first);
    expect(h.handler.lookups).toBe(2);
    expect(h.handler.handled.filter((m) => m.kind === 'text' && m.content === '你好')).toHaveLength(1);
  });

  it('handles the exact retry of a message once and gives it the same reply', async () => {
    const h = await harness({ encoding: 'plain' });
    const q = signedQuery(h.clock);
    const first = await (await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次') })).text();
    const second = await (await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次') })).text();
    expect(second).toBe(first);
    expect(h.handler.handled).toHaveLength(1);
    // Answered from the stored reply, which is not stored a second time.
    expect(h.handler.passive).toHaveLength(1);
    // the same MsgId from another citizen is another message
    await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('一次', '10001', 'o_bob') });
    expect(h.handler.handled).toHaveLength(2);
  });
});

describe('what the shared store remembers', () => {
  const click = `<xml><ToUserName>gh_test</ToUserName><FromUserName>o_alice</FromUserName><CreateTime>1795000000</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>A</EventKey></xml>`;

  it('a message given no reply is not handled again on a retry within dedup_ttl_seconds, and is after it', async () => {
    const h = await harness({ encoding: 'plain', dedupTtlSeconds: 600 });
    const post = async () => (await fetch(`${h.url}/?${signedQuery(h.clock)}`, { method: 'POST', body: click })).text();
    const started = Date.now();
    expect(await post()).toBe('success');
    expect(await post()).toBe('success');
    // Answered at once from the mark, not after waiting out the reply window.
    expect(Date.now() - started).toBeLessThan(h.handler.delayMs + 1000);
    h.clock.advance(599_000);
    expect(await post()).toBe('success');
    expect(h.handler.handled).toHaveLength(1);
    h.clock.advance(1000);
    expect(await post()).toBe('success');
    expect(h.handler.handled).toHaveLength(2);
  });

  it('a claim left by an instance that died is taken over once the reply window and a second have passed', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 24, 2));
    const shared = new MemoryKv(clock);
    // This instance claims the message, then loses its store (and with it, everything after the claim).
    const dying: Kv = Object.assign(Object.create(shared) as Kv, {
      setIfAbsent: (k: string, v: string, ttl?: number) => shared.setIfAbsent(k, v, ttl),
      set: async () => {
        throw new Error('store gone');
      },
      del: async () => {
        throw new Error('store gone');
      },
    });
    const a = await harness({ encoding: 'plain', replyTimeoutMs: 200, maxClockSkewSeconds: 0 }, dying, clock);
    expect((await fetch(`${a.url}/?${signedQuery(clock)}`, { method: 'POST', body: click })).status).toBe(500);
    const b = await harness({ encoding: 'plain', replyTimeoutMs: 200, maxClockSkewSeconds: 0 }, shared, clock);
    clock.advance(1199);
    // Still claimed: the retry waits out its window and answers success without handling it.
    expect(await (await fetch(`${b.url}/?${signedQuery(clock)}`, { method: 'POST', body: click })).text()).toBe('success');
    expect(b.handler.handled).toHaveLength(0);
    clock.advance(1);
    expect(await (await fetch(`${b.url}/?${signedQuery(clock)}`, { method: 'POST', body: click })).text()).toBe('success');
    expect(b.handler.handled).toHaveLength(1);
  });

  it('a retry while the first attempt outruns the window answers success within its own window', async () => {
    const h = await harness({ encoding: 'plain', replyTimeoutMs: 150 });
    h.handler.delayMs = 600;
    const q = signedQuery(h.clock);
    const first = fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('慢') }).then((r) => r.text());
    await sleep(20);
    const started = Date.now();
    const second = await (await fetch(`${h.url}/?${q}`, { method: 'POST', body: textXml('慢') })).text();
    expect(second).toBe('success');
    expect(Date.now() - started).toBeLessThan(500);
    expect(await first).toBe('success');
    await sleep(650);
    expect(h.handler.handled).toHaveLength(1);
    expect(h.handler.lateReplies).toEqual([{ type: 'text', content: 'echo:慢' }]);
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

        // Answered at one instance, retried at the other: the same reply, from the record. A store
        // shared by instances (Redis) keeps a mark of answered messages, so a first attempt is
        // answered without reading the record and only the retry reads it; the in-process store
        // vouches for nothing (a restart forgets it), so every attempt reads the record.
        a.handler.lookups = 0;
        b.handler.lookups = 0;
        const q2 = signedQuery(clock);
        const once = await (await fetch(`${a.url}/?${q2}`, { method: 'POST', body: textXml('查一下', '20002') })).text();
        const again = await (await fetch(`${b.url}/?${q2}`, { method: 'POST', body: textXml('查一下', '20002') })).text();
        expect(once).toContain('echo:查一下');
        expect(again).toBe(once);
        expect([...a.handler.handled, ...b.handler.handled].filter((m) => m.kind === 'text' && m.content === '查一下')).toHaveLength(1);
        expect([a.handler.lookups, b.handler.lookups]).toEqual(backend.name === 'redis' ? [0, 1] : [1, 1]);
      } finally {
        await shared.close();
      }
    });
  });
}
