import type { DataSource } from 'typeorm';
import { MessageEntity } from '../chat/log.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { DAY, HOUR, MINUTE, type Clock } from '../platform/clock.ts';
import type { Profile } from '../profile/schema.ts';
import {
  catalogueItems,
  dueLists,
  menuEntries,
  menuSuggestions,
  ranking,
  satisfactionTable,
  speedTable,
  unusedItems,
  weeklyTrend,
  weeks,
  type DueItem,
  type Item,
  type MenuEntry,
  type MenuSuggestion,
  type Ranking,
  type SatisfactionRow,
  type SpeedRow,
} from './figures.ts';
import type { HumanRequest, Period, Rating, RatingReader, RequestReader, Use, UseReader } from './sources.ts';

export interface OperationsDeps {
  db: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  profile: Profile;
  uses: UseReader[];
  requests: RequestReader[];
  ratings: RatingReader[];
  departmentName(id: string | null): string;
  staffNames(ids: number[]): Promise<Map<number, string>>;
}

export interface UsageView {
  period: Period;
  weeks: (Period & { label: string })[];
  ranking: Ranking;
  trend: Map<string, number[]>;
  unused: Item[];
  menu: MenuEntry[];
  suggestions: MenuSuggestion[];
  /** Uses per reader (where the figures came from). */
  sources: { name: string; uses: number }[];
}

export interface SpeedView {
  period: Period;
  total: SpeedRow;
  bySource: SpeedRow[];
  byDepartment: SpeedRow[];
  byStaff: SpeedRow[];
  overdue: DueItem[];
  near: DueItem[];
  /** Questions the bot answered at once (guides, FAQ, menus): 即时 without a human. */
  botAnswers: number;
  instantMinutes: number;
  staffNames: Map<number, string>;
}

export interface SatisfactionView {
  period: Period;
  total: SatisfactionRow;
  byItem: SatisfactionRow[];
  byDepartment: SatisfactionRow[];
  byStaff: SatisfactionRow[];
  byChannel: SatisfactionRow[];
  /** 差评 with their comments, newest first (supervisors read them). */
  poor: Rating[];
}

/**
 * The figures for the people who run the account: use per item, reply speed against the norms,
 * satisfaction. `departments` scopes what concerns a department (null: all of them); use per
 * item is the account's.
 */
export class Operations {
  constructor(private readonly d: OperationsDeps) {}

  /** The last `n` whole weeks and this one so far. */
  periodOfWeeks(n: number): Period & { weeks: (Period & { label: string })[] } {
    const ws = weeks(this.d.calendar, this.d.clock.now(), n);
    return { from: ws[0]!.from, to: ws[ws.length - 1]!.to, weeks: ws };
  }

  /** The last `days` days up to now. */
  lastDays(days: number): Period {
    const now = this.d.clock.now();
    return { from: now - days * DAY, to: now + 1 };
  }

  async allUses(p: Period): Promise<{ uses: Use[]; sources: { name: string; uses: number }[] }> {
    const uses: Use[] = [];
    const sources: { name: string; uses: number }[] = [];
    for (const r of this.d.uses) {
      const got = await r.uses(p);
      sources.push({ name: r.name, uses: got.length });
      uses.push(...got);
    }
    return { uses, sources };
  }

  async usage(weeksBack: number): Promise<UsageView> {
    const p = this.periodOfWeeks(weeksBack);
    const { uses, sources } = await this.allUses(p);
    const items = catalogueItems(this.d.profile, this.d.clock.now());
    const r = ranking(uses, items);
    const trend = weeklyTrend(uses, p.weeks, r.rows.slice(0, 8).map((x) => x.key));
    const menu = menuEntries(this.d.profile, await this.menuTaps(p));
    return { period: p, weeks: p.weeks, ranking: r, trend, unused: unusedItems(r, items), menu, suggestions: menuSuggestions(r, menu), sources };
  }

  /** Taps on the custom menu's click entries, from the log's menu-click events. */
  async menuTaps({ from, to }: Period): Promise<Map<string, number>> {
    const rows = await this.d.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .select('m.content', 'content')
      .addSelect('COUNT(*)', 'n')
      .where("m.direction = 'in' AND m.kind = 'click' AND m.created_at >= :from AND m.created_at < :to", { from, to })
      .groupBy('m.content')
      .getRawMany<{ content: string; n: number | string }>();
    const out = new Map<string, number>();
    for (const r of rows) {
      const key = r.content.replace(/^\[菜单\] /, '');
      out.set(key, (out.get(key) ?? 0) + Number(r.n));
    }
    return out;
  }

  async allRequests(p: Period, departments: string[] | null): Promise<HumanRequest[]> {
    const out: HumanRequest[] = [];
    for (const r of this.d.requests) out.push(...(await r.requests(p)));
    return scope(out, departments);
  }

  async unanswered(departments: string[] | null): Promise<HumanRequest[]> {
    const out: HumanRequest[] = [];
    for (const r of this.d.requests) out.push(...(await r.unanswered()));
    return scope(out, departments);
  }

  async speed(p: Period, departments: string[] | null): Promise<SpeedView> {
    const { calendar } = this.d;
    const now = this.d.clock.now();
    const requests = await this.allRequests(p, departments);
    const instantMs = this.d.profile.inbox.instant_minutes * MINUTE;
    const names = await this.d.staffNames([...new Set(requests.map((r) => r.staffId).filter((x): x is number => x !== null))]);
    const table = (group: Parameters<typeof speedTable>[1]['group']) => speedTable(requests, { calendar, now, instantMs, group });
    const all = table(() => null);
    const due = dueLists(await this.unanswered(departments), calendar, now, this.d.profile.inbox.near_due_hours * HOUR);
    return {
      period: p,
      total: all.total,
      bySource: table((r) => ({ key: r.source, label: r.sourceName })).rows,
      byDepartment: table((r) => ({ key: r.department ?? '', label: this.d.departmentName(r.department) })).rows,
      byStaff: table((r) => (r.staffId === null ? { key: '', label: '（无人答复）' } : { key: String(r.staffId), label: names.get(r.staffId) ?? `#${r.staffId}` })).rows,
      overdue: due.overdue,
      near: due.near,
      botAnswers: await this.botAnswers(p),
      instantMinutes: this.d.profile.inbox.instant_minutes,
      staffNames: names,
    };
  }

  /** Passive replies that answered from the bot's own content (not a handoff, not a dialog's prompt). */
  async botAnswers({ from, to }: Period): Promise<number> {
    return this.d.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .where("m.direction = 'out' AND m.channel = 'passive' AND (m.ref LIKE 'service:%' OR m.ref LIKE 'faq:%' OR m.ref LIKE 'nav:%' OR m.ref LIKE 'rule:%' OR m.ref LIKE 'menu:%' OR m.ref = 'search') AND m.created_at >= :from AND m.created_at < :to", { from, to })
      .getCount();
  }

  async allRatings(p: Period, departments: string[] | null): Promise<Rating[]> {
    const out: Rating[] = [];
    for (const r of this.d.ratings) out.push(...(await r.ratings(p)));
    return scope(out, departments);
  }

  async satisfaction(p: Period, departments: string[] | null): Promise<SatisfactionView> {
    const ratings = await this.allRatings(p, departments);
    const names = await this.d.staffNames([...new Set(ratings.map((r) => r.staffId).filter((x): x is number => x !== null))]);
    const items = new Map(catalogueItems(this.d.profile, this.d.clock.now()).map((i) => [i.key, i.name]));
    const channels: Record<string, string> = { chat: '对话', page: '页面', hall: '大厅', phone: '电话', open311: '其他系统（Open311）' };
    const t = (g: Parameters<typeof satisfactionTable>[1]) => satisfactionTable(ratings, g);
    return {
      period: p,
      total: t(() => null).total,
      byItem: t((r) => (r.item ? { key: r.item, label: items.get(r.item) ?? r.item } : { key: '', label: '（未关联事项）' })).rows,
      byDepartment: t((r) => ({ key: r.department ?? '', label: this.d.departmentName(r.department) })).rows,
      byStaff: t((r) => (r.staffId === null ? { key: '', label: '（未指派）' } : { key: String(r.staffId), label: names.get(r.staffId) ?? `#${r.staffId}` })).rows,
      byChannel: t((r) => ({ key: r.channel, label: channels[r.channel] ?? r.channel })).rows,
      poor: ratings.filter((r) => r.level <= 2).sort((a, b) => b.at - a.at),
    };
  }
}

function scope<T extends { department: string | null }>(rows: T[], departments: string[] | null): T[] {
  if (departments === null) return rows;
  const set = new Set(departments);
  return rows.filter((r) => r.department !== null && set.has(r.department));
}
