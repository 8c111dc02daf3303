/**
 * One source for each fact a citizen acts on. A hall's address, phone and name live in its entry
 * (halls.yaml); a reply, a guide or an FAQ refers to them — `{hall:center.address}`,
 * `{hall:center.phone}`, `{hall:center.name}` — instead of repeating them, so a move or a new
 * number is written once. And a text that names a date with its weekday ("1 月 4 日（周日）") is
 * checked against the calendar at start-up: a weekday that does not match its date is a warning.
 */

const HALL_REF = /\{hall:([a-z0-9-]+)\.(name|address|phone|transport)\}/g;

/**
 * Replace the hall references in every string of the profile (but the halls' own entries) with the
 * hall's fact. Returns the problems (a reference to no hall, or to a field the hall lacks) by path.
 */
export function expandHallRefs(raw: unknown): { raw: unknown; problems: string[] } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { raw, problems: [] };
  const r = raw as Record<string, unknown>;
  const halls = new Map<string, Record<string, unknown>>();
  if (Array.isArray(r.halls)) for (const h of r.halls) if (h && typeof h === 'object' && typeof (h as { id?: unknown }).id === 'string') halls.set((h as { id: string }).id, h as Record<string, unknown>);
  const problems: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('{hall:')) return v;
      return v.replace(HALL_REF, (whole, id: string, field: string) => {
        const hall = halls.get(id);
        const value = hall?.[field];
        if (typeof value === 'string' && value) return value;
        problems.push(`${path}: ${whole} — ${hall ? `hall "${id}" has no ${field}` : `no hall "${id}" (halls: ${[...halls.keys()].join(', ') || 'none'})`}`);
        return whole;
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, path ? `${path}.${k}` : k)]));
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = k === 'halls' ? v : walk(v, k);
  return { raw: out, problems };
}

const WEEKDAY_NAMES = ['周日', '周一', '周二', '周三', '周四', '周五', '周六'];
const DAY_WORD: Record<string, number> = { 日: 0, 天: 0, 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6 };
/** 2027 年 1 月 4 日（周日） · 1月4日(星期一) · 1 月 4 日 周一 */
const DATED = /(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]\s*[（(]?\s*(?:周|星期|礼拜)([一二三四五六日天])/g;
const YEAR = /(\d{4})\s*年/g;

export interface WeekdayMismatch {
  /** Where in the profile: navigation[1].children[0]…reply.text */
  path: string;
  /** What the text says: 1 月 4 日（周日 */
  said: string;
  /** 2027-01-04 */
  date: string;
  /** 周一 */
  actual: string;
}

/**
 * Dates named with a weekday whose weekday is wrong. The year is the text's own (2027 年 … before
 * the date), else that of the item's validity (valid_from / valid_until); a date whose year cannot
 * be told is not checked.
 */
export function weekdayMismatches(profile: unknown): WeekdayMismatch[] {
  const out: WeekdayMismatch[] = [];
  const yearOf = (o: Record<string, unknown>): number | null => {
    for (const k of ['valid_from', 'valid_until']) {
      const v = o[k];
      const m = typeof v === 'string' ? /^(\d{4})-/.exec(v) : v instanceof Date ? [String(v.getUTCFullYear()), String(v.getUTCFullYear())] : null;
      if (m) return Number(m[1]);
    }
    return null;
  };
  const walk = (v: unknown, path: string, contextYear: number | null): void => {
    if (typeof v === 'string') {
      check(v, path, contextYear);
      return;
    }
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`, contextYear));
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const year = yearOf(o) ?? contextYear;
      for (const [k, x] of Object.entries(o)) walk(x, path ? `${path}.${k}` : k, year);
    }
  };
  const check = (s: string, path: string, contextYear: number | null) => {
    if (!s.includes('月')) return;
    const years = [...s.matchAll(YEAR)].map((m) => ({ at: m.index, year: Number(m[1]) }));
    for (const m of s.matchAll(DATED)) {
      const year = m[1] ? Number(m[1]) : (years.filter((y) => y.at < m.index).at(-1)?.year ?? contextYear);
      if (year === null) continue;
      const month = Number(m[2]);
      const day = Number(m[3]);
      const d = new Date(Date.UTC(year, month - 1, day));
      if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) continue; // not a date (2 月 30 日)
      const said = DAY_WORD[m[4]!]!;
      if (d.getUTCDay() === said) continue;
      out.push({ path, said: m[0], date: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`, actual: WEEKDAY_NAMES[d.getUTCDay()]! });
    }
  };
  walk(profile, '', null);
  return out;
}
