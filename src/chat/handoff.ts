import { EntitySchema, type DataSource } from 'typeorm';
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import { epochMs } from '../platform/db.ts';

export interface HandoffRow {
  id: number;
  openid: string;
  /** open: a human has (or will take) the conversation; closed: back to the bot. */
  status: 'open' | 'closed';
  /** requested: the citizen asked; unanswered: the bot could not answer; dialog: a consultation form. */
  reason: 'requested' | 'unanswered' | 'dialog';
  question: string;
  audience: string | null;
  /** When the citizen was promised a human answer by. */
  promisedAt: number;
  createdAt: number;
  closedAt: number | null;
  closedBy: 'citizen' | 'staff' | null;
}

export const HandoffEntity = new EntitySchema<HandoffRow>({
  name: 'Handoff',
  tableName: 'handoffs',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    status: { type: 'varchar', length: 16 },
    reason: { type: 'varchar', length: 16 },
    question: { type: 'text' },
    audience: { type: 'varchar', length: 32, nullable: true },
    promisedAt: { name: 'promised_at', type: 'bigint', transformer: epochMs },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    closedAt: { name: 'closed_at', type: 'bigint', nullable: true, transformer: epochMs },
    closedBy: { name: 'closed_by', type: 'varchar', length: 16, nullable: true },
  },
  indices: [
    { name: 'ix_handoffs_openid_status', columns: ['openid', 'status'] },
    { name: 'ix_handoffs_status_created', columns: ['status', 'createdAt'] },
  ],
});

export interface UnansweredRow {
  id: number;
  openid: string;
  question: string;
  /** For counting the same question asked in different ways: lower-cased, punctuation and spaces removed. */
  normalized: string;
  createdAt: number;
}

export const UnansweredEntity = new EntitySchema<UnansweredRow>({
  name: 'Unanswered',
  tableName: 'unanswered',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    question: { type: 'text' },
    normalized: { type: 'varchar', length: 200 },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ix_unanswered_normalized', columns: ['normalized'] }],
});

const WEEKDAY_NAMES: Record<string, string> = { mon: '周一', tue: '周二', wed: '周三', thu: '周四', fri: '周五', sat: '周六', sun: '周日' };
const DAY = 86_400_000;

/** When a human will answer, as a time and in words the citizen reads. */
export interface Promise_ {
  at: number;
  /** 今天 17:30 前 · 今天上午 · 明天（周二）上午 · 下一个工作日（周一）上午 · 12月7日（周一）上午 */
  words: string;
}

/**
 * The promise of when a human answers, from the office hours and the working-day calendar:
 * within today's office hours if there is enough of the day left, else the next working
 * morning (or afternoon, if the office opens then).
 */
export function replyPromise(calendar: WorkingCalendar, now: number, minMinutesLeft: number): Promise_ {
  const today = calendar.localParts(now);
  if (calendar.isWorkingDay(now)) {
    const hours = calendar.hoursOn(now);
    const last = hours[hours.length - 1];
    if (last) {
      const [eh, em] = last[1].split(':').map(Number) as [number, number];
      const end = calendar.atLocal(today.year, today.month, today.day, eh, em);
      const [fh, fm] = hours[0]![0].split(':').map(Number) as [number, number];
      const open = calendar.atLocal(today.year, today.month, today.day, fh, fm);
      if (now < open) return { at: end, words: `今天${fh < 12 ? '上午' : '下午'}` };
      if (end - now >= minMinutesLeft * 60_000) return { at: end, words: `今天 ${last[1]} 前` };
    }
  }
  // The next working day's opening.
  let t = calendar.atLocal(today.year, today.month, today.day) + DAY;
  for (let i = 0; i < 60 && !calendar.isWorkingDay(t); i++) t += DAY;
  const next = calendar.nextWorkingTime(t);
  const p = calendar.localParts(next);
  const hours = calendar.hoursOn(next);
  const last = hours[hours.length - 1]!;
  const [eh, em] = last[1].split(':').map(Number) as [number, number];
  const by = calendar.atLocal(p.year, p.month, p.day, eh, em);
  const half = p.minutes < 12 * 60 ? '上午' : '下午';
  const week = WEEKDAY_NAMES[p.weekday]!;
  const days = Math.round((calendar.atLocal(p.year, p.month, p.day) - calendar.atLocal(today.year, today.month, today.day)) / DAY);
  const makeup = calendar.dayKind(next) === 'makeup_workday' ? '，调休上班' : '';
  let day: string;
  if (days === 1) day = `明天（${week}${makeup}）`;
  else if (days <= 6 && !makeup) day = `下一个工作日（${week}）`;
  else day = `${p.month}月${p.day}日（${week}${makeup}）`;
  return { at: by, words: `${day}${half}` };
}

/** The staff queue as the conversation sees it: open, find, close, remember what was not answered. */
export class Handoffs {
  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
  ) {}

  async open(h: { openid: string; reason: HandoffRow['reason']; question: string; audience: string | null; promisedAt: number }): Promise<HandoffRow> {
    const now = this.clock.now();
    const row = { ...h, status: 'open' as const, createdAt: now, closedAt: null, closedBy: null };
    const res = await this.ds.createQueryBuilder().insert().into(HandoffEntity).values(row).execute();
    return { ...row, id: res.identifiers[0]!.id as number };
  }

  async openFor(openid: string): Promise<HandoffRow | null> {
    return this.ds.getRepository(HandoffEntity).findOne({ where: { openid, status: 'open' }, order: { id: 'DESC' } });
  }

  async close(id: number, by: 'citizen' | 'staff'): Promise<boolean> {
    const res = await this.ds.getRepository(HandoffEntity).update({ id, status: 'open' }, { status: 'closed', closedAt: this.clock.now(), closedBy: by });
    return res.affected === 1;
  }

  async recordUnanswered(openid: string, question: string): Promise<void> {
    const normalized = question
      .normalize('NFKC')
      .toLowerCase()
      .replace(/[\s\p{P}\p{S}]+/gu, '')
      .slice(0, 200);
    await this.ds.createQueryBuilder().insert().into(UnansweredEntity).values({ openid, question: question.slice(0, 2000), normalized, createdAt: this.clock.now() }).execute();
  }

  /** The questions the account failed most often (for the staff dashboard). */
  async topUnanswered(limit = 10, since = 0): Promise<{ question: string; count: number }[]> {
    const rows = await this.ds
      .getRepository(UnansweredEntity)
      .createQueryBuilder('u')
      .select('u.normalized', 'normalized')
      .addSelect('MIN(u.question)', 'question')
      .addSelect('COUNT(*)', 'count')
      .where('u.created_at >= :since', { since })
      .groupBy('u.normalized')
      .orderBy('count', 'DESC')
      .limit(limit)
      .getRawMany<{ question: string; count: string | number }>();
    return rows.map((r) => ({ question: r.question, count: Number(r.count) }));
  }
}
