import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Account binding and department events: records a department imported to verify bindings
 * against, citizens' bindings, events posted by departments' systems (one per idempotency key),
 * the kinds of push a citizen switched off, and bills issued from events (a fine).
 */
export class Bindings1765800000000 implements MigrationInterface {
  name = 'Bindings1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'binding_records',
        columns: [col.id(), col.string('kind', 32), col.string('key_value', 64), col.text('fields'), col.text('secrets'), col.string('system', 32), col.time('imported_at')],
      }),
    );
    await q.createIndex('binding_records', new TableIndex({ name: 'ux_binding_records_kind_key', columnNames: ['kind', 'key_value'], isUnique: true }));
    await q.createTable(
      new Table({
        name: 'bindings',
        columns: [
          col.id(),
          col.string('openid', 64),
          col.string('kind', 32),
          col.string('key_value', 64),
          col.string('display', 64),
          col.string('status', 16),
          col.time('bound_at'),
          col.time('unbound_at', true),
          // Unique while bound: the key while active, null once unbound (a key may be bound again).
          col.string('active_key', 100, { isNullable: true }),
        ],
      }),
    );
    await q.createIndex('bindings', new TableIndex({ name: 'ix_bindings_openid', columnNames: ['openid', 'status'] }));
    await q.createIndex('bindings', new TableIndex({ name: 'ux_bindings_active_key', columnNames: ['active_key'], isUnique: true }));
    await q.createTable(
      new Table({
        name: 'dept_events',
        columns: [
          col.id(),
          col.string('system', 32),
          col.string('idempotency_key', 100),
          col.string('kind', 32),
          col.string('target_hash', 64),
          col.string('target_display', 64),
          col.text('payload'),
          col.string('status', 16),
          col.string('openid', 64, { isNullable: true }),
          col.string('detail', 200, { isNullable: true }),
          col.time('received_at'),
          col.time('send_at', true),
          col.time('sent_at', true),
        ],
      }),
    );
    await q.createIndex('dept_events', new TableIndex({ name: 'ux_dept_events_system_key', columnNames: ['system', 'idempotency_key'], isUnique: true }));
    await q.createIndex('dept_events', new TableIndex({ name: 'ix_dept_events_received', columnNames: ['received_at'] }));
    await q.createTable(
      new Table({
        name: 'push_optouts',
        columns: [col.id(), col.string('openid', 64), col.string('event_kind', 32), col.time('created_at')],
      }),
    );
    await q.createIndex('push_optouts', new TableIndex({ name: 'ux_push_optouts', columnNames: ['openid', 'event_kind'], isUnique: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('push_optouts');
    await q.dropTable('dept_events');
    await q.dropTable('bindings');
    await q.dropTable('binding_records');
  }
}
