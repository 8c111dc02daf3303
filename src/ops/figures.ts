import { replySpeed, SPEEDS, type Speed } from '../inbox/due.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { DAY, HOUR } from '../platform/clock.ts';
import type { Profile } from '../profile/schema.ts';
import { isValidAt } from '../profile/validity.ts';
import { USE_CHANNELS, type HumanRequest, type Norm, type Period, type Rating, type Use, type UseAction, type UseChannel } from './sources.ts';

/**
 * The operations figures, as plain functions of what the readers returned: the same numbers on
 * the page, in the exports and in the self-check.
 */

export interface Item {
  key: string;
  name: string;
  kind: 'service' | 'faq' | 'ticket';
  /** Inside its validity window now. */
  live: boolean;
}

/** Every service item and FAQ entry of the profile. */
export function catalogueItems(profile: Profile, now: number): Item[] {
  return [
    ...profile.services.map((s) => ({ key: `service:${s.id}`, name: s.name, kind: 'service' as const, live: isValidAt(s, now) })),
    ...profile.faq.map((f) => ({ key: `faq:${f.id}`, name: f.question, kind: 'faq' as const, live: isValidAt(f, now) })),
    // Tickets count by category: what the citizen's 诉求 was about.
    ...(profile.tickets?.categories ?? []).map((c) => ({ key: `ticket:${c.id}`, name: `诉求：${c.name}`, kind: 'ticket' as const, live: true })),
  ];
}

export interface RankRow {
  key: string;
  name: string;
  kind: 'service' | 'faq' | 'ticket';
  uses: number;
  /** Distinct citizens. */
  users: number;
  /** This item's share of all uses, 0–1. */
  share: number;
  /** The share of this item and every item above it: the 20 / 80 curve. */
  cumulative: number;
  /** Among the few items that together take 80 % of use. */
  head: boolean;
  byChannel: Record<UseChannel, number>;
  byAction: Partial<Record<UseAction, number>>;
  byAudience: Record<string, number>;
}

export interface Ranking {
  rows: RankRow[];
  total: number;
  /** How many items take the first 80 % of use, and what share of the used items they are. */
  headItems: number;
  headShareOfItems: number;
}

/**
 * Items by use, most used first, with each one's share and the cumulative share. The head is the
 * shortest run from the top reaching 80 % of all use (the item crossing 80 % belongs to it).
 */
export function ranking(uses: Use[], items: Item[]): Ranking {
  const known = new Map(items.map((i) => [i.key, i]));
  const acc = new Map<string, { uses: number; users: Set<string>; byChannel: Record<UseChannel, number>; byAction: Partial<Record<UseAction, number>>; byAudience: Record<string, number> }>();
  for (const u of uses) {
    let a = acc.get(u.item);
    if (!a) acc.set(u.item, (a = { uses: 0, users: new Set(), byChannel: { chat: 0, menu: 0, page: 0 }, byAction: {}, byAudience: {} }));
    a.uses++;
    if (u.openid) a.users.add(u.openid);
    a.byChannel[u.channel]++;
    a.byAction[u.action] = (a.byAction[u.action] ?? 0) + 1;
    const aud = u.audience ?? '';
    a.byAudience[aud] = (a.byAudience[aud] ?? 0) + 1;
  }
  const total = uses.length;
  const sorted = [...acc].sort((x, y) => y[1].uses - x[1].uses || x[0].localeCompare(y[0]));
  let running = 0;
  let headItems = 0;
  const rows: RankRow[] = sorted.map(([key, a]) => {
    const before = running;
    running += a.uses;
    const head = before < 0.8 * total;
    if (head) headItems++;
    const item = known.get(key);
    return {
      key,
      name: item?.name ?? key,
      kind: item?.kind ?? (key.startsWith('faq:') ? 'faq' : key.startsWith('ticket:') ? 'ticket' : 'service'),
      uses: a.uses,
      users: a.users.size,
      share: total ? a.uses / total : 0,
      cumulative: total ? running / total : 0,
      head,
      byChannel: a.byChannel,
      byAction: a.byAction,
      byAudience: a.byAudience,
    };
  });
  return { rows, total, headItems, headShareOfItems: rows.length ? headItems / rows.length : 0 };
}

/** Items citizens can reach now that nobody used in the period. */
export function unusedItems(r: Ranking, items: Item[]): Item[] {
  const used = new Set(r.rows.map((x) => x.key));
  return items.filter((i) => i.live && !used.has(i.key));
}

/** The last `n` weeks (China time, from Monday), oldest first; the current one ends now. */
export function weeks(calendar: WorkingCalendar, now: number, n: number): (Period & { label: string })[] {
  const p = calendar.localParts(now);
  const back = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].indexOf(p.weekday);
  const monday = calendar.atLocal(p.year, p.month, p.day) - back * DAY;
  const out: (Period & { label: string })[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const from = monday - i * 7 * DAY;
    const l = calendar.localParts(from);
    out.push({ from, to: i === 0 ? now + 1 : from + 7 * DAY, label: `${l.month}/${l.day} 起` });
  }
  return out;
}

/** Uses per week for each of the given items (and all items together under ''). */
export function weeklyTrend(uses: Use[], ws: Period[], keys: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>([['', ws.map(() => 0)], ...keys.map((k) => [k, ws.map(() => 0)] as [string, number[]])]);
  for (const u of uses) {
    const i = ws.findIndex((w) => u.at >= w.from && u.at < w.to);
    if (i < 0) continue;
    out.get('')![i]!++;
    const row = out.get(u.item);
    if (row) row[i]!++;
  }
  return out;
}

/** A custom-menu entry and how often citizens tapped it. */
export interface MenuEntry {
  key: string;
  name: string;
  parent: string;
  taps: number;
}

export interface MenuSuggestion {
  kind: 'up' | 'out';
  name: string;
  reason: string;
}

/**
 * What the menu could change: an item in the head (the few that take 80 % of use) that citizens
 * mostly reach by typing rather than the menu should move up into it; a menu entry nobody tapped
 * in the period could move out (and make room).
 */
export function menuSuggestions(r: Ranking, menu: MenuEntry[]): MenuSuggestion[] {
  const out: MenuSuggestion[] = [];
  for (const row of r.rows.filter((x) => x.head)) {
    const viaMenu = row.byChannel.menu;
    if (row.uses >= 3 && viaMenu / row.uses < 0.2) {
      out.push({ kind: 'up', name: row.name, reason: `常用（第 ${r.rows.indexOf(row) + 1} 位，占 ${pct(row.share)}），但 ${row.uses} 次里只有 ${viaMenu} 次来自菜单：可以放进菜单或提到前面。` });
    }
  }
  // A menu entry is judged only when the menu was used enough in the period to tell.
  const taps = menu.reduce((n, m) => n + m.taps, 0);
  for (const m of taps >= 20 ? menu : []) {
    if (m.taps === 0) out.push({ kind: 'out', name: `${m.parent} › ${m.name}`, reason: '这段时间没有人点过：可以移出菜单，或换成更常用的事项。' });
  }
  return out;
}

/** The menu's click entries with their taps, counted from the log's menu-click events. */
export function menuEntries(profile: Profile, taps: Map<string, number>): MenuEntry[] {
  const out: MenuEntry[] = [];
  for (const b of profile.menu?.buttons ?? []) {
    const leaves = 'sub_button' in b ? b.sub_button.map((s) => ({ s, parent: b.name })) : [{ s: b, parent: '' }];
    for (const { s, parent } of leaves) {
      if ('key' in s && typeof s.key === 'string' && s.type === 'click') out.push({ key: s.key, name: s.name, parent: parent || s.name, taps: taps.get(s.key) ?? 0 });
    }
  }
  return out;
}

export const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;

// ---- reply speed -------------------------------------------------------------------------------

/** The moment a request's first answer is due by the norm. */
export function normDeadline(r: Pick<HumanRequest, 'norm' | 'createdAt' | 'dueAt'>, calendar: WorkingCalendar): number {
  if (r.dueAt !== undefined) return r.dueAt;
  return r.norm === 'simple' ? r.createdAt + 24 * HOUR : calendar.workingDaysDeadline(r.createdAt, 3);
}

export interface SpeedRow {
  key: string;
  label: string;
  requests: number;
  speed: Record<Speed, number>;
  /** Requests whose norm has been decided: answered, or past the deadline. */
  judged: number;
  withinNorm: number;
  /** withinNorm / judged, or null when nothing is judged yet. */
  share: number | null;
  byNorm: Record<Norm, { judged: number; within: number }>;
}

function emptyRow(key: string, label: string): SpeedRow {
  return { key, label, requests: 0, speed: Object.fromEntries(SPEEDS.map((s) => [s, 0])) as Record<Speed, number>, judged: 0, withinNorm: 0, share: null, byNorm: { simple: { judged: 0, within: 0 }, complex: { judged: 0, within: 0 } } };
}

/**
 * First-answer speed (即时 / 当天 / 次日 / 更晚 / 未回复) and the share within the norms, grouped
 * by `group` (a department, a staff member, a source); '' collects everything.
 */
export function speedTable(requests: HumanRequest[], o: { calendar: WorkingCalendar; now: number; instantMs: number; group(r: HumanRequest): { key: string; label: string } | null }): { total: SpeedRow; rows: SpeedRow[] } {
  const total = emptyRow('', '合计');
  const rows = new Map<string, SpeedRow>();
  for (const r of requests) {
    const g = o.group(r);
    const targets = [total];
    if (g) {
      let row = rows.get(g.key);
      if (!row) rows.set(g.key, (row = emptyRow(g.key, g.label)));
      targets.push(row);
    }
    const speed = replySpeed(r.createdAt, r.firstAnsweredAt, o.calendar, o.instantMs);
    const deadline = normDeadline(r, o.calendar);
    const judged = r.firstAnsweredAt !== null || deadline <= o.now;
    const within = r.firstAnsweredAt !== null && r.firstAnsweredAt <= deadline;
    for (const t of targets) {
      t.requests++;
      t.speed[speed]++;
      if (judged) {
        t.judged++;
        t.byNorm[r.norm].judged++;
        if (within) {
          t.withinNorm++;
          t.byNorm[r.norm].within++;
        }
      }
    }
  }
  for (const t of [total, ...rows.values()]) t.share = t.judged ? t.withinNorm / t.judged : null;
  return { total, rows: [...rows.values()].sort((a, b) => (a.share ?? 2) - (b.share ?? 2) || b.requests - a.requests) };
}

export interface DueItem extends HumanRequest {
  deadline: number;
}

/** Requests still without a first answer: past the norm, and due within `nearMs`. */
export function dueLists(unanswered: HumanRequest[], calendar: WorkingCalendar, now: number, nearMs: number): { overdue: DueItem[]; near: DueItem[] } {
  const withDeadline = unanswered.map((r) => ({ ...r, deadline: normDeadline(r, calendar) })).sort((a, b) => a.deadline - b.deadline);
  return {
    overdue: withDeadline.filter((r) => r.deadline <= now),
    near: withDeadline.filter((r) => r.deadline > now && r.deadline - now <= nearMs),
  };
}

// ---- satisfaction ------------------------------------------------------------------------------

export interface SatisfactionRow {
  key: string;
  label: string;
  count: number;
  average: number | null;
  /** 满意 (4–5) share. */
  good: number;
  /** 差评 (1–2). */
  poor: number;
  /** 差评 with a finished rectification; of those whose source keeps one. */
  rectified: number;
  rectifiable: number;
}

export function satisfactionTable(ratings: Rating[], group: (r: Rating) => { key: string; label: string } | null): { total: SatisfactionRow; rows: SatisfactionRow[] } {
  const empty = (key: string, label: string): SatisfactionRow & { sum: number } => ({ key, label, count: 0, average: null, good: 0, poor: 0, rectified: 0, rectifiable: 0, sum: 0 });
  const total = empty('', '合计');
  const rows = new Map<string, SatisfactionRow & { sum: number }>();
  for (const r of ratings) {
    const g = group(r);
    const targets = [total];
    if (g) {
      let row = rows.get(g.key);
      if (!row) rows.set(g.key, (row = empty(g.key, g.label)));
      targets.push(row);
    }
    for (const t of targets) {
      t.count++;
      t.sum += r.level;
      if (r.level >= 4) t.good++;
      if (r.level <= 2) {
        t.poor++;
        if (r.rectified !== null) {
          t.rectifiable++;
          if (r.rectified) t.rectified++;
        }
      }
    }
  }
  const done = ({ sum, ...t }: SatisfactionRow & { sum: number }): SatisfactionRow => ({ ...t, average: t.count ? Math.round((sum / t.count) * 10) / 10 : null });
  return { total: done(total), rows: [...rows.values()].map(done).sort((a, b) => b.count - a.count) };
}

export { USE_CHANNELS };
