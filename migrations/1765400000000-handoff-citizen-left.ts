import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * A citizen who says 结束人工 before staff answered leaves the question in the queue: it stays open,
 * marked with when the citizen went back to the bot.
 */
export class HandoffCitizenLeft1765400000000 implements MigrationInterface {
  name = 'HandoffCitizenLeft1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('handoffs', new TableColumn(col.time('citizen_left_at', true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('handoffs', 'citizen_left_at');
  }
}
