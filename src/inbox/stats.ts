import type { DataSource, SelectQueryBuilder } from 'typeorm';
import { HandoffEntity, type HandoffRow, type Handoffs } from '../chat/handoff.ts';
import { MessageEntity } from '../chat/log.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { DAY, MINUTE, type Clock } from '../platform/clock.ts';
import type { Profile } from '../profile/schema.ts';
import { replySpeed, SPEEDS, type Speed } from './due.ts';

/** Inbound kinds that are messages a citizen wrote or sent (not events such as follow or menu clicks). */
export const MESSAGE_KINDS = ['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link', 'file'];

export interface Period {
  from: number;
  to: number;
}

export interface Figures {
  messagesIn: number;
  handedOff: number;
  answered: number;
  overdue: number;
  speed: Record<Speed, number>;
  ratings: { count: number; average: number | null; poor: number };
}

export interface DayFigures {
  /** 11/23 */
  label: string;
  weekday: string;
  messagesIn: number;
  handedOff: number;
  answered: number;
}

export interface Dashboard {
  today: Figures;
  week: Figures;
  /**
   * Open conversations whose first answer is due and has not come — now, whenever they fell due
   * (a period's `overdue` counts only those due within it).
   */
  overdueNow: number;
  days: DayFigures[];
  topServices: { id: string; name: string; kind: 'service' | 'faq'; count: number }[];
  /** The questions the bot could not answer: the whole account's (they belong to no department). */
  topUnanswered: { question: string; count: number }[];
}

const WEEKDAYS: Record<string, string> = { mon: '一', tue: '二', wed: '三', thu: '四', fri: '五', sat: '六', sun: '日' };

/**
 * The dashboard's figures, for today and this week (China time, weeks from Monday): messages in,
 * handed off, answered, overdue; first-reply speed; the most-used service items (from the usage
 * refs every answer carries in the conversation log) and the questions the bot could not answer.
 * `departments` limits the handoff figures (null: every department); message and usage figures
 * and the unanswered questions are the account's (the bot's conversations belong to no department).
 */
export class Stats {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly calendar: WorkingCalendar,
    private readonly profile: Profile,
    private readonly handoffs: Handoffs,
  ) {}

  periods(now = this.clock.now()): { today: Period; week: Period } {
    const p = this.calendar.localParts(now);
    const today = this.calendar.atLocal(p.year, p.month, p.day);
    const back = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].indexOf(p.weekday);
    return { today: { from: today, to: now }, week: { from: today - back * DAY, to: now } };
  }

  async dashboard(departments: string[] | null): Promise<Dashboard> {
    const now = this.clock.now();
    const { today, week } = this.periods(now);
    const p = this.calendar.localParts(now);
    const midnight = this.calendar.atLocal(p.year, p.month, p.day);
    const days: DayFigures[] = [];
    for (let i = 6; i >= 0; i--) {
      const from = midnight - i * DAY;
      const to = Math.min(from + DAY, now);
      const parts = this.calendar.localParts(from);
      days.push({
        label: `${parts.month}/${parts.day}`,
        weekday: WEEKDAYS[parts.weekday]!,
        messagesIn: await this.messagesIn({ from, to }),
        handedOff: await this.count(departments, (q) => q.andWhere('h.created_at >= :from AND h.created_at < :to', { from, to })),
        answered: await this.count(departments, (q) => q.andWhere('h.first_replied_at >= :from AND h.first_replied_at < :to', { from, to })),
      });
    }
    return {
      today: await this.figures(today, departments),
      week: await this.figures(week, departments),
      overdueNow: await this.count(departments, (q) => q.andWhere('h.status = :open AND h.first_replied_at IS NULL AND h.due_at <= :now', { open: 'open', now })),
      days,
      topServices: await this.topServices(week, 10),
      topUnanswered: await this.handoffs.topUnanswered(10, week.from),
    };
  }

  async figures(period: Period, departments: string[] | null): Promise<Figures> {
    const { from, to } = period;
    const created = await this.scoped(departments)
      .andWhere('h.created_at >= :from AND h.created_at < :to', { from, to: to + 1 })
      .getMany();
    const instantMs = this.profile.inbox.instant_minutes * MINUTE;
    const speed = Object.fromEntries(SPEEDS.map((s) => [s, 0])) as Record<Speed, number>;
    for (const h of created) speed[replySpeed(h.createdAt, h.firstRepliedAt, this.calendar, instantMs)]++;
    const rated = await this.scoped(departments).andWhere('h.rated_at >= :from AND h.rated_at < :to', { from, to: to + 1 }).getMany();
    const sum = rated.reduce((a, h) => a + (h.rating ?? 0), 0);
    return {
      messagesIn: await this.messagesIn(period),
      handedOff: created.length,
      answered: await this.count(departments, (q) => q.andWhere('h.first_replied_at >= :from AND h.first_replied_at < :to', { from, to: to + 1 })),
      // First answers due in the period that did not come in time (none yet, or late).
      overdue: await this.count(departments, (q) =>
        q.andWhere('h.due_at >= :from AND h.due_at <= :to AND (h.first_replied_at IS NULL OR h.first_replied_at > h.due_at)', { from, to }),
      ),
      speed,
      ratings: { count: rated.length, average: rated.length ? Math.round((sum / rated.length) * 10) / 10 : null, poor: rated.filter((h) => (h.rating ?? 5) <= 2).length },
    };
  }

  private scoped(departments: string[] | null): SelectQueryBuilder<HandoffRow> {
    const q = this.db.getRepository(HandoffEntity).createQueryBuilder('h');
    if (departments === null) return q;
    if (departments.length === 0) return q.andWhere('1 = 0');
    return q.andWhere('h.department IN (:...departments)', { departments });
  }

  private count(departments: string[] | null, f: (q: SelectQueryBuilder<HandoffRow>) => SelectQueryBuilder<HandoffRow>): Promise<number> {
    return f(this.scoped(departments)).getCount();
  }

  private messagesIn({ from, to }: Period): Promise<number> {
    return this.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .where('m.direction = :in AND m.kind IN (:...kinds) AND m.created_at >= :from AND m.created_at <= :to', { in: 'in', kinds: MESSAGE_KINDS, from, to })
      .getCount();
  }

  /** Service items and FAQ entries by how often they answered, from the log's refs (`service:passport via nav:…`). */
  async topServices(period: Period, limit: number): Promise<Dashboard['topServices']> {
    const rows = await this.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .select('m.ref', 'ref')
      .addSelect('COUNT(*)', 'n')
      .where("m.direction = 'out' AND (m.ref LIKE 'service:%' OR m.ref LIKE 'faq:%') AND m.created_at >= :from AND m.created_at <= :to", { from: period.from, to: period.to })
      .groupBy('m.ref')
      .getRawMany<{ ref: string; n: number | string }>();
    const counts = new Map<string, number>();
    for (const r of rows) {
      const m = /^(service|faq):([a-z0-9-]+)/.exec(r.ref);
      if (m) counts.set(`${m[1]}:${m[2]}`, (counts.get(`${m[1]}:${m[2]}`) ?? 0) + Number(r.n));
    }
    const services = new Map(this.profile.services.map((s) => [s.id, s.name]));
    const faqs = new Map(this.profile.faq.map((f) => [f.id, f.question]));
    return [...counts]
      .map(([key, count]) => {
        const [kind, id] = key.split(':') as ['service' | 'faq', string];
        return { id, kind, count, name: (kind === 'service' ? services.get(id) : faqs.get(id)) ?? id };
      })
      .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name, 'zh'))
      .slice(0, limit);
  }
}
