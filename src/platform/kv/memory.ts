import type { Clock } from '../clock.ts';
import type { Kv } from './types.ts';

interface Entry {
  value: string;
  expiresAt: number | null;
}

/**
 * In-process key-value store for a single instance. TTLs follow the injected clock, so idle
 * timeouts can be tested by moving a fake clock. Expired keys are dropped when read and swept
 * lazily, so memory stays bounded under a stream of unique keys (message de-duplication).
 */
export class MemoryKv implements Kv {
  readonly backend = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private writesSinceSweep = 0;

  constructor(private readonly clock: Clock) {}

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== null && e.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private put(key: string, value: string, ttlMs: number | undefined): void {
    this.entries.set(key, { value, expiresAt: ttlMs === undefined ? null : this.clock.now() + ttlMs });
    if (++this.writesSinceSweep >= 10_000) this.sweep();
  }

  /** Drop every expired entry. */
  sweep(): void {
    this.writesSinceSweep = 0;
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (e.expiresAt !== null && e.expiresAt <= now) this.entries.delete(k);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async getAndTouch(key: string, ttlMs: number): Promise<string | null> {
    const e = this.live(key);
    if (!e) return null;
    e.expiresAt = this.clock.now() + ttlMs;
    return e.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.put(key, value, ttlMs);
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.put(key, value, ttlMs);
    return true;
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs?: number): Promise<boolean> {
    const e = this.live(key);
    if (!e || e.value !== expected) return false;
    if (ttlMs === undefined) e.value = value;
    else this.put(key, value, ttlMs);
    return true;
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    const e = this.live(key);
    if (!e || e.value !== expected) return false;
    this.entries.delete(key);
    return true;
  }

  async del(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    const e = this.live(key);
    if (!e) {
      this.put(key, String(by), ttlMs);
      return by;
    }
    const n = Number(e.value) + by;
    if (!Number.isFinite(n)) throw new Error(`kv: value at ${key} is not a number`);
    e.value = String(n);
    return n;
  }

  async giveBack(key: string): Promise<void> {
    const e = this.live(key);
    if (e && Number(e.value) > 0) e.value = String(Number(e.value) - 1);
  }

  async ttl(key: string): Promise<number | null> {
    const e = this.live(key);
    if (!e || e.expiresAt === null) return null;
    return e.expiresAt - this.clock.now();
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
