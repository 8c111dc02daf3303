import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { HOUR, MINUTE } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';

/**
 * Staff sessions and sign-in throttling, both in the shared kv store (memory, or Redis across
 * instances). The cookie carries a random session id; the store is keyed by its hash, so a copy of
 * the store does not hold usable cookies. A session ends after `idleMs` without a request, after
 * `absoluteMs` in any case, at sign-out, and when the account's password changes.
 */

export interface SessionData {
  staffId: number;
  /** The synchronizer token every state-changing request must carry. */
  csrf: string;
  createdAt: number;
  /** The account's passwordChangedAt when the session began: a later change ends it. */
  passwordAt: number;
  /** A one-time notice for the next page (撤销 …, 已发送 …). */
  flash?: { kind: 'ok' | 'error'; text: string } | undefined;
}

export interface SessionOptions {
  idleMs?: number;
  absoluteMs?: number;
}

export const SESSION_COOKIE = 'weiban_staff';

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Constant-time string comparison (CSRF tokens). */
export function sameToken(a: string | undefined | null, b: string | undefined | null): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class StaffSessions {
  readonly idleMs: number;
  readonly absoluteMs: number;

  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    o: SessionOptions = {},
  ) {
    this.idleMs = o.idleMs ?? 2 * HOUR;
    this.absoluteMs = o.absoluteMs ?? 12 * HOUR;
  }

  private key(id: string): string {
    return `admin:session:${hash(id)}`;
  }

  async create(staffId: number, passwordAt: number): Promise<{ id: string; data: SessionData }> {
    const id = randomToken();
    const data: SessionData = { staffId, csrf: randomToken(), createdAt: this.clock.now(), passwordAt };
    await this.kv.set(this.key(id), JSON.stringify(data), this.idleMs);
    return { id, data };
  }

  async load(id: string | undefined): Promise<SessionData | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const raw = await this.kv.get(this.key(id));
    if (!raw) return null;
    const data = JSON.parse(raw) as SessionData;
    if (this.clock.now() - data.createdAt >= this.absoluteMs) {
      await this.kv.del(this.key(id));
      return null;
    }
    return data;
  }

  /** Save changes and restart the idle timeout. */
  async save(id: string, data: SessionData): Promise<void> {
    const left = this.absoluteMs - (this.clock.now() - data.createdAt);
    await this.kv.set(this.key(id), JSON.stringify(data), Math.max(1, Math.min(this.idleMs, left)));
  }

  async destroy(id: string): Promise<void> {
    await this.kv.del(this.key(id));
  }
}

export interface ThrottleOptions {
  /** Failures per username within the window before it is locked. */
  maxPerUser?: number;
  /** Failures per address within the window before it is locked. */
  maxPerIp?: number;
  windowMs?: number;
  lockMs?: number;
}

/**
 * Sign-in throttling: failures are counted per username and per address in a window; past the
 * limit, further attempts are refused until the lock ends — even with the right password — so
 * guessing is slowed to a few tries per quarter hour. Counted for unknown usernames too, so the
 * lock says nothing about which accounts exist.
 */
export class SignInThrottle {
  readonly maxPerUser: number;
  readonly maxPerIp: number;
  readonly windowMs: number;
  readonly lockMs: number;

  constructor(
    private readonly kv: Kv,
    o: ThrottleOptions = {},
  ) {
    this.maxPerUser = o.maxPerUser ?? 5;
    this.maxPerIp = o.maxPerIp ?? 20;
    this.windowMs = o.windowMs ?? 15 * MINUTE;
    this.lockMs = o.lockMs ?? 15 * MINUTE;
  }

  private keys(username: string, ip: string) {
    const u = hash(username.toLowerCase());
    const a = hash(ip);
    return { failU: `admin:signin:fail:u:${u}`, failA: `admin:signin:fail:a:${a}`, lockU: `admin:signin:lock:u:${u}`, lockA: `admin:signin:lock:a:${a}` };
  }

  /** How long until sign-in may be tried again; 0 when it may now. */
  async lockedFor(username: string, ip: string): Promise<number> {
    const k = this.keys(username, ip);
    // Locks always expire, so a missing TTL means no lock.
    const [u, a] = await Promise.all([this.kv.ttl(k.lockU), this.kv.ttl(k.lockA)]);
    return Math.max(u ?? 0, a ?? 0);
  }

  /** Count a failure; true when it locked the username or the address. */
  async failed(username: string, ip: string): Promise<boolean> {
    const k = this.keys(username, ip);
    const [u, a] = await Promise.all([this.kv.incr(k.failU, 1, this.windowMs), this.kv.incr(k.failA, 1, this.windowMs)]);
    let locked = false;
    if (u >= this.maxPerUser) {
      await this.kv.set(k.lockU, '1', this.lockMs);
      await this.kv.del(k.failU);
      locked = true;
    }
    if (a >= this.maxPerIp) {
      await this.kv.set(k.lockA, '1', this.lockMs);
      await this.kv.del(k.failA);
      locked = true;
    }
    return locked;
  }

  async succeeded(username: string, ip: string): Promise<void> {
    await this.kv.del(this.keys(username, ip).failU);
  }
}
