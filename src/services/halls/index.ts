import type { Interval, WeekHours, Weekday, WorkingCalendar } from '../../platform/calendar.ts';
import type { Hall } from '../../profile/halls.ts';

export interface Opening {
  start: number;
  end: number;
}

export interface HallStatus {
  open: boolean;
  /** When it closes (if open now). */
  closesAt: number | null;
  /** When it next opens (if closed now); null when nothing is known within two weeks. */
  nextOpen: number | null;
  /** Why it is closed today, if it is a special closure or a holiday. */
  closedBecause: string | null;
}

const DAY = 86_400_000;
const R = 6_371_000;

/** Great-circle distance in metres. */
export function distanceMeters(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b.latitude - a.latitude);
  const dLng = rad(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLng / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** "约 850 米" / "2.3 公里" / "16 公里". */
export function describeDistance(m: number): string {
  if (m < 1000) return `约 ${Math.max(10, Math.round(m / 10) * 10)} 米`;
  if (m < 10_000) return `${(m / 1000).toFixed(1)} 公里`;
  return `${Math.round(m / 1000)} 公里`;
}

const DAY_NAMES: [Weekday, string][] = [
  ['mon', '周一'],
  ['tue', '周二'],
  ['wed', '周三'],
  ['thu', '周四'],
  ['fri', '周五'],
  ['sat', '周六'],
  ['sun', '周日'],
];

/**
 * Opening hours in words: "周一至周五 9:00–17:00；周六 9:00–12:00；法定节假日休息，调休上班日照常开放",
 * "全天 24 小时（节假日照常）", "每天 9:00–20:30（节假日照常）".
 */
export function describeWeekHours(hours: WeekHours): string {
  const fmt = (iv: Interval[] | undefined) => (iv?.length ? iv.map(([a, b]) => `${a.replace(/^0(?=\d)/, '')}–${b.replace(/^0(?=\d)/, '')}`).join('、') : null);
  if (hours.round_the_clock) return '全天 24 小时开放（节假日照常）';
  const groups: { from: string; to: string; text: string | null }[] = [];
  for (const [key, name] of DAY_NAMES) {
    const text = fmt(key === 'sat' || key === 'sun' ? hours[key] : (hours[key] ?? hours.default));
    const last = groups[groups.length - 1];
    if (last && last.text === text) last.to = name;
    else groups.push({ from: name, to: name, text });
  }
  const open = groups.filter((g) => g.text !== null);
  const holidays = fmt(hours.holidays);
  if (open.length === 1 && open[0]!.from === '周一' && open[0]!.to === '周日') return `每天 ${open[0]!.text}${holidays === open[0]!.text ? '（节假日照常）' : holidays ? `；法定节假日 ${holidays}` : '；法定节假日休息'}`;
  const week = open.map((g) => `${g.from === g.to ? g.from : `${g.from}至${g.to}`} ${g.text}`);
  week.push(holidays ? `法定节假日 ${holidays}` : `法定节假日休息${hours.default ? '，调休上班日照常开放' : ''}`);
  return week.join('；');
}

/** "9:00–12:00、13:00–17:00" */
export function describeOpenings(o: Opening[], calendar: WorkingCalendar): string {
  const t = (ms: number) => {
    const p = calendar.localParts(ms);
    return `${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
  };
  return o.map((x) => `${t(x.start)}–${t(x.end)}`).join('、');
}

/**
 * The service halls: when each is open on a given day (its own weekly hours, the public holidays
 * and 调休 working days of the calendar, its special closures), and which is nearest.
 */
export class Halls {
  private readonly byId: Map<string, Hall>;

  constructor(
    readonly list: Hall[],
    private readonly calendar: WorkingCalendar,
  ) {
    this.byId = new Map(list.map((h) => [h.id, h]));
  }

  get(id: string): Hall | undefined {
    return this.byId.get(id);
  }

  /** Midnight (China time) of the day containing `t`. */
  dayStart(t: number): number {
    const p = this.calendar.localParts(t);
    return this.calendar.atLocal(p.year, p.month, p.day);
  }

  /** "2026-11-24" of the day containing `t`. */
  dayKey(t: number): string {
    const p = this.calendar.localParts(t);
    return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
  }

  /** A special closure covering the day of `t`, if any. */
  closure(h: Hall, t: number): string | null {
    const key = this.dayKey(t);
    return h.closures.find((c) => c.from <= key && key <= c.until)?.reason ?? null;
  }

  /**
   * The hall's opening intervals on the day of `t` ([] when closed that day): its own hours for
   * that kind of day (weekends, holidays, particular dates, round the clock — see WeekHours), less
   * its closures.
   */
  openings(h: Hall, t: number): Opening[] {
    if (this.closure(h, t)) return [];
    const p = this.calendar.localParts(t);
    return this.calendar.hoursOn(t, h.hours).map(([a, b]) => {
      const [ah, am] = a.split(':').map(Number) as [number, number];
      const [bh, bm] = b.split(':').map(Number) as [number, number];
      return { start: this.calendar.atLocal(p.year, p.month, p.day, ah, am), end: this.calendar.atLocal(p.year, p.month, p.day, bh, bm) };
    });
  }

  status(h: Hall, now: number): HallStatus {
    const today = this.openings(h, now);
    const current = today.find((o) => o.start <= now && now < o.end);
    const closedBecause = this.closure(h, now) ?? (this.calendar.dayKind(now) === 'holiday' && today.length === 0 ? '法定节假日' : null);
    if (current) {
      // Open round the clock: it closes when the run of back-to-back openings ends, maybe days later.
      let end = current.end;
      for (let d = 1; d <= 14; d++) {
        const next = this.openings(h, this.dayStart(now) + d * DAY + 12 * 3_600_000)[0];
        if (!next || next.start !== end) break;
        end = this.openings(h, next.start).find((o) => o.start === next.start)!.end;
      }
      return { open: true, closesAt: end, nextOpen: null, closedBecause: null };
    }
    const laterToday = today.find((o) => o.start > now);
    if (laterToday) return { open: false, closesAt: null, nextOpen: laterToday.start, closedBecause };
    for (let d = 1; d <= 14; d++) {
      const o = this.openings(h, this.dayStart(now) + d * DAY + 12 * 3_600_000);
      if (o.length) return { open: false, closesAt: null, nextOpen: o[0]!.start, closedBecause };
    }
    return { open: false, closesAt: null, nextOpen: null, closedBecause };
  }

  /** Halls by distance from a point. */
  nearest(point: { latitude: number; longitude: number }, limit = 3): { hall: Hall; meters: number }[] {
    return this.list
      .map((hall) => ({ hall, meters: distanceMeters(point, hall.location) }))
      .sort((a, b) => a.meters - b.meters)
      .slice(0, limit);
  }
}
