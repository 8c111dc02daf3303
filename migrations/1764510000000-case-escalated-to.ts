import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** An overdue case is escalated to the department's supervisor (督办人), as a conversation is. */
export class CaseEscalatedTo1764510000000 implements MigrationInterface {
  name = 'CaseEscalatedTo1764510000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('cases', new TableColumn(col.int('escalated_to', undefined, true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('cases', 'escalated_to');
  }
}
