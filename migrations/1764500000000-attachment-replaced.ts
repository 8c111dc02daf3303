import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * A case's file can be replaced by one sent with a 补正 (a clearer photo): the old one stays on
 * the case for the record, marked as replaced, and no longer counts towards the field's limit.
 */
export class AttachmentReplaced1764500000000 implements MigrationInterface {
  name = 'AttachmentReplaced1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('attachments', new TableColumn(col.time('replaced_at', true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('attachments', 'replaced_at');
  }
}
