import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../src/paths.ts';
import { FakeClock } from '../src/platform/clock.ts';
import { dropSchema } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/log.ts';
import { parseProfile, resolveIncludes } from '../src/profile/load.ts';
import { BookingError } from '../src/services/appointments/index.ts';
import { start, type Instance } from '../src/server.ts';

const CAPACITY = 5;
const ATTEMPTS = 400;
const ROUNDS = 5;

async function instance(db: 'sqlite' | 'postgres', capacity: number): Promise<{ inst: Instance; schema: string | null }> {
  const dir = join(PROJECT_ROOT, 'config');
  const { raw, included } = resolveIncludes(parse(readFileSync(join(dir, 'profile.yaml'), 'utf8')), dir);
  const p = raw as Record<string, any>;
  p.menu.sync_on_start = false;
  p.services.find((s: { id: string }) => s.id === 'senior-card').appointment.capacity_per_slot = capacity;
  p.services.find((s: { id: string }) => s.id === 'senior-card').appointment.days_ahead = 30;
  const schema = db === 'postgres' ? `bench_${Date.now().toString(36)}` : null;
  const inst = await start({
    env: { DATABASE_URL: db === 'postgres' ? process.env.DATABASE_URL : join(mkdtempSync(join(tmpdir(), 'weiban-bench-')), 'b.sqlite'), REDIS_URL: '' },
    profile: { profile: parseProfile(p, 'profile.yaml', included), file: join(dir, 'profile.yaml'), dir },
    clock: new FakeClock(Date.UTC(2026, 10, 23, 2)),
    port: 0,
    host: '127.0.0.1',
    runJobs: false,
    log: createLogger({ level: 'silent' }),
    ...(schema ? { dbSchema: schema } : {}),
  });
  return { inst, schema };
}

/** Slot starts at the xinhua hall: weekdays 9:00 onwards, 30 minutes each. */
function slots(n: number): number[] {
  const out: number[] = [];
  for (let day = 24; out.length < n; day++) {
    const t = Date.UTC(2026, 10, day, 1); // 9:00 China time
    const weekday = new Date(t + 8 * 3_600_000).getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    for (let k = 0; k < 14 && out.length < n; k++) out.push(t + (k < 6 ? k : k + 2) * 30 * 60_000); // skip the lunch break
  }
  return out;
}

async function measure(db: 'sqlite' | 'postgres'): Promise<string[]> {
  const { inst, schema } = await instance(db, CAPACITY);
  try {
    const starts = slots(ROUNDS + ATTEMPTS);
    // baseline: bookings one after another, each on its own free slot (no contention)
    const seq0 = performance.now();
    for (let i = 0; i < ATTEMPTS; i++) {
      await inst.appointments.book({ openid: `o_seq_${i}`, serviceId: 'senior-card', hallId: 'xinhua', start: starts[ROUNDS + i]!, channel: 'h5', notify: false });
    }
    const seqRate = ATTEMPTS / ((performance.now() - seq0) / 1000);
    // contention: ATTEMPTS concurrent citizens on a slot with CAPACITY places, ROUNDS times
    let made = 0;
    let other = 0;
    const t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) {
      const results = await Promise.all(
        Array.from({ length: ATTEMPTS }, (_, i) =>
          inst.appointments.book({ openid: `o_r${r}_${i}`, serviceId: 'senior-card', hallId: 'xinhua', start: starts[r]!, channel: 'h5', notify: false }).then(
            () => 'ok',
            (e: unknown) => (e instanceof BookingError ? e.code : 'error'),
          ),
        ),
      );
      made += results.filter((x) => x === 'ok').length;
      other += results.filter((x) => x !== 'ok' && x !== 'full').length;
    }
    const rate = (ROUNDS * ATTEMPTS) / ((performance.now() - t0) / 1000);
    return [
      `| ${db} | ${ROUNDS} × ${ATTEMPTS} on ${CAPACITY} places | ${rate.toFixed(0)} | ${seqRate.toFixed(0)} | ${(rate / seqRate).toFixed(2)}× | ${made} (expected ${ROUNDS * CAPACITY}) | ${other} |`,
    ];
  } finally {
    await inst.close();
    if (schema) await dropSchema(process.env.DATABASE_URL!, schema);
  }
}

export async function benchBooking(): Promise<void> {
  console.log('\n## Booking under contention: concurrent citizens racing for the last places of a slot\n');
  console.log('| database | attempts | attempts/s | baseline: uncontended bookings/s | ratio | bookings made | errors other than "full" |');
  console.log('|---|---|---:|---:|---:|---|---:|');
  for (const line of await measure('sqlite')) console.log(line);
  if (process.env.DATABASE_URL?.startsWith('postgres')) for (const line of await measure('postgres')) console.log(line);
  else console.log('| postgres | skipped: DATABASE_URL is not set to a postgres:// URL | | | | | |');
}
