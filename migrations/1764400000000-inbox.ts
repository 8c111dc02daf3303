import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * The staff panel and the inbox: the handoff's department, category, assignee, clock, escalation
 * and rating; staff accounts; staff replies and their images; the audit log.
 */
export class Inbox1764400000000 implements MigrationInterface {
  name = 'Inbox1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('handoffs', [
      new TableColumn(col.string('department', 48, { isNullable: true })),
      new TableColumn(col.string('category', 48, { isNullable: true })),
      new TableColumn(col.int('assignee_id', undefined, true)),
      new TableColumn(col.time('due_at', true)),
      new TableColumn(col.time('first_replied_at', true)),
      new TableColumn(col.time('escalated_at', true)),
      new TableColumn(col.int('escalated_to', undefined, true)),
      new TableColumn(col.int('rating', undefined, true)),
      new TableColumn(col.time('rated_at', true)),
      new TableColumn(col.time('updated_at', true)),
    ]);
    await q.createIndex('handoffs', new TableIndex({ name: 'ix_handoffs_department_status', columnNames: ['department', 'status'] }));
    await q.createIndex('handoffs', new TableIndex({ name: 'ix_handoffs_assignee_status', columnNames: ['assignee_id', 'status'] }));

    await q.createTable(
      new Table({
        name: 'staff',
        columns: [
          col.id(),
          col.string('username', 32, { isUnique: true }),
          col.string('name', 32),
          col.string('role', 16),
          col.string('department', 48, { isNullable: true }),
          col.string('password_hash', 200),
          col.bool(q, 'active', true),
          col.time('password_changed_at'),
          col.bool(q, 'must_change_password', false),
          col.time('last_sign_in_at', true),
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('staff', new TableIndex({ name: 'ix_staff_department', columnNames: ['department'] }));

    await q.createTable(
      new Table({
        name: 'staff_replies',
        columns: [
          col.id(),
          col.int('handoff_id'),
          col.string('openid', 64),
          col.int('staff_id'),
          col.string('kind', 16),
          col.text('body'),
          col.text('link_url', true),
          col.string('link_title', 64, { isNullable: true }),
          col.int('image_id', undefined, true),
          col.string('token', 64, { isUnique: true }),
          col.string('nonce', 64, { isNullable: true }),
          col.int('job_id', undefined, true),
          col.time('created_at'),
        ],
      }),
    );
    await q.createIndex('staff_replies', new TableIndex({ name: 'ix_staff_replies_handoff', columnNames: ['handoff_id'] }));
    await q.createIndex('staff_replies', new TableIndex({ name: 'ux_staff_replies_nonce', columnNames: ['handoff_id', 'nonce'], isUnique: true }));

    await q.createTable(
      new Table({
        name: 'inbox_images',
        columns: [col.id(), col.int('handoff_id'), col.int('staff_id'), col.string('mime', 32), col.text('data'), col.int('size'), col.time('created_at')],
      }),
    );
    await q.createIndex('inbox_images', new TableIndex({ name: 'ix_inbox_images_handoff', columnNames: ['handoff_id'] }));

    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          col.id(),
          col.time('at'),
          col.int('actor_id', undefined, true),
          col.string('actor', 64),
          col.string('action', 32),
          col.string('target', 64, { isNullable: true }),
          col.string('department', 48, { isNullable: true }),
          col.text('detail', true),
          col.string('ip', 64, { isNullable: true }),
        ],
      }),
    );
    await q.createIndex('audit_log', new TableIndex({ name: 'ix_audit_at', columnNames: ['at'] }));
    await q.createIndex('audit_log', new TableIndex({ name: 'ix_audit_target', columnNames: ['target'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_log');
    await q.dropTable('inbox_images');
    await q.dropTable('staff_replies');
    await q.dropTable('staff');
    await q.dropIndex('handoffs', 'ix_handoffs_assignee_status');
    await q.dropIndex('handoffs', 'ix_handoffs_department_status');
    for (const c of ['updated_at', 'rated_at', 'rating', 'escalated_to', 'escalated_at', 'first_replied_at', 'due_at', 'assignee_id', 'category', 'department']) {
      await q.dropColumn('handoffs', c);
    }
  }
}
