import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Uploaded file names kept bidi controls and other invisible characters (a name ending in
 * "‮gpj.exe" showed as "exe.jpg"); new uploads are cleaned (cleanFileName in
 * src/services/cases/forms.ts), and here the names already stored. Written out here rather than
 * imported, so that what this migration does never changes.
 */
const INVISIBLE = ['\u061c', '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2060', '\u2061', '\u2062', '\u2063', '\u2064', '\u2066', '\u2067', '\u2068', '\u2069', '\ufeff'];
const clean = (name: string) => Array.from(name).filter((c) => !INVISIBLE.includes(c)).join('').trim() || 'file';

export class CleanFileNames1765200000000 implements MigrationInterface {
  name = 'CleanFileNames1765200000000';

  async up(q: QueryRunner): Promise<void> {
    const where = INVISIBLE.map((c) => `file_name LIKE '%${c}%'`).join(' OR ');
    const rows = (await q.query(`SELECT id, file_name FROM attachments WHERE ${where}`)) as { id: number; file_name: string }[];
    const param = q.connection.options.type === 'postgres' ? (n: number) => `$${n}` : () => '?';
    for (const r of rows) await q.query(`UPDATE attachments SET file_name = ${param(1)} WHERE id = ${param(2)}`, [clean(r.file_name), r.id]);
  }

  async down(): Promise<void> {
    // The characters removed were never meant to be there.
  }
}
