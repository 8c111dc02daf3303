import { z } from 'zod';

/**
 * A validity window: an item outside it vanishes from menus, keywords, numbers and search.
 * Dates are China time: "2026-12-31" (the whole day) or "2026-12-31T18:00".
 */
const moment = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$/, { message: 'expected a date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (China time)' })
  .refine((s) => !Number.isNaN(parseChinaTime(s, false)), { message: 'expected a real date' });

export const validitySchema = {
  valid_from: moment.optional(),
  valid_until: moment.optional(),
};

export interface Validity {
  valid_from?: string | undefined;
  valid_until?: string | undefined;
}

/** Epoch ms of a China-time date or date-time; a bare date ends at the end of that day when `end`. */
export function parseChinaTime(s: string, end: boolean): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, hh, mm] = m;
  const day = Date.UTC(Number(y), Number(mo) - 1, Number(d));
  const check = new Date(day);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return NaN;
  const minutes = hh === undefined ? (end ? 24 * 60 : 0) : Number(hh) * 60 + Number(mm);
  if (hh !== undefined && (Number(hh) > 23 || Number(mm) > 59)) return NaN;
  return day + minutes * 60_000 - 8 * 3_600_000;
}

/** Whether an item is in force at `now`. */
export function isValidAt(v: Validity, now: number): boolean {
  if (v.valid_from && now < parseChinaTime(v.valid_from, false)) return false;
  if (v.valid_until && now >= parseChinaTime(v.valid_until, true)) return false;
  return true;
}

/** The boundaries (starts and ends) still ahead of `now`: when the menu must be synced again. */
export function upcomingBoundaries(items: Validity[], now: number): number[] {
  const out = new Set<number>();
  for (const v of items) {
    if (v.valid_from) out.add(parseChinaTime(v.valid_from, false));
    if (v.valid_until) out.add(parseChinaTime(v.valid_until, true));
  }
  return [...out].filter((t) => t > now).sort((a, b) => a - b);
}
