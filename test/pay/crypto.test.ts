import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { DEMO_MERCHANT } from '../../src/pay/config.ts';
import {
  AUTH_SCHEMA,
  decryptResource,
  encryptResource,
  loadPrivateKey,
  loadPublicKey,
  nonce,
  parseAuthorization,
  paySignMessage,
  PayCryptoError,
  requestMessage,
  responseMessage,
  rsaSign,
  rsaVerify,
  safeEqual,
  SIGNATURE_WINDOW_S,
  signedHeadersOf,
  verifySigned,
} from '../../src/pay/crypto.ts';

/**
 * WeChat Pay v3's cryptography on its own (no app): what is signed, what verifies, what a forged
 * or changed notification gets, and the resource decryption's limits. The end-to-end checks are in
 * notify.test.ts and platform.test.ts.
 */

const KEY = DEMO_MERCHANT.apiV3Key;
const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
const other = generateKeyPairSync('rsa', { modulusLength: 1024 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ format: 'pem', type }) as string;

function cryptoError(f: () => unknown): PayCryptoError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(PayCryptoError);
    expect((err as Error).name).toBe('PayCryptoError');
    return err as PayCryptoError;
  }
  throw new Error('expected a PayCryptoError');
}

describe('the signed strings', () => {
  it('a request: METHOD (upper case), path and query, timestamp, nonce and body, each followed by a newline', () => {
    expect(requestMessage('post', '/v3/pay/transactions/jsapi?x=1', '1763863200', 'N1', '{"a":1}')).toBe('POST\n/v3/pay/transactions/jsapi?x=1\n1763863200\nN1\n{"a":1}\n');
    expect(requestMessage('GET', '/v3/certificates', '1', 'N', '')).toBe('GET\n/v3/certificates\n1\nN\n\n');
  });

  it('a response or notification: timestamp, nonce and the raw body; the JSAPI paySign: appId, timeStamp, nonceStr, package', () => {
    expect(responseMessage('1763863200', 'N2', '{"b":2}')).toBe('1763863200\nN2\n{"b":2}\n');
    expect(paySignMessage('wx1', '1763863200', 'N3', 'prepay_id=wx2')).toBe('wx1\n1763863200\nN3\nprepay_id=wx2\n');
  });
});

describe('RSA-SHA256', () => {
  // Computed inside each test: a failure here must fail a test, not the file's collection.
  let message = '';
  let signature = '';
  beforeEach(() => {
    message = responseMessage('1763863200', 'N', '{"amount":4000}');
    signature = rsaSign(message, pair.privateKey);
  });

  it('verifies its own signature with the public key, as a KeyObject or PEM, and nothing else', () => {
    expect(signature).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(rsaVerify(message, signature, pair.publicKey)).toBe(true);
    expect(rsaVerify(message, signature, pem(pair.publicKey, 'spki'))).toBe(true);
    expect(rsaSign(message, pem(pair.privateKey, 'pkcs8'))).toBe(signature);
    expect(rsaVerify(message.replace('4000', '4001'), signature, pair.publicKey)).toBe(false);
    expect(rsaVerify(message, signature, other.publicKey)).toBe(false);
  });

  it('refuses a signature with anything around the base64 (which the decoder would skip), and an oversized one, without throwing', () => {
    expect(rsaVerify(message, `${signature}!`, pair.publicKey)).toBe(false);
    expect(rsaVerify(message, `!${signature}`, pair.publicKey)).toBe(false);
    expect(rsaVerify(message, `${signature} `, pair.publicKey)).toBe(false);
    expect(rsaVerify(message, `${signature}=`.replace(/=*$/, '==='), pair.publicKey)).toBe(false);
    expect(rsaVerify(message, '', pair.publicKey)).toBe(false);
    expect(rsaVerify(message, 'A'.repeat(1025), pair.publicKey)).toBe(false);
  });

  it("a 2048-bit key's signature, with its two padding characters, verifies", () => {
    const key = loadPrivateKey(DEMO_MERCHANT.privateKeyPem());
    const sig = rsaSign('中文 message', key);
    expect(sig).toMatch(/[^=]==$/);
    expect(rsaVerify('中文 message', sig, createPublicKey(key))).toBe(true);
    expect(rsaVerify('中文 messagf', sig, createPublicKey(key))).toBe(false);
  });

  it('a key that cannot verify is a failed check, not an exception', () => {
    expect(rsaVerify(message, signature, 'not a key')).toBe(false);
  });
});

describe('nonce', () => {
  it('is 16 random bytes in upper-case hex by default, or as many as asked', () => {
    const a = nonce();
    expect(a).toMatch(/^[0-9A-F]{32}$/);
    expect(nonce()).not.toBe(a);
    expect(nonce(4)).toMatch(/^[0-9A-F]{8}$/);
  });
});

describe('the Authorization header', () => {
  const fields = 'mchid="1900000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="c2lnbmF0dXJl",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"';

  it('reads the five fields, in any order', () => {
    expect(AUTH_SCHEMA).toBe('WECHATPAY2-SHA256-RSA2048');
    expect(parseAuthorization(`WECHATPAY2-SHA256-RSA2048 ${fields}`)?.serial_no).toBe('1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C');
    expect(parseAuthorization(`${AUTH_SCHEMA} ${fields}`)).toEqual({ mchid: '1900000109', nonce_str: '593BEC0C930BF1AFEB40B4A08C8FB242', signature: 'c2lnbmF0dXJl', timestamp: '1554208460', serial_no: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C' });
    const reordered = `${AUTH_SCHEMA} serial_no="S1",timestamp="1",signature="x",nonce_str="n",mchid="m"`;
    expect(parseAuthorization(reordered)).toEqual({ mchid: 'm', nonce_str: 'n', signature: 'x', timestamp: '1', serial_no: 'S1' });
  });

  it('nothing for a missing header, another scheme, no space after the scheme, a missing or empty field', () => {
    expect(parseAuthorization(undefined)).toBeNull();
    expect(parseAuthorization('')).toBeNull();
    expect(parseAuthorization(`WECHATPAY2-SHA256-RSA4096 ${fields}`)).toBeNull();
    expect(parseAuthorization(`${AUTH_SCHEMA}${fields}`)).toBeNull();
    expect(parseAuthorization(`x${AUTH_SCHEMA} ${fields}`)).toBeNull();
    for (const name of ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no']) {
      expect(parseAuthorization(`${AUTH_SCHEMA} ${fields.replace(new RegExp(`(^|,)${name}="[^"]*"`), '')}`), name).toBeNull();
      expect(parseAuthorization(`${AUTH_SCHEMA} ${fields.replace(new RegExp(`(^|,)${name}="[^"]*"`), `$1${name}=""`)}`), name).toBeNull();
    }
  });

  it('at most 2048 characters', () => {
    const at = (n: number) => {
      const base = `${AUTH_SCHEMA} ${fields},pad=""`;
      return `${base.slice(0, -1)}${'p'.repeat(n - base.length)}"`;
    };
    expect(at(2048)).toHaveLength(2048);
    expect(parseAuthorization(at(2048))?.mchid).toBe('1900000109');
    expect(parseAuthorization(at(2049))).toBeNull();
  });
});

describe('AEAD_AES_256_GCM resources', () => {
  it('round trip, with the tag appended; the nonce is 12 random characters by default', () => {
    const r = encryptResource('{"out_trade_no":"JF1"}', KEY, 'transaction');
    expect(r.algorithm).toBe('AEAD_AES_256_GCM');
    expect(r.associated_data).toBe('transaction');
    expect(r.nonce).toMatch(/^[0-9a-f]{12}$/);
    expect(encryptResource('x', KEY, 'transaction').nonce).not.toBe(r.nonce);
    expect(Buffer.from(r.ciphertext, 'base64')).toHaveLength('{"out_trade_no":"JF1"}'.length + 16);
    expect(decryptResource(r, KEY)).toBe('{"out_trade_no":"JF1"}');
  });

  it('a resource without associated data decrypts as one with empty associated data', () => {
    const { associated_data: _a, ...r } = encryptResource('{"a":1}', KEY, '', 'n0');
    expect(decryptResource(r, KEY)).toBe('{"a":1}');
    expect(cryptoError(() => decryptResource({ ...r, associated_data: 'transaction' }, KEY)).reason).toBe('bad_tag');
  });

  it('one byte of plaintext is enough; the tag alone (16 bytes) or less is refused', () => {
    expect(decryptResource(encryptResource('1', KEY, 'a', 'n1'), KEY)).toBe('1');
    const bare = encryptResource('', KEY, 'a', 'n1');
    expect(Buffer.from(bare.ciphertext, 'base64')).toHaveLength(16);
    const e = cryptoError(() => decryptResource(bare, KEY));
    expect(e.reason).toBe('bad_tag');
    expect(e.message).toMatch(/too short/);
    expect(cryptoError(() => decryptResource({ ...bare, ciphertext: undefined as unknown as string }, KEY)).message).toMatch(/too short/);
  });

  it('the nonce: 1 to 64 characters, a string', () => {
    const r64 = encryptResource('{"a":1}', KEY, 'a', 'n'.repeat(64));
    expect(decryptResource(r64, KEY)).toBe('{"a":1}');
    const r1 = encryptResource('{"a":1}', KEY, 'a', 'n');
    expect(decryptResource(r1, KEY)).toBe('{"a":1}');
    const r65 = encryptResource('{"a":1}', KEY, 'a', 'n'.repeat(65));
    expect(cryptoError(() => decryptResource(r65, KEY)).message).toMatch(/nonce/);
    expect(cryptoError(() => decryptResource({ ...r1, nonce: '' }, KEY)).message).toMatch(/nonce/);
    expect(cryptoError(() => decryptResource({ ...r1, nonce: 7 as unknown as string }, KEY)).message).toMatch(/nonce/);
  });

  it('another algorithm is refused by name (cut short)', () => {
    const r = encryptResource('{"a":1}', KEY, 'a');
    const e = cryptoError(() => decryptResource({ ...r, algorithm: 'AEAD_CHACHA20' }, KEY));
    expect(e.reason).toBe('bad_algorithm');
    expect(e.message).toBe('unknown algorithm AEAD_CHACHA20');
    expect(cryptoError(() => decryptResource({ ...r, algorithm: 'X'.repeat(100) }, KEY)).message).toBe(`unknown algorithm ${'X'.repeat(40)}`);
  });

  it('a changed tag, ciphertext, nonce or key: bad_tag, never the plaintext', () => {
    const r = encryptResource('{"amount":{"total":4000}}', KEY, 'transaction', 'abcdef123456');
    const ct = Buffer.from(r.ciphertext, 'base64');
    const lastByte = Buffer.from(ct);
    lastByte[lastByte.length - 1] = lastByte[lastByte.length - 1]! ^ 0x01;
    const e = cryptoError(() => decryptResource({ ...r, ciphertext: lastByte.toString('base64') }, KEY));
    expect(e.reason).toBe('bad_tag');
    expect(e.message).toMatch(/authentication tag/);
    const firstByte = Buffer.from(ct);
    firstByte[0] = firstByte[0]! ^ 0x01;
    expect(cryptoError(() => decryptResource({ ...r, ciphertext: firstByte.toString('base64') }, KEY)).reason).toBe('bad_tag');
    expect(cryptoError(() => decryptResource(r, 'weibanEmulatorDemoApiV3Key000002')).reason).toBe('bad_tag');
  });

  it('the APIv3 key is 32 bytes, no more, no less', () => {
    const r = encryptResource('{"a":1}', KEY, 'a');
    for (const k of [KEY.slice(1), `${KEY}x`]) {
      const e = cryptoError(() => decryptResource(r, k));
      expect(e.reason).toBe('bad_key');
      expect(e.message).toMatch(/32 bytes/);
      expect(cryptoError(() => encryptResource('x', k, 'a')).reason).toBe('bad_key');
    }
  });
});

describe('safeEqual', () => {
  it('equal strings only; a different length is false, not an exception', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('keys', () => {
  it('an RSA private key that signs is loaded; an EC key is refused by type', () => {
    const k = loadPrivateKey(pem(pair.privateKey, 'pkcs8'));
    expect(rsaVerify('m', rsaSign('m', k), pair.publicKey)).toBe(true);
    expect(() => loadPrivateKey(pem(ec.privateKey, 'pkcs8'))).toThrow('expected an RSA private key, got ec');
    expect(() => loadPrivateKey('not a pem')).toThrow();
  });

  it('an RSA public key is loaded; an EC key is refused by type', () => {
    expect(loadPublicKey(pem(pair.publicKey, 'spki')).asymmetricKeyType).toBe('rsa');
    expect(() => loadPublicKey(pem(ec.publicKey, 'spki'))).toThrow('expected an RSA public key, got ec');
  });
});

describe('verifySigned (what WeChat Pay signed)', () => {
  const NOW = Date.UTC(2026, 10, 23, 2, 0, 0);
  const ts = String(NOW / 1000);
  const raw = '{"id":"EV-1","resource":{}}';
  const keyFor = (serial: string) => (serial === 'PUB_KEY_ID_1' ? pair.publicKey : null);
  const signed = (timestamp = ts, body = raw) => ({ timestamp, nonce: 'N1', signature: rsaSign(responseMessage(timestamp, 'N1', body), pair.privateKey), serial: 'PUB_KEY_ID_1' });

  it('holds for the raw body signed with the key of the serial named', () => {
    expect(verifySigned(signed(), raw, keyFor, NOW)).toBeNull();
  });

  it('every header is needed', () => {
    for (const h of ['timestamp', 'nonce', 'signature', 'serial'] as const) {
      expect(verifySigned({ ...signed(), [h]: undefined }, raw, keyFor, NOW), h).toBe('missing_headers');
      expect(verifySigned({ ...signed(), [h]: '' }, raw, keyFor, NOW), h).toBe('missing_headers');
    }
  });

  it('the sign-test probe is refused as such, even before its timestamp is looked at', () => {
    const s = signed();
    expect(verifySigned({ ...s, signature: `WECHATPAY/SIGNTEST/${s.signature}` }, raw, keyFor, NOW)).toBe('sign_test');
    expect(verifySigned({ ...s, timestamp: 'x', signature: `WECHATPAY/SIGNTEST/${s.signature}` }, raw, keyFor, NOW)).toBe('sign_test');
  });

  it('a timestamp within 5 minutes either way; further off, or not 1 to 12 digits, is stale', () => {
    expect(SIGNATURE_WINDOW_S).toBe(300);
    const at = (s: number) => String(NOW / 1000 + s);
    expect(verifySigned(signed(at(300)), raw, keyFor, NOW)).toBeNull();
    expect(verifySigned(signed(at(-300)), raw, keyFor, NOW)).toBeNull();
    expect(verifySigned(signed(at(301)), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(at(-301)), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(), raw, keyFor, NOW + 301_000)).toBe('stale');
    expect(verifySigned(signed(`${ts}.0`), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(` ${ts}`), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(`${ts}x`), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(`0${ts}`.padStart(13, '0')), raw, keyFor, NOW)).toBe('stale');
    expect(verifySigned(signed(`00${ts}`), raw, keyFor, NOW)).toBeNull(); // 12 digits, the same time
  });

  it('an unknown serial; a signature by another key, over another body, or over another nonce', () => {
    expect(verifySigned({ ...signed(), serial: 'PUB_KEY_ID_2' }, raw, keyFor, NOW)).toBe('unknown_serial');
    const s = signed();
    expect(verifySigned({ ...s, signature: rsaSign(responseMessage(ts, 'N1', raw), other.privateKey) }, raw, keyFor, NOW)).toBe('bad_signature');
    expect(verifySigned(s, raw.replace('EV-1', 'EV-2'), keyFor, NOW)).toBe('bad_signature');
    expect(verifySigned({ ...s, nonce: 'N2' }, raw, keyFor, NOW)).toBe('bad_signature');
  });

  it('the headers are read by their WeChat Pay names', () => {
    const h: Record<string, string> = { 'wechatpay-timestamp': '1', 'wechatpay-nonce': 'n', 'wechatpay-signature': 's', 'wechatpay-serial': 'k' };
    expect(signedHeadersOf((name) => h[name])).toEqual({ timestamp: '1', nonce: 'n', signature: 's', serial: 'k' });
  });
});
