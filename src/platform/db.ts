import { closeSync, fdatasync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DataSource, type DataSourceOptions, type EntityManager, type EntitySchema, type MigrationInterface, type ObjectLiteral, type QueryResult, type QueryRunner, type ValueTransformer } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';

export type DbKind = 'sqlite' | 'postgres';

export interface DbTarget {
  kind: DbKind;
  /** SQLite file path (or ':memory:') or PostgreSQL connection URL. */
  location: string;
}

/**
 * Read DATABASE_URL: absent → a SQLite file under ./data/; a file path or `sqlite:` URL → SQLite
 * there; `postgres://` / `postgresql://` → PostgreSQL.
 */
export function parseDatabaseUrl(url: string | undefined, cwd = process.cwd()): DbTarget {
  if (!url || url.trim() === '') return { kind: 'sqlite', location: resolve(cwd, 'data', 'weiban.sqlite') };
  const u = url.trim();
  if (/^postgres(ql)?:\/\//i.test(u)) return { kind: 'postgres', location: u };
  if (/^sqlite:/i.test(u)) {
    let rest = u.slice('sqlite:'.length);
    if (rest.startsWith('//')) rest = rest.slice(2); // sqlite:///abs/path → /abs/path
    if (rest === ':memory:' || rest === '') return { kind: 'sqlite', location: ':memory:' };
    return { kind: 'sqlite', location: resolve(cwd, rest) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
    throw new Error(`DATABASE_URL: unsupported scheme in "${u.replace(/\/\/[^@/]*@/, '//***@')}"; expected postgres://…, sqlite:… or a file path`);
  }
  return { kind: 'sqlite', location: u === ':memory:' ? u : resolve(cwd, u) };
}

export interface OpenDbOptions {
  target: DbTarget;
  entities: EntitySchema<any>[];
  migrations: (new () => MigrationInterface)[];
  /** PostgreSQL schema to work in (tests use one schema per run); created when missing. */
  schema?: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  poolSize?: number;
}

/** SQLite: checkpoint once the write-ahead log holds this many pages (SQLite's default: 1,000). */
const WAL_CHECKPOINT_PAGES = 500;
/** SQLite: how often the write-ahead log is synced in the background, when it changed. */
const WAL_SYNC_MS = 5;

export async function openDatabase(opts: OpenDbOptions): Promise<DataSource> {
  const common = {
    entities: opts.entities,
    migrations: opts.migrations,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    logging: false,
  } as const;
  let options: DataSourceOptions;
  if (opts.target.kind === 'sqlite') {
    if (opts.target.location !== ':memory:') mkdirSync(dirname(opts.target.location), { recursive: true });
    options = {
      ...common,
      type: 'better-sqlite3',
      database: opts.target.location,
      enableWAL: opts.target.location !== ':memory:',
      prepareDatabase: (db: any) => {
        db.pragma('busy_timeout = 5000');
        db.pragma('synchronous = NORMAL');
        // better-sqlite3 builds SQLite with a 16 MB page cache per connection (SQLite's own default
        // is 2 MB). The pages the callback touches (the tails of the log's indexes, the citizens)
        // fit in 4 MB, and the OS caches the rest of the file: a measured 11 MB less RSS under
        // load, no more CPU per request.
        db.pragma('cache_size = -4000');
        // A checkpoint (the log copied into the file, in the committing call) once the log holds
        // 500 pages instead of 1,000: stalls half as long, twice as often, the same work in all
        // (measured: p99 at 70 % of the peak 17.5-18.5 -> 16 ms, CPU unchanged; see bench/README.md).
        db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
        db.pragma('foreign_keys = ON');
      },
    };
  } else {
    if (opts.schema) await ensureSchema(opts.target.location, opts.schema);
    options = {
      ...common,
      type: 'postgres',
      url: opts.target.location,
      schema: opts.schema,
      poolSize: opts.poolSize ?? 10,
      extra: opts.schema ? { options: `-c search_path=${opts.schema}` } : undefined,
    };
  }
  const ds = new DataSource(options);
  await ds.initialize();
  if (opts.migrate !== false) await ds.runMigrations({ transaction: 'each' });
  if (opts.target.kind === 'sqlite') serializeSqliteTransactions(ds);
  if (opts.target.kind === 'sqlite' && opts.target.location !== ':memory:') syncWalInBackground(ds, opts.target.location);
  return ds;
}

/**
 * SQLite copies its write-ahead log into the database file (a checkpoint) on the connection that
 * commits, once the log holds WAL_CHECKPOINT_PAGES, and syncs the log to disk first: under load,
 * at SQLite's default of 1,000 pages, one commit in fifty stalled the event loop for ~10 ms. The
 * log is synced here ahead of time, every WAL_SYNC_MS when it changed, off the event loop (libuv's
 * thread pool), so that the checkpoint's own sync finds little left to write. An extra sync only
 * makes data durable sooner.
 */
function syncWalInBackground(ds: DataSource, file: string): void {
  let fd: number | null = null;
  let inFlight: Promise<void> | null = null;
  let synced = -1; // the log's modification time at the last sync: an idle database is not synced again
  const timer = setInterval(() => {
    if (inFlight) return;
    if (fd === null) {
      try {
        fd = openSync(`${file}-wal`, 'r');
      } catch {
        return; // no log yet
      }
    }
    const modified = fstatSync(fd).mtimeMs;
    if (modified === synced) return;
    synced = modified;
    // A failed sync is SQLite's to meet on its own, and to report.
    inFlight = new Promise<void>((resolve) => fdatasync(fd!, () => ((inFlight = null), resolve())));
  }, WAL_SYNC_MS);
  timer.unref();
  const destroy = ds.destroy.bind(ds);
  ds.destroy = async () => {
    clearInterval(timer);
    await inFlight;
    if (fd !== null) closeSync(fd);
    fd = null;
    return destroy();
  };
}

/**
 * SQLite through TypeORM is one connection shared by every caller. Two transactions started
 * concurrently would interleave on it (the second becomes a savepoint inside the first), and a
 * lone statement issued while a transaction is open would become part of it. So on SQLite a
 * transaction holds the connection: it runs on its own view of the runner, and everything that
 * goes through the shared runner (other transactions, lone statements) waits until it ends.
 * Inside a transaction use the manager it is given: calling dataSource.transaction() there again
 * would wait for itself. Code here never calls Repository.save() or
 * queryRunner.startTransaction(), which open transactions of their own.
 * (PostgreSQL gives each transaction its own pooled connection and needs none of this.)
 */
/** What the hot path needs of better-sqlite3's own handle (a statement prepared once, run synchronously). */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
export interface SqliteHandle {
  prepare(sql: string): SqliteStatement;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  readonly inTransaction: boolean;
}

/**
 * Statements run synchronously on the SQLite connection, outside TypeORM, for the few hot paths
 * whose statements are fixed (the callback's conversation log): prepared once, a batch in one
 * better-sqlite3 transaction. `run` waits until no TypeORM transaction holds the connection and
 * then runs `fn` without yielding, so nothing else can interleave with it.
 */
export interface SqliteDirect {
  run<T>(fn: (db: SqliteHandle) => T): Promise<T>;
}
const sqliteDirects = new WeakMap<DataSource, SqliteDirect>();

/** The direct path to a SQLite data source opened by openDatabase (null on PostgreSQL). */
export function sqliteDirect(ds: DataSource): SqliteDirect | null {
  return sqliteDirects.get(ds) ?? null;
}

function serializeSqliteTransactions(ds: DataSource): void {
  let holder: Promise<void> | null = null;
  const shared = ds.createQueryRunner(); // the one runner the driver hands everybody
  const direct = shared.query.bind(shared) as (...a: unknown[]) => Promise<unknown>;
  const waitForHolder = async () => {
    const started = Date.now();
    while (holder) {
      // A statement waiting this long is almost surely inside the transaction it waits for,
      // issued through the data source instead of the transaction's manager: fail loudly.
      if (Date.now() - started > 20_000) throw new Error('SQLite statement waited 20 s for a transaction (inside a transaction, use its manager, not the data source)');
      await Promise.race([holder, new Promise((r) => setTimeout(r, 1_000))]);
    }
  };
  (shared as { query: unknown }).query = async (...args: unknown[]) => {
    if (holder) await waitForHolder();
    return direct(...args);
  };
  const handle = (ds.driver as unknown as { databaseConnection?: SqliteHandle }).databaseConnection;
  if (handle) {
    sqliteDirects.set(ds, {
      run: async (fn) => {
        while (holder) await waitForHolder();
        // No TypeORM transaction is open here (they all pass through `holder`): fn's statements
        // are their own, and it returns before anything else can run on the connection.
        if (handle.inTransaction) throw new Error('SQLite connection is inside a transaction that did not go through DataSource.transaction()');
        return fn(handle);
      },
    });
  }
  (ds.manager as { transaction: unknown }).transaction = async (...args: unknown[]) => {
    while (holder) await waitForHolder();
    let release!: () => void;
    holder = new Promise<void>((r) => (release = r));
    // A view of the shared runner whose statements skip the wait: this transaction's own.
    const own = Object.create(shared) as QueryRunner;
    (own as { query: unknown }).query = direct;
    (own as { manager: unknown }).manager = ds.createEntityManager(own);
    try {
      return await (own.manager.transaction as (...a: unknown[]) => Promise<unknown>)(...args);
    } finally {
      holder = null;
      release();
    }
  };
}

async function ensureSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const ds = new DataSource({ type: 'postgres', url, poolSize: 1 });
  await ds.initialize();
  try {
    await ds.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await ds.destroy();
  }
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const ds = new DataSource({ type: 'postgres', url, poolSize: 1 });
  await ds.initialize();
  try {
    await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await ds.destroy();
  }
}

/** The database answers a trivial query. */
export async function databaseAnswers(ds: DataSource): Promise<boolean> {
  try {
    await ds.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** Times are stored as integer milliseconds since the epoch (bigint): portable and sortable. */
export const epochMs: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | number | null) => (v === null || v === undefined ? v : Number(v)),
};

/** Whether an error is a unique-constraint violation on either backend. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } } | undefined;
  const code = e?.driverError?.code ?? e?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * INSERT … ON CONFLICT DO NOTHING (PostgreSQL) / INSERT OR IGNORE (SQLite) that tells whether the
 * row was written and its id (1 for rows keyed by something else than an id). It never raises on a duplicate, so it is safe inside a transaction
 * (a unique violation would abort a PostgreSQL transaction).
 */
export async function insertIgnoringDuplicate<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntitySchema<T>,
  values: QueryDeepPartialEntity<T>,
): Promise<number | null> {
  const qb = manager.createQueryBuilder().insert().into(entity).values(values).orIgnore();
  const postgres = manager.connection.options.type === 'postgres';
  const primary = manager.connection.getMetadata(entity).primaryColumns.map((c) => c.databaseName);
  const withId = primary.length === 1 && primary[0] === 'id';
  if (postgres) qb.returning(primary.map((c) => `"${c}"`).join(', '));
  const [sql, params] = qb.getQueryAndParameters();
  const run = async (runner: QueryRunner) => (await runner.query(sql, params, true)) as QueryResult;
  let res: QueryResult;
  if (manager.queryRunner) res = await run(manager.queryRunner);
  else {
    const runner = manager.connection.createQueryRunner();
    try {
      res = await run(runner);
    } finally {
      await runner.release();
    }
  }
  if (!res.affected) return null;
  if (!withId) return 1; // a row keyed otherwise (a counter, a draft): written
  const id = postgres ? (res.raw as { id: number | string }[])[0]?.id : (res.raw as number | bigint);
  return id === undefined ? null : Number(id);
}

/**
 * Take the next number of a counter row (queue numbers, case numbers): the row is created at 0 if
 * missing, then raised by one in a single UPDATE … RETURNING, so concurrent transactions never get
 * the same number. `key` holds the row's primary key columns by column name.
 */
export async function nextNumber(tx: EntityManager, entity: EntitySchema<any>, key: Record<string, string>): Promise<number> {
  const meta = tx.connection.getMetadata(entity);
  const byColumn = Object.fromEntries(meta.columns.map((c) => [c.databaseName, c.propertyName]));
  await insertIgnoringDuplicate(tx, entity, { ...Object.fromEntries(Object.entries(key).map(([col, v]) => [byColumn[col]!, v])), lastNo: 0 });
  const pg = tx.connection.options.type === 'postgres';
  const cols = Object.keys(key);
  const where = cols.map((c, i) => `${c} = ${pg ? `$${i + 1}` : '?'}`).join(' AND ');
  const rows = (await tx.query(`UPDATE ${meta.tableName} SET last_no = last_no + 1 WHERE ${where} RETURNING last_no`, Object.values(key))) as unknown[];
  // PostgreSQL answers an UPDATE with [rows, count]; SQLite with the rows.
  const first = (Array.isArray(rows[0]) ? (rows[0] as { last_no: number }[])[0] : rows[0]) as { last_no: number | string };
  return Number(first.last_no);
}
