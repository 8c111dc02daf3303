import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Staff alerts: what must reach a staff member at once (an urgent ticket or handoff, a 督办), shown
 * in the panel and, where the staff member has bound their WeChat, sent as a template message.
 */
export class StaffAlerts1765000000000 implements MigrationInterface {
  name = 'StaffAlerts1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('staff', [new TableColumn(col.string('wechat_openid', 64, { isNullable: true })), new TableColumn(col.time('wechat_bound_at', true))]);
    await q.createIndex('staff', new TableIndex({ name: 'ix_staff_wechat_openid', columnNames: ['wechat_openid'] }));
    await q.createTable(
      new Table({
        name: 'staff_alerts',
        columns: [
          col.id(),
          col.int('staff_id'),
          col.string('kind', 32),
          col.string('department', 48, { isNullable: true }),
          col.string('title', 200),
          col.string('link', 300),
          col.bool(q, 'urgent', false),
          col.time('created_at'),
          col.time('read_at', true),
        ],
      }),
    );
    await q.createIndex('staff_alerts', new TableIndex({ name: 'ix_staff_alerts_staff_read', columnNames: ['staff_id', 'read_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('staff_alerts');
    await q.dropIndex('staff', 'ix_staff_wechat_openid');
    await q.dropColumn('staff', 'wechat_bound_at');
    await q.dropColumn('staff', 'wechat_openid');
  }
}
