import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** A handoff a keyword rule or menu entry marks urgent (紧急): staff see it first, its department is alerted at once. */
export class HandoffUrgent1765500000000 implements MigrationInterface {
  name = 'HandoffUrgent1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('handoffs', new TableColumn(col.bool(q, 'urgent', false)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('handoffs', 'urgent');
  }
}
