import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { Ratings1765710000000 } from '../../migrations/1765710000000-ratings.ts';
import { entities } from '../../src/entities.ts';
import { dropSchema, openDatabase, parseDatabaseUrl } from '../../src/platform/db.ts';
import { available, DB_BACKENDS, uniqueName } from '../helpers/backends.ts';

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`moving the conversations' ratings onto the rating service on ${backend.label}`, () => {
    it('keeps every rated conversation as a rating (who rated, the level, when, the department and the staff member), and only those', async () => {
      const schema = uniqueName('mig');
      const before = migrations.slice(0, migrations.indexOf(Ratings1765710000000));
      const ds = await openDatabase({ target: parseDatabaseUrl(backend.url), entities, migrations: before, schema });
      try {
        const p = backend.name === 'postgres' ? (n: number) => `$${n}` : () => '?';
        const rows: [string, number | null, number | null, string, number | null][] = [
          ['o_a', 5, 1_700_000_000_000, 'service-centre', 7],
          ['o_b', 1, 1_700_000_100_000, 'social-security', null],
          ['o_c', null, null, 'service-centre', 7],
        ];
        for (const [openid, rating, ratedAt, department, assignee] of rows) {
          await ds.query(
            `INSERT INTO handoffs (openid, status, reason, question, promised_at, created_at, department, assignee_id, rating, rated_at) VALUES (${p(1)}, 'closed', 'requested', '问题', 0, 1, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})`,
            [openid, department, assignee, rating, ratedAt],
          );
        }
        const q = ds.createQueryRunner();
        try {
          await new Ratings1765710000000().up(q);
        } finally {
          await q.release();
        }
        const got = (await ds.query('SELECT subject, openid, level, created_at, department, staff_id FROM ratings ORDER BY openid')) as Record<string, unknown>[];
        expect(got.map((r) => [r.subject, r.openid, Number(r.level), Number(r.created_at), r.department, r.staff_id === null ? null : Number(r.staff_id)])).toEqual([
          ['conversation', 'o_a', 5, 1_700_000_000_000, 'service-centre', 7],
          ['conversation', 'o_b', 1, 1_700_000_100_000, 'social-security', null],
        ]);
      } finally {
        await ds.destroy();
        if (backend.name === 'postgres') await dropSchema(backend.url!, schema);
      }
    });
  });
}
