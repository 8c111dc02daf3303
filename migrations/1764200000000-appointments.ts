import { Table, TableColumn, TableIndex, TableUnique, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** Appointments: per-slot counters (never oversold), bookings, queue numbers; the 长者模式 choice. */
export class Appointments1764200000000 implements MigrationInterface {
  name = 'Appointments1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'slot_counts',
        columns: [col.id(), col.string('hall_id', 48), col.string('service_id', 48), col.time('starts_at'), col.int('capacity'), col.int('booked', 0)],
        uniques: [new TableUnique({ name: 'uq_slot_counts_slot', columnNames: ['hall_id', 'service_id', 'starts_at'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'bookings',
        columns: [
          col.id(),
          col.string('code', 8, { isUnique: true }),
          col.string('openid', 64),
          col.string('service_id', 48),
          col.string('hall_id', 48),
          col.time('starts_at'),
          col.time('ends_at'),
          col.string('status', 16),
          col.text('contact', true),
          col.string('channel', 8),
          col.int('queue_no', undefined, true),
          col.int('rescheduled_from', undefined, true),
          col.time('created_at'),
          col.time('updated_at'),
          col.time('checked_in_at', true),
          col.time('cancelled_at', true),
        ],
      }),
    );
    await q.createIndex('bookings', new TableIndex({ name: 'ix_bookings_openid_start', columnNames: ['openid', 'starts_at'] }));
    await q.createIndex('bookings', new TableIndex({ name: 'ix_bookings_hall_start', columnNames: ['hall_id', 'starts_at'] }));
    await q.createTable(
      new Table({
        name: 'queue_counters',
        columns: [col.string('hall_id', 48, { isPrimary: true }), col.string('day', 10, { isPrimary: true }), col.int('last_no', 0)],
      }),
    );
    await q.addColumn('citizens', new TableColumn({ name: 'care_mode', type: 'boolean', default: q.connection.options.type === 'postgres' ? false : 0 }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('citizens', 'care_mode');
    await q.dropTable('queue_counters');
    await q.dropTable('bookings');
    await q.dropTable('slot_counts');
  }
}
