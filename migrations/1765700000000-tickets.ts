import { Table, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';
import { col } from './columns.ts';

const coord = (name: string): TableColumnOptions => ({ name, type: 'double precision', isNullable: true });

/** Tickets (工单): complaints, help, suggestions and mailbox letters, their timeline and photos; Open311 keys. */
export class Tickets1765700000000 implements MigrationInterface {
  name = 'Tickets1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'tickets',
        columns: [
          col.id(),
          col.string('ticket_no', 20, { isUnique: true }),
          col.string('query_code', 8),
          col.string('openid', 64, { isNullable: true }),
          col.string('channel', 16),
          col.string('kind', 48),
          col.string('category', 48),
          col.string('mailbox', 48, { isNullable: true }),
          col.bool(q, 'urgent', false),
          col.bool(q, 'anonymous', false),
          col.string('department', 48),
          col.text('co_departments'),
          col.string('status', 16),
          col.text('description'),
          coord('lat'),
          coord('lng'),
          col.string('address', 200, { isNullable: true }),
          col.string('area', 48, { isNullable: true }),
          col.string('contact_name', 40, { isNullable: true }),
          col.string('phone', 20, { isNullable: true }),
          col.bool(q, 'publish', false),
          col.text('answer', true),
          col.time('answered_at', true),
          col.time('filed_at'),
          col.time('due_at'),
          col.time('completed_at', true),
          col.time('escalated_at', true),
          col.string('visit_result', 10, { isNullable: true }),
          col.time('visited_at', true),
          col.int('merged_into', undefined, true),
          col.int('api_key_id', undefined, true),
          col.string('device_id', 64, { isNullable: true }),
          col.string('media_url', 500, { isNullable: true }),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('tickets', new TableIndex({ name: 'ix_tickets_openid', columnNames: ['openid', 'filed_at'] }));
    await q.createIndex('tickets', new TableIndex({ name: 'ix_tickets_department_status', columnNames: ['department', 'status'] }));
    await q.createIndex('tickets', new TableIndex({ name: 'ix_tickets_category_filed', columnNames: ['category', 'filed_at'] }));
    await q.createTable(
      new Table({
        name: 'ticket_events',
        columns: [col.id(), col.int('ticket_id'), col.string('kind', 24), col.text('note', true), col.string('actor', 64), col.string('department', 48, { isNullable: true }), col.int('days', undefined, true), col.time('created_at'), col.time('pushed_at', true)],
      }),
    );
    await q.createIndex('ticket_events', new TableIndex({ name: 'ix_ticket_events_ticket', columnNames: ['ticket_id', 'id'] }));
    await q.createTable(
      new Table({
        name: 'ticket_photos',
        columns: [col.id(), col.int('ticket_id'), col.string('source', 10), col.string('url', 1000, { isNullable: true }), col.string('storage_key', 128, { isNullable: true }), col.string('mime', 40, { isNullable: true }), col.int('size', undefined, true), col.time('created_at')],
      }),
    );
    await q.createIndex('ticket_photos', new TableIndex({ name: 'ix_ticket_photos_ticket', columnNames: ['ticket_id'] }));
    await q.createTable(new Table({ name: 'ticket_counters', columns: [col.string('day', 8, { isPrimary: true }), col.int('last_no', 0)] }));
    await q.createTable(
      new Table({
        name: 'open311_keys',
        columns: [col.id(), col.string('name', 60), col.string('key_hash', 64, { isUnique: true }), col.int('created_by'), col.time('created_at'), col.time('revoked_at', true)],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['open311_keys', 'ticket_counters', 'ticket_photos', 'ticket_events', 'tickets']) await q.dropTable(t);
  }
}
