import { EntitySchema, type DataSource } from 'typeorm';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import { insertIgnoringDuplicate } from '../../platform/db.ts';

/**
 * Guide pages read: one counter per item and day (China time). Pages are open without sign-in, so
 * no citizen is recorded — only that the guide was read. The operations figures count these as
 * uses on the page channel.
 */
export interface PageViewRow {
  id: number;
  /** `service:<id>` */
  item: string;
  /** 2026-11-23 */
  day: string;
  views: number;
}

export const PageViewEntity = new EntitySchema<PageViewRow>({
  name: 'PageView',
  tableName: 'page_views',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    item: { type: 'varchar', length: 80 },
    day: { type: 'varchar', length: 10 },
    views: { type: 'integer', default: 0 },
  },
  indices: [{ name: 'ux_page_views_item_day', columns: ['item', 'day'], unique: true }],
});

export function dayOf(calendar: WorkingCalendar, t: number): string {
  const p = calendar.localParts(t);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

export async function recordPageView(db: DataSource, item: string, day: string): Promise<void> {
  await insertIgnoringDuplicate(db.manager, PageViewEntity, { item, day, views: 0 });
  const pg = db.options.type === 'postgres';
  await db.query(`UPDATE page_views SET views = views + 1 WHERE item = ${pg ? '$1' : '?'} AND day = ${pg ? '$2' : '?'}`, [item, day]);
}
