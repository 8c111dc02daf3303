import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { col } from './columns.ts';

/** Guide pages read, per item and day (China time): the pages' own record of use. */
export class PageViews1765910000000 implements MigrationInterface {
  name = 'PageViews1765910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(new Table({ name: 'page_views', columns: [col.id(), col.string('item', 80), col.string('day', 10), col.int('views', 0)] }));
    await q.createIndex('page_views', new TableIndex({ name: 'ux_page_views_item_day', columnNames: ['item', 'day'], isUnique: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('page_views');
  }
}
