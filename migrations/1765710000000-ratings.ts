import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * 好差评 as one service: ratings of tickets, cases, bookings and staff conversations, and the
 * rectifications (整改) poor ones open. The ratings staff conversations already have move here
 * (their handoffs keep theirs too, for what still reads them).
 */
export class Ratings1765710000000 implements MigrationInterface {
  name = 'Ratings1765710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'ratings',
        columns: [col.id(), col.string('subject', 16), col.string('subject_id', 48), col.string('department', 48, { isNullable: true }), col.int('staff_id', undefined, true), col.string('openid', 64), col.int('level'), col.text('comment', true), col.time('created_at')],
      }),
    );
    await q.createIndex('ratings', new TableIndex({ name: 'ux_ratings_subject', columnNames: ['subject', 'subject_id'], isUnique: true }));
    await q.createIndex('ratings', new TableIndex({ name: 'ix_ratings_department_created', columnNames: ['department', 'created_at'] }));
    await q.createTable(
      new Table({
        name: 'rectifications',
        columns: [
          col.id(),
          col.int('rating_id'),
          col.string('department', 48, { isNullable: true }),
          col.string('status', 12),
          col.time('due_at'),
          col.text('report', true),
          col.int('submitted_by', undefined, true),
          col.time('submitted_at', true),
          col.int('reviewed_by', undefined, true),
          col.time('reviewed_at', true),
          col.text('review_note', true),
          col.time('told_at', true),
          col.time('created_at'),
        ],
      }),
    );
    await q.createIndex('rectifications', new TableIndex({ name: 'ux_rectifications_rating', columnNames: ['rating_id'], isUnique: true }));
    await q.createIndex('rectifications', new TableIndex({ name: 'ix_rectifications_department_status', columnNames: ['department', 'status'] }));
    // The conversations' ratings so far (no rectification was asked for them then).
    const pg = q.connection.options.type === 'postgres';
    await q.query(
      `INSERT INTO ratings (subject, subject_id, department, staff_id, openid, level, comment, created_at)
       SELECT 'conversation', CAST(id AS ${pg ? 'varchar' : 'text'}), department, assignee_id, openid, rating, NULL, COALESCE(rated_at, updated_at, created_at)
       FROM handoffs WHERE rating IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('rectifications');
    await q.dropTable('ratings');
  }
}
