import { createHash, timingSafeEqual } from 'node:crypto';

/** WeChat's signature: sha1 hex of the parts sorted as strings and concatenated (a rest array is ours to sort). */
export function sha1Signature(...parts: string[]): string {
  return createHash('sha1').update(parts.sort().join('')).digest('hex');
}

/** Compare two signatures in constant time (for equal lengths; unequal lengths are simply false). */
export function signaturesEqual(expected: string, given: string | undefined | null): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given.toLowerCase());
  if (a.length !== b.length) {
    timingSafeEqual(a, a); // spend the same time as a real comparison
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Plain-mode check: signature = sha1(sort(token, timestamp, nonce)). */
export function verifyPlainSignature(token: string, q: { signature?: string; timestamp?: string; nonce?: string }): boolean {
  if (!q.timestamp || !q.nonce) return false;
  return signaturesEqual(sha1Signature(token, q.timestamp, q.nonce), q.signature);
}

/** Safe-mode check: msg_signature = sha1(sort(token, timestamp, nonce, Encrypt)). */
export function verifyMessageSignature(token: string, q: { msg_signature?: string; timestamp?: string; nonce?: string }, encrypt: string): boolean {
  if (!q.timestamp || !q.nonce) return false;
  return signaturesEqual(sha1Signature(token, q.timestamp, q.nonce, encrypt), q.msg_signature);
}
