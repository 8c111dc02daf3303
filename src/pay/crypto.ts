import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, createSign, createVerify, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * WeChat Pay API v3 cryptography, on node:crypto: the request signature (RSA-SHA256 over
 * `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`), the verification of what WeChat Pay signs
 * (responses and notifications: `TIMESTAMP\nNONCE\nBODY\n` over the raw bytes), AEAD_AES_256_GCM
 * for notification resources (the tag is checked: a tampered amount never decrypts), and the JSAPI
 * `paySign`. Request signing itself goes through wechatpay-node-v3 (see client.ts); the rest is here
 * because that library gets it wrong (WECHAT-NOTES.md).
 */

export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat Pay refuses (and so do we) a signature whose timestamp is further off than this. */
export const SIGNATURE_WINDOW_S = 300;

/** The string a merchant request's signature covers. */
export function requestMessage(method: string, pathAndQuery: string, timestamp: string, nonce: string, body: string): string {
  return `${method.toUpperCase()}\n${pathAndQuery}\n${timestamp}\n${nonce}\n${body}\n`;
}

/** The string a response's or notification's signature covers: the raw body as received. */
export function responseMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

/** The string the JSAPI paySign covers. */
export function paySignMessage(appId: string, timeStamp: string, nonceStr: string, pkg: string): string {
  return `${appId}\n${timeStamp}\n${nonceStr}\n${pkg}\n`;
}

export function rsaSign(message: string, key: KeyObject | string): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(key, 'base64');
}

export function rsaVerify(message: string, signature: string, key: KeyObject | string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature) || signature.length > 1024) return false;
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(key, signature, 'base64');
  } catch {
    return false;
  }
}

export function nonce(bytes = 16): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}

/** The fields of an `Authorization: WECHATPAY2-SHA256-RSA2048 k="v",…` header, or null. */
export function parseAuthorization(header: string | undefined): { mchid: string; nonce_str: string; signature: string; timestamp: string; serial_no: string } | null {
  if (!header || header.length > 2048 || !header.startsWith(`${AUTH_SCHEMA} `)) return null;
  const fields: Record<string, string> = {};
  for (const m of header.slice(AUTH_SCHEMA.length + 1).matchAll(/(\w+)="([^"]*)"/g)) fields[m[1]!] = m[2]!;
  const { mchid, nonce_str, signature, timestamp, serial_no } = fields;
  if (!mchid || !nonce_str || !signature || !timestamp || !serial_no) return null;
  return { mchid, nonce_str, signature, timestamp, serial_no };
}

export interface AeadResource {
  algorithm: string;
  ciphertext: string;
  nonce: string;
  associated_data?: string;
  original_type?: string;
}

export class PayCryptoError extends Error {
  constructor(
    readonly reason: 'bad_key' | 'bad_algorithm' | 'bad_tag' | 'bad_json',
    message: string,
  ) {
    super(message);
    this.name = 'PayCryptoError';
  }
}

function apiV3Key(key: string): Buffer {
  const k = Buffer.from(key, 'utf8');
  if (k.length !== 32) throw new PayCryptoError('bad_key', 'the APIv3 key must be 32 bytes');
  return k;
}

/**
 * Decrypt an AEAD_AES_256_GCM resource: the last 16 bytes of the ciphertext are the tag, and
 * `final()` checks it, so a changed byte anywhere (ciphertext, nonce, associated data) throws.
 */
export function decryptResource(r: AeadResource, key: string): string {
  if (r.algorithm !== 'AEAD_AES_256_GCM') throw new PayCryptoError('bad_algorithm', `unknown algorithm ${String(r.algorithm).slice(0, 40)}`);
  const data = Buffer.from(String(r.ciphertext ?? ''), 'base64');
  if (data.length < 17 || typeof r.nonce !== 'string' || r.nonce.length < 1 || r.nonce.length > 64) throw new PayCryptoError('bad_tag', 'ciphertext too short or nonce missing');
  const d = createDecipheriv('aes-256-gcm', apiV3Key(key), Buffer.from(r.nonce, 'utf8'));
  d.setAuthTag(data.subarray(data.length - 16));
  d.setAAD(Buffer.from(r.associated_data ?? '', 'utf8'));
  try {
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString('utf8');
  } catch {
    throw new PayCryptoError('bad_tag', 'the authentication tag does not match: the resource was changed or the APIv3 key is wrong');
  }
}

/** What WeChat Pay does to a resource (the emulator, and tests). */
export function encryptResource(plaintext: string, key: string, associatedData: string, nonceStr = randomBytes(6).toString('hex')): AeadResource {
  const c = createCipheriv('aes-256-gcm', apiV3Key(key), Buffer.from(nonceStr, 'utf8'));
  c.setAAD(Buffer.from(associatedData, 'utf8'));
  const out = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext: out.toString('base64'), nonce: nonceStr, associated_data: associatedData };
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A PEM private key that can sign (throws a plain message otherwise). */
export function loadPrivateKey(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA private key, got ${key.asymmetricKeyType}`);
  rsaSign('probe', key);
  return key;
}

export function loadPublicKey(pem: string | Buffer): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA public key, got ${key.asymmetricKeyType}`);
  return key;
}

export interface SignedHeaders {
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  serial: string | undefined;
}

export type VerifyFailure = 'missing_headers' | 'sign_test' | 'stale' | 'unknown_serial' | 'bad_signature';

/**
 * Check what WeChat Pay signed (a notification or a response): the headers present, not the
 * `WECHATPAY/SIGNTEST/` probe, a timestamp within 5 minutes of `nowMs`, a serial we know, and an
 * RSA-SHA256 signature over the raw body. Returns null when it holds, else why not.
 */
export function verifySigned(h: SignedHeaders, rawBody: string, keyFor: (serial: string) => KeyObject | null, nowMs: number): VerifyFailure | null {
  if (!h.timestamp || !h.nonce || !h.signature || !h.serial) return 'missing_headers';
  if (h.signature.startsWith('WECHATPAY/SIGNTEST/')) return 'sign_test';
  if (!/^\d{1,12}$/.test(h.timestamp) || Math.abs(nowMs / 1000 - Number(h.timestamp)) > SIGNATURE_WINDOW_S) return 'stale';
  const key = keyFor(h.serial);
  if (!key) return 'unknown_serial';
  return rsaVerify(responseMessage(h.timestamp, h.nonce, rawBody), h.signature, key) ? null : 'bad_signature';
}

export function signedHeadersOf(get: (name: string) => string | undefined): SignedHeaders {
  return { timestamp: get('wechatpay-timestamp'), nonce: get('wechatpay-nonce'), signature: get('wechatpay-signature'), serial: get('wechatpay-serial') };
}
