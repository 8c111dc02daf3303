import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  calendarDataSchema,
  loadCalendarData,
  type CalendarData,
  type WeekHours,
  weekHoursSchema,
  WorkingCalendar,
} from '../../src/platform/calendar.ts';

const CONFIG = fileURLToPath(new URL('../../config/calendar.yaml', import.meta.url));
const HOUR = 3_600_000;
const MIN = 60_000;

/** Epoch ms of a China-local (UTC+8) moment, computed independently of the code under test. */
function cn(y: number, m: number, d: number, hh = 0, mm = 0): number {
  return Date.UTC(y, m - 1, d, hh - 8, mm);
}

/** Inclusive list of 'YYYY-MM-DD' strings, computed in UTC. */
function range(from: string, to: string = from): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 24 * HOUR) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

function noonOf(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return cn(y, m, d, 12);
}

const EXPECTED_HOLIDAYS: Record<string, string[]> = {
  '2025': [
    ...range('2025-01-01'), // 元旦
    ...range('2025-01-28', '2025-02-04'), // 春节
    ...range('2025-04-04', '2025-04-06'), // 清明
    ...range('2025-05-01', '2025-05-05'), // 劳动节
    ...range('2025-05-31', '2025-06-02'), // 端午
    ...range('2025-10-01', '2025-10-08'), // 国庆+中秋
  ],
  '2026': [
    ...range('2026-01-01', '2026-01-03'), // 元旦
    ...range('2026-02-15', '2026-02-23'), // 春节
    ...range('2026-04-04', '2026-04-06'), // 清明
    ...range('2026-05-01', '2026-05-05'), // 劳动节
    ...range('2026-06-19', '2026-06-21'), // 端午
    ...range('2026-09-25', '2026-09-27'), // 中秋
    ...range('2026-10-01', '2026-10-07'), // 国庆
  ],
};
const EXPECTED_WORKDAYS: Record<string, string[]> = {
  '2025': ['2025-01-26', '2025-02-08', '2025-04-27', '2025-09-28', '2025-10-11'],
  '2026': ['2026-01-04', '2026-02-14', '2026-02-28', '2026-05-09', '2026-09-20', '2026-10-10'],
};

const HOURS: WeekHours = {
  default: [
    ['09:00', '12:00'],
    ['13:30', '17:30'],
  ],
};

const data = loadCalendarData(CONFIG);
const cal = new WorkingCalendar({ data, hours: HOURS });

function expandAll(entries: string[]): string[] {
  return entries.flatMap((e) => {
    const [a, b] = e.split('..') as [string, string | undefined];
    return range(a, b ?? a);
  });
}

describe('config/calendar.yaml', () => {
  it('covers 2025 and 2026', () => {
    expect(Object.keys(data.years).sort()).toEqual(['2025', '2026']);
    expect(cal.covers(2025)).toBe(true);
    expect(cal.covers(2026)).toBe(true);
    expect(cal.covers(2027)).toBe(false);
  });

  it('lists exactly the documented holidays and make-up workdays', () => {
    for (const year of ['2025', '2026']) {
      expect(expandAll(data.years[year]!.holidays).sort()).toEqual([...EXPECTED_HOLIDAYS[year]!].sort());
      expect(expandAll(data.years[year]!.workdays).sort()).toEqual([...EXPECTED_WORKDAYS[year]!].sort());
    }
    expect(EXPECTED_HOLIDAYS['2025']).toHaveLength(28);
    expect(EXPECTED_HOLIDAYS['2026']).toHaveLength(33);
  });

  it('every make-up workday falls on a Saturday or Sunday', () => {
    for (const year of Object.keys(data.years)) {
      for (const date of expandAll(data.years[year]!.workdays)) {
        const wd = new Date(`${date}T00:00:00Z`).getUTCDay();
        expect([0, 6], date).toContain(wd);
        expect(['sat', 'sun'], date).toContain(cal.localParts(noonOf(date)).weekday);
      }
    }
  });

  it('classifies every documented holiday as holiday and every make-up day as makeup_workday', () => {
    for (const year of ['2025', '2026']) {
      for (const date of EXPECTED_HOLIDAYS[year]!) {
        expect(cal.dayKind(noonOf(date)), date).toBe('holiday');
        expect(cal.isWorkingDay(noonOf(date)), date).toBe(false);
        // The whole local day, not just noon.
        const [y, m, d] = date.split('-').map(Number) as [number, number, number];
        expect(cal.dayKind(cn(y, m, d, 0, 0)), date).toBe('holiday');
        expect(cal.dayKind(cn(y, m, d, 23, 59)), date).toBe('holiday');
      }
      for (const date of EXPECTED_WORKDAYS[year]!) {
        expect(cal.dayKind(noonOf(date)), date).toBe('makeup_workday');
        expect(cal.isWorkingDay(noonOf(date)), date).toBe(true);
      }
    }
  });

  it('counts 248 working days in 2025 and in 2026', () => {
    // 365 days - 104 weekend days - weekday holidays (18 in 2025, 19 in 2026) + make-up days (5, 6).
    expect(cal.workingDaysBetween(cn(2024, 12, 31, 12), cn(2025, 12, 31, 12))).toBe(248);
    expect(cal.workingDaysBetween(cn(2025, 12, 31, 12), cn(2026, 12, 31, 12))).toBe(248);
  });
});

describe('WorkingCalendar day kinds', () => {
  it('classifies ordinary weekdays and weekends', () => {
    expect(cal.dayKind(cn(2026, 3, 10, 10))).toBe('workday'); // Tue
    expect(cal.dayKind(cn(2026, 3, 14, 10))).toBe('weekend'); // Sat
    expect(cal.dayKind(cn(2026, 3, 15, 10))).toBe('weekend'); // Sun
    expect(cal.isWorkingDay(cn(2026, 3, 14, 10))).toBe(false);
    expect(cal.dayKind(cn(2025, 12, 31, 10))).toBe('workday'); // Wed before 2026 元旦
    expect(cal.dayKind(cn(2026, 1, 5, 10))).toBe('workday'); // Mon after the make-up Sunday
  });

  it('uses China time, not UTC, for the day boundary', () => {
    // 2026-01-01 00:30 China time is still 2025-12-31 in UTC.
    expect(cal.dayKind(Date.UTC(2025, 11, 31, 16, 30))).toBe('holiday');
    expect(cal.dayKind(Date.UTC(2025, 11, 31, 15, 59))).toBe('workday');
  });

  it('treats years not in the data as plain Monday–Friday weeks', () => {
    expect(cal.dayKind(cn(2027, 1, 1, 10))).toBe('workday'); // a Friday; no data for 2027
    expect(cal.dayKind(cn(2027, 1, 2, 10))).toBe('weekend');
    expect(cal.dayKind(cn(2024, 10, 1, 10))).toBe('workday'); // no data for 2024 either
  });
});

describe('WorkingCalendar office hours', () => {
  it('hoursOn returns the day’s intervals, [] on non-working days', () => {
    expect(cal.hoursOn(cn(2026, 3, 10, 3))).toEqual(HOURS.default);
    expect(cal.hoursOn(cn(2026, 3, 14, 10))).toEqual([]); // Sat
    expect(cal.hoursOn(cn(2026, 10, 1, 10))).toEqual([]); // holiday
    expect(cal.hoursOn(cn(2026, 10, 10, 10))).toEqual(HOURS.default); // make-up Saturday
  });

  it('uses weekday-specific hours, and default (else mon) hours on make-up days', () => {
    const c = new WorkingCalendar({
      data,
      hours: {
        mon: [['08:30', '17:00']],
        fri: [['09:00', '12:00']],
        sat: [['10:00', '11:00']],
        default: [['09:00', '17:30']],
      },
    });
    expect(c.hoursOn(cn(2026, 3, 9, 12))).toEqual([['08:30', '17:00']]); // Mon
    expect(c.hoursOn(cn(2026, 3, 13, 12))).toEqual([['09:00', '12:00']]); // Fri
    expect(c.hoursOn(cn(2026, 3, 11, 12))).toEqual([['09:00', '17:30']]); // Wed → default
    expect(c.hoursOn(cn(2026, 3, 14, 12))).toEqual([['10:00', '11:00']]); // an ordinary Sat has its own hours
    expect(c.hoursOn(cn(2026, 3, 15, 12))).toEqual([]); // Sun: none given, closed
    expect(c.isWorkingDay(cn(2026, 3, 14, 12))).toBe(false); // still not a working day for deadlines
    expect(c.hoursOn(cn(2026, 10, 10, 12))).toEqual([['09:00', '17:30']]); // make-up Sat → default, not sat
    const monOnly = new WorkingCalendar({ data, hours: { mon: [['08:00', '16:00']] } });
    expect(monOnly.hoursOn(cn(2026, 10, 10, 12))).toEqual([['08:00', '16:00']]); // make-up → mon
    expect(monOnly.hoursOn(cn(2026, 3, 10, 12))).toEqual([]); // Tue: no tue, no default
  });

  it('isWorkingTime around opening, lunch and 17:30 (start inclusive, end exclusive)', () => {
    const tue = (hh: number, mm: number) => cn(2026, 3, 10, hh, mm);
    expect(cal.isWorkingTime(tue(8, 59))).toBe(false);
    expect(cal.isWorkingTime(tue(9, 0))).toBe(true);
    expect(cal.isWorkingTime(tue(11, 59))).toBe(true);
    expect(cal.isWorkingTime(tue(12, 0) - 1)).toBe(true);
    expect(cal.isWorkingTime(tue(12, 0))).toBe(false);
    expect(cal.isWorkingTime(tue(13, 29))).toBe(false);
    expect(cal.isWorkingTime(tue(13, 30))).toBe(true);
    expect(cal.isWorkingTime(tue(17, 29))).toBe(true);
    expect(cal.isWorkingTime(tue(17, 30) - 1)).toBe(true);
    expect(cal.isWorkingTime(tue(17, 30))).toBe(false);
    expect(cal.isWorkingTime(tue(20, 0))).toBe(false);
    expect(cal.isWorkingTime(cn(2026, 10, 2, 10))).toBe(false); // holiday
    expect(cal.isWorkingTime(cn(2026, 3, 14, 10))).toBe(false); // Sat
    expect(cal.isWorkingTime(cn(2026, 2, 14, 10))).toBe(true); // make-up Sat
  });
});

describe('nextWorkingTime', () => {
  it('returns t itself during working time', () => {
    const t = cn(2026, 3, 10, 10, 17) + 1234;
    expect(cal.nextWorkingTime(t)).toBe(t);
  });

  it('goes to the afternoon interval from the lunch break, and to opening time before it', () => {
    expect(cal.nextWorkingTime(cn(2026, 3, 10, 12, 0))).toBe(cn(2026, 3, 10, 13, 30));
    expect(cal.nextWorkingTime(cn(2026, 3, 10, 12, 45))).toBe(cn(2026, 3, 10, 13, 30));
    expect(cal.nextWorkingTime(cn(2026, 3, 10, 7, 0))).toBe(cn(2026, 3, 10, 9, 0));
    expect(cal.nextWorkingTime(cn(2026, 3, 10, 17, 30))).toBe(cn(2026, 3, 11, 9, 0));
  });

  it('crosses a weekend', () => {
    expect(cal.nextWorkingTime(cn(2026, 3, 13, 18, 0))).toBe(cn(2026, 3, 16, 9, 0)); // Fri → Mon
    expect(cal.nextWorkingTime(cn(2026, 3, 14, 10, 0))).toBe(cn(2026, 3, 16, 9, 0)); // Sat → Mon
  });

  it('crosses 2026 春节 (make-up Sat Feb 14 works, back on Tue Feb 24)', () => {
    expect(cal.nextWorkingTime(cn(2026, 2, 13, 18, 0))).toBe(cn(2026, 2, 14, 9, 0));
    expect(cal.nextWorkingTime(cn(2026, 2, 14, 17, 30))).toBe(cn(2026, 2, 24, 9, 0));
    expect(cal.nextWorkingTime(cn(2026, 2, 17, 10, 0))).toBe(cn(2026, 2, 24, 9, 0));
  });

  it('crosses the 2026 National Day holiday and reaches the make-up Saturday Oct 10', () => {
    expect(cal.nextWorkingTime(cn(2026, 9, 30, 18, 0))).toBe(cn(2026, 10, 8, 9, 0));
    expect(cal.nextWorkingTime(cn(2026, 10, 3, 10, 0))).toBe(cn(2026, 10, 8, 9, 0));
    expect(cal.nextWorkingTime(cn(2026, 10, 9, 17, 45))).toBe(cn(2026, 10, 10, 9, 0)); // Fri → 调休 Sat
    expect(cal.nextWorkingTime(cn(2026, 10, 10, 18, 0))).toBe(cn(2026, 10, 12, 9, 0)); // Sat → Mon
  });

  it('throws instead of looping forever when no office hours are configured', () => {
    const empty = new WorkingCalendar({ data, hours: {} });
    expect(() => empty.nextWorkingTime(cn(2026, 3, 10, 10))).toThrow(/no office hours/);
  });
});

describe('addWorkingDays and workingDaysDeadline', () => {
  it('keeps the local time of day: Fri 10:00 + 1 = Mon 10:00', () => {
    expect(cal.addWorkingDays(cn(2026, 3, 13, 10, 0), 1)).toBe(cn(2026, 3, 16, 10, 0));
    expect(cal.addWorkingDays(cn(2026, 3, 10, 15, 20), 2)).toBe(cn(2026, 3, 12, 15, 20));
    expect(cal.addWorkingDays(cn(2026, 3, 10, 15, 20), 0)).toBe(cn(2026, 3, 10, 15, 20));
  });

  it('crosses 2026 劳动节 (May 1–5 off, Sat May 9 working)', () => {
    const t = cn(2026, 4, 30, 10, 0); // Thu
    expect(cal.addWorkingDays(t, 1)).toBe(cn(2026, 5, 6, 10, 0)); // Wed
    expect(cal.addWorkingDays(t, 2)).toBe(cn(2026, 5, 7, 10, 0));
    expect(cal.addWorkingDays(t, 3)).toBe(cn(2026, 5, 8, 10, 0));
    expect(cal.addWorkingDays(t, 4)).toBe(cn(2026, 5, 9, 10, 0)); // make-up Sat
    expect(cal.addWorkingDays(t, 5)).toBe(cn(2026, 5, 11, 10, 0)); // Mon
  });

  it('counts from a non-working day as day 0', () => {
    expect(cal.addWorkingDays(cn(2026, 5, 2, 22, 0), 1)).toBe(cn(2026, 5, 6, 22, 0));
    expect(cal.addWorkingDays(cn(2026, 3, 14, 8, 0), 1)).toBe(cn(2026, 3, 16, 8, 0));
  });

  it('rejects negative or fractional n', () => {
    expect(() => cal.addWorkingDays(cn(2026, 3, 10), -1)).toThrow(RangeError);
    expect(() => cal.addWorkingDays(cn(2026, 3, 10), 1.5)).toThrow(RangeError);
  });

  it('workingDaysDeadline is the end of office hours of the n-th working day', () => {
    expect(cal.workingDaysDeadline(cn(2026, 4, 30, 10, 0), 1)).toBe(cn(2026, 5, 6, 17, 30));
    expect(cal.workingDaysDeadline(cn(2026, 4, 30, 10, 0), 4)).toBe(cn(2026, 5, 9, 17, 30));
    expect(cal.workingDaysDeadline(cn(2026, 3, 13, 20, 0), 1)).toBe(cn(2026, 3, 16, 17, 30));
    const shortFri = new WorkingCalendar({ data, hours: { ...HOURS, fri: [['09:00', '12:00'], ['13:00', '15:00']] } });
    expect(shortFri.workingDaysDeadline(cn(2026, 3, 12, 10, 0), 1)).toBe(cn(2026, 3, 13, 15, 0));
    expect(() => cal.workingDaysDeadline(cn(2026, 3, 10), 0)).toThrow(RangeError);
  });
});

describe('addWorkingDuration', () => {
  it('skips a weekend: Fri 17:00 + 24 h = Mon 17:00', () => {
    expect(cal.addWorkingDuration(cn(2026, 3, 13, 17, 0), 24 * HOUR)).toBe(cn(2026, 3, 16, 17, 0));
    expect(cal.addWorkingDuration(cn(2026, 3, 10, 9, 0), 30 * MIN)).toBe(cn(2026, 3, 10, 9, 30));
    expect(cal.addWorkingDuration(cn(2026, 3, 10, 9, 0), 0)).toBe(cn(2026, 3, 10, 9, 0));
  });

  it('skips a holiday: Wed Sep 30 2026 20:00 + 24 h = Thu Oct 8 20:00', () => {
    expect(cal.addWorkingDuration(cn(2026, 9, 30, 20, 0), 24 * HOUR)).toBe(cn(2026, 10, 8, 20, 0));
    // 72 h from Thu Oct 8 10:00: Oct 8 (14 h), make-up Sat Oct 10 counts, Sun Oct 11 does not.
    expect(cal.addWorkingDuration(cn(2026, 10, 8, 10, 0), 72 * HOUR)).toBe(cn(2026, 10, 12, 10, 0));
  });

  it('starting on a non-working day counts from the next working day', () => {
    expect(cal.addWorkingDuration(cn(2026, 3, 14, 10, 0), 1 * HOUR)).toBe(cn(2026, 3, 16, 1, 0));
  });

  it('returns the earliest instant when landing exactly on the end of a working day', () => {
    expect(cal.addWorkingDuration(cn(2026, 3, 13, 17, 0), 7 * HOUR)).toBe(cn(2026, 3, 14, 0, 0));
  });

  it('rejects negative durations', () => {
    expect(() => cal.addWorkingDuration(cn(2026, 3, 10), -1)).toThrow(RangeError);
  });
});

describe('workingDaysBetween', () => {
  it('counts working days d with a’s date < d <= b’s date', () => {
    expect(cal.workingDaysBetween(cn(2026, 3, 13, 17), cn(2026, 3, 16, 9))).toBe(1); // Fri → Mon
    expect(cal.workingDaysBetween(cn(2026, 3, 10, 9), cn(2026, 3, 10, 17))).toBe(0); // same day
    expect(cal.workingDaysBetween(cn(2026, 3, 9, 23, 59), cn(2026, 3, 10, 0, 0))).toBe(1);
    expect(cal.workingDaysBetween(cn(2026, 4, 30, 10), cn(2026, 5, 11, 10))).toBe(5); // May 6,7,8,9,11
    expect(cal.workingDaysBetween(cn(2026, 2, 13, 10), cn(2026, 2, 28, 10))).toBe(6); // Feb 14, 24–27, 28
  });

  it('is 0 when b <= a', () => {
    expect(cal.workingDaysBetween(cn(2026, 3, 16), cn(2026, 3, 10))).toBe(0);
    expect(cal.workingDaysBetween(cn(2026, 3, 16), cn(2026, 3, 16))).toBe(0);
  });

  it('refuses spans longer than its iteration bound', () => {
    expect(() => cal.workingDaysBetween(cn(2000, 1, 1), cn(2026, 1, 1))).toThrow(RangeError);
  });
});

describe('local time helpers', () => {
  it('atLocal and localParts use the calendar offset', () => {
    expect(cal.atLocal(2026, 1, 5, 9, 0)).toBe(Date.UTC(2026, 0, 5, 1, 0));
    expect(cal.atLocal(2026, 1, 5)).toBe(Date.UTC(2026, 0, 4, 16, 0));
    expect(cal.localParts(Date.UTC(2026, 0, 4, 16, 30, 59))).toEqual({
      year: 2026,
      month: 1,
      day: 5,
      weekday: 'mon',
      minutes: 30,
    });
  });

  it('supports other offsets', () => {
    const utc = new WorkingCalendar({ data, hours: HOURS, utcOffsetMinutes: 0 });
    expect(utc.atLocal(2026, 1, 5, 9, 0)).toBe(Date.UTC(2026, 0, 5, 9, 0));
    expect(utc.dayKind(Date.UTC(2025, 11, 31, 20, 0))).toBe('workday'); // still Dec 31 in UTC
    expect(utc.isWorkingTime(Date.UTC(2026, 0, 5, 9, 0))).toBe(true);
    expect(() => new WorkingCalendar({ data, hours: HOURS, utcOffsetMinutes: 100_000 })).toThrow(RangeError);
  });

  it('does not depend on the process time zone', () => {
    const saved = process.env.TZ;
    const probe = () => [
      cal.atLocal(2026, 10, 10, 9, 0),
      cal.dayKind(cn(2026, 10, 10, 0, 30)),
      cal.nextWorkingTime(cn(2026, 10, 9, 18, 0)),
      cal.addWorkingDays(cn(2026, 4, 30, 10, 0), 4),
      cal.localParts(cn(2026, 3, 8, 2, 30)), // a US DST switch night
    ];
    const results = [];
    try {
      for (const tz of ['UTC', 'America/New_York', 'Pacific/Kiritimati', 'Asia/Shanghai']) {
        process.env.TZ = tz;
        results.push(probe());
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    for (const r of results) expect(r).toEqual(results[0]);
    expect(results[0]).toEqual([
      cn(2026, 10, 10, 9, 0),
      'makeup_workday',
      cn(2026, 10, 10, 9, 0),
      cn(2026, 5, 9, 10, 0),
      { year: 2026, month: 3, day: 8, weekday: 'sun', minutes: 150 },
    ]);
  });
});

describe('schemas', () => {
  const year = (holidays: string[], workdays: string[] = []): CalendarData => ({ years: { '2026': { holidays, workdays } } });
  const errorOf = (value: unknown): string => {
    const r = calendarDataSchema.safeParse(value);
    expect(r.success).toBe(false);
    return r.success ? '' : JSON.stringify(r.error.issues);
  };

  it('accepts the real file and simple data', () => {
    expect(calendarDataSchema.safeParse(data).success).toBe(true);
    expect(calendarDataSchema.safeParse(year(['2026-01-01', '2026-10-01..2026-10-07'], ['2026-10-10'])).success).toBe(true);
    // A year's notice may include the previous December.
    expect(calendarDataSchema.safeParse(year(['2025-12-31'])).success).toBe(true);
  });

  it('rejects a malformed date', () => {
    expect(errorOf(year(['2026-2-3']))).toMatch(/malformed date/);
    expect(errorOf(year(['2026/02/03']))).toMatch(/malformed/);
    expect(errorOf(year(['2026-01-01...2026-01-03']))).toMatch(/malformed/);
    expect(calendarDataSchema.safeParse(year([20260101 as unknown as string])).success).toBe(false);
  });

  it('rejects an impossible date', () => {
    expect(errorOf(year(['2026-02-30']))).toMatch(/impossible date/);
    expect(errorOf(year(['2026-13-01']))).toMatch(/impossible date/);
    expect(errorOf(year(['2026-01-01..2026-02-29']))).toMatch(/impossible date/);
  });

  it('rejects a reversed range', () => {
    expect(errorOf(year(['2026-10-07..2026-10-01']))).toMatch(/reversed range/);
  });

  it('rejects a date that is both a holiday and a workday', () => {
    const msg = errorOf(year(['2026-10-01..2026-10-10'], ['2026-10-10']));
    expect(msg).toMatch(/both a workday and a holiday/);
    expect(msg).toContain('"workdays"');
  });

  it('rejects a make-up workday on a weekday, a date outside its year and a bad year key', () => {
    expect(errorOf(year([], ['2026-10-09']))).toMatch(/not a Saturday or Sunday/);
    expect(errorOf(year(['2025-06-01']))).toMatch(/does not belong to year 2026/);
    expect(errorOf({ years: { '26': { holidays: [], workdays: [] } } })).toMatch(/4-digit/);
  });

  it('weekHoursSchema rejects overlapping, unsorted, reversed and invalid intervals', () => {
    const ok = weekHoursSchema.safeParse({ default: [['09:00', '12:00'], ['12:00', '17:30']], fri: [['09:00', '24:00']] });
    expect(ok.success).toBe(true);
    const bad = (v: unknown) => {
      const r = weekHoursSchema.safeParse(v);
      expect(r.success).toBe(false);
      return r.success ? '' : JSON.stringify(r.error.issues);
    };
    expect(bad({ default: [['09:00', '12:30'], ['12:00', '17:30']] })).toMatch(/overlaps/);
    expect(bad({ mon: [['13:30', '17:30'], ['09:00', '12:00']] })).toMatch(/sorted/);
    expect(bad({ mon: [['12:00', '09:00']] })).toMatch(/start before the end/);
    expect(bad({ mon: [['09:00', '09:00']] })).toMatch(/start before the end/);
    expect(bad({ mon: [['9:00', '12:00']] })).toMatch(/HH:MM/);
    expect(bad({ mon: [['09:00', '25:00']] })).toMatch(/HH:MM/);
    expect(bad({ monday: [['09:00', '12:00']] })).toMatch(/monday/);
    expect(() => new WorkingCalendar({ data, hours: { default: [['09:00', '12:30'], ['12:00', '17:30']] } })).toThrow(
      /default\[1\].*overlaps/,
    );
  });
});

describe('loadCalendarData', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weiban-calendar-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('throws an Error naming the path and the field', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'years:\n  2026:\n    holidays: [2026-01-01, 2026-02-30]\n    workdays: []\n');
    expect(() => loadCalendarData(file)).toThrow(file);
    expect(() => loadCalendarData(file)).toThrow(/years\.2026\.holidays\[1\]: impossible date "2026-02-30"/);
  });

  it('parses inline ranges as in the documented format', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, '# test\nyears:\n  2026:\n    holidays: [2026-01-01..2026-01-03]\n    workdays: [2026-01-04]\n');
    const c = new WorkingCalendar({ data: loadCalendarData(file), hours: HOURS });
    expect(c.dayKind(cn(2026, 1, 3, 10))).toBe('holiday');
    expect(c.dayKind(cn(2026, 1, 4, 10))).toBe('makeup_workday');
  });

  it('names the path for a missing file and for invalid YAML', () => {
    const missing = join(dir, 'missing.yaml');
    expect(() => loadCalendarData(missing)).toThrow(missing);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'years: [unclosed\n');
    expect(() => loadCalendarData(broken)).toThrow(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid YAML`));
  });
});

describe('hours that are not office hours (weekends, holidays, particular dates, round the clock)', () => {
  const library: WeekHours = {
    default: [['09:00', '20:30']],
    sat: [['09:00', '17:00']],
    sun: [['09:00', '17:00']],
    holidays: [['10:00', '16:00']],
    dates: { '2026-10-01': [], '2026-12-24': [['09:00', '12:00']] },
  };
  const lib = new WorkingCalendar({ data, hours: library });
  const desk = new WorkingCalendar({ data, hours: { round_the_clock: true } });

  it('opens on weekends and holidays when the hours say so, and follows particular dates first', () => {
    expect(lib.hoursOn(cn(2026, 3, 14, 12))).toEqual([['09:00', '17:00']]); // an ordinary Saturday
    expect(lib.hoursOn(cn(2026, 10, 2, 12))).toEqual([['10:00', '16:00']]); // National Day holiday
    expect(lib.hoursOn(cn(2026, 10, 1, 12))).toEqual([]); // the first day is closed by its own date
    expect(lib.hoursOn(cn(2026, 12, 24, 12))).toEqual([['09:00', '12:00']]); // a Thursday with short hours
    expect(lib.hoursOn(cn(2026, 10, 10, 12))).toEqual([['09:00', '20:30']]); // 调休 Saturday: working-day hours
    expect(lib.isServiceDay(cn(2026, 10, 2, 12))).toBe(true);
    expect(lib.isWorkingDay(cn(2026, 10, 2, 12))).toBe(false); // statutory deadlines still skip it
  });

  it('round the clock is every day 00:00–24:00, holidays too', () => {
    for (const t of [cn(2026, 3, 15, 21), cn(2026, 2, 17, 3), cn(2026, 10, 3, 12)]) {
      expect(desk.hoursOn(t)).toEqual([['00:00', '24:00']]);
      expect(desk.isWorkingTime(t)).toBe(true);
    }
  });

  it('counts a duty desk\'s hours through the weekend; a weekday desk\'s skip it', () => {
    const sunEvening = cn(2026, 3, 15, 20); // Sunday 20:00
    expect(desk.addServiceDuration(sunEvening, 2 * 3_600_000)).toBe(cn(2026, 3, 15, 22));
    expect(cal.addServiceDuration(sunEvening, 2 * 3_600_000)).toBe(cn(2026, 3, 16, 2)); // Monday's hours only
    // Friday 16:00 + 4 office hours (9:00–12:00, 13:30–17:30) = Monday 11:30
    expect(cal.addServiceHours(cn(2026, 3, 13, 16), 4 * 3_600_000)).toBe(cn(2026, 3, 16, 11, 30));
    // the library opens on Saturday: Friday 20:00 + 2 office hours = Saturday 10:30
    expect(lib.addServiceHours(cn(2026, 3, 13, 20), 2 * 3_600_000)).toBe(cn(2026, 3, 14, 10, 30));
  });

  it('takes 24:00 as the end of the day, and says what was wrong with a bad time', () => {
    expect(new WorkingCalendar({ data, hours: { default: [['18:00', '24:00']] } }).hoursOn(cn(2026, 3, 10, 12))).toEqual([['18:00', '24:00']]);
    const bad = (h: unknown) => JSON.stringify(weekHoursSchema.safeParse(h).error?.issues);
    expect(bad({ default: [['09:00', '25:00']] })).toContain('got \\"25:00\\"');
    expect(bad({ default: [['20:00', '00:00']] })).toContain('write 24:00 for the end of the day');
    expect(bad({ dates: { '2026-02-30': [] } })).toContain('YYYY-MM-DD');
  });
});

describe('start-up warnings about missing years', () => {
  it('names this year or next year as the case is, and says what to do', async () => {
    const { calendarWarnings } = await import('../../src/core.ts');
    const only2026 = new WorkingCalendar({ data: { years: { '2026': data.years['2026']! } }, hours: HOURS });
    expect(calendarWarnings(only2026, cn(2026, 6, 1, 10), 'calendar.yaml')).toEqual([]); // next year is far off
    const december = calendarWarnings(only2026, cn(2026, 12, 3, 10), 'calendar.yaml');
    expect(december.map((w) => w.year)).toEqual([2027]);
    expect(december[0]!.message).toContain('no data for next year, 2027');
    expect(december[0]!.message).not.toContain('this year');
    const stale = calendarWarnings(only2026, cn(2027, 1, 5, 10), 'calendar.yaml');
    expect(stale.map((w) => w.year)).toEqual([2027]);
    expect(stale[0]!.message).toContain('no data for this year, 2027');
  });
});
