import { describe, expect, it } from 'vitest';
import { FakeClock, SECOND } from '../../src/platform/clock.ts';
import { RecentKeys } from '../../src/wechat/recent.ts';

describe('recently claimed messages (fixed-memory filter)', () => {
  const key = (i: number) => `o_${(i * 7919) % 100_000}:${7_000_000_000_000_000 + i}`;

  it('remembers a key for at least one window and forgets it after two', () => {
    const clock = new FakeClock();
    const recent = new RecentKeys(30 * SECOND, clock);
    expect(recent.mayHave(key(1))).toBe(false);
    recent.add(key(1));
    clock.advance(29 * SECOND);
    recent.add(key(2)); // late in the first window
    expect(recent.mayHave(key(1))).toBe(true);
    clock.advance(2 * SECOND); // a new window: both still remembered
    expect([recent.mayHave(key(1)), recent.mayHave(key(2))]).toEqual([true, true]);
    clock.advance(28 * SECOND); // key 2 added 30 s ago: still there, at the end of its second window
    expect(recent.mayHave(key(2))).toBe(true);
    clock.advance(31 * SECOND); // two windows on: gone
    expect([recent.mayHave(key(1)), recent.mayHave(key(2))]).toEqual([false, false]);
  });

  it('after a long quiet spell forgets everything at once', () => {
    const clock = new FakeClock();
    const recent = new RecentKeys(30 * SECOND, clock);
    recent.add(key(1));
    clock.advance(5 * 60 * SECOND);
    expect(recent.mayHave(key(1))).toBe(false);
  });

  it('never says no for a key added within the window, and rarely yes for one never added (150,000 keys a window)', () => {
    const clock = new FakeClock();
    const recent = new RecentKeys(30 * SECOND, clock);
    for (let i = 0; i < 150_000; i++) recent.add(key(i));
    for (let i = 0; i < 150_000; i += 97) expect(recent.mayHave(key(i))).toBe(true);
    let wrong = 0;
    for (let i = 150_000; i < 250_000; i++) if (recent.mayHave(key(i))) wrong++;
    expect(wrong / 100_000).toBeLessThan(0.02);
  });

  it('a size that is not a power of two is refused', () => {
    expect(() => new RecentKeys(1000, new FakeClock(), 1000)).toThrow(/power of two/);
  });
});
