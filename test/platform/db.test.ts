import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { entities } from '../../src/entities.ts';
import { databaseAnswers, dropSchema, openDatabase, parseDatabaseUrl, sqliteDirect } from '../../src/platform/db.ts';
import { available, DB_BACKENDS, uniqueName } from '../helpers/backends.ts';

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
