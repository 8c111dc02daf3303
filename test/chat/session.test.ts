import { describe, expect, it } from 'vitest';
import { Sessions } from '../../src/chat/session.ts';
import { FakeClock, MINUTE } from '../../src/platform/clock.ts';
import { MemoryKv } from '../../src/platform/kv/index.ts';

describe('chat sessions', () => {
  function rig() {
    const clock = new FakeClock();
    const kv = new MemoryKv(clock);
    const writes: string[] = [];
    const counting = Object.assign(Object.create(kv) as MemoryKv, {
      set: (k: string, v: string, ttl?: number) => (writes.push(v), kv.set(k, v, ttl)),
    });
    let seeds = 0;
    const sessions = new Sessions(counting, 30 * MINUTE, async () => (seeds++, { audience: 'elderly', human: null }));
    return { clock, sessions, writes, seeds: () => seeds };
  }

  it('is written back only when it changed; reading it keeps it alive for another idle timeout', async () => {
    const { clock, sessions, writes, seeds } = rig();
    const s = await sessions.load('o_sess');
    expect(s).toEqual({ audience: 'elderly', list: null, dialog: null, human: null });
    await sessions.save('o_sess', s); // new: written
    expect(writes).toHaveLength(1);
    // A keyword answer changes nothing: nothing is written, every 20 minutes for two hours.
    for (let i = 0; i < 6; i++) {
      clock.advance(20 * MINUTE);
      const again = await sessions.load('o_sess');
      expect(again).toEqual(s);
      await sessions.save('o_sess', again);
    }
    expect(writes).toHaveLength(1);
    expect(seeds()).toBe(1); // never forgotten: each message restarted the idle timeout
    // A list shown is a change: written.
    const shown = await sessions.load('o_sess');
    shown.list = { kind: 'audiences' };
    await sessions.save('o_sess', shown);
    expect(writes).toHaveLength(2);
    expect((await sessions.load('o_sess')).list).toEqual({ kind: 'audiences' });
    // Idle past the timeout: forgotten, seeded again.
    clock.advance(30 * MINUTE + 1);
    expect((await sessions.load('o_sess')).list).toBeNull();
    expect(seeds()).toBe(2);
  });
});
