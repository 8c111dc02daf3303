import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/**
 * Who marked a booking served at the hall's desk: the staff member its 好差评 rates (null for
 * bookings served before this, and when the mark came from elsewhere).
 */
export class BookingServedBy1766200000000 implements MigrationInterface {
  name = 'BookingServedBy1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('bookings', new TableColumn(col.int('served_by', undefined, true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('bookings', 'served_by');
  }
}
