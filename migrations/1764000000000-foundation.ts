import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** Citizens, the conversation log and the durable job queue. */
export class Foundation1764000000000 implements MigrationInterface {
  name = 'Foundation1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'citizens',
        columns: [
          col.string('openid', 64, { isPrimary: true }),
          col.bool(q, 'subscribed', false),
          col.time('subscribed_at', true),
          col.time('unsubscribed_at', true),
          col.string('scene', 64, { isNullable: true }),
          col.time('first_seen_at'),
          col.time('last_interaction_at', true),
          col.string('last_interaction_kind', 16, { isNullable: true }),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'messages',
        columns: [
          col.id(),
          col.string('openid', 64),
          col.string('direction', 3),
          col.string('kind', 32),
          col.text('content'),
          col.text('payload', true),
          col.string('channel', 16),
          col.string('msg_key', 191, { isNullable: true, isUnique: true }),
          col.string('ref', 128, { isNullable: true }),
          col.string('status', 16, { isNullable: true }),
          col.time('created_at'),
        ],
      }),
    );
    await q.createIndex('messages', new TableIndex({ name: 'ix_messages_openid_time', columnNames: ['openid', 'created_at'] }));
    await q.createTable(
      new Table({
        name: 'jobs',
        columns: [
          col.id(),
          col.string('name', 64),
          col.text('payload'),
          col.string('status', 16),
          col.time('run_at'),
          col.int('attempts', 0),
          col.int('max_attempts', 5),
          col.time('locked_until', true),
          col.string('locked_by', 64, { isNullable: true }),
          col.text('last_error', true),
          col.string('unique_key', 191, { isNullable: true, isUnique: true }),
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('jobs', new TableIndex({ name: 'ix_jobs_due', columnNames: ['status', 'run_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('jobs');
    await q.dropTable('messages');
    await q.dropTable('citizens');
  }
}
