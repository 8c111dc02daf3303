import { mkdtempSync, readdirSync, readlinkSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { entities } from '../../src/entities.ts';
import { databaseAnswers, dropSchema, openDatabase, parseDatabaseUrl, sqliteDirect } from '../../src/platform/db.ts';
import { available, DB_BACKENDS, uniqueName } from '../helpers/backends.ts';

/** Every fdatasync of this file's databases, passed on to the real one; `done` resolves when the last has finished. */
const syncs = vi.hoisted(() => ({ count: 0, done: Promise.resolve() }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    syncs.count++;
    syncs.done = new Promise<void>((resolve) => fs.fdatasync(fd, (err) => (cb(err), resolve())));
  };
  return { ...fs, default: { ...fs, fdatasync }, fdatasync };
});

describe('DATABASE_URL', () => {
  it('defaults to a SQLite file under ./data/', () => {
    expect(parseDatabaseUrl(undefined, '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/data/weiban.sqlite' });
    expect(parseDatabaseUrl('', '/srv/app').kind).toBe('sqlite');
  });
  it('takes a file path or a sqlite: URL', () => {
    expect(parseDatabaseUrl('db/x.sqlite', '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/db/x.sqlite' });
    expect(parseDatabaseUrl('sqlite:./y.db', '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/y.db' });
    expect(parseDatabaseUrl('sqlite:///var/lib/w.db')).toEqual({ kind: 'sqlite', location: '/var/lib/w.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', location: ':memory:' });
  });
  it('takes postgres:// and postgresql:// URLs', () => {
    expect(parseDatabaseUrl('postgres://u:p@h:5432/d').kind).toBe('postgres');
    expect(parseDatabaseUrl('postgresql://h/d').kind).toBe('postgres');
  });
  it('refuses other schemes without echoing the password', () => {
    expect(() => parseDatabaseUrl('mysql://root:secret@h/d')).toThrow(/unsupported scheme/);
    expect(() => parseDatabaseUrl('mysql://root:secret@h/d')).not.toThrow(/secret/);
  });
});

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`migrations on ${backend.label}`, () => {
    it('apply from empty, are recorded, re-run as a no-op, and revert', async () => {
      const schema = uniqueName('mig');
      const ds = await openDatabase({ target: parseDatabaseUrl(backend.url), entities, migrations, schema });
      try {
        expect(await databaseAnswers(ds)).toBe(true);
        const applied = await ds.query('SELECT name FROM schema_migrations');
        expect(applied.map((r: { name: string }) => r.name)).toEqual(migrations.map((m) => new m().name));
        expect(await ds.runMigrations()).toEqual([]); // nothing pending
        // the mapped entities agree with the migrated schema
        expect(await ds.driver.createSchemaBuilder().log().then((l) => l.upQueries.map((q) => q.query))).toEqual([]);
        for (let i = 0; i < migrations.length; i++) await ds.undoLastMigration();
        expect(await ds.query('SELECT name FROM schema_migrations')).toEqual([]);
      } finally {
        await ds.destroy();
        if (backend.name === 'postgres') await dropSchema(backend.url!, schema);
      }
    });
  });
}

describe('SQLite: one shared connection, transactions kept apart', () => {
  it('concurrent read-modify-write transactions do not interleave, and a failed one rolls back only itself', async () => {
    const ds = await openDatabase({ target: parseDatabaseUrl('sqlite::memory:'), entities, migrations });
    try {
      await ds.query(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('counter', 0, 0, 0)`);
      const bump = (fail: boolean) =>
        ds.transaction(async (m) => {
          const [row] = await m.query(`SELECT updated_at FROM citizens WHERE openid = 'counter'`);
          await new Promise((r) => setTimeout(r, 1)); // let everyone else run
          await m.query(`UPDATE citizens SET updated_at = ? WHERE openid = 'counter'`, [Number(row.updated_at) + 1]);
          if (fail) throw new Error('rolled back');
        });
      const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => bump(i % 10 === 9)));
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(3);
      const [row] = await ds.query(`SELECT updated_at FROM citizens WHERE openid = 'counter'`);
      expect(Number(row.updated_at)).toBe(27);
    } finally {
      await ds.destroy();
    }
  });

  it('a statement from outside waits for an open transaction instead of joining it', async () => {
    const ds = await openDatabase({ target: parseDatabaseUrl('sqlite::memory:'), entities, migrations });
    try {
      let inside!: () => void;
      const insideWrote = new Promise<void>((r) => (inside = r));
      const tx = ds
        .transaction(async (m) => {
          await m.query(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('inside', 0, 0, 0)`);
          inside();
          await new Promise((r) => setTimeout(r, 10));
          throw new Error('roll back the inside');
        })
        .catch(() => undefined);
      await insideWrote;
      // issued from the test's own context while the transaction is open
      await ds.query(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('outside', 0, 0, 0)`);
      await tx;
      const rows = await ds.query(`SELECT openid FROM citizens ORDER BY openid`);
      expect(rows.map((r: { openid: string }) => r.openid)).toEqual(['outside']);
    } finally {
      await ds.destroy();
    }
  });
  it('the direct path (the conversation log) waits for an open transaction too, and is not rolled back with it', async () => {
    const ds = await openDatabase({ target: parseDatabaseUrl('sqlite::memory:'), entities, migrations });
    try {
      const direct = sqliteDirect(ds)!;
      expect(direct).not.toBeNull();
      let inside!: () => void;
      const insideWrote = new Promise<void>((r) => (inside = r));
      const order: string[] = [];
      const tx = ds
        .transaction(async (m) => {
          await m.query(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('inside', 0, 0, 0)`);
          inside();
          await new Promise((r) => setTimeout(r, 10));
          order.push('transaction ends');
          throw new Error('roll back the inside');
        })
        .catch(() => undefined);
      await insideWrote;
      const wrote = direct.run((db) => {
        order.push('direct runs');
        expect(db.inTransaction).toBe(false);
        return db.prepare(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('direct', 0, 0, 0)`).run().changes;
      });
      await tx;
      expect(await wrote).toBe(1);
      expect(order).toEqual(['transaction ends', 'direct runs']);
      const rows = await ds.query(`SELECT openid FROM citizens ORDER BY openid`);
      expect(rows.map((r: { openid: string }) => r.openid)).toEqual(['direct']);
    } finally {
      await ds.destroy();
    }
  });
});

describe('SQLite file: the write-ahead log synced in the background', () => {
  /** The files this process holds open whose path ends with `suffix` (deleted since, too: SQLite removes the log when it closes). */
  const held = (suffix: string) =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).replace(/ \(deleted\)$/, '').endsWith(suffix);
      } catch {
        return false; // closed meanwhile (readdir's own handle)
      }
    }).length;

  it.skipIf(process.platform !== 'linux')('opens the log for its syncs once there is one, syncs on the thread pool, and lets go of it when the database closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weiban-wal-'));
    const file = join(dir, 'log.sqlite');
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const ds = await openDatabase({ target: parseDatabaseUrl(file), entities, migrations });
      // Checkpoints at 500 pages, not SQLite's 1,000: shorter stalls (bench/README.md).
      expect(await sqliteDirect(ds)!.run((db) => db.prepare('PRAGMA wal_autocheckpoint').get())).toEqual({ wal_autocheckpoint: 500 });
      const before = held('log.sqlite-wal'); // SQLite's own handle
      expect(before).toBeGreaterThanOrEqual(1);
      await ds.query(`INSERT INTO citizens (openid, subscribed, first_seen_at, updated_at) VALUES ('wal', 0, 0, 0)`);
      const count = syncs.count;
      vi.advanceTimersByTime(5);
      expect(held('log.sqlite-wal')).toBe(before + 1); // the syncs' own read-only handle
      expect(syncs.count).toBe(count + 1);
      vi.advanceTimersByTime(50); // a sync in flight is not started again
      expect(syncs.count).toBe(count + 1);
      await syncs.done;
      vi.advanceTimersByTime(50); // nothing written since: not synced again
      expect(syncs.count).toBe(count + 1);
      // Written again: synced again. (The log's time is set back first: the kernel's file times are
      // coarse, and a write a millisecond later could carry the same one.)
      utimesSync(`${file}-wal`, new Date('2020-01-01'), new Date('2020-01-01'));
      vi.advanceTimersByTime(5);
      expect(syncs.count).toBe(count + 2);
      await syncs.done;
      await ds.query(`UPDATE citizens SET updated_at = 1 WHERE openid = 'wal'`);
      vi.advanceTimersByTime(5);
      expect(syncs.count).toBe(count + 3);
      await syncs.done;
      await ds.destroy();
      expect(held('log.sqlite-wal')).toBe(0);
      vi.advanceTimersByTime(50); // stopped: nothing opens it again
      expect(held('log.sqlite-wal')).toBe(0);
    } finally {
      vi.useRealTimers();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an in-memory database has no log to sync', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const ds = await openDatabase({ target: parseDatabaseUrl('sqlite::memory:'), entities, migrations });
      expect(vi.getTimerCount()).toBe(0);
      await ds.destroy();
    } finally {
      vi.useRealTimers();
    }
  });
});
