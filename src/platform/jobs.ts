import { randomUUID } from 'node:crypto';
import { EntitySchema, type DataSource, type EntityManager } from 'typeorm';
import type { Clock } from './clock.ts';
import { epochMs, insertIgnoringDuplicate } from './db.ts';
import type { Logger } from './log.ts';

export interface JobRow {
  id: number;
  name: string;
  payload: string;
  status: 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
  runAt: number;
  attempts: number;
  maxAttempts: number;
  lockedUntil: number | null;
  lockedBy: string | null;
  lastError: string | null;
  uniqueKey: string | null;
  createdAt: number;
  updatedAt: number;
}

export const JobEntity = new EntitySchema<JobRow>({
  name: 'Job',
  tableName: 'jobs',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 64 },
    payload: { type: 'text' },
    status: { type: 'varchar', length: 16 },
    runAt: { name: 'run_at', type: 'bigint', transformer: epochMs },
    attempts: { type: 'integer', default: 0 },
    maxAttempts: { name: 'max_attempts', type: 'integer', default: 5 },
    lockedUntil: { name: 'locked_until', type: 'bigint', nullable: true, transformer: epochMs },
    lockedBy: { name: 'locked_by', type: 'varchar', length: 64, nullable: true },
    lastError: { name: 'last_error', type: 'text', nullable: true },
    uniqueKey: { name: 'unique_key', type: 'varchar', length: 191, nullable: true, unique: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    updatedAt: { name: 'updated_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ix_jobs_due', columns: ['status', 'runAt'] }],
});

export interface JobContext {
  id: number;
  attempt: number;
  name: string;
}

export interface JobDefinition<P> {
  run(payload: P, job: JobContext): Promise<void>;
  /** Total attempts before the job is marked failed (default 5). */
  maxAttempts?: number;
  /** Delay before retry n (1-based); default exponential from 10 s, capped at 1 h. */
  backoffMs?(attempt: number): number;
  /** How long one run may hold the job before another instance may take it over (default 2 min). */
  leaseMs?: number;
}

export interface EnqueueOptions {
  /** Absolute time to run at (epoch ms); defaults to now. */
  runAt?: number;
  delayMs?: number;
  /** At most one job ever exists with this key; enqueueing it again is a no-op. */
  uniqueKey?: string;
  /** Enqueue inside the caller's transaction, so the job exists only if the change it follows commits. */
  manager?: EntityManager;
}

/** Thrown by a job to say retrying is pointless (bad payload, a refusal that will not change). */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/**
 * Durable delayed jobs on the application database.
 *
 * Why the database and not a Redis queue (BullMQ): a job is written in the same transaction as the
 * state change it follows (a booking and its reminder, a case move and its push), so neither exists
 * without the other; due times follow the injectable clock, so deadline jobs are tested on a
 * simulated clock instead of by waiting; and the embedded default needs no extra service. Several
 * instances share the table: a job is claimed by a conditional UPDATE (only one claimant sees a
 * row change), a claim is a lease, and a lease left by a crashed instance is taken over when it ends.
 */
export class JobQueue {
  private readonly defs = new Map<string, JobDefinition<any>>();
  private readonly worker = `w-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = true;
  /** When the poll timer fires (wall time), and the earliest run time (clock) of a job enqueued here for later. */
  private timerAt = Infinity;
  private wakeAt = Infinity;

  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: { pollMs?: number; batch?: number } = {},
  ) {}

  define<P>(name: string, def: JobDefinition<P>): void {
    if (this.defs.has(name)) throw new Error(`job ${name} defined twice`);
    this.defs.set(name, def);
  }

  /** Returns the job id, or null when a job with the same unique key already exists. */
  async enqueue<P>(name: string, payload: P, opts: EnqueueOptions = {}): Promise<number | null> {
    const def = this.defs.get(name);
    if (!def) throw new Error(`job ${name} is not defined`);
    const now = this.clock.now();
    const row = {
      name,
      payload: JSON.stringify(payload ?? null),
      status: 'pending' as const,
      runAt: opts.runAt ?? now + (opts.delayMs ?? 0),
      attempts: 0,
      maxAttempts: def.maxAttempts ?? 5,
      lockedUntil: null,
      lockedBy: null,
      lastError: null,
      uniqueKey: opts.uniqueKey ?? null,
      createdAt: now,
      updatedAt: now,
    };
    const manager = opts.manager ?? this.ds.manager;
    // ON CONFLICT DO NOTHING: a duplicate key never aborts the caller's transaction.
    const id = await insertIgnoringDuplicate(manager, JobEntity, row);
    if (id !== null) {
      if (row.runAt <= now) this.kick();
      else this.wake(row.runAt);
    }
    return id;
  }

  /** Start polling for due jobs (a real-time timer; what is due follows the clock). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stop polling and wait for the run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => 0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = Date.now() + ms;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    this.timerAt = Infinity;
    // This run takes every job due now; a wake-up for a later one is set again by its enqueue.
    if (this.wakeAt <= this.clock.now()) this.wakeAt = Infinity;
    try {
      await this.runDue();
    } catch (err) {
      this.log.error({ err }, 'job poll failed');
    }
    this.schedule(this.nextPollMs());
  }

  /** The poll interval, or sooner when a job enqueued here is due before it (a batch chain's next step). */
  private nextPollMs(): number {
    const poll = this.opts.pollMs ?? 1000;
    const wait = this.wakeAt - this.clock.now();
    if (wait <= 0) this.wakeAt = Infinity; // due already (the clock moved during the run): poll now
    return Math.max(0, Math.min(poll, wait));
  }

  /** A job enqueued here for later: make sure the timer fires by then, not only at the next poll. */
  private wake(runAt: number): void {
    this.wakeAt = Math.min(this.wakeAt, runAt);
    if (this.running || this.stopped) return; // the drain in progress schedules the next tick by nextPollMs
    const ms = Math.max(0, runAt - this.clock.now());
    if (Date.now() + ms < this.timerAt) this.schedule(ms);
  }

  /** A job was just enqueued here: look now rather than at the next poll. */
  private kick(): void {
    if (!this.running) this.schedule(0);
  }

  /**
   * Claim and run every job that is due now, until none is left. Returns how many ran.
   * Tests call this after moving the clock.
   */
  async runDue(): Promise<number> {
    if (this.running) {
      await this.running.catch(() => 0);
    }
    const p = this.drain();
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async drain(): Promise<number> {
    let ran = 0;
    for (let round = 0; round < 1000; round++) {
      const batch = await this.claimBatch();
      if (batch.length === 0) break;
      for (const job of batch) {
        await this.execute(job);
        ran++;
      }
    }
    return ran;
  }

  private async claimBatch(): Promise<JobRow[]> {
    const now = this.clock.now();
    const repo = this.ds.getRepository(JobEntity);
    const candidates = await repo
      .createQueryBuilder('j')
      .where('(j.status = :pending AND j.run_at <= :now) OR (j.status = :running AND j.locked_until < :now)', {
        pending: 'pending',
        running: 'running',
        now,
      })
      .orderBy('j.run_at', 'ASC')
      .addOrderBy('j.id', 'ASC')
      .limit(this.opts.batch ?? 20)
      .getMany();
    const claimed: JobRow[] = [];
    for (const c of candidates) {
      const def = this.defs.get(c.name);
      if (!def) continue; // another instance (or a later version) knows this job
      const lease = def.leaseMs ?? 120_000;
      const res = await repo
        .createQueryBuilder()
        .update(JobEntity)
        .set({ status: 'running', lockedUntil: now + lease, lockedBy: this.worker, attempts: c.attempts + 1, updatedAt: now })
        .where('id = :id AND attempts = :attempts AND ((status = :pending AND run_at <= :now) OR (status = :running AND locked_until < :now))', {
          id: c.id,
          attempts: c.attempts,
          pending: 'pending',
          running: 'running',
          now,
        })
        .execute();
      if (res.affected === 1) claimed.push({ ...c, status: 'running', attempts: c.attempts + 1, lockedBy: this.worker });
    }
    return claimed;
  }

  private async execute(job: JobRow): Promise<void> {
    const def = this.defs.get(job.name)!;
    const repo = this.ds.getRepository(JobEntity);
    let payload: unknown;
    try {
      payload = JSON.parse(job.payload);
      await def.run(payload, { id: job.id, attempt: job.attempts, name: job.name });
      await repo.update({ id: job.id, lockedBy: this.worker }, { status: 'done', lockedUntil: null, updatedAt: this.clock.now(), lastError: null });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentJobError || err instanceof SyntaxError;
      const now = this.clock.now();
      if (permanent || job.attempts >= job.maxAttempts) {
        this.log.error({ job: job.name, id: job.id, attempt: job.attempts, err: message }, 'job failed for good');
        await repo.update({ id: job.id, lockedBy: this.worker }, { status: 'failed', lockedUntil: null, lastError: message.slice(0, 2000), updatedAt: now });
      } else {
        const delay = def.backoffMs?.(job.attempts) ?? Math.min(10_000 * 2 ** (job.attempts - 1), 3_600_000);
        this.log.warn({ job: job.name, id: job.id, attempt: job.attempts, retryInMs: delay, err: message }, 'job failed, will retry');
        await repo.update(
          { id: job.id, lockedBy: this.worker },
          { status: 'pending', runAt: now + delay, lockedUntil: null, lastError: message.slice(0, 2000), updatedAt: now },
        );
      }
    }
  }

  /** Jobs by status, for the staff panel and tests. */
  async list(filter: { status?: JobRow['status']; name?: string } = {}): Promise<JobRow[]> {
    return this.ds.getRepository(JobEntity).find({ where: { ...filter }, order: { id: 'ASC' } });
  }

  /** Call off a job that has not run yet (a reminder for a cancelled booking). */
  async cancel(uniqueKey: string, manager?: EntityManager): Promise<boolean> {
    const res = await (manager ?? this.ds.manager)
      .getRepository(JobEntity)
      .update({ uniqueKey, status: 'pending' }, { status: 'cancelled', updatedAt: this.clock.now() });
    return res.affected === 1;
  }

  /**
   * Call off every job not yet run whose unique key starts with `keyPrefix` (a case's deadline
   * checks, whichever due time they were scheduled for). Returns how many were called off.
   */
  async cancelByPrefix(keyPrefix: string, manager?: EntityManager): Promise<number> {
    if (!keyPrefix) throw new Error('cancelByPrefix needs a non-empty prefix');
    const res = await (manager ?? this.ds.manager)
      .createQueryBuilder()
      .update(JobEntity)
      .set({ status: 'cancelled', updatedAt: this.clock.now() })
      // substr rather than LIKE: no wildcard escaping, the same on SQLite and PostgreSQL
      .where('status = :pending AND substr(unique_key, 1, :len) = :prefix', { pending: 'pending', len: keyPrefix.length, prefix: keyPrefix })
      .execute();
    return res.affected ?? 0;
  }

  /** Put a failed job back in the queue (from the staff panel). */
  async retry(id: number): Promise<boolean> {
    const now = this.clock.now();
    const res = await this.ds
      .getRepository(JobEntity)
      .update({ id, status: 'failed' }, { status: 'pending', runAt: now, attempts: 0, updatedAt: now });
    if (res.affected) this.kick();
    return res.affected === 1;
  }
}

