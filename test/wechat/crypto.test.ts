import { createCipheriv } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { WeChatCrypto, WeChatCryptoError } from '../../src/wechat/crypto.ts';
import { sha1Signature, signaturesEqual, verifyMessageSignature, verifyPlainSignature } from '../../src/wechat/signature.ts';
import { parseWeChatXml, text } from '../../src/wechat/xml.ts';

// The examples WeChat publishes with its WXBizMsgCrypt sample code (公众号 message encryption).
const SAMPLE = {
  token: 'spamtest',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appid: 'wx2c2769f8efd9abc2',
  timestamp: '1409735669',
  nonce: '1320562132',
  msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
  encrypt:
    'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
};

// A second published vector with a fixed random prefix, so encryption itself is checked byte for byte.
const FIXED = {
  token: 'pamtest',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appid: 'wxb11529c136998cb6',
  random: 'aaaabbbbccccdddd',
  message: '我是中文abcd123',
  encrypted: 'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==',
};

describe('signatures', () => {
  it('verifies the published msg_signature example', () => {
    expect(sha1Signature(SAMPLE.token, SAMPLE.timestamp, SAMPLE.nonce, SAMPLE.encrypt)).toBe(SAMPLE.msgSignature);
    expect(verifyMessageSignature(SAMPLE.token, { msg_signature: SAMPLE.msgSignature, timestamp: SAMPLE.timestamp, nonce: SAMPLE.nonce }, SAMPLE.encrypt)).toBe(true);
  });

  it('refuses a signature that differs in one character, or is missing', () => {
    const bad = SAMPLE.msgSignature.slice(0, -1) + '0';
    expect(verifyMessageSignature(SAMPLE.token, { msg_signature: bad, timestamp: SAMPLE.timestamp, nonce: SAMPLE.nonce }, SAMPLE.encrypt)).toBe(false);
    expect(verifyMessageSignature(SAMPLE.token, { timestamp: SAMPLE.timestamp, nonce: SAMPLE.nonce }, SAMPLE.encrypt)).toBe(false);
    expect(verifyPlainSignature('t', { timestamp: '1', nonce: '2' })).toBe(false);
  });

  it('plain signature sorts token, timestamp and nonce as strings', () => {
    const sig = sha1Signature('token', '1409304348', 'xxxxxx');
    expect(verifyPlainSignature('token', { signature: sig, timestamp: '1409304348', nonce: 'xxxxxx' })).toBe(true);
    expect(verifyPlainSignature('token', { signature: sig, timestamp: '1409304349', nonce: 'xxxxxx' })).toBe(false);
    // sorting is lexicographic, not numeric
    expect(sha1Signature('b', 'a', '10', '9')).toBe(sha1Signature('10', '9', 'a', 'b'));
  });

  it('refuses a request without a timestamp or a nonce, even one signed as if it were empty (no replay window to check)', () => {
    const token = 'token';
    // sha1Signature joins the sorted parts: a missing part signs like an empty one.
    const q = (timestamp?: string, nonce?: string) => ({ timestamp, nonce, signature: sha1Signature(token, timestamp ?? '', nonce ?? ''), msg_signature: sha1Signature(token, timestamp ?? '', nonce ?? '', 'E') });
    for (const [timestamp, nonce] of [[undefined, 'n0nce'], ['1409304348', undefined], [undefined, undefined]] as const) {
      expect(verifyPlainSignature(token, q(timestamp, nonce)), `${timestamp} ${nonce}`).toBe(false);
      expect(verifyMessageSignature(token, q(timestamp, nonce), 'E'), `${timestamp} ${nonce}`).toBe(false);
    }
    expect(verifyPlainSignature(token, q('1409304348', 'n0nce'))).toBe(true);
    expect(verifyMessageSignature(token, q('1409304348', 'n0nce'), 'E')).toBe(true);
  });

  it('compares case-insensitively and tolerates length mismatch without throwing', () => {
    const sig = sha1Signature('a', 'b', 'c');
    expect(signaturesEqual(sig, sig.toUpperCase())).toBe(true);
    expect(signaturesEqual(sig, sig + '00')).toBe(false);
    expect(signaturesEqual(sig, undefined)).toBe(false);
  });
});

describe('WXBizMsgCrypt', () => {
  it('decrypts the published example and finds a text message from the expected account', async () => {
    const c = new WeChatCrypto(SAMPLE.token, SAMPLE.aesKey, SAMPLE.appid);
    const xml = c.decrypt(SAMPLE.encrypt);
    const doc = await parseWeChatXml(xml);
    expect(text(doc, 'MsgType')).toBe('text');
    expect(text(doc, 'ToUserName')).toMatch(/^gh_/);
    expect(text(doc, 'Content').length).toBeGreaterThan(0);
  });

  it('reproduces the published ciphertext for a fixed random prefix', () => {
    const c = new WeChatCrypto(FIXED.token, FIXED.aesKey, FIXED.appid);
    expect(c.encrypt(FIXED.message, Buffer.from(FIXED.random))).toBe(FIXED.encrypted);
    expect(c.decrypt(FIXED.encrypted)).toBe(FIXED.message);
  });

  it('round-trips Chinese text of every padding length (1..32 bytes)', () => {
    const c = new WeChatCrypto('tok', FIXED.aesKey, 'wx1234567890abcdef');
    for (let n = 0; n < 40; n++) {
      const msg = '办'.repeat(n % 7) + 'x'.repeat(n);
      expect(c.decrypt(c.encrypt(msg))).toBe(msg);
    }
  });

  it('checks the appid after decrypting', () => {
    const sender = new WeChatCrypto('tok', FIXED.aesKey, 'wxaaaaaaaaaaaaaaaa');
    const receiver = new WeChatCrypto('tok', FIXED.aesKey, 'wxbbbbbbbbbbbbbbbb');
    const enc = sender.encrypt('<xml></xml>');
    expect(() => receiver.decrypt(enc)).toThrowError(expect.objectContaining({ reason: 'bad-appid' }));
  });

  /** AES-256-CBC over exactly these bytes (already padded or not), with the account's key and IV, as a sender could. */
  const raw = (plain: Buffer, aesKey = FIXED.aesKey) => {
    const key = Buffer.from(aesKey + '=', 'base64');
    const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
  };
  /** 16 random bytes | length | message | appid — the plaintext before padding. */
  const body = (message: string, appid = FIXED.appid, declared?: number) => {
    const m = Buffer.from(message);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(declared ?? m.length);
    return Buffer.concat([Buffer.alloc(16, 0x61), len, m, Buffer.from(appid)]);
  };
  const padTo32 = (b: Buffer, byte?: number) => {
    const n = 32 - (b.length % 32);
    return Buffer.concat([b, Buffer.alloc(n, byte ?? n)]);
  };
  const reason = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(WeChatCryptoError);
      // Every refusal also says why in words, for the log.
      expect((e as Error).message).not.toBe('');
      return (e as WeChatCryptoError).reason;
    }
    return 'no error';
  };
  // Made inside each test (not while the file is collected), so a fault in the constructor fails tests.
  let c: WeChatCrypto;
  beforeEach(() => {
    c = new WeChatCrypto('tok', FIXED.aesKey, FIXED.appid);
  });

  it('refuses bad Base64 and bad lengths with their reason', () => {
    expect(reason(() => c.decrypt('not base64!!'))).toBe('bad-base64');
    expect(reason(() => c.decrypt(''))).toBe('bad-base64');
    expect(reason(() => c.decrypt('abc'))).toBe('bad-base64');
    expect(reason(() => c.decrypt('QUJD=A=='))).toBe('bad-base64');
    expect(reason(() => c.decrypt(Buffer.alloc(15).toString('base64')))).toBe('bad-length');
    expect(reason(() => c.decrypt(Buffer.alloc(40).toString('base64')))).toBe('bad-length');
  });

  it('takes PKCS#7 padding of 1 to 32 bytes, to a 32-byte block', () => {
    // appid is 18 bytes: a body of L bytes holds a message of L - 38. 63 pads with one 0x01; 64 with a
    // whole block of 32 × 0x20; 38 (an empty message) with 26.
    for (const total of [63, 64, 38, 70]) {
      const message = 'x'.repeat(total - 38);
      const padded = padTo32(body(message));
      expect(padded.length % 32).toBe(0);
      expect(c.decrypt(raw(padded)), String(total)).toBe(message);
    }
    // Padding to a 16-byte AES boundary (40 + 8 × 0x08) is read as written, as WeChat's own code does.
    expect(c.decrypt(raw(Buffer.concat([body('xx'), Buffer.alloc(8, 8)])))).toBe('xx');
  });

  it('refuses padding above 32 even when every padding byte agrees, a padding byte of 0, and padding whose bytes differ', () => {
    const b = body('hello');
    for (const pad of [33, 48, 64, 255]) {
      let k = pad;
      while ((b.length + k) % 16 !== 0) k++;
      expect(reason(() => c.decrypt(raw(Buffer.concat([b, Buffer.alloc(k, pad)])))), `pad ${pad}`).toBe('bad-padding');
    }
    expect(reason(() => c.decrypt(raw(padTo32(b, 0))))).toBe('bad-padding');
    // The last byte says n, but the one before it is n - 1.
    const uneven = padTo32(b);
    const n = uneven[uneven.length - 1]!;
    expect(n).toBeGreaterThan(2);
    uneven[uneven.length - 2] = n - 1;
    expect(reason(() => c.decrypt(raw(uneven)))).toBe('bad-padding');
    // Only the first padding byte is wrong.
    const first = padTo32(b);
    first[first.length - n] = 0x20;
    expect(reason(() => c.decrypt(raw(first)))).toBe('bad-padding');
    // A padding longer than everything decrypted.
    expect(reason(() => c.decrypt(raw(Buffer.alloc(16, 17))))).toBe('bad-padding');
    // Padding and nothing else is well padded, but holds no message.
    expect(reason(() => c.decrypt(raw(Buffer.alloc(16, 16))))).toBe('bad-message');
    expect(c.decrypt(raw(Buffer.concat([body('ok'), Buffer.alloc(32 - ((40) % 32), 32 - (40 % 32))])))).toBe('ok');
  });

  it('refuses a decrypted message too short to hold its header, or whose length runs past the data', () => {
    expect(reason(() => c.decrypt(raw(padTo32(Buffer.alloc(19, 0x61)))))).toBe('bad-message');
    expect(reason(() => c.decrypt(raw(padTo32(body('hello', FIXED.appid, 1000)))))).toBe('bad-message');
    expect(reason(() => c.decrypt(raw(padTo32(body('hello', '', 5 + FIXED.appid.length + 1)))))).toBe('bad-message');
    // Exactly 20 bytes and a zero length: an empty message for no appid — the appid check refuses it.
    expect(reason(() => c.decrypt(raw(padTo32(body('', '')))))).toBe('bad-appid');
    expect(reason(() => c.decrypt(raw(padTo32(body('hello', `${FIXED.appid}x`)))))).toBe('bad-appid');
  });

  it('refuses a malformed EncodingAESKey, even one Base64 would decode to 32 bytes', () => {
    const good = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    // URL-safe digits, a stray space or character around a pasted key: not what the platform issues.
    for (const key of ['short', good.slice(0, 42) + '-', good.slice(0, 42) + '_', ` ${good}`, `${good} `, `!${good}`, `${good}!`]) {
      expect(reason(() => new WeChatCrypto('t', key, 'wx1')), JSON.stringify(key)).toBe('bad-key');
    }
    expect(() => new WeChatCrypto('t', good, 'wx1')).not.toThrow();
  });

  it('refuses a message whose text is not valid UTF-8 rather than altering it', () => {
    const bytes = Buffer.concat([Buffer.from('<xml><Content>身份证 '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('</Content></xml>')]);
    expect(reason(() => c.decrypt(c.encrypt(bytes)))).toBe('bad-utf8');
    expect(c.decrypt(c.encrypt(Buffer.from('<xml><Content>身份证</Content></xml>')))).toBe('<xml><Content>身份证</Content></xml>');
  });

  it('wraps a reply in a signed envelope the other side can verify', async () => {
    const c = new WeChatCrypto(SAMPLE.token, SAMPLE.aesKey, SAMPLE.appid);
    const env = await parseWeChatXml(c.wrapReply('<xml><Content><![CDATA[hi]]></Content></xml>', '1409735669', 'n0nce'));
    const enc = text(env, 'Encrypt');
    expect(text(env, 'MsgSignature')).toBe(sha1Signature(SAMPLE.token, '1409735669', 'n0nce', enc));
    expect(text(env, 'TimeStamp')).toBe('1409735669');
    expect(c.decrypt(enc)).toContain('hi');
  });
});
