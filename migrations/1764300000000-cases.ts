import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** Applications and cases: the case, its timeline, attachments, drafts, per-day case numbers. */
export class Cases1764300000000 implements MigrationInterface {
  name = 'Cases1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'cases',
        columns: [
          col.id(),
          col.string('case_no', 20, { isUnique: true }),
          col.string('query_code', 8),
          col.string('openid', 64),
          col.string('service_id', 48),
          col.string('department', 48, { isNullable: true }),
          col.string('status', 16),
          col.string('step', 32),
          col.string('step_before_correction', 32, { isNullable: true }),
          col.text('form_data'),
          col.int('fee_fen', undefined, true),
          col.time('submitted_at'),
          col.time('accepted_at', true),
          col.time('due_at', true),
          col.time('paused_at', true),
          col.text('correction_request', true),
          col.time('completed_at', true),
          col.time('valid_until', true),
          col.time('escalated_at', true),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('cases', new TableIndex({ name: 'ix_cases_openid', columnNames: ['openid', 'submitted_at'] }));
    await q.createIndex('cases', new TableIndex({ name: 'ix_cases_department_status', columnNames: ['department', 'status'] }));
    await q.createTable(
      new Table({
        name: 'case_events',
        columns: [
          col.id(),
          col.int('case_id'),
          col.string('kind', 24),
          col.string('step', 32, { isNullable: true }),
          col.text('note', true),
          col.string('actor', 64),
          col.time('created_at'),
          col.time('pushed_at', true),
        ],
      }),
    );
    await q.createIndex('case_events', new TableIndex({ name: 'ix_case_events_case', columnNames: ['case_id', 'id'] }));
    await q.createTable(
      new Table({
        name: 'attachments',
        columns: [
          col.id(),
          col.string('openid', 64),
          col.string('service_id', 48),
          col.int('case_id', undefined, true),
          col.string('field_id', 32),
          col.string('file_name', 200),
          col.string('mime', 40),
          col.int('size'),
          col.string('sha256', 64),
          col.string('storage_key', 128, { isUnique: true }),
          col.time('created_at'),
        ],
      }),
    );
    await q.createIndex('attachments', new TableIndex({ name: 'ix_attachments_case', columnNames: ['case_id'] }));
    await q.createIndex('attachments', new TableIndex({ name: 'ix_attachments_owner', columnNames: ['openid', 'service_id'] }));
    await q.createTable(
      new Table({
        name: 'application_drafts',
        columns: [col.string('openid', 64, { isPrimary: true }), col.string('service_id', 48, { isPrimary: true }), col.text('data'), col.time('updated_at')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'case_counters',
        columns: [col.string('day', 8, { isPrimary: true }), col.int('last_no', 0)],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('case_counters');
    await q.dropTable('application_drafts');
    await q.dropTable('attachments');
    await q.dropTable('case_events');
    await q.dropTable('cases');
  }
}
