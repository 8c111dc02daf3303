import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * When the citizen last wrote (a message, not a menu tap): WeChat's 48-hour customer-service
 * window runs from it, while an event opens only a one-minute window beside it. Until now only the
 * last interaction of either kind was kept.
 */
export class CitizenLastMessage1764520000000 implements MigrationInterface {
  name = 'CitizenLastMessage1764520000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('citizens', new TableColumn(col.time('last_message_at', true)));
    // What is known: a last interaction that was a message.
    await q.query(`UPDATE citizens SET last_message_at = last_interaction_at WHERE last_interaction_kind = 'message'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('citizens', 'last_message_at');
  }
}
