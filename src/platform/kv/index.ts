import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { MemoryKv } from './memory.ts';
import type { Kv } from './types.ts';

export type { Kv } from './types.ts';
export { MemoryKv } from './memory.ts';
export type { RedisKv } from './redis.ts';

/** Open the store named by REDIS_URL, or an in-process one when it is absent. */
export async function openKv(opts: { redisUrl?: string; clock: Clock; prefix?: string }): Promise<Kv> {
  if (!opts.redisUrl) return new MemoryKv(opts.clock);
  // Loaded only when used: the Redis client weighs ~20 MB that the embedded default does not need.
  const { RedisKv } = await import('./redis.ts');
  const kv = new RedisKv(opts.redisUrl, opts.prefix);
  await kv.ping();
  return kv;
}

export interface Lock {
  readonly key: string;
  readonly token: string;
  release(): Promise<boolean>;
}

/** Try once to take a lock; null when someone else holds it. The TTL bounds a crashed holder. */
export async function tryLock(kv: Kv, key: string, ttlMs: number): Promise<Lock | null> {
  const token = randomUUID();
  const k = `lock:${key}`;
  if (!(await kv.setIfAbsent(k, token, ttlMs))) return null;
  return { key: k, token, release: () => kv.compareAndDelete(k, token) };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Run `fn` while holding the lock, waiting up to `waitMs` (real time) for it.
 * Throws LockTimeoutError when it cannot be had.
 */
export async function withLock<T>(
  kv: Kv,
  key: string,
  opts: { ttlMs: number; waitMs?: number },
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let delay = 5;
  for (;;) {
    const lock = await tryLock(kv, key, opts.ttlMs);
    if (lock) {
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    }
    if (Date.now() >= deadline) throw new LockTimeoutError(key);
    await pause(delay);
    delay = Math.min(delay * 2, 100);
  }
}

export class LockTimeoutError extends Error {
  constructor(readonly key: string) {
    super(`could not take lock ${key} in time`);
    this.name = 'LockTimeoutError';
  }
}
