import { describe, expect, it } from 'vitest';
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

  it('refuses bad Base64, bad lengths and bad padding with a reason', () => {
    const c = new WeChatCrypto('tok', FIXED.aesKey, FIXED.appid);
    const reason = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(WeChatCryptoError);
        return (e as WeChatCryptoError).reason;
      }
      return 'no error';
    };
    expect(reason(() => c.decrypt('not base64!!'))).toBe('bad-base64');
    expect(reason(() => c.decrypt(''))).toBe('bad-base64');
    expect(reason(() => c.decrypt('abc'))).toBe('bad-base64');
    expect(reason(() => c.decrypt(Buffer.alloc(15).toString('base64')))).toBe('bad-length');
    // A valid block sequence whose padding byte is out of range: flip the last ciphertext byte.
    const enc = Buffer.from(c.encrypt('hello'), 'base64');
    enc.writeUInt8(enc.readUInt8(enc.length - 1) ^ 0xff, enc.length - 1);
    expect(['bad-padding', 'bad-message', 'bad-appid']).toContain(reason(() => c.decrypt(enc.toString('base64'))));
    // Random blocks: almost surely bad padding
    expect(['bad-padding', 'bad-message', 'bad-appid']).toContain(reason(() => c.decrypt(Buffer.alloc(64, 7).toString('base64'))));
  });

  it('refuses a malformed EncodingAESKey', () => {
    expect(() => new WeChatCrypto('t', 'short', 'wx1')).toThrow(WeChatCryptoError);
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
