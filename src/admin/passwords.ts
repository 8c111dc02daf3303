import { randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SOURCE_DIR } from '../paths.ts';

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

/**
 * The passwords an attacker tries first (src/admin/common-passwords.txt, made by
 * scripts/gen-common-passwords.ts from a breach ranking), read once when first needed.
 */
let common: Set<string> | null = null;
function commonPasswords(): Set<string> {
  if (!common) {
    const text = readFileSync(join(SOURCE_DIR, 'admin', 'common-passwords.txt'), 'utf8');
    common = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')));
  }
  return common;
}

/** Runs an attacker walks through: the alphabet, keyboard rows and columns, digits — both ways. */
const SEQUENCES = ['abcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm', '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p', '01234567890'].flatMap((s) => {
  const long = s.repeat(3);
  return [long, [...long].reverse().join('')];
});
/** Common look-alike substitutions, undone before comparing with the list (p@ssw0rd → password). */
const LEET: Record<string, string> = { '@': 'a', '4': 'a', '0': 'o', '1': 'i', '!': 'i', '3': 'e', '$': 's', '5': 's', '7': 't' };

/** The minimum length (ASVS 2.1.1), counted in characters after runs of spaces are made one. */
export const MIN_PASSWORD_LENGTH = 12;

/**
 * What a new password must be, per OWASP ASVS 2.1: at least 12 characters and at most 128 (any
 * characters, no rule about kinds of characters — 2.1.9); not one of the breached or common
 * passwords, nor one of them dressed up (Password2026!, p@ssw0rd123, 1qaz2wsx3edc); not a run of
 * the same few characters or of the keyboard; not containing the username. Returns what is wrong,
 * for the person choosing it, or null.
 */
export function passwordProblem(password: string, username?: string): string | null {
  const length = [...password.replace(/ {2,}/g, ' ')].length;
  if (length < MIN_PASSWORD_LENGTH) return `密码至少 ${MIN_PASSWORD_LENGTH} 位`;
  if ([...password].length > 128) return '密码最多 128 位';
  const p = password.normalize('NFKC').toLowerCase();
  if (username && username.length >= 3 && p.includes(username.toLowerCase())) return '密码不能包含用户名';
  const list = commonPasswords();
  // The word inside: without the digits and symbols put around it, and with look-alikes undone.
  const core = p.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  const unleet = p.replace(/[@40135$7!]/g, (c) => LEET[c]!);
  const unleetCore = unleet.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  if ([p, unleet].some((x) => list.has(x)) || [core, unleetCore].some((x) => x.length >= 4 && list.has(x)) || mostlyCommon(p, list) || mostlyCommon(unleet, list)) {
    return '这个密码太常见了（在泄露的密码中出现过，或只是在常见密码前后加了数字、符号），请换一个';
  }
  const compact = p.replace(/[\s\-_.]/g, '');
  if (new Set(compact).size < 5 || SEQUENCES.some((s) => s.includes(compact)) || repeatsItself(compact)) {
    return '这个密码太容易猜了（重复或连续的字符），请换一个';
  }
  return null;
}

/** A common password of 6+ characters makes up two thirds of it or more (password-abc, xx-qwerty123). */
function mostlyCommon(p: string, list: Set<string>): boolean {
  const chars = [...p];
  const need = Math.ceil((chars.length * 2) / 3);
  for (let n = chars.length; n >= Math.max(6, need); n--) {
    for (let i = 0; i + n <= chars.length; i++) if (list.has(chars.slice(i, i + n).join(''))) return true;
  }
  return false;
}

/** abcabcabcabc, 1234abcd1234abcd: a short piece written again and again. */
function repeatsItself(s: string): boolean {
  for (let n = 1; n <= s.length / 2; n++) {
    if (s.length % n === 0 && s.slice(0, n).repeat(s.length / n) === s) return true;
  }
  return false;
}

/** A random password that passes `passwordProblem` (for new accounts and resets). */
export function generatePassword(): string {
  // Unambiguous characters; 14 of them is about 80 bits.
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  for (;;) {
    const pw = Array.from({ length: 14 }, () => alphabet[randomInt(alphabet.length)]).join('');
    if (/[0-9]/.test(pw) && /[a-zA-Z]/.test(pw) && passwordProblem(pw) === null) return pw;
  }
}
