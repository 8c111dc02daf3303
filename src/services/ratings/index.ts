import type { DataSource, EntityManager } from 'typeorm';
import type { Alerts } from '../../alerts/index.ts';
import type { ChatRoute } from '../../chat/engine.ts';
import type { Outbox } from '../../chat/outbox.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { insertIgnoringDuplicate } from '../../platform/db.ts';
import type { CustomMessage } from '../../wechat/api/index.ts';
import { fillTemplate } from '../../chat/templates.ts';
import type { ProfileTemplate } from '../../profile/schema.ts';
import { RatingEntity, RectificationEntity, type RatingRow, type RatingSubject, type RectificationRow, type RectificationStatus } from './entities.ts';
import { clip } from '../../platform/text.ts';

export const LEVEL_NAMES: Record<number, string> = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };
const SUBJECTS: RatingSubject[] = ['ticket', 'case', 'booking', 'conversation'];
/** `rt-<subject>-<id>-<level>`: the ids of the rating question's tappable choices. */
const CHOICE = /^rt-(ticket|case|booking|conversation)-(\d{1,12})-([1-5])$/;

export class RatingError extends Error {
  constructor(
    readonly code: 'invalid' | 'not_found' | 'wrong_state' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'RatingError';
  }
}

/** What a capability tells the rating service about one of its things: whose it is and who handled it. */
export interface RatedThing {
  openid: string;
  department: string | null;
  staffId?: number | null;
  /** Done (办结, closed): only then is it rated. */
  finished: boolean;
  /** How it is named to the rater in the 反馈 (工单 GD…, 办件 WB…). */
  label: string;
}

export interface RatingsDeps {
  ds: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  outbox: Outbox;
  alerts: Alerts;
  /** Working days a department has to rectify (整改). */
  rectificationDays: number;
  publicUrl: string;
  /** The progress template (ticket_progress, else case_progress): the 反馈 past the 48-hour window. */
  template?: ProfileTemplate | undefined;
}

/** Satisfaction over a period: what the operations dashboard reads. */
export interface Satisfaction {
  count: number;
  /** Ratings per level, 1 … 5. */
  byLevel: Record<1 | 2 | 3 | 4 | 5, number>;
  /** Mean level (0 when nothing was rated). */
  average: number;
  /** 好评率: levels 3–5 over all, 0 … 1 (0 when nothing was rated). */
  goodRate: number;
  /** 差评: levels 1–2. */
  poor: number;
}

/**
 * 好差评 (国办发〔2019〕51号) for everything handled — tickets, cases, bookings, staff conversations:
 * five levels, asked once after completion and never pressed; the bottom two open a rectification
 * (整改) for the responsible department with its own working-day deadline, which a supervisor
 * reviews; the rater is told the outcome (反馈). The rater stays hidden from the staff rated.
 */
export class Ratings {
  private readonly subjects = new Map<RatingSubject, (id: string) => Promise<RatedThing | null>>();

  constructor(private readonly d: RatingsDeps) {}

  /** A capability says how to find one of its things (each subject once). */
  register(subject: RatingSubject, find: (id: string) => Promise<RatedThing | null>): void {
    this.subjects.set(subject, find);
  }

  /** How a rated thing is named to staff and to the rater (工单 GD…, 办件 WB…), where its capability says. */
  async label(subject: RatingSubject, id: string): Promise<string | null> {
    return (await this.subjects.get(subject)?.(id))?.label ?? null;
  }

  /** The five-level question as tappable choices (best first). */
  menu(subject: RatingSubject, id: string | number, head = '请您为这次办理打个分（自愿评价）：'): CustomMessage {
    return { type: 'msgmenu', headContent: head, list: [5, 4, 3, 2, 1].map((l) => ({ id: `rt-${subject}-${id}-${l}`, content: LEVEL_NAMES[l]! })), tailContent: '不评价也没关系。' };
  }

  /**
   * Store a rating of a finished thing by its own citizen (once). A 差评 opens the rectification
   * and alerts the department's supervisors, in the same transaction. Returns the thanks to say.
   */
  async rate(subject: RatingSubject, subjectId: string, openid: string, level: number, comment?: string | null): Promise<{ said: string; rating: RatingRow | null }> {
    if (!SUBJECTS.includes(subject) || !Number.isInteger(level) || level < 1 || level > 5) throw new RatingError('invalid', '评价只能是 1 到 5 级。');
    const thing = await this.subjects.get(subject)?.(subjectId);
    if (!thing || thing.openid !== openid) throw new RatingError('not_found', '没有找到要评价的事项。');
    if (!thing.finished) throw new RatingError('wrong_state', '办结以后才能评价。');
    const text = clip(comment?.trim() ?? '', 500) || null;
    const now = this.d.clock.now();
    const stored = await this.d.ds.transaction(async (tx) => {
      const id = await insertIgnoringDuplicate(tx, RatingEntity, { subject, subjectId, department: thing.department, staffId: thing.staffId ?? null, openid, level, comment: text, createdAt: now });
      if (id === null) return null;
      const row: RatingRow = { id, subject, subjectId, department: thing.department, staffId: thing.staffId ?? null, openid, level, comment: text, createdAt: now };
      if (level <= 2) await this.openRectification(tx, row, thing.label);
      return row;
    });
    if (!stored) return { said: '您已经评价过了，感谢！', rating: null };
    return { said: level <= 2 ? '感谢您的评价。我们会认真整改，整改结果会告诉您。' : '感谢您的评价！', rating: stored };
  }

  private async openRectification(tx: EntityManager, r: RatingRow, label: string): Promise<void> {
    const now = this.d.clock.now();
    const dueAt = this.d.calendar.workingDaysDeadline(now, this.d.rectificationDays);
    const res = await tx.createQueryBuilder().insert().into(RectificationEntity).values({ ratingId: r.id, department: r.department, status: 'open', dueAt, report: null, submittedBy: null, submittedAt: null, reviewedBy: null, reviewedAt: null, reviewNote: null, toldAt: null, createdAt: now }).execute();
    const id = res.identifiers[0]!.id as number;
    await this.d.alerts.raise({ kind: 'poor-rating', department: r.department, to: 'supervisors', title: `差评待整改：${label}（${LEVEL_NAMES[r.level]}）`, link: `/admin/rectifications/${id}`, urgent: false }, tx);
  }

  /**
   * Keep a rating another capability has already checked and stored in its own transaction (a
   * staff conversation's, asked by the inbox): once per thing; a 差评 opens the rectification.
   */
  async record(tx: EntityManager, r: Omit<RatingRow, 'id' | 'createdAt' | 'comment'>, label: string): Promise<RatingRow | null> {
    const now = this.d.clock.now();
    const id = await insertIgnoringDuplicate(tx, RatingEntity, { ...r, comment: null, createdAt: now });
    if (id === null) return null;
    const row: RatingRow = { ...r, id, comment: null, createdAt: now };
    if (r.level <= 2) await this.openRectification(tx, row, label);
    return row;
  }

  /** The chat route for the rating question's answers (runs early, wherever the citizen is). */
  route(): ChatRoute {
    return {
      name: 'a rating (好差评) of something finished (bizmsgmenu)',
      when: (m) => m.kind === 'text' && CHOICE.test(m.bizmsgmenuid ?? ''),
      handle: async (m) => {
        const [, subject, id, level] = CHOICE.exec((m as { bizmsgmenuid: string }).bizmsgmenuid)!;
        try {
          const { said } = await this.rate(subject as RatingSubject, id!, m.fromUser, Number(level));
          return { reply: { type: 'text', content: said }, ref: `rating:${subject}:${level}` };
        } catch (err) {
          if (err instanceof RatingError) return { reply: { type: 'text', content: err.message }, ref: 'rating:refused' };
          throw err;
        }
      },
    };
  }

  // ---- rectification ---------------------------------------------------------------------------

  async rectification(id: number): Promise<{ r: RectificationRow; rating: RatingRow } | null> {
    const r = Number.isSafeInteger(id) ? await this.d.ds.getRepository(RectificationEntity).findOneBy({ id }) : null;
    if (!r) return null;
    const rating = await this.d.ds.getRepository(RatingEntity).findOneByOrFail({ id: r.ratingId });
    return { r, rating };
  }

  async rectifications(departments: string[] | null, statuses?: RectificationStatus[]): Promise<RectificationRow[]> {
    const qb = this.d.ds.getRepository(RectificationEntity).createQueryBuilder('r');
    if (departments) {
      if (!departments.length) return [];
      qb.where('r.department IN (:...d)', { d: departments });
    }
    if (statuses?.length) qb.andWhere('r.status IN (:...s)', { s: statuses });
    return qb.orderBy('r.due_at', 'ASC').getMany();
  }

  /** The department says what it found and did. */
  async submitRectification(id: number, staffId: number, report: string): Promise<RectificationRow> {
    const text = report.trim();
    if ([...text].length < 10) throw new RatingError('invalid', '请写明整改情况（至少 10 个字）。');
    if ([...text].length > 2000) throw new RatingError('invalid', '整改情况太长了（最多 2000 字）。');
    const now = this.d.clock.now();
    return this.d.ds.transaction(async (tx) => {
      const r = await tx.getRepository(RectificationEntity).findOneBy({ id });
      if (!r) throw new RatingError('not_found', '没有这条整改。');
      if (r.status !== 'open' && r.status !== 'returned') throw new RatingError('wrong_state', '这条整改已经提交了。');
      const res = await tx.getRepository(RectificationEntity).update({ id, status: r.status }, { status: 'submitted', report: text, submittedBy: staffId, submittedAt: now });
      if (res.affected !== 1) throw new RatingError('conflict', '整改刚被其他同事改动，请刷新后再试。');
      return { ...r, status: 'submitted', report: text, submittedBy: staffId, submittedAt: now };
    });
  }

  /**
   * The supervisor approves the rectification (the rater is told the outcome: 反馈) or returns it
   * to the department with a note.
   */
  async reviewRectification(id: number, staffId: number, approve: boolean, note: string, label: string): Promise<RectificationRow> {
    const text = clip(note.trim(), 1000);
    if (!approve && [...text].length < 4) throw new RatingError('invalid', '退回时请写明原因。');
    const now = this.d.clock.now();
    return this.d.ds.transaction(async (tx) => {
      const r = await tx.getRepository(RectificationEntity).findOneBy({ id });
      if (!r) throw new RatingError('not_found', '没有这条整改。');
      if (r.status !== 'submitted') throw new RatingError('wrong_state', '只能审核已提交的整改。');
      const status: RectificationStatus = approve ? 'approved' : 'returned';
      // The rater is told (反馈) on approval: toldAt is set with it, and the row returned is the row stored.
      const change = { status, reviewedBy: staffId, reviewedAt: now, reviewNote: text || null, ...(approve ? { toldAt: now } : {}) };
      const res = await tx.getRepository(RectificationEntity).update({ id, status: 'submitted' }, change);
      if (res.affected !== 1) throw new RatingError('conflict', '整改刚被其他同事改动，请刷新后再试。');
      if (approve) {
        const rating = await tx.getRepository(RatingEntity).findOneByOrFail({ id: r.ratingId });
        const p = this.d.calendar.localParts(now);
        const time = `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')} ${String(Math.floor(p.minutes / 60)).padStart(2, '0')}:${String(p.minutes % 60).padStart(2, '0')}`;
        const fallback = this.d.template ? fillTemplate(this.d.template, { service: label, case_no: rating.subjectId, ticket_no: rating.subjectId, step: '整改反馈', time, note: r.report ?? '' }) : undefined;
        await this.d.outbox.send({ openid: rating.openid, messages: [{ type: 'text', content: `您对${label}的评价我们收到了，整改情况如下：\n${r.report ?? ''}\n感谢您的监督。` }], ...(fallback ? { fallback } : {}), ref: `rectification:${id}` }, { uniqueKey: `rectification:${id}:told`, manager: tx });
      }
      return { ...r, ...change };
    });
  }

  async ratingOf(subject: RatingSubject, subjectId: string): Promise<RatingRow | null> {
    return this.d.ds.getRepository(RatingEntity).findOneBy({ subject, subjectId });
  }

  /**
   * Satisfaction (满意度) over [from, to) — for a department, one kind of thing, or all. The one
   * query the dashboards need: `SELECT level, count(*) FROM ratings WHERE … GROUP BY level`.
   */
  async satisfaction(f: { from?: number; to?: number; department?: string | null; subject?: RatingSubject } = {}): Promise<Satisfaction> {
    const qb = this.d.ds.getRepository(RatingEntity).createQueryBuilder('r').select('r.level', 'level').addSelect('COUNT(*)', 'n').groupBy('r.level');
    if (f.from !== undefined) qb.andWhere('r.created_at >= :from', { from: f.from });
    if (f.to !== undefined) qb.andWhere('r.created_at < :to', { to: f.to });
    if (f.department) qb.andWhere('r.department = :dep', { dep: f.department });
    if (f.subject) qb.andWhere('r.subject = :sub', { sub: f.subject });
    const rows = await qb.getRawMany<{ level: number | string; n: number | string }>();
    const byLevel = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 } as Satisfaction['byLevel'];
    for (const r of rows) byLevel[Number(r.level) as 1 | 2 | 3 | 4 | 5] = Number(r.n);
    const count = Object.values(byLevel).reduce((a, b) => a + b, 0);
    const sum = Object.entries(byLevel).reduce((a, [l, n]) => a + Number(l) * n, 0);
    const good = byLevel[3] + byLevel[4] + byLevel[5];
    return { count, byLevel, average: count ? sum / count : 0, goodRate: count ? good / count : 0, poor: byLevel[1] + byLevel[2] };
  }
}
