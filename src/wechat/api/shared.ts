import type { Clock } from '../../platform/clock.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';

/** A credential fetched from the platform: the value and when it stops working. */
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
  /**
   * The field the value is stored under (`{ token, expiresAt }`, `{ ticket, expiresAt }`): the
   * shape every version of weiban reads and writes, so instances of two versions side by side
   * (a rolling deploy, a rollback) share one entry.
   */
  field: string;
  clock: Clock;
  marginMs: number;
  waitMs?: number;
  fetch: () => Promise<Stored>;
  timeout: () => Error;
}): Promise<string> {
  const deadline = Date.now() + (o.waitMs ?? 10_000);
  const read = async (): Promise<Stored | null> => {
    const raw = await o.kv.get(o.key);
    if (!raw) return null;
    const s = JSON.parse(raw) as Record<string, unknown>;
    return { value: s[o.field] as string, expiresAt: Number(s.expiresAt) };
  };
  // An entry without the value (another shape) counts as none: it is fetched again.
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
        await o.kv.set(o.key, JSON.stringify({ [o.field]: got.value, expiresAt: got.expiresAt }));
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
