import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Bills and WeChat Pay: one bill per thing payable (a case's fee, a booking's fee, a department's
 * bill such as a fine), its orders on WeChat Pay (at most one of them paid: a partial unique index),
 * refunds, and the bill's timeline.
 */
export class Bills1765600000000 implements MigrationInterface {
  name = 'Bills1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'bills',
        columns: [
          col.id(),
          col.string('bill_no', 24, { isUnique: true }),
          col.string('openid', 64),
          col.int('amount_fen'),
          col.string('description', 127),
          col.string('department', 48, { isNullable: true }),
          col.string('pays_kind', 16),
          col.string('pays_ref', 64),
          col.string('status', 20),
          col.time('due_at', true),
          col.time('paid_at', true),
          col.int('paid_order_id', undefined, true),
          col.int('refunded_fen', 0),
          col.time('closed_at', true),
          col.string('closed_reason', 200, { isNullable: true }),
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );
    // One bill per thing paid for: a department pushing the same fine twice gets the same bill.
    await q.createIndex('bills', new TableIndex({ name: 'ux_bills_pays', columnNames: ['pays_kind', 'pays_ref'], isUnique: true }));
    await q.createIndex('bills', new TableIndex({ name: 'ix_bills_openid', columnNames: ['openid', 'status'] }));
    await q.createIndex('bills', new TableIndex({ name: 'ix_bills_department_status', columnNames: ['department', 'status'] }));
    await q.createTable(
      new Table({
        name: 'pay_orders',
        columns: [
          col.id(),
          col.int('bill_id'),
          col.string('out_trade_no', 32, { isUnique: true }),
          col.string('trade_type', 8),
          col.int('amount_fen'),
          col.string('status', 12),
          col.string('prepay_id', 64, { isNullable: true }),
          col.string('code_url', 200, { isNullable: true }),
          col.string('transaction_id', 32, { isNullable: true }),
          col.string('payer_openid', 64, { isNullable: true }),
          col.time('expires_at'),
          col.time('paid_at', true),
          col.time('closed_at', true),
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('pay_orders', new TableIndex({ name: 'ix_pay_orders_bill', columnNames: ['bill_id', 'status'] }));
    // Never two paid orders for one bill, whatever the code above it does.
    await q.createIndex('pay_orders', new TableIndex({ name: 'ux_pay_orders_one_paid', columnNames: ['bill_id'], isUnique: true, where: "status = 'paid'" }));
    await q.createTable(
      new Table({
        name: 'pay_refunds',
        columns: [
          col.id(),
          col.int('bill_id'),
          col.int('order_id'),
          col.string('out_refund_no', 64, { isUnique: true }),
          col.int('amount_fen'),
          col.string('reason', 200),
          col.string('status', 12),
          col.int('staff_id', undefined, true),
          col.string('refund_id', 32, { isNullable: true }),
          col.time('created_at'),
          col.time('succeeded_at', true),
          col.time('updated_at'),
        ],
      }),
    );
    await q.createIndex('pay_refunds', new TableIndex({ name: 'ix_pay_refunds_bill', columnNames: ['bill_id'] }));
    await q.createTable(
      new Table({
        name: 'bill_events',
        columns: [col.id(), col.int('bill_id'), col.string('kind', 24), col.time('at'), col.string('actor', 32), col.string('note', 300, { isNullable: true })],
      }),
    );
    await q.createIndex('bill_events', new TableIndex({ name: 'ix_bill_events_bill', columnNames: ['bill_id', 'at'] }));
    await q.createTable(new Table({ name: 'bill_counters', columns: [col.string('day', 8, { isPrimary: true }), col.int('last_no', 0)] }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['bill_counters', 'bill_events', 'pay_refunds', 'pay_orders', 'bills']) await q.dropTable(t);
  }
}
