import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Content staff edit in the panel (notices, policy interpretations, FAQ answers, guides' texts):
 * every version, newest last per item; the newest is what citizens read. The profile stays the
 * source of the structure and the starting text.
 */
export class ContentEdits1765900000000 implements MigrationInterface {
  name = 'ContentEdits1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'content_edits',
        columns: [
          col.id(),
          col.string('kind', 16),
          col.string('item_id', 64),
          col.int('version'),
          col.string('action', 16),
          col.text('fields', true),
          col.string('valid_from', 16, { isNullable: true }),
          col.string('valid_until', 16, { isNullable: true }),
          col.int('staff_id', undefined, true),
          col.string('staff_name', 64),
          col.string('note', 200, { isNullable: true }),
          col.time('created_at'),
        ],
      }),
    );
    await q.createIndex('content_edits', new TableIndex({ name: 'ux_content_edits_version', columnNames: ['kind', 'item_id', 'version'], isUnique: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('content_edits');
  }
}
