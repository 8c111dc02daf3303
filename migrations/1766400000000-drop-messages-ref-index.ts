import { TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The conversation log's index on `ref` goes: no query can use it (they ask `ref LIKE 'service:%'`,
 * which neither SQLite's case-insensitive LIKE nor PostgreSQL outside the C collation reads through
 * a b-tree, and a citizen's own rows are found by the (openid, created_at) index), while every
 * message and reply paid an insertion into it on the callback's hot path (≈ 6 % of SQLite's work
 * per message, measured).
 */
export class DropMessagesRefIndex1766400000000 implements MigrationInterface {
  name = 'DropMessagesRefIndex1766400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.dropIndex('messages', 'ix_messages_ref');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.createIndex('messages', new TableIndex({ name: 'ix_messages_ref', columnNames: ['ref'] }));
  }
}
