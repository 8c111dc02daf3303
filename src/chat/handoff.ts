import { EntitySchema, IsNull, type DataSource, type EntityManager } from 'typeorm';
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import { epochMs, sqliteDirect, type SqliteStatement } from '../platform/db.ts';

export interface HandoffRow {
  id: number;
  openid: string;
  /** open: a human has (or will take) the conversation; closed: back to the bot. */
  status: 'open' | 'closed';
  /** requested: the citizen asked; unanswered: the bot could not answer; dialog: a consultation form. */
  reason: 'requested' | 'unanswered' | 'dialog';
  question: string;
  audience: string | null;
  /** When the citizen was promised a human answer by: the due time staff are held to (one clock). */
  promisedAt: number;
  /** Marked urgent by the rule or menu entry that handed it off (紧急): shown first, alerted at once. */
  urgent: boolean;
  createdAt: number;
  closedAt: number | null;
  closedBy: 'citizen' | 'staff' | null;
  /**
   * When the citizen went back to the bot (结束人工) before anyone answered: the question stays in
   * the queue, open, for staff to answer; the bot talks to the citizen meanwhile.
   */
  citizenLeftAt: number | null;
  // The staff side (src/inbox): who has it, what kind of request it is, and its clock.
  /** The department whose staff handle it. */
  department: string | null;
  /** A category from the profile's inbox.categories (简单咨询, 复杂事项 …). */
  category: string | null;
  /** The staff account handling it; null while it waits to be claimed. */
  assigneeId: number | null;
  /** When the first answer is due (from the category, on the working-day calendar). */
  dueAt: number | null;
  firstRepliedAt: number | null;
  /** Escalated to a supervisor (督办), and to whom. */
  escalatedAt: number | null;
  escalatedTo: number | null;
  /** The citizen's rating after closing, 1 (非常不满意) … 5 (非常满意). */
  rating: number | null;
  ratedAt: number | null;
  updatedAt: number | null;
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
    urgent: { type: 'boolean', default: false },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    closedAt: { name: 'closed_at', type: 'bigint', nullable: true, transformer: epochMs },
    closedBy: { name: 'closed_by', type: 'varchar', length: 16, nullable: true },
    citizenLeftAt: { name: 'citizen_left_at', type: 'bigint', nullable: true, transformer: epochMs },
    department: { type: 'varchar', length: 48, nullable: true },
    category: { type: 'varchar', length: 48, nullable: true },
    assigneeId: { name: 'assignee_id', type: 'integer', nullable: true },
    dueAt: { name: 'due_at', type: 'bigint', nullable: true, transformer: epochMs },
    firstRepliedAt: { name: 'first_replied_at', type: 'bigint', nullable: true, transformer: epochMs },
    escalatedAt: { name: 'escalated_at', type: 'bigint', nullable: true, transformer: epochMs },
    escalatedTo: { name: 'escalated_to', type: 'integer', nullable: true },
    rating: { type: 'integer', nullable: true },
    ratedAt: { name: 'rated_at', type: 'bigint', nullable: true, transformer: epochMs },
    updatedAt: { name: 'updated_at', type: 'bigint', nullable: true, transformer: epochMs },
  },
  indices: [
    { name: 'ix_handoffs_openid_status', columns: ['openid', 'status'] },
    { name: 'ix_handoffs_status_created', columns: ['status', 'createdAt'] },
    { name: 'ix_handoffs_department_status', columns: ['department', 'status'] },
    { name: 'ix_handoffs_assignee_status', columns: ['assigneeId', 'status'] },
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

/**
 * A due time in the words the citizen reads — 今天 17:30 前 · 明天（周二）10:00 前 ·
 * 12月7日（周一，调休上班）17:30 前 · 今天之内 — read off the same instant staff see as 应首次答复.
 */
export function promiseWords(calendar: WorkingCalendar, now: number, at: number): string {
  // Midnight is the end of the day before: "今天之内", not "明天 0:00 前".
  const end = calendar.localParts(at).minutes === 0;
  const p = calendar.localParts(end ? at - 1 : at);
  const today = calendar.localParts(now);
  const days = Math.round((calendar.atLocal(p.year, p.month, p.day) - calendar.atLocal(today.year, today.month, today.day)) / DAY);
  const makeup = calendar.dayKind(end ? at - 1 : at) === 'makeup_workday' ? '，调休上班' : '';
  const week = WEEKDAY_NAMES[p.weekday]!;
  const day = days <= 0 ? '今天' : days === 1 ? `明天（${week}${makeup}）` : `${p.month}月${p.day}日（${week}${makeup}）`;
  if (end) return `${day}之内`;
  return `${day}${days <= 0 ? ' ' : ''}${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')} 前`;
}

/**
 * Where a handoff goes and how urgent it is, as the keyword rule or menu entry that handed it off
 * says (the profile's `route`); unset parts are the inbox's to choose.
 */
export interface HandoffRoute {
  category?: string | undefined;
  department?: string | undefined;
  urgent?: boolean | undefined;
  /** Who is alerted at once when it is urgent: the department's supervisors (default) or its duty officers. */
  alert?: 'supervisors' | 'duty' | undefined;
}

export type NewHandoff = Pick<HandoffRow, 'openid' | 'reason' | 'question' | 'audience'> & { route?: HandoffRoute | undefined };

/** How the staff side takes in a new handoff (src/inbox supplies it). */
export interface HandoffIntake {
  /** Department, category and due time of a new handoff (the due time is what the citizen is promised). */
  classify(h: NewHandoff & { createdAt: number }): Promise<Pick<HandoffRow, 'department' | 'category' | 'dueAt'>>;
  /** Runs in the handoff's own transaction once it is stored (its deadline job and an urgent one's alert go in with it). */
  opened?(row: HandoffRow, tx: EntityManager, route: HandoffRoute | undefined): Promise<void>;
}

/** The staff queue as the conversation sees it: open, find, close, remember what was not answered. */
export class Handoffs {
  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
    private readonly intake: HandoffIntake,
  ) {}

  /** Queue a conversation for staff; the row's `promisedAt` is its due time, to be told to the citizen. */
  async open(h: NewHandoff): Promise<HandoffRow> {
    const now = this.clock.now();
    const { route, ...rest } = h;
    const extra = await this.intake.classify({ ...h, createdAt: now });
    const row: Omit<HandoffRow, 'id'> = {
      ...rest,
      promisedAt: extra.dueAt ?? now,
      urgent: route?.urgent === true,
      status: 'open',
      createdAt: now,
      closedAt: null,
      closedBy: null,
      citizenLeftAt: null,
      assigneeId: null,
      firstRepliedAt: null,
      escalatedAt: null,
      escalatedTo: null,
      rating: null,
      ratedAt: null,
      updatedAt: now,
      ...extra,
    };
    const stored = await this.ds.transaction(async (tx) => {
      const res = await tx.createQueryBuilder().insert().into(HandoffEntity).values(row).execute();
      const stored = { ...row, id: res.identifiers[0]!.id as number };
      await this.intake.opened?.(stored, tx, route);
      return stored;
    });
    return stored;
  }

  /**
   * What a new chat session starts from: the citizen's audience and their open staff conversation.
   * Every conversation that starts afresh (after the idle timeout) asks this: on SQLite it is a
   * statement prepared once on the connection, not a query through TypeORM.
   */
  async sessionSeed(openid: string): Promise<{ audience: string | null; human: number | null }> {
    const sql = (a: string, b: string) =>
      `SELECT (SELECT audience FROM citizens WHERE openid = ${a}) AS audience, (SELECT MAX(id) FROM handoffs WHERE openid = ${b} AND status = 'open' AND citizen_left_at IS NULL) AS human`;
    type Row = { audience: string | null; human: number | string | null };
    let row: Row | undefined;
    const direct = sqliteDirect(this.ds);
    if (direct) {
      row = await direct.run((db) => {
        if (this.seedStatement?.db !== db) this.seedStatement = { db, st: db.prepare(sql('?', '?')) };
        return this.seedStatement.st.get(openid, openid) as Row | undefined;
      });
    } else {
      row = ((await this.ds.query(sql('$1', '$1'), [openid])) as Row[])[0];
    }
    return { audience: row?.audience ?? null, human: row?.human == null ? null : Number(row.human) };
  }

  private seedStatement: { db: unknown; st: SqliteStatement } | null = null;

  async openFor(openid: string): Promise<HandoffRow | null> {
    return this.ds.getRepository(HandoffEntity).findOne({ where: { openid, status: 'open' }, order: { id: 'DESC' } });
  }

  async isOpen(id: number): Promise<boolean> {
    return this.ds.getRepository(HandoffEntity).exists({ where: { id, status: 'open' } });
  }

  /**
   * The citizen goes back to the bot. A question staff have answered is closed (by the citizen);
   * one nobody has answered yet stays open in the queue, marked that the citizen left, so it is
   * still answered (and still counts when overdue). Returns which of the two happened.
   */
  async leave(id: number): Promise<'closed' | 'kept' | 'none'> {
    const row = await this.ds.getRepository(HandoffEntity).findOne({ where: { id, status: 'open' } });
    if (!row) return 'none';
    if (row.firstRepliedAt !== null) return (await this.close(id, 'citizen')) ? 'closed' : 'none';
    const now = this.clock.now();
    const res = await this.ds.getRepository(HandoffEntity).update({ id, status: 'open', firstRepliedAt: IsNull() }, { citizenLeftAt: now, updatedAt: now });
    if (res.affected === 1) return 'kept';
    // Staff answered in the same moment: the answered conversation is closed as before.
    return (await this.close(id, 'citizen')) ? 'closed' : 'none';
  }

  /** The citizen asks for a human again while their earlier question still waits: it is theirs again. */
  async resume(id: number): Promise<boolean> {
    const now = this.clock.now();
    const res = await this.ds.getRepository(HandoffEntity).update({ id, status: 'open' }, { citizenLeftAt: null, updatedAt: now });
    return res.affected === 1;
  }

  /**
   * A handoff asked for by a menu tap or the bare words 转人工 has no question yet: the citizen's
   * first words after it become its question (what staff read as its title).
   */
  async adoptQuestion(id: number, from: string, question: string): Promise<void> {
    await this.ds.getRepository(HandoffEntity).update({ id, status: 'open', question: from }, { question: question.slice(0, 2000), updatedAt: this.clock.now() });
  }

  async get(id: number): Promise<HandoffRow | null> {
    return this.ds.getRepository(HandoffEntity).findOne({ where: { id } });
  }

  async close(id: number, by: 'citizen' | 'staff'): Promise<boolean> {
    const now = this.clock.now();
    const res = await this.ds.getRepository(HandoffEntity).update({ id, status: 'open' }, { status: 'closed', closedAt: now, closedBy: by, updatedAt: now });
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
