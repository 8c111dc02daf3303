import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, SECOND } from '../../src/platform/clock.ts';
import { LockTimeoutError, MemoryKv, tryLock, withLock, type Kv } from '../../src/platform/kv/index.ts';
import { RedisKv } from '../../src/platform/kv/redis.ts';
import { available, KV_BACKENDS, uniqueName } from '../helpers/backends.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of KV_BACKENDS) {
  describe.skipIf(!available(backend))(`kv on ${backend.label}`, () => {
    let kv: Kv;
    let clock: FakeClock;
    /** Let a TTL pass: move the fake clock for memory, wait for real on Redis. */
    let pass: (ms: number) => Promise<void>;

    beforeAll(async () => {
      clock = new FakeClock();
      if (backend.name === 'memory') {
        kv = new MemoryKv(clock);
        pass = async (ms) => clock.advance(ms);
      } else {
        const r = new RedisKv(backend.url!, `${uniqueName('kvtest')}:`);
        await r.ping();
        kv = r;
        pass = async (ms) => void (await sleep(ms));
      }
    });
    afterAll(async () => kv.close());

    it('get, set, del', async () => {
      expect(await kv.get('a')).toBeNull();
      await kv.set('a', '1');
      expect(await kv.get('a')).toBe('1');
      await kv.del('a');
      expect(await kv.get('a')).toBeNull();
    });

    it('expires values after their TTL', async () => {
      // Long enough that a loaded machine reaches the reads before Redis's real clock expires it.
      await kv.set('ttl', 'x', 1000);
      expect(await kv.get('ttl')).toBe('x');
      const ttl = await kv.ttl('ttl');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1000);
      await pass(1100);
      expect(await kv.get('ttl')).toBeNull();
      expect(await kv.ttl('ttl')).toBeNull();
    });

    it('getAndTouch reads a value and restarts its TTL; a missing key stays missing', async () => {
      expect(await kv.getAndTouch('touch-none', 2000)).toBeNull();
      expect(await kv.get('touch-none')).toBeNull();
      await kv.set('touch', 'v', 2000);
      await pass(1200);
      expect(await kv.getAndTouch('touch', 2000)).toBe('v');
      expect(await kv.ttl('touch')).toBeGreaterThan(1800); // counted again from the read
      await pass(1200); // 2,400 ms after it was set: alive only because the read restarted its TTL
      expect(await kv.get('touch')).toBe('v');
      await pass(1000);
      expect(await kv.get('touch')).toBeNull();
    });

    it('setIfAbsent lets exactly one of many concurrent callers win', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.setIfAbsent('once', String(i), 5 * SECOND)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('compareAndSet and compareAndDelete act only on the expected value', async () => {
      await kv.set('cas', 'v1');
      expect(await kv.compareAndSet('cas', 'v0', 'v2')).toBe(false);
      expect(await kv.compareAndSet('cas', 'v1', 'v2')).toBe(true);
      expect(await kv.get('cas')).toBe('v2');
      expect(await kv.compareAndDelete('cas', 'v1')).toBe(false);
      expect(await kv.compareAndDelete('cas', 'v2')).toBe(true);
      expect(await kv.get('cas')).toBeNull();
      expect(await kv.compareAndSet('missing', 'x', 'y')).toBe(false);
    });

    it('compareAndSet keeps the TTL unless given a new one', async () => {
      await kv.set('keep', 'a', 80);
      expect(await kv.compareAndSet('keep', 'a', 'b')).toBe(true);
      await pass(160);
      expect(await kv.get('keep')).toBeNull();
    });

    it('incr counts atomically and sets the TTL on creation only', async () => {
      const n = await Promise.all(Array.from({ length: 20 }, () => kv.incr('count', 1, 10 * SECOND)));
      expect(Math.max(...n)).toBe(20);
      expect(new Set(n).size).toBe(20);
      expect(await kv.incr('count', 5)).toBe(25);
      expect(await kv.ttl('count')).toBeGreaterThan(0);
    });

    it('a count back at its first value keeps its window; a given-back try never goes below 0 or outlives the window', async () => {
      expect(await kv.incr('tries', 1, 10 * SECOND)).toBe(1);
      const window = (await kv.ttl('tries'))!;
      await kv.giveBack('tries');
      await pass(60);
      expect(await kv.incr('tries', 1, 10 * SECOND)).toBe(1); // back to 1: the same window, not a new one
      expect((await kv.ttl('tries'))!).toBeLessThan(window);
      await kv.giveBack('tries');
      await kv.giveBack('tries');
      expect(await kv.get('tries')).toBe('0');
      await kv.giveBack('never-counted');
      expect(await kv.get('never-counted')).toBeNull(); // an ended window stays ended
      await kv.set('short', '3', 80);
      await pass(160);
      await kv.giveBack('short');
      expect(await kv.get('short')).toBeNull();
    });

    it('locks: one holder at a time, release only by the holder, TTL bounds a crashed holder', async () => {
      const a = await tryLock(kv, 'job', 80);
      expect(a).not.toBeNull();
      expect(await tryLock(kv, 'job', 80)).toBeNull();
      await pass(160); // holder "crashed"
      const b = await tryLock(kv, 'job', 5 * SECOND);
      expect(b).not.toBeNull();
      expect(await a!.release()).toBe(false); // a's token is stale: it cannot free b's lock
      expect(await b!.release()).toBe(true);
    });

    it('withLock serialises critical sections and times out when it cannot get in', async () => {
      let inside = 0;
      let maxInside = 0;
      await Promise.all(
        Array.from({ length: 5 }, () =>
          withLock(kv, 'crit', { ttlMs: 5 * SECOND, waitMs: 5 * SECOND }, async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await sleep(5);
            inside--;
          }),
        ),
      );
      expect(maxInside).toBe(1);
      const held = await tryLock(kv, 'busy', 5 * SECOND);
      await expect(withLock(kv, 'busy', { ttlMs: 1000, waitMs: 30 }, async () => 1)).rejects.toBeInstanceOf(LockTimeoutError);
      await held!.release();
    });
  });
}

describe('locks on the memory kv (the embedded default: one instance, many requests at once)', () => {
  it('of many takers at once exactly one holds it, until it is released or its TTL ends', async () => {
    const clock = new FakeClock();
    const kv = new MemoryKv(clock);
    const takers = await Promise.all(Array.from({ length: 50 }, () => tryLock(kv, 'exclusive', 10 * SECOND)));
    const holders = takers.filter((l) => l !== null);
    expect(holders).toHaveLength(1);
    expect(await tryLock(kv, 'exclusive', 10 * SECOND)).toBeNull();
    expect(await kv.compareAndDelete('lock:exclusive', 'not-the-token')).toBe(false);
    expect(await tryLock(kv, 'exclusive', 10 * SECOND)).toBeNull(); // still held
    expect(await holders[0]!.release()).toBe(true);
    expect(await holders[0]!.release()).toBe(false); // once
    const next = await tryLock(kv, 'exclusive', 10 * SECOND);
    expect(next).not.toBeNull();
    clock.advance(10 * SECOND - 1);
    expect(await tryLock(kv, 'exclusive', 10 * SECOND)).toBeNull();
    clock.advance(1); // its holder crashed: the TTL ends it
    expect(await tryLock(kv, 'exclusive', 10 * SECOND)).not.toBeNull();
    expect(await next!.release()).toBe(false);
  });

  it('withLock keeps critical sections apart and gives up after waitMs', async () => {
    const kv = new MemoryKv(new FakeClock());
    const order: string[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        withLock(kv, 'section', { ttlMs: 10 * SECOND, waitMs: 5 * SECOND }, async () => {
          order.push(`in${n}`);
          await sleep(3);
          order.push(`out${n}`);
        }),
      ),
    );
    // Never two inside at once: every "in" is followed by its own "out".
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]!.replace('in', 'out'));
    const held = await tryLock(kv, 'section', 10 * SECOND);
    await expect(withLock(kv, 'section', { ttlMs: 1000, waitMs: 40 }, async () => 'never')).rejects.toBeInstanceOf(LockTimeoutError);
    await held!.release();
    expect(await withLock(kv, 'section', { ttlMs: 1000 }, async () => 'free')).toBe('free');
  });
});

describe('memory kv housekeeping', () => {
  it('sweeps expired keys so a stream of unique keys does not grow without bound', async () => {
    const clock = new FakeClock();
    const kv = new MemoryKv(clock);
    for (let i = 0; i < 25_000; i++) {
      await kv.set(`k${i}`, 'x', 1000);
      clock.advance(1);
    }
    // only keys from the last second (plus those since the last sweep) may remain
    expect((kv as unknown as { entries: Map<string, unknown> }).entries.size).toBeLessThan(12_000);
  });
});
