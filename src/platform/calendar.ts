/**
 * Working-day calendar: Chinese public holidays, 调休 (make-up) working weekends and office hours.
 *
 * All day and time-of-day logic happens at a fixed UTC offset (China time, UTC+8, by default;
 * China has no DST), never in the server's time zone: only `Date.UTC` and `getUTC*` are used.
 * Internally a local calendar day is an integer "day number": days since 1970-01-01 at that offset.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

/** Upper bound on day-by-day loops, so that bad input (or data without office hours) cannot hang the process. */
export const MAX_DAY_ITERATIONS = 3660;
/** Longest inclusive range accepted in the calendar data. */
const MAX_RANGE_DAYS = 366;

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
/** Indexed by `Date#getUTCDay()`. */
const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export type DayKind = 'workday' | 'weekend' | 'holiday' | 'makeup_workday';

export interface CalendarData {
  /** Keyed by year ('2026'). Entries are 'YYYY-MM-DD' or inclusive ranges 'YYYY-MM-DD..YYYY-MM-DD'. */
  years: Record<string, { holidays: string[]; workdays: string[] }>;
}

/** ['09:00', '12:00']: 24 h 'HH:MM', start < end; the end may be '24:00'. */
export type Interval = [string, string];
/**
 * Opening hours (staff's service hours, a hall's): by weekday, with `default` for working days not
 * listed and for 调休 working weekends; `sat` / `sun` for ordinary weekends (closed when absent);
 * `holidays` for public holidays (closed when absent); `dates` for particular days ([] closes);
 * `round_the_clock` for 7×24 (every day 00:00–24:00, holidays too; `dates` still apply).
 */
export type WeekHours = Partial<Record<Weekday | 'default' | 'holidays', Interval[]>> & {
  dates?: Record<string, Interval[]>;
  round_the_clock?: boolean;
};

// ---------------------------------------------------------------------------
// Dates as day numbers

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Day number of a 'YYYY-MM-DD' string, or undefined if it is malformed or not a real date. */
export function parseDateString(s: string): number | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return undefined;
  return ms / DAY_MS;
}

function dayToParts(day: number): { year: number; month: number; day: number; weekday: Weekday } {
  const d = new Date(day * DAY_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    weekday: WEEKDAYS[d.getUTCDay()]!,
  };
}

function isWeekendDay(day: number): boolean {
  const wd = new Date(day * DAY_MS).getUTCDay();
  return wd === 0 || wd === 6;
}

function dayToString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

type ParsedEntry = { ok: true; from: number; to: number } | { ok: false; message: string };

/** Parses one calendar entry: a date or an inclusive range 'a..b'. */
function parseEntry(entry: string): ParsedEntry {
  const parts = entry.split('..');
  if (parts.length > 2) return { ok: false, message: `malformed entry "${entry}": expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD` };
  const days: number[] = [];
  for (const p of parts) {
    if (!DATE_RE.test(p)) return { ok: false, message: `malformed date "${p}" in "${entry}": expected YYYY-MM-DD` };
    const day = parseDateString(p);
    if (day === undefined) return { ok: false, message: `impossible date "${p}" in "${entry}"` };
    days.push(day);
  }
  const from = days[0]!;
  const to = days[days.length - 1]!;
  if (to < from) return { ok: false, message: `reversed range "${entry}": start is after end` };
  if (to - from + 1 > MAX_RANGE_DAYS) return { ok: false, message: `range "${entry}" is longer than ${MAX_RANGE_DAYS} days` };
  return { ok: true, from, to };
}

function expandEntries(entries: readonly string[]): number[] {
  const out: number[] = [];
  for (const e of entries) {
    const p = parseEntry(e);
    if (!p.ok) throw new Error(p.message); // unreachable for data that passed calendarDataSchema
    for (let d = p.from; d <= p.to; d++) out.push(d);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Schemas

const entrySchema = z.string().superRefine((s, ctx) => {
  const p = parseEntry(s);
  if (!p.ok) ctx.addIssue({ code: 'custom', message: p.message });
});

const yearSchema = z.object({
  holidays: z.array(entrySchema).default([]),
  workdays: z.array(entrySchema).default([]),
});

/**
 * Validates calendar data (e.g. parsed from config/calendar.yaml): every entry is a real date or an
 * ordered range; each date belongs to its section's year (or to the previous December); make-up
 * workdays fall on a Saturday or Sunday; no date is both a holiday and a workday.
 */
export const calendarDataSchema: z.ZodType<CalendarData> = z
  .object({
    years: z.record(z.string().regex(/^\d{4}$/, 'year keys must be 4-digit years'), yearSchema),
  })
  .superRefine((data, ctx) => {
    const holidays = new Map<number, string>(); // day -> where it was listed
    const workdays: { day: number; path: (string | number)[] }[] = [];
    for (const [yearKey, section] of Object.entries(data.years)) {
      const year = Number(yearKey);
      for (const field of ['holidays', 'workdays'] as const) {
        section[field].forEach((entry, i) => {
          const p = parseEntry(entry);
          if (!p.ok) return; // already reported by entrySchema
          const path = ['years', yearKey, field, i];
          for (let d = p.from; d <= p.to; d++) {
            const parts = dayToParts(d);
            if (!(parts.year === year || (parts.year === year - 1 && parts.month === 12))) {
              ctx.addIssue({ code: 'custom', path, message: `${dayToString(d)} does not belong to year ${yearKey}` });
              return;
            }
            if (field === 'holidays') {
              if (!holidays.has(d)) holidays.set(d, `years.${yearKey}.holidays[${i}]`);
            } else {
              if (!isWeekendDay(d)) {
                ctx.addIssue({
                  code: 'custom',
                  path,
                  message: `make-up workday ${dayToString(d)} is a ${parts.weekday}, not a Saturday or Sunday`,
                });
              }
              workdays.push({ day: d, path });
            }
          }
        });
      }
    }
    for (const w of workdays) {
      const h = holidays.get(w.day);
      if (h !== undefined) {
        ctx.addIssue({ code: 'custom', path: w.path, message: `${dayToString(w.day)} is both a workday and a holiday (${h})` });
      }
    }
  });

const TIME_RE = /^(\d{2}):(\d{2})$/;

/** Minutes since midnight of 'HH:MM' (00:00–23:59, or 24:00), or undefined. */
function parseTime(s: string): number | undefined {
  const m = TIME_RE.exec(s);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h === 24 && min === 0) return 24 * 60;
  if (h > 23 || min > 59) return undefined;
  return h * 60 + min;
}

const timeSchema = z.string({ error: (i) => (i.input === undefined ? 'required' : `expected a time "HH:MM"; got ${JSON.stringify(i.input)}`) }).superRefine((s, ctx) => {
  if (parseTime(s) === undefined) ctx.addIssue({ code: 'custom', message: `expected a time "HH:MM" from 00:00 to 24:00 (24:00 is the end of the day); got "${s}"` });
});

const intervalSchema = z
  .tuple([timeSchema, timeSchema])
  .refine(([a, b]) => parseTime(a) === undefined || parseTime(b) === undefined || parseTime(a)! < parseTime(b)!, {
    error: (i) => {
      const [a, b] = i.input as [string, string];
      return `expected the start before the end; got "${a}"–"${b}"${b === '00:00' ? ' (write 24:00 for the end of the day)' : ''}`;
    },
  });

export const intervalsSchema = z.array(intervalSchema).superRefine((list, ctx) => {
  for (let i = 1; i < list.length; i++) {
    const prevEnd = parseTime(list[i - 1]![1]);
    const start = parseTime(list[i]![0]);
    if (prevEnd === undefined || start === undefined) return; // already reported
    if (start < prevEnd) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: `interval ${list[i]![0]}–${list[i]![1]} overlaps or precedes ${list[i - 1]![0]}–${list[i - 1]![1]}; intervals must be sorted and non-overlapping`,
      });
    }
  }
});

const dateKeySchema = z.string().refine((s) => parseDateString(s) !== undefined, { message: 'expected a date "YYYY-MM-DD"' });

/** Office hours per weekday (or 'default'): sorted, non-overlapping intervals of valid times. Unknown keys are rejected. */
export const weekHoursSchema: z.ZodType<WeekHours> = z.strictObject({
  mon: intervalsSchema.optional(),
  tue: intervalsSchema.optional(),
  wed: intervalsSchema.optional(),
  thu: intervalsSchema.optional(),
  fri: intervalsSchema.optional(),
  sat: intervalsSchema.optional(),
  sun: intervalsSchema.optional(),
  default: intervalsSchema.optional(),
  holidays: intervalsSchema.optional(),
  dates: z.record(dateKeySchema, intervalsSchema).optional(),
  round_the_clock: z.boolean().optional(),
});

type MinuteHours = Partial<Record<Weekday | 'default' | 'holidays', MinuteInterval[]>> & { dates: Map<number, MinuteInterval[]>; roundTheClock: boolean };

function toMinuteHours(hours: WeekHours): MinuteHours {
  const toMinutes = (list: Interval[]) => list.map(([a, b]) => [parseTime(a)!, parseTime(b)!] as const);
  const out: MinuteHours = { dates: new Map(), roundTheClock: hours.round_the_clock === true };
  for (const k of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'default', 'holidays'] as const) {
    const list = hours[k];
    if (list) out[k] = toMinutes(list);
  }
  for (const [date, list] of Object.entries(hours.dates ?? {})) out.dates.set(parseDateString(date)!, toMinutes(list));
  return out;
}

const ALL_DAY: MinuteInterval[] = [[0, 24 * 60]];

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((iss) => {
      const path = iss.path.reduce<string>(
        (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)),
        '',
      );
      return `${path || '(root)'}: ${iss.message}`;
    })
    .join('; ') + (error.issues.length > 5 ? `; ... (${error.issues.length - 5} more)` : '');
}

/** Validates already-parsed calendar data; throws an Error prefixed with `source` and naming the bad field. */
export function parseCalendarData(value: unknown, source = 'calendar data'): CalendarData {
  const r = calendarDataSchema.safeParse(value);
  if (!r.success) throw new Error(`${source}: invalid calendar data: ${formatIssues(r.error)}`);
  return r.data;
}

/** Validates office hours; throws an Error prefixed with `source` and naming the bad field. */
export function parseWeekHours(value: unknown, source = 'office hours'): WeekHours {
  const r = weekHoursSchema.safeParse(value);
  if (!r.success) throw new Error(`${source}: invalid office hours: ${formatIssues(r.error)}`);
  return r.data;
}

/** Reads and validates a calendar YAML file (see config/calendar.yaml). */
export function loadCalendarData(path: string): CalendarData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read calendar file: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: invalid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseCalendarData(value, path);
}

// ---------------------------------------------------------------------------
// The calendar

type MinuteInterval = readonly [number, number];

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
  /** Whole minutes since local midnight. */
  minutes: number;
}

function assertTime(t: number, name = 't'): void {
  if (!Number.isFinite(t)) throw new RangeError(`${name} must be a finite epoch-ms number, got ${t}`);
}

export class WorkingCalendar {
  private readonly offsetMs: number;
  private readonly special = new Map<number, 'holiday' | 'makeup_workday'>();
  private readonly years: ReadonlySet<string>;
  /** Staff's service hours (the profile's service_hours). */
  private readonly hours: MinuteHours;
  private readonly other = new WeakMap<WeekHours, MinuteHours>();

  constructor(opts: { data: CalendarData; hours: WeekHours; utcOffsetMinutes?: number }) {
    const offset = opts.utcOffsetMinutes ?? 480;
    if (!Number.isInteger(offset) || offset < -14 * 60 || offset > 14 * 60) {
      throw new RangeError(`utcOffsetMinutes must be an integer between -840 and 840, got ${offset}`);
    }
    this.offsetMs = offset * MINUTE_MS;
    const data = parseCalendarData(opts.data);
    const hours = parseWeekHours(opts.hours);
    this.years = new Set(Object.keys(data.years));
    for (const section of Object.values(data.years)) {
      for (const d of expandEntries(section.holidays)) this.special.set(d, 'holiday');
    }
    for (const section of Object.values(data.years)) {
      for (const d of expandEntries(section.workdays)) this.special.set(d, 'makeup_workday');
    }
    this.hours = toMinuteHours(hours);
  }

  // --- local-day helpers -------------------------------------------------

  private dayOf(t: number): number {
    assertTime(t);
    return Math.floor((t + this.offsetMs) / DAY_MS);
  }

  private dayStart(day: number): number {
    return day * DAY_MS - this.offsetMs;
  }

  private kindOfDay(day: number): DayKind {
    const s = this.special.get(day);
    if (s) return s;
    return isWeekendDay(day) ? 'weekend' : 'workday';
  }

  private isWorkingDayNum(day: number): boolean {
    const k = this.kindOfDay(day);
    return k === 'workday' || k === 'makeup_workday';
  }

  /**
   * The intervals of a day under some opening hours: a date of its own first, then round the clock,
   * public holidays (`holidays`, else closed), 调休 working weekends (`default`, else `mon`),
   * ordinary weekends (`sat` / `sun`, else closed), working days (their weekday, else `default`).
   */
  private hoursOfDay(day: number, h: MinuteHours = this.hours): MinuteInterval[] {
    const own = h.dates.get(day);
    if (own) return own;
    if (h.roundTheClock) return ALL_DAY;
    const kind = this.kindOfDay(day);
    const wd = WEEKDAYS[new Date(day * DAY_MS).getUTCDay()]!;
    switch (kind) {
      case 'holiday':
        return h.holidays ?? [];
      case 'makeup_workday':
        return h.default ?? h.mon ?? [];
      case 'weekend':
        return h[wd] ?? [];
      default:
        return h[wd] ?? h.default ?? [];
    }
  }

  private minuteHours(hours: WeekHours): MinuteHours {
    let m = this.other.get(hours);
    if (!m) {
      m = toMinuteHours(parseWeekHours(hours));
      this.other.set(hours, m);
    }
    return m;
  }

  // --- public API --------------------------------------------------------

  dayKind(t: number): DayKind {
    return this.kindOfDay(this.dayOf(t));
  }

  /** A make-up workday, or Monday–Friday that is not a holiday. */
  isWorkingDay(t: number): boolean {
    return this.isWorkingDayNum(this.dayOf(t));
  }

  /**
   * Staff's service hours on t's local day ([] when they are off): weekends by `sat` / `sun`,
   * holidays by `holidays`, make-up days by `default` (else `mon`), particular `dates` first.
   * With `hours`, the same for other opening hours (a hall's).
   */
  hoursOn(t: number, hours?: WeekHours): Interval[] {
    return this.hoursOfDay(this.dayOf(t), hours ? this.minuteHours(hours) : this.hours).map(([a, b]) => [formatTime(a), formatTime(b)]);
  }

  /** Whether staff are on duty at some time of t's local day (a service day). */
  isServiceDay(t: number): boolean {
    return this.hoursOfDay(this.dayOf(t)).length > 0;
  }

  /** Whether staff keep service hours on some day at all (else nothing can be counted in them). */
  hasServiceHours(): boolean {
    const h = this.hours;
    return h.roundTheClock || [h.mon, h.tue, h.wed, h.thu, h.fri, h.sat, h.sun, h.default, h.holidays].some((l) => !!l?.length) || [...h.dates.values()].some((l) => l.length > 0);
  }

  /** On a working day and inside one of its intervals (start inclusive, end exclusive). */
  isWorkingTime(t: number): boolean {
    const day = this.dayOf(t);
    const msInDay = t - this.dayStart(day);
    return this.hoursOfDay(day).some(([a, b]) => msInDay >= a * MINUTE_MS && msInDay < b * MINUTE_MS);
  }

  /** t itself if it is working time, else the start of the next office interval (possibly later the same day). */
  nextWorkingTime(t: number): number {
    const first = this.dayOf(t);
    const msInDay = t - this.dayStart(first);
    for (let i = 0; i <= MAX_DAY_ITERATIONS; i++) {
      const day = first + i;
      for (const [a, b] of this.hoursOfDay(day)) {
        if (i === 0) {
          if (msInDay >= b * MINUTE_MS) continue;
          if (msInDay >= a * MINUTE_MS) return t;
        }
        return this.dayStart(day) + a * MINUTE_MS;
      }
    }
    throw new Error(`no office hours within ${MAX_DAY_ITERATIONS} days after ${dayToString(first)}`);
  }

  /**
   * The same local time of day on the n-th working day after t's local date (t's own day is day 0,
   * whatever kind of day it is). n = 0 returns t. Fri 10:00 + 1 = Mon 10:00.
   */
  addWorkingDays(t: number, n: number): number {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
    if (n > MAX_DAY_ITERATIONS) throw new RangeError(`n must be at most ${MAX_DAY_ITERATIONS}, got ${n}`);
    const start = this.dayOf(t);
    const timeOfDay = t - this.dayStart(start);
    let day = start;
    for (let found = 0; found < n; ) {
      day += 1;
      if (day - start > MAX_DAY_ITERATIONS) {
        throw new Error(`addWorkingDays: fewer than ${n} working days within ${MAX_DAY_ITERATIONS} days of ${dayToString(start)}`);
      }
      if (this.isWorkingDayNum(day)) found++;
    }
    return this.dayStart(day) + timeOfDay;
  }

  /**
   * End of office hours (end of the last interval) on the day of addWorkingDays(t, n); n >= 1.
   * If that working day has no office hours configured, the end of the local day (next midnight).
   */
  workingDaysDeadline(t: number, n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
    const day = this.dayOf(this.addWorkingDays(t, n));
    const intervals = this.hoursOfDay(day);
    const last = intervals[intervals.length - 1];
    return this.dayStart(day) + (last ? last[1] * MINUTE_MS : DAY_MS);
  }

  /**
   * Advances `ms` counting only time on working days (all 24 h of each), skipping other days entirely:
   * Fri 17:00 + 24 h = Mon 17:00. Returns the earliest instant at which that much working time has
   * elapsed, so ms = 0 returns t, and a result landing exactly on a working day's end is that midnight.
   */
  addWorkingDuration(t: number, ms: number): number {
    assertTime(t);
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ms must be a finite non-negative number, got ${ms}`);
    let remaining = ms;
    let cur = t;
    let day = this.dayOf(t);
    for (let i = 0; i <= MAX_DAY_ITERATIONS; i++) {
      if (remaining === 0) return cur;
      const end = this.dayStart(day + 1);
      if (this.isWorkingDayNum(day)) {
        const avail = end - cur;
        if (remaining <= avail) return cur + remaining;
        remaining -= avail;
      }
      cur = end;
      day += 1;
    }
    throw new Error(`addWorkingDuration: more than ${MAX_DAY_ITERATIONS} days`);
  }

  /**
   * Advances `ms` counting all 24 hours of each service day (a day on which staff keep hours:
   * working days, and weekends or holidays when the service hours open them), skipping the
   * others: a weekday desk's Fri 17:00 + 24 h = Mon 17:00; a 7×24 desk's is Sat 17:00.
   */
  addServiceDuration(t: number, ms: number): number {
    return this.addDuration(t, ms, (day) => this.hoursOfDay(day).length > 0 ? ALL_DAY : []);
  }

  /** Advances `ms` counting only time inside staff's service hours: Fri 17:00 + 1 h = Mon 9:30 (hours 9:00–17:30). */
  addServiceHours(t: number, ms: number): number {
    return this.addDuration(t, ms, (day) => this.hoursOfDay(day));
  }

  private addDuration(t: number, ms: number, intervals: (day: number) => MinuteInterval[]): number {
    assertTime(t);
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ms must be a finite non-negative number, got ${ms}`);
    let remaining = ms;
    let day = this.dayOf(t);
    let cur = t;
    for (let i = 0; i <= MAX_DAY_ITERATIONS; i++, day++) {
      if (remaining === 0) return cur;
      const start = this.dayStart(day);
      for (const [a, b] of intervals(day)) {
        const from = Math.max(cur, start + a * MINUTE_MS);
        const to = start + b * MINUTE_MS;
        if (to <= from) continue;
        if (remaining <= to - from) return from + remaining;
        remaining -= to - from;
        cur = to;
      }
      cur = Math.max(cur, this.dayStart(day + 1));
    }
    throw new Error(`no service hours within ${MAX_DAY_ITERATIONS} days after ${dayToString(this.dayOf(t))}`);
  }

  /** Number of working days d with a's local date < d <= b's local date (0 if b <= a). */
  workingDaysBetween(a: number, b: number): number {
    const da = this.dayOf(a);
    const db = this.dayOf(b);
    if (b <= a || db <= da) return 0;
    if (db - da > MAX_DAY_ITERATIONS) {
      throw new RangeError(`workingDaysBetween: span of ${db - da} days exceeds ${MAX_DAY_ITERATIONS}`);
    }
    let count = 0;
    for (let d = da + 1; d <= db; d++) if (this.isWorkingDayNum(d)) count++;
    return count;
  }

  /** Whether the data has a section for that year (other years are plain Monday–Friday weeks). */
  covers(year: number): boolean {
    return this.years.has(String(year));
  }

  localParts(t: number): LocalParts {
    const day = this.dayOf(t);
    return { ...dayToParts(day), minutes: Math.floor((t - this.dayStart(day)) / MINUTE_MS) };
  }

  /** Epoch ms of a local moment (month 1–12). Out-of-range fields roll over as with Date.UTC. */
  atLocal(year: number, month: number, day: number, hh = 0, mm = 0): number {
    const ms = Date.UTC(year, month - 1, day, hh, mm) - this.offsetMs;
    assertTime(ms, 'atLocal result');
    return ms;
  }
}

function formatTime(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
