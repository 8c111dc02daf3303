import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Mass notices: a template message staff send to a segment, as a resumable job; one row per
 * recipient records what was sent (and WeChat's msgid, for the TEMPLATESENDJOBFINISH report).
 */
export class Notices1765810000000 implements MigrationInterface {
  name = 'Notices1765810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'notices',
        columns: [
          col.id(),
          col.string('template', 64),
          col.text('data'),
          col.string('url', 300, { isNullable: true }),
          col.string('segment', 120),
          col.string('status', 16),
          col.int('total', 0),
          col.int('sent', 0),
          col.int('failed', 0),
          col.int('delivered', 0),
          col.int('batches', 0),
          col.int('created_by'),
          col.time('created_at'),
          col.time('started_at', true),
          col.time('finished_at', true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'notice_recipients',
        columns: [col.id(), col.int('notice_id'), col.string('openid', 64), col.string('status', 16), col.string('msgid', 32, { isNullable: true }), col.string('delivery', 40, { isNullable: true }), col.time('sent_at', true)],
      }),
    );
    await q.createIndex('notice_recipients', new TableIndex({ name: 'ux_notice_recipients', columnNames: ['notice_id', 'openid'], isUnique: true }));
    await q.createIndex('notice_recipients', new TableIndex({ name: 'ix_notice_recipients_next', columnNames: ['notice_id', 'status', 'id'] }));
    await q.createIndex('notice_recipients', new TableIndex({ name: 'ix_notice_recipients_msgid', columnNames: ['msgid'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('notice_recipients');
    await q.dropTable('notices');
  }
}
