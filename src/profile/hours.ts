import { z } from 'zod';
import { weekHoursSchema as calendarHours, type WeekHours } from '../platform/calendar.ts';

const OPENING_KEYS = ['default', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'holidays'] as const;

/**
 * Opening hours as a profile writes them (staff's service_hours, a hall's hours):
 *
 * ```yaml
 * default: [["09:00", "17:30"]]      # working days (and 调休 working weekends)
 * sat: [["09:00", "12:00"]]          # ordinary Saturdays (closed when absent); sun likewise
 * holidays: [["10:00", "16:00"]]     # public holidays (closed when absent)
 * dates: { "2026-12-31": [["09:00", "12:00"]], "2027-01-04": [] }   # particular days; [] closes
 * round_the_clock: true              # 7×24, holidays too (dates still apply)
 * ```
 * Times are "HH:MM", 24:00 the end of the day; intervals sorted and not overlapping.
 * With `required`, some hours must be given (a hall that never opens is a mistake).
 */
export function weekHoursSchema(required: boolean) {
  return (calendarHours as z.ZodType<WeekHours>).superRefine((h, ctx) => {
    if (!required) return;
    const some = h.round_the_clock || OPENING_KEYS.some((k) => (h[k]?.length ?? 0) > 0) || Object.values(h.dates ?? {}).some((l) => l.length > 0);
    if (!some) ctx.addIssue({ code: 'custom', message: 'expected opening hours: default (working days), a weekday, holidays, dates or round_the_clock: true' });
  });
}
