import type { Clock } from '../../platform/clock.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';

/** A credential kept in the shared store: the value and when it stops working. */
export interface Stored {
  value: string;
  expiresAt: number;
}

/**
 * A value every instance shares (the access token, the jsapi_ticket): read from the kv store while
 * it has more than `marginMs` left; otherwise one instance fetches a new one under a lock while the
 * others wait for it, so the platform is asked once however many instances need it at once.
 * Waiting gives up after `waitMs` (wall time: it waits on another process), returning a value that
 * is near its end but still valid, or throwing `timeout()`.
 */
export async function sharedValue(o: {
  kv: Kv;
  key: string;
  clock: Clock;
  marginMs: number;
  waitMs?: number;
  fetch: () => Promise<Stored>;
  timeout: () => Error;
}): Promise<string> {
  const deadline = Date.now() + (o.waitMs ?? 10_000);
  const read = async () => {
    const raw = await o.kv.get(o.key);
    return raw ? (JSON.parse(raw) as Stored) : null;
  };
  // An entry in another shape (an older version's) counts as none: it is fetched again.
  const usable = (s: Stored | null, margin: number): string | null => (s && typeof s.value === 'string' && s.expiresAt - margin > o.clock.now() ? s.value : null);
  for (;;) {
    const stored = await read();
    const current = usable(stored, o.marginMs);
    if (current !== null) return current;
    const lock = await tryLock(o.kv, `${o.key}:refresh`, 15_000);
    if (lock) {
      try {
        const again = usable(await read(), o.marginMs); // someone may have refreshed meanwhile
        if (again !== null) return again;
        const got = await o.fetch();
        await o.kv.set(o.key, JSON.stringify(got));
        return got.value;
      } finally {
        await lock.release();
      }
    }
    if (Date.now() > deadline) {
      const nearItsEnd = usable(stored, 0); // still valid, just near its end
      if (nearItsEnd !== null) return nearItsEnd;
      throw o.timeout();
    }
    await new Promise<void>((r) => setTimeout(r, 50));
  }
}
