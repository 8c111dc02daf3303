/**
 * The one place where state shared by several instances lives: message de-duplication, locks,
 * short conversation sessions, the access token. Two backends: in-process memory (the embedded
 * default) and Redis (scale-out). Values are strings; callers serialise their own JSON.
 */
export interface Kv {
  get(key: string): Promise<string | null>;
  /** Read a value and restart its time to live (GETEX … PX): an idle timeout counted from now. */
  getAndTouch(key: string, ttlMs: number): Promise<string | null>;
  /** Set a value; `ttlMs` makes it expire (omit for no expiry). */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Set only when the key does not exist (SET NX). True when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Replace the value only if it still equals `expected`. Keeps the TTL when `ttlMs` is omitted. */
  compareAndSet(key: string, expected: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Delete only if the value still equals `expected` (safe lock release, compare-and-expire). */
  compareAndDelete(key: string, expected: string): Promise<boolean>;
  del(key: string): Promise<void>;
  /**
   * Atomically add `by` (default 1); a new key starts at 0 and gets `ttlMs` if given. The TTL is
   * set when the key is created only: later increments do not extend the window.
   */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>;
  /**
   * Give one counted try back: subtract 1 while the count exists and is above 0. Never creates the
   * key (a window that has ended stays ended) and keeps its TTL.
   */
  giveBack(key: string): Promise<void>;
  /** Remaining time to live in ms; null when the key is missing or never expires. */
  ttl(key: string): Promise<number | null>;
  close(): Promise<void>;
  readonly backend: 'memory' | 'redis';
}
