import { randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Staff passwords, hashed with scrypt from node:crypto: memory-hard like argon2, and no native
 * module to build (better-sqlite3 is already one). Stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>`, so the cost can be raised later and old
 * hashes still verify (and are re-hashed at the next sign-in: see `needsRehash`).
 */

const KEY_BYTES = 32;
const SALT_BYTES = 16;
/**
 * N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s per hash here — twice libsodium's "interactive"
 * scrypt level (16 MiB). Online guessing is stopped by the sign-in throttle, so the cost is set for
 * offline guessing from a stolen database without making every sign-in slow.
 */
export interface ScryptCost {
  logN: number;
  r: number;
  p: number;
}
export const DEFAULT_COST: ScryptCost = { logN: 15, r: 8, p: 1 };

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const memFor = (logN: number, r: number) => 128 * r * 2 ** logN * 2 + 1024 * 1024;

export async function hashPassword(password: string, cost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, KEY_BYTES, { N: 2 ** cost.logN, r: cost.r, p: cost.p, maxmem: memFor(cost.logN, cost.r) });
  return `scrypt$${cost.logN}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface Parsed {
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [logN, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![logN, r, p].every((n) => Number.isInteger(n) && n > 0) || logN > 22 || r > 32 || p > 16) return null;
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) return null;
  return { logN, r, p, salt, key };
}

/** Constant-time check of a password against a stored hash. A malformed hash never verifies. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h) return false;
  const key = await scrypt(password, h.salt, h.key.length, { N: 2 ** h.logN, r: h.r, p: h.p, maxmem: memFor(h.logN, h.r) });
  return timingSafeEqual(key, h.key);
}

/** Whether a stored hash was made with a weaker cost than the current one. */
export function needsRehash(stored: string, cost = DEFAULT_COST): boolean {
  const h = parse(stored);
  return !h || h.logN < cost.logN || h.r < cost.r || h.p < cost.p;
}

/**
 * A hash of a password nobody has: verifying against it costs what a real check costs, so a
 * sign-in with an unknown username takes as long as one with a wrong password.
 */
const dummies = new Map<string, Promise<string>>();
export function dummyHash(cost = DEFAULT_COST): Promise<string> {
  const key = `${cost.logN}:${cost.r}:${cost.p}`;
  let d = dummies.get(key);
  if (!d) dummies.set(key, (d = hashPassword(randomBytes(16).toString('hex'), cost)));
  return d;
}

/** What a new password must be: long enough, not only one kind of character, not the username. */
export function passwordProblem(password: string, username?: string): string | null {
  if ([...password].length < 10) return '密码至少 10 位';
  if ([...password].length > 128) return '密码最多 128 位';
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length;
  if (kinds < 2) return '密码须包含字母、数字或符号中的至少两种';
  if (username && password.toLowerCase().includes(username.toLowerCase())) return '密码不能包含用户名';
  return null;
}

/** A random password that passes `passwordProblem` (for new accounts and resets). */
export function generatePassword(): string {
  // Unambiguous characters; 14 of them is about 80 bits.
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  for (;;) {
    const pw = Array.from({ length: 14 }, () => alphabet[randomInt(alphabet.length)]).join('');
    if (/[0-9]/.test(pw) && /[a-zA-Z]/.test(pw)) return pw;
  }
}
