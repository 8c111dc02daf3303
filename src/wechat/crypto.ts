import { isUtf8 } from 'node:buffer';
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { sha1Signature } from './signature.ts';
import { cdataSafe } from './xml.ts';

export type CryptoFailure = 'bad-key' | 'bad-base64' | 'bad-length' | 'bad-padding' | 'bad-appid' | 'bad-message' | 'bad-utf8';

export class WeChatCryptoError extends Error {
  constructor(readonly reason: CryptoFailure, message: string) {
    super(message);
    this.name = 'WeChatCryptoError';
  }
}

const BLOCK = 32; // WeChat pads to 32 bytes, not AES's 16

/** Cryptographic randomness drawn from a refilled pool: one system call per 256 messages, not per message. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
export function randomChunk(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  poolAt += n;
  return out;
}
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * WXBizMsgCrypt for 公众号 safe mode: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[0..16],
 * PKCS#7 padding to 32 bytes; plaintext = 16 random bytes | 4-byte big-endian length | message | appid.
 */
export class WeChatCrypto {
  private readonly key: Buffer;
  private readonly iv: Buffer;

  constructor(
    private readonly token: string,
    encodingAesKey: string,
    private readonly appid: string,
  ) {
    if (!/^[A-Za-z0-9]{43}$/.test(encodingAesKey)) throw new WeChatCryptoError('bad-key', 'EncodingAESKey must be 43 letters or digits');
    // 43 Base64 digits are 258 bits: always 32 bytes.
    this.key = Buffer.from(encodingAesKey + '=', 'base64');
    this.iv = this.key.subarray(0, 16);
  }

  /** Encrypt a message (text, or raw bytes); `random` (16 bytes) only for reproducing published examples. */
  encrypt(message: string | Buffer, random: Buffer = randomChunk(16)): string {
    const msg = typeof message === 'string' ? Buffer.from(message) : message;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(msg.length, 0);
    const body = Buffer.concat([random, len, msg, Buffer.from(this.appid)]);
    const pad = BLOCK - (body.length % BLOCK);
    const padded = Buffer.concat([body, Buffer.alloc(pad, pad)]);
    const cipher = createCipheriv('aes-256-cbc', this.key, this.iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
  }

  /** Decrypt and check the appid; throws WeChatCryptoError with a reason on any fault. */
  decrypt(encrypted: string): string {
    // The pattern needs at least one digit, so the data is never empty.
    if (encrypted.length % 4 !== 0 || !BASE64.test(encrypted)) throw new WeChatCryptoError('bad-base64', 'Encrypt is not valid Base64');
    const data = Buffer.from(encrypted, 'base64');
    if (data.length % 16 !== 0) throw new WeChatCryptoError('bad-length', 'ciphertext is not a whole number of AES blocks');
    // Whole blocks without automatic padding: deciphering cannot fail (the padding is checked below).
    const decipher = createDecipheriv('aes-256-cbc', this.key, this.iv);
    decipher.setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(data), decipher.final()]);
    const pad = plain[plain.length - 1]!;
    if (pad < 1 || pad > BLOCK || pad > plain.length) throw new WeChatCryptoError('bad-padding', 'invalid padding');
    for (let i = plain.length - pad; i < plain.length; i++) {
      if (plain[i] !== pad) throw new WeChatCryptoError('bad-padding', 'invalid padding');
    }
    const content = plain.subarray(0, plain.length - pad);
    if (content.length < 20) throw new WeChatCryptoError('bad-message', 'decrypted message too short');
    const len = content.readUInt32BE(16);
    if (20 + len > content.length) throw new WeChatCryptoError('bad-message', 'message length exceeds the decrypted data');
    const appid = content.subarray(20 + len).toString('utf8');
    if (appid !== this.appid) throw new WeChatCryptoError('bad-appid', 'message is for another appid');
    const bytes = content.subarray(20, 20 + len);
    // Strict: a replacement character would silently alter what the citizen wrote.
    if (!isUtf8(bytes)) throw new WeChatCryptoError('bad-utf8', 'message is not valid UTF-8');
    return bytes.toString('utf8');
  }

  sign(timestamp: string, nonce: string, encrypted: string): string {
    return sha1Signature(this.token, timestamp, nonce, encrypted);
  }

  /** The encrypted reply envelope. */
  wrapReply(xml: string, timestamp: string, nonce: string): string {
    const encrypted = this.encrypt(xml);
    const signature = this.sign(timestamp, nonce, encrypted);
    return (
      `<xml><Encrypt><![CDATA[${encrypted}]]></Encrypt><MsgSignature><![CDATA[${signature}]]></MsgSignature>` +
      `<TimeStamp>${timestamp}</TimeStamp><Nonce><![CDATA[${cdataSafe(nonce)}]]></Nonce></xml>`
    );
  }
}


