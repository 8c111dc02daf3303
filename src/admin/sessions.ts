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
  /** Failures per username (or account) within the window before it is locked. */
  maxPerUser?: number;
  /** Failures per address within the window before it is locked. */
  maxPerIp?: number;
  windowMs?: number;
  lockMs?: number;
}

/** An attempt the throttle let through: its place in the counts, for `failed` / `succeeded`. */
export interface Attempt {
  readonly subject: string;
  readonly ip: string | null;
  /** This attempt's number among the subject's (and the address's) in the window. */
  readonly nUser: number;
  readonly nIp: number | null;
}

/**
 * The throttle's answer before a password is checked: go ahead, or refused for `retryMs`.
 * `audit` is true for the first refusal of a lock (one audit row per lock, not one per attempt:
 * attempts while locked are unauthenticated and unlimited).
 */
export type Gate = { ok: true; attempt: Attempt } | { ok: false; retryMs: number; audit: boolean };

/**
 * Password guessing limits: attempts are counted per subject (a username, or an account) and per
 * address in a window; past the limit, further attempts are refused until the lock ends — even
 * with the right password — so guessing is slowed to a few tries per quarter hour. Counted for
 * unknown usernames too, so the lock says nothing about which accounts exist.
 *
 * An attempt is counted (atomically, kv incr) before its password is checked, not after: checking
 * takes ~0.1 s, and many attempts sent at once would otherwise all pass a "not locked yet" check
 * before the first failure is counted. An attempt whose number is past the limit is refused
 * without checking; a success takes its own count back (the subject's count starts again; the
 * address keeps only its failures), so only failures add up. A count restarts when its window
 * ends — with the window no longer than the lock, by the time the lock ends.
 */
export class AttemptThrottle {
  readonly maxPerUser: number;
  readonly maxPerIp: number;
  readonly windowMs: number;
  readonly lockMs: number;

  constructor(
    private readonly kv: Kv,
    /** Key namespace: `signin` (the sign-in form), `password` (the current password when changing it). */
    private readonly name: string,
    o: ThrottleOptions = {},
  ) {
    this.maxPerUser = o.maxPerUser ?? 5;
    this.maxPerIp = o.maxPerIp ?? 20;
    this.windowMs = o.windowMs ?? 15 * MINUTE;
    this.lockMs = o.lockMs ?? 15 * MINUTE;
    // A count outliving its lock would lock again at the first attempt after the lock ends.
    if (this.windowMs > this.lockMs) throw new Error(`throttle ${name}: windowMs (${this.windowMs}) must not be longer than lockMs (${this.lockMs})`);
  }

  private keys(subject: string, ip: string | null) {
    const u = hash(subject.toLowerCase());
    const a = ip === null ? null : hash(ip);
    const n = `admin:${this.name}`;
    return {
      u: { fail: `${n}:fail:u:${u}`, lock: `${n}:lock:u:${u}`, logged: `${n}:logged:u:${u}` },
      a: a === null ? null : { fail: `${n}:fail:a:${a}`, lock: `${n}:lock:a:${a}`, logged: `${n}:logged:a:${a}` },
    };
  }

  /** Whether this lock's refusals have been audited yet (marks it so when not). */
  private firstOfLock(logged: string, ttlMs: number): Promise<boolean> {
    return this.kv.setIfAbsent(logged, '1', Math.max(1, ttlMs));
  }

  /** Count an attempt before its password is checked; refuse it while locked or past the limit. */
  async begin(subject: string, ip: string | null): Promise<Gate> {
    const k = this.keys(subject, ip);
    // Locks always expire, so a missing TTL means no lock. Attempts refused by a lock are not counted.
    const [lu, la] = await Promise.all([this.kv.ttl(k.u.lock), k.a ? this.kv.ttl(k.a.lock) : null]);
    if (la) return { ok: false, retryMs: Math.max(la, lu ?? 0), audit: await this.firstOfLock(k.a!.logged, la) };
    if (lu) return { ok: false, retryMs: lu, audit: await this.firstOfLock(k.u.logged, lu) };
    const [nUser, nIp] = await Promise.all([this.kv.incr(k.u.fail, 1, this.windowMs), k.a ? this.kv.incr(k.a.fail, 1, this.windowMs) : null]);
    // Past the limit: attempts within it are still being checked (or have failed). Lock now.
    const overIp = k.a !== null && nIp !== null && nIp > this.maxPerIp;
    const overUser = nUser > this.maxPerUser;
    if (overIp || overUser) {
      const scope = overIp ? k.a! : k.u;
      await this.kv.setIfAbsent(scope.lock, '1', this.lockMs);
      const retryMs = (await this.kv.ttl(scope.lock)) ?? this.lockMs;
      return { ok: false, retryMs, audit: await this.firstOfLock(scope.logged, retryMs) };
    }
    return { ok: true, attempt: { subject, ip, nUser, nIp } };
  }

  /**
   * The attempt's password was wrong. When it was the last one the limit allows, the subject (or
   * address) is locked; `audit` says whether this is the lock's first audited event.
   */
  async failed(t: Attempt): Promise<{ locked: boolean; audit: boolean }> {
    const k = this.keys(t.subject, t.ip);
    const scopes = [...(t.nUser >= this.maxPerUser ? [k.u] : []), ...(k.a && t.nIp !== null && t.nIp >= this.maxPerIp ? [k.a] : [])];
    let audit = false;
    for (const scope of scopes) {
      await this.kv.setIfAbsent(scope.lock, '1', this.lockMs);
      if (await this.firstOfLock(scope.logged, (await this.kv.ttl(scope.lock)) ?? this.lockMs)) audit = true;
    }
    return { locked: scopes.length > 0, audit };
  }

  /** The password was right: the subject's count starts again, and this attempt leaves the address's. */
  async succeeded(t: Attempt): Promise<void> {
    const k = this.keys(t.subject, t.ip);
    await Promise.all([this.kv.del(k.u.fail), k.a ? this.kv.giveBack(k.a.fail) : null]);
  }

  /** How long until an attempt may be made again; 0 when it may now. */
  async lockedFor(subject: string, ip: string | null): Promise<number> {
    const k = this.keys(subject, ip);
    const [u, a] = await Promise.all([this.kv.ttl(k.u.lock), k.a ? this.kv.ttl(k.a.lock) : null]);
    return Math.max(u ?? 0, a ?? 0);
  }
}
