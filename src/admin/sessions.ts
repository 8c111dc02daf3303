import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { HOUR, MINUTE } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';

/**
 * Staff sessions and sign-in throttling, both in the shared kv store (memory, or Redis across
 * instances). The cookie carries a random session id; the store is keyed by its hash, so a copy of
 * the store does not hold usable cookies. A session ends after `idleMs` (30 minutes, ASVS 3.3.2)
 * without anything its user did — the live refresh of an open tab is not activity —, after
 * `absoluteMs` in any case, at sign-out, and when the account's password changes.
 */

export interface SessionData {
  staffId: number;
  /** The synchronizer token every state-changing request must carry. */
  csrf: string;
  createdAt: number;
  /** When its user last did something (a page, a form); background refreshes leave it. */
  activeAt: number;
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
    this.idleMs = o.idleMs ?? 30 * MINUTE;
    this.absoluteMs = o.absoluteMs ?? 12 * HOUR;
  }

  private key(id: string): string {
    return `admin:session:${hash(id)}`;
  }

  async create(staffId: number, passwordAt: number): Promise<{ id: string; data: SessionData }> {
    const id = randomToken();
    const now = this.clock.now();
    const data: SessionData = { staffId, csrf: randomToken(), createdAt: now, activeAt: now, passwordAt };
    await this.kv.set(this.key(id), JSON.stringify(data), this.idleMs);
    return { id, data };
  }

  async load(id: string | undefined): Promise<SessionData | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const raw = await this.kv.get(this.key(id));
    if (!raw) return null;
    const data = JSON.parse(raw) as SessionData;
    data.activeAt ??= data.createdAt; // a session begun before activity was recorded
    const now = this.clock.now();
    if (now - data.createdAt >= this.absoluteMs || now - data.activeAt >= this.idleMs) {
      await this.kv.del(this.key(id));
      return null;
    }
    return data;
  }

  /** Save changes; the idle timeout runs on from the last activity. */
  async save(id: string, data: SessionData): Promise<void> {
    const now = this.clock.now();
    const left = Math.min(this.absoluteMs - (now - data.createdAt), this.idleMs - (now - data.activeAt));
    await this.kv.set(this.key(id), JSON.stringify(data), Math.max(1, left));
  }

  /** Its user did something: the idle timeout starts again. */
  async touch(id: string, data: SessionData): Promise<void> {
    data.activeAt = this.clock.now();
    await this.save(id, data);
  }

  async destroy(id: string): Promise<void> {
    await this.kv.del(this.key(id));
  }
}

export interface ThrottleOptions {
  /** Failures of one subject (username, account) from one address before that pair is locked. */
  maxPerPair?: number;
  /**
   * Failures of one subject from addresses it has not signed in from lately, all together, before
   * such addresses are locked out of it (guessing one account from many places). Its usual
   * addresses are never locked out this way.
   */
  maxPerUser?: number;
  /** Failures from one address, whatever the subject, before the address is locked. */
  maxPerIp?: number;
  /** Failures are counted within this window. */
  windowMs?: number;
  /** The first lock of a scope; each further lock within `strikesMs` lasts twice the one before … */
  lockMs?: number;
  /** … up to this. */
  maxLockMs?: number;
  /** How long a lock is remembered for making the next one longer. */
  strikesMs?: number;
  /** How long an address a subject signed in from counts as one of its usual addresses. */
  knownMs?: number;
}

/** An attempt the throttle let through: its place in the counts, for `failed` / `succeeded`. */
export interface Attempt {
  readonly subject: string;
  readonly ip: string | null;
  /** This attempt's number among the pair's, the subject's (from unusual addresses) and the address's in the window. */
  readonly nPair: number;
  /** null: not counted for the subject (an address it signs in from). */
  readonly nUser: number | null;
  readonly nIp: number | null;
}

/**
 * The throttle's answer before a password is checked: go ahead, or refused for `retryMs`.
 * `audit` is true for the first refusal of a lock (one audit row per lock, not one per attempt:
 * attempts while locked are unauthenticated and unlimited).
 */
export type Gate = { ok: true; attempt: Attempt } | { ok: false; retryMs: number; audit: boolean };

type Scope = 'p' | 'u' | 'a';

/**
 * Password guessing limits that an attacker cannot turn against the real user. Failures are
 * counted in three scopes, and past a scope's limit that scope is locked — even for the right
 * password:
 *  - a subject (username, account) from one address: 5 failures lock that pair only, so anyone
 *    elsewhere can no longer lock an account (admin included) by guessing wrong;
 *  - a subject from addresses it has not signed in from lately, all together: 10 failures lock
 *    those addresses out of it (one account guessed from many places), while the addresses it
 *    signed in from keep working — the real user on their usual address can still sign in;
 *  - an address, whatever the subject: 20 failures (many accounts guessed from one place).
 * Each lock of a scope within a day lasts twice the one before (15 min, 30 min, 1 h … up to 4 h),
 * so that steady guessing slows to a few tries an hour; a lock starts its scope's count afresh.
 * Counted for unknown usernames too, so a lock says nothing about which accounts exist. Without
 * an address (the current password when changing it: the session is the one place) only the
 * pair's count applies.
 *
 * An attempt is counted (atomically, kv incr) before its password is checked, not after: checking
 * takes ~0.1 s, and many attempts sent at once would otherwise all pass a "not locked yet" check
 * before the first failure is counted. An attempt whose number is past a limit is refused without
 * checking; a success takes its own count back (the pair's count starts again; the address and
 * the subject keep only their failures) and makes the address one of the subject's usual ones.
 */
export class AttemptThrottle {
  readonly maxPerPair: number;
  readonly maxPerUser: number;
  readonly maxPerIp: number;
  readonly windowMs: number;
  readonly lockMs: number;
  readonly maxLockMs: number;
  readonly strikesMs: number;
  readonly knownMs: number;

  constructor(
    private readonly kv: Kv,
    /** Key namespace: `signin` (the sign-in form), `password` (the current password when changing it). */
    private readonly name: string,
    o: ThrottleOptions = {},
  ) {
    this.maxPerPair = o.maxPerPair ?? 5;
    this.maxPerUser = o.maxPerUser ?? 10;
    this.maxPerIp = o.maxPerIp ?? 20;
    this.windowMs = o.windowMs ?? 15 * MINUTE;
    this.lockMs = o.lockMs ?? 15 * MINUTE;
    this.maxLockMs = o.maxLockMs ?? 4 * HOUR;
    this.strikesMs = o.strikesMs ?? 24 * HOUR;
    this.knownMs = o.knownMs ?? 90 * 24 * HOUR;
    if (this.maxLockMs < this.lockMs) throw new Error(`throttle ${name}: maxLockMs (${this.maxLockMs}) must not be shorter than lockMs (${this.lockMs})`);
  }

  private key(scope: Scope, what: 'fail' | 'lock' | 'logged' | 'strikes', subject: string, ip: string | null): string {
    const id = scope === 'p' ? `${hash(subject.toLowerCase())}:${hash(ip ?? '')}` : scope === 'u' ? hash(subject.toLowerCase()) : hash(ip ?? '');
    return `admin:${this.name}:${what}:${scope}:${id}`;
  }

  private knownKey(subject: string, ip: string): string {
    return `admin:${this.name}:known:${hash(subject.toLowerCase())}:${hash(ip)}`;
  }

  /** The scopes an attempt is counted in and held to: the pair always; the address; the subject unless the address is a usual one. */
  private async scopes(subject: string, ip: string | null): Promise<Scope[]> {
    if (ip === null) return ['p']; // no address: the account is the one place it is guessed from
    const usual = (await this.kv.get(this.knownKey(subject, ip))) !== null;
    return usual ? ['p', 'a'] : ['p', 'u', 'a'];
  }

  private limit(scope: Scope): number {
    return scope === 'p' ? this.maxPerPair : scope === 'u' ? this.maxPerUser : this.maxPerIp;
  }

  /** Whether this lock's refusals have been audited yet (marks it so when not). */
  private firstOfLock(logged: string, ttlMs: number): Promise<boolean> {
    return this.kv.setIfAbsent(logged, '1', Math.max(1, ttlMs));
  }

  /**
   * Lock a scope (when no lock holds it yet): twice as long as its previous lock within the
   * strikes window, and its count starts afresh. Returns the time left on its lock.
   */
  private async lock(scope: Scope, subject: string, ip: string | null): Promise<{ retryMs: number; audit: boolean }> {
    const lockKey = this.key(scope, 'lock', subject, ip);
    const strikesKey = this.key(scope, 'strikes', subject, ip);
    const strikes = Number((await this.kv.get(strikesKey)) ?? 0);
    const ms = Math.min(this.maxLockMs, this.lockMs * 2 ** Math.min(strikes, 20));
    if (await this.kv.setIfAbsent(lockKey, '1', ms)) {
      await this.kv.incr(strikesKey, 1, this.strikesMs);
      await this.kv.del(this.key(scope, 'fail', subject, ip));
    }
    const retryMs = (await this.kv.ttl(lockKey)) ?? ms;
    return { retryMs, audit: await this.firstOfLock(this.key(scope, 'logged', subject, ip), retryMs) };
  }

  /** Count an attempt before its password is checked; refuse it while locked or past a limit. */
  async begin(subject: string, ip: string | null): Promise<Gate> {
    const scopes = await this.scopes(subject, ip);
    // Locks always expire, so a missing TTL means no lock. Attempts refused by a lock are not counted.
    const held = (await Promise.all(scopes.map(async (sc) => ({ sc, ttl: await this.kv.ttl(this.key(sc, 'lock', subject, ip)) })))).filter((x) => x.ttl);
    if (held.length) {
      const longest = held.reduce((a, b) => (b.ttl! > a.ttl! ? b : a));
      return { ok: false, retryMs: longest.ttl!, audit: await this.firstOfLock(this.key(longest.sc, 'logged', subject, ip), longest.ttl!) };
    }
    const counts = await Promise.all(scopes.map((sc) => this.kv.incr(this.key(sc, 'fail', subject, ip), 1, this.windowMs)));
    const n = (sc: Scope) => (scopes.includes(sc) ? counts[scopes.indexOf(sc)]! : null);
    // Past a limit: attempts within it are still being checked (or have failed). Lock now.
    const over = scopes.filter((sc) => n(sc)! > this.limit(sc));
    if (over.length) {
      const locks = await Promise.all(over.map((sc) => this.lock(sc, subject, ip)));
      return { ok: false, retryMs: Math.max(...locks.map((l) => l.retryMs)), audit: locks.some((l) => l.audit) };
    }
    return { ok: true, attempt: { subject, ip, nPair: n('p')!, nUser: n('u'), nIp: n('a') } };
  }

  /**
   * The attempt's password was wrong. When it was the last one a limit allows, that scope is
   * locked; `retryMs` is how long the longest lock lasts, `audit` whether this is a lock's first
   * audited event.
   */
  async failed(t: Attempt): Promise<{ locked: boolean; retryMs: number; audit: boolean }> {
    const reached: Scope[] = [];
    if (t.nPair >= this.maxPerPair) reached.push('p');
    if (t.nUser !== null && t.nUser >= this.maxPerUser) reached.push('u');
    if (t.nIp !== null && t.nIp >= this.maxPerIp) reached.push('a');
    const locks = await Promise.all(reached.map((sc) => this.lock(sc, t.subject, t.ip)));
    return { locked: locks.length > 0, retryMs: Math.max(0, ...locks.map((l) => l.retryMs)), audit: locks.some((l) => l.audit) };
  }

  /**
   * The password was right: the pair's count starts again, this attempt leaves the subject's and
   * the address's, and the address becomes one the subject signs in from.
   */
  async succeeded(t: Attempt): Promise<void> {
    const { subject, ip } = t;
    await Promise.all([
      this.kv.del(this.key('p', 'fail', subject, ip)),
      ip !== null && t.nUser !== null ? this.kv.giveBack(this.key('u', 'fail', subject, ip)) : null,
      ip !== null ? this.kv.giveBack(this.key('a', 'fail', subject, ip)) : null,
      ip !== null ? this.kv.set(this.knownKey(subject, ip), '1', this.knownMs) : null,
    ]);
  }

  /** How long until an attempt may be made again; 0 when it may now. */
  async lockedFor(subject: string, ip: string | null): Promise<number> {
    const scopes = await this.scopes(subject, ip);
    const ttls = await Promise.all(scopes.map((sc) => this.kv.ttl(this.key(sc, 'lock', subject, ip))));
    return Math.max(0, ...ttls.map((t) => t ?? 0));
  }
}
