import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { CleanFileNames1765200000000 } from '../../migrations/1765200000000-clean-file-names.ts';
import { entities } from '../../src/entities.ts';
import { dropSchema, openDatabase, parseDatabaseUrl } from '../../src/platform/db.ts';
import { available, DB_BACKENDS, uniqueName } from '../helpers/backends.ts';

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`cleaning the stored file names on ${backend.label}`, () => {
    it('removes bidi controls and invisible characters from names already stored, and leaves clean ones alone', async () => {
      const schema = uniqueName('mig');
      const before = migrations.slice(0, migrations.indexOf(CleanFileNames1765200000000));
      const ds = await openDatabase({ target: parseDatabaseUrl(backend.url), entities, migrations: before, schema });
      try {
        const p = backend.name === 'postgres' ? (n: number) => `$${n}` : () => '?';
        const names = ['证明\u202Egpj.exe', '\u2066户口本\u2069.pdf', 'zero\u200Bwidth.png', '身份证 正面.jpg'];
        for (const [i, name] of names.entries()) {
          await ds.query(
            `INSERT INTO attachments (openid, service_id, case_id, field_id, file_name, mime, size, sha256, storage_key, created_at) VALUES ('o', 's', NULL, 'f', ${p(1)}, 'image/jpeg', 1, 'x', ${p(2)}, 0)`,
            [name, `k${i}`],
          );
        }
        const q = ds.createQueryRunner();
        try {
          await new CleanFileNames1765200000000().up(q);
        } finally {
          await q.release();
        }
        const rows = (await ds.query('SELECT file_name FROM attachments ORDER BY storage_key')) as { file_name: string }[];
        expect(rows.map((r) => r.file_name)).toEqual(['证明gpj.exe', '户口本.pdf', 'zerowidth.png', '身份证 正面.jpg']);
      } finally {
        await ds.destroy();
        if (backend.name === 'postgres') await dropSchema(backend.url!, schema);
      }
    });
  });
}
