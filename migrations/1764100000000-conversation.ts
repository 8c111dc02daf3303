import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** The conversation: a citizen's audience, the staff queue (handoffs) and unanswered questions. */
export class Conversation1764100000000 implements MigrationInterface {
  name = 'Conversation1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('citizens', new TableColumn({ name: 'audience', type: 'varchar', length: '32', isNullable: true }));
    await q.createTable(
      new Table({
        name: 'handoffs',
        columns: [
          col.id(),
          col.string('openid', 64),
          col.string('status', 16),
          col.string('reason', 16),
          col.text('question'),
          col.string('audience', 32, { isNullable: true }),
          col.time('promised_at'),
          col.time('created_at'),
          col.time('closed_at', true),
          col.string('closed_by', 16, { isNullable: true }),
        ],
      }),
    );
    await q.createIndex('handoffs', new TableIndex({ name: 'ix_handoffs_openid_status', columnNames: ['openid', 'status'] }));
    await q.createIndex('handoffs', new TableIndex({ name: 'ix_handoffs_status_created', columnNames: ['status', 'created_at'] }));
    await q.createTable(
      new Table({
        name: 'unanswered',
        columns: [col.id(), col.string('openid', 64), col.text('question'), col.string('normalized', 200), col.time('created_at')],
      }),
    );
    await q.createIndex('unanswered', new TableIndex({ name: 'ix_unanswered_normalized', columnNames: ['normalized'] }));
    await q.createIndex('messages', new TableIndex({ name: 'ix_messages_ref', columnNames: ['ref'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('messages', 'ix_messages_ref');
    await q.dropTable('unanswered');
    await q.dropTable('handoffs');
    await q.dropColumn('citizens', 'audience');
  }
}
