import { Redis } from 'ioredis';
import type { Kv } from './types.ts';

const COMPARE_AND_DELETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;
// The TTL goes on when the key is new (no TTL yet), as in the memory store; a count that comes back
// to \`by\` later (after a give-back) keeps the window it had.
const INCR_WITH_TTL = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v`;
const GIVE_BACK = `
local v = tonumber(redis.call('GET', KEYS[1]))
if v and v > 0 then redis.call('DECR', KEYS[1]) end
return 0`;

/**
 * Redis-backed store shared by every instance. Atomic compare operations run as Lua scripts.
 * TTLs are Redis's own (wall-clock): the scale-out backend is tested with real, short TTLs.
 */
export class RedisKv implements Kv {
  readonly backend = 'redis' as const;
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix = 'weiban:') {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3, enableAutoPipelining: true });
    this.redis.defineCommand('wbCad', { numberOfKeys: 1, lua: COMPARE_AND_DELETE });
    this.redis.defineCommand('wbCas', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    this.redis.defineCommand('wbIncr', { numberOfKeys: 1, lua: INCR_WITH_TTL });
    this.redis.defineCommand('wbGiveBack', { numberOfKeys: 1, lua: GIVE_BACK });
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  /** Resolve once the connection answers; throws when Redis cannot be reached. */
  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.k(key));
  }

  async getAndTouch(key: string, ttlMs: number): Promise<string | null> {
    return this.redis.getex(this.k(key), 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    if (ttlMs === undefined) await this.redis.set(this.k(key), value);
    else await this.redis.set(this.k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const r =
      ttlMs === undefined
        ? await this.redis.set(this.k(key), value, 'NX')
        : await this.redis.set(this.k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    return r === 'OK';
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? '' : String(Math.max(1, Math.ceil(ttlMs)));
    const r = await (this.redis as unknown as Scripts).wbCas(this.k(key), expected, value, ttl);
    return r === 1;
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    const r = await (this.redis as unknown as Scripts).wbCad(this.k(key), expected);
    return r === 1;
  }

  async del(key: string): Promise<void> {
    await this.redis.del(this.k(key));
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    const ttl = ttlMs === undefined ? '' : String(Math.max(1, Math.ceil(ttlMs)));
    return (this.redis as unknown as Scripts).wbIncr(this.k(key), String(by), ttl);
  }

  async giveBack(key: string): Promise<void> {
    await (this.redis as unknown as Scripts).wbGiveBack(this.k(key));
  }

  async ttl(key: string): Promise<number | null> {
    const r = await this.redis.pttl(this.k(key));
    return r < 0 ? null : r;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

interface Scripts {
  wbCad(key: string, expected: string): Promise<number>;
  wbCas(key: string, expected: string, value: string, ttl: string): Promise<number>;
  wbIncr(key: string, by: string, ttl: string): Promise<number>;
  wbGiveBack(key: string): Promise<number>;
}
