import type { WorkingCalendar } from '../platform/calendar.ts';

const pad = (n: number) => String(n).padStart(2, '0');

/** 2026-11-23 10:05 in the calendar's time zone (China time). */
export function localTime(calendar: WorkingCalendar, ms: number): string {
  const p = calendar.localParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(Math.floor(p.minutes / 60))}:${pad(p.minutes % 60)}`;
}

/** 11月23日 10:05, or 今天 10:05 / 明天 10:05 relative to `now`. */
export function shortTime(calendar: WorkingCalendar, ms: number, now: number): string {
  const p = calendar.localParts(ms);
  const hm = `${pad(Math.floor(p.minutes / 60))}:${pad(p.minutes % 60)}`;
  const day = (t: number) => {
    const x = calendar.localParts(t);
    return calendar.atLocal(x.year, x.month, x.day);
  };
  const diff = Math.round((day(ms) - day(now)) / 86_400_000);
  if (diff === 0) return `今天 ${hm}`;
  if (diff === 1) return `明天 ${hm}`;
  if (diff === -1) return `昨天 ${hm}`;
  const n = calendar.localParts(now);
  return p.year === n.year ? `${p.month}月${p.day}日 ${hm}` : `${p.year}年${p.month}月${p.day}日 ${hm}`;
}

/** 2 小时 15 分 / 3 天 4 小时: a span for "超时 …" and "还剩 …". */
export function span(ms: number): string {
  const m = Math.max(0, Math.round(ms / 60_000));
  if (m < 60) return `${m} 分钟`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} 小时 ${m % 60} 分` : `${h} 小时`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} 天 ${h % 24} 小时` : `${d} 天`;
}
