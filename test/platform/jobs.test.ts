import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.ts';
import { entities } from '../../src/entities.ts';
import { FakeClock, MINUTE, SECOND } from '../../src/platform/clock.ts';
import { dropSchema, openDatabase, parseDatabaseUrl } from '../../src/platform/db.ts';
import { JobEntity, JobQueue, PermanentJobError } from '../../src/platform/jobs.ts';
import { createLogger } from '../../src/platform/log.ts';
import { available, DB_BACKENDS, uniqueName } from '../helpers/backends.ts';

const log = createLogger({ level: 'silent' });

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`jobs on ${backend.label}`, () => {
    let clock: FakeClock;
    let schema: string;
    let file: string;
    const opened: DataSource[] = [];

    /** Open (another connection to) the same database, as a second instance or a restart would. */
    async function open(): Promise<DataSource> {
      const url = backend.name === 'sqlite' ? `sqlite:${file}` : backend.url!;
      const ds = await openDatabase({ target: parseDatabaseUrl(url), entities, migrations, schema });
      opened.push(ds);
      return ds;
    }

    beforeEach(() => {
      clock = new FakeClock();
      schema = uniqueName('jobs');
      file = join(tmpdir(), `${schema}.sqlite`);
    });
    afterEach(async () => {
      for (const ds of opened.splice(0)) if (ds.isInitialized) await ds.destroy();
      if (backend.name === 'postgres') await dropSchema(backend.url!, schema);
      else for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    });

    it('runs a job when it is due on the clock, not before', async () => {
      const q = new JobQueue(await open(), clock, log);
      const ran: string[] = [];
      q.define<{ who: string }>('hello', { run: async (p) => void ran.push(p.who) });
      await q.enqueue('hello', { who: 'now' });
      await q.enqueue('hello', { who: 'later' }, { delayMs: 10 * MINUTE });
      expect(await q.runDue()).toBe(1);
      expect(ran).toEqual(['now']);
      clock.advance(9 * MINUTE);
      expect(await q.runDue()).toBe(0);
      clock.advance(MINUTE);
      expect(await q.runDue()).toBe(1);
      expect(ran).toEqual(['now', 'later']);
      expect((await q.list({ status: 'done' })).length).toBe(2);
    });

    it('calls off pending jobs by key prefix, and only those: not another key that merely starts alike, not one already run', async () => {
      const q = new JobQueue(await open(), clock, log);
      const ran: string[] = [];
      q.define<{ k: string }>('check', { run: async (p) => void ran.push(p.k) });
      await q.enqueue('check', { k: 'done' }, { uniqueKey: 'case:1:overdue:5:1' });
      await q.runDue();
      for (const k of ['case:1:overdue:9:2', 'case:1:overdue:9:4', 'case:10:overdue:9:1', 'case:1:other']) await q.enqueue('check', { k }, { uniqueKey: k, delayMs: MINUTE });
      expect(await q.cancelByPrefix('case:1:overdue:')).toBe(2);
      clock.advance(MINUTE);
      await q.runDue();
      expect(ran).toEqual(['done', 'case:10:overdue:9:1', 'case:1:other']);
      expect((await q.list({ status: 'cancelled' })).map((j) => j.uniqueKey)).toEqual(['case:1:overdue:9:2', 'case:1:overdue:9:4']);
    });

    it('retries with back-off and marks a job failed after its last attempt', async () => {
      const q = new JobQueue(await open(), clock, log);
      let calls = 0;
      q.define('flaky', { maxAttempts: 3, backoffMs: (n) => n * MINUTE, run: async () => void (calls++, (() => { throw new Error('platform busy'); })()) });
      await q.enqueue('flaky', {});
      await q.runDue();
      expect(calls).toBe(1);
      clock.advance(59 * SECOND);
      await q.runDue();
      expect(calls).toBe(1); // back-off not over
      clock.advance(SECOND);
      await q.runDue();
      expect(calls).toBe(2);
      clock.advance(2 * MINUTE);
      await q.runDue();
      expect(calls).toBe(3);
      const [job] = await q.list({ name: 'flaky' });
      expect(job).toMatchObject({ status: 'failed', attempts: 3, lastError: 'platform busy' });
      clock.advance(60 * MINUTE);
      await q.runDue();
      expect(calls).toBe(3);
      expect(await q.retry(job!.id)).toBe(true);
      await q.runDue();
      expect(calls).toBe(4);
    });

    it('does not retry a permanent failure', async () => {
      const q = new JobQueue(await open(), clock, log);
      let calls = 0;
      q.define('bad', { run: async () => { calls++; throw new PermanentJobError('refused'); } });
      await q.enqueue('bad', {});
      await q.runDue();
      clock.advance(60 * MINUTE);
      await q.runDue();
      expect(calls).toBe(1);
      expect((await q.list({ name: 'bad' }))[0]).toMatchObject({ status: 'failed', lastError: 'refused' });
    });

    it('a unique key is enqueued once, also inside a transaction', async () => {
      const ds = await open();
      const q = new JobQueue(ds, clock, log);
      q.define('remind', { run: async () => {} });
      expect(await q.enqueue('remind', { a: 1 }, { uniqueKey: 'booking:1' })).not.toBeNull();
      expect(await q.enqueue('remind', { a: 2 }, { uniqueKey: 'booking:1' })).toBeNull();
      // inside a transaction the duplicate must not abort it (PostgreSQL would, on a raised violation)
      await ds.transaction(async (m) => {
        expect(await q.enqueue('remind', { a: 3 }, { uniqueKey: 'booking:1', manager: m })).toBeNull();
        expect(await q.enqueue('remind', { a: 4 }, { uniqueKey: 'booking:2', manager: m })).not.toBeNull();
      });
      expect((await q.list()).map((j) => j.uniqueKey)).toEqual(['booking:1', 'booking:2']);
    });

    it('a job enqueued in a transaction that rolls back never exists', async () => {
      const ds = await open();
      const q = new JobQueue(ds, clock, log);
      q.define('push', { run: async () => {} });
      await expect(
        ds.transaction(async (m) => {
          await q.enqueue('push', {}, { manager: m });
          throw new Error('the change it follows failed');
        }),
      ).rejects.toThrow();
      expect(await ds.getRepository(JobEntity).count()).toBe(0);
    });

    it('survives a restart: a job enqueued before is run by the next process', async () => {
      const first = await open();
      const q1 = new JobQueue(first, clock, log);
      q1.define('later', { run: async () => {} });
      await q1.enqueue('later', { n: 1 }, { delayMs: MINUTE });
      await first.destroy();
      const second = await open();
      const q2 = new JobQueue(second, clock, log);
      const seen: unknown[] = [];
      q2.define('later', { run: async (p) => void seen.push(p) });
      clock.advance(MINUTE);
      await q2.runDue();
      expect(seen).toEqual([{ n: 1 }]);
    });

    it('wakes for a job enqueued for later when it is due, not at the next poll (a notice batch chain keeps its rate)', async () => {
      const ds = await open();
      // Real time for the database's answers between the fake steps (PostgreSQL answers over a
      // socket, slower on a busy machine: one event-loop turn per step was not always enough).
      const settle = ((wait) => () => new Promise<void>((r) => wait(r, 25)))(globalThis.setTimeout);
      // The poll timer is wall time: faked here, and moved together with the clock.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      try {
        const q = new JobQueue(ds, clock, log, { pollMs: 60 * SECOND });
        const ran: number[] = [];
        q.define<{ n: number }>('step', {
          run: async (p) => {
            ran.push(p.n);
            if (p.n < 3) await q.enqueue('step', { n: p.n + 1 }, { delayMs: 250, uniqueKey: `step:${p.n + 1}` });
          },
        });
        await q.enqueue('step', { n: 1 }, { uniqueKey: 'step:1' });
        q.start();
        /** Move the clock and the timers together in 10 ms steps until `n` steps have run; the time it took. */
        const until = async (n: number): Promise<number> => {
          for (let ms = 0; ms <= 5_000; ms += 10) {
            await settle(); // the queries of a run in progress
            if (ran.length >= n) return ms;
            clock.advance(10);
            await vi.advanceTimersByTimeAsync(10);
          }
          return Infinity;
        };
        expect(await until(1)).toBeLessThan(50);
        const second = await until(2);
        expect(second).toBeGreaterThanOrEqual(250); // not before it is due
        expect(second).toBeLessThan(400); // and not at the next poll, a minute later
        expect(await until(3)).toBeLessThan(second + 400);
        expect(ran).toEqual([1, 2, 3]);
        await q.stop();
      } finally {
        vi.useRealTimers();
      }
    });

    it('two instances on one database run each job exactly once', async () => {
      const a = new JobQueue(await open(), clock, log, { batch: 5 });
      const b = new JobQueue(await open(), clock, log, { batch: 5 });
      const runs = new Map<number, number>();
      const def = { run: async (p: { i: number }) => void runs.set(p.i, (runs.get(p.i) ?? 0) + 1) };
      a.define('work', def);
      b.define('work', def);
      for (let i = 0; i < 60; i++) await a.enqueue('work', { i });
      await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
      expect(runs.size).toBe(60);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
    });

    it('a job left running by a crashed instance is taken over when its lease ends', async () => {
      const ds = await open();
      const q = new JobQueue(ds, clock, log);
      let runs = 0;
      q.define('long', { leaseMs: 2 * MINUTE, run: async () => void runs++ });
      const id = (await q.enqueue('long', {}))!;
      // simulate an instance that claimed it and died
      await ds.getRepository(JobEntity).update({ id }, { status: 'running', lockedUntil: clock.now() + 2 * MINUTE, lockedBy: 'dead', attempts: 1 });
      await q.runDue();
      expect(runs).toBe(0);
      clock.advance(2 * MINUTE + 1);
      await q.runDue();
      expect(runs).toBe(1);
      expect((await q.list())[0]).toMatchObject({ status: 'done', attempts: 2 });
    });

    it('refuses to enqueue an unknown job and a corrupt payload fails without retries', async () => {
      const ds = await open();
      const q = new JobQueue(ds, clock, log);
      await expect(q.enqueue('nope', {})).rejects.toThrow(/not defined/);
      q.define('parse', { run: async () => {} });
      const id = (await q.enqueue('parse', {}))!;
      await ds.getRepository(JobEntity).update({ id }, { payload: '{not json' });
      await q.runDue();
      expect((await q.list())[0]).toMatchObject({ status: 'failed', attempts: 1 });
    });
  });
}
