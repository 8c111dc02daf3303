import { randomBytes } from 'node:crypto';
import { IsNull, type DataSource, type EntityManager, type FindOperator } from 'typeorm';
import type { HandoffIntake, HandoffRoute, HandoffRow, NewHandoff } from '../chat/handoff.ts';
import { HandoffEntity } from '../chat/handoff.ts';
import { MessageEntity, type ConversationLog } from '../chat/log.ts';
import type { Outbox } from '../chat/outbox.ts';
import { fillTemplate } from '../chat/templates.ts';
import { splitText } from '../chat/text.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import { insertIgnoringDuplicate } from '../platform/db.ts';
import type { JobQueue } from '../platform/jobs.ts';
import type { Logger } from '../platform/log.ts';
import { maskText } from '../platform/pii.ts';
import type { Profile } from '../profile/schema.ts';
import type { Category, Department } from '../profile/staff.ts';
import type { CustomMessage, TemplateMessage } from '../wechat/api/index.ts';
import { MAX_TEXT_BYTES } from '../wechat/replies.ts';
import type { Accounts } from '../admin/accounts.ts';
import type { Alerts } from '../alerts/index.ts';
import type { Audit, AuditAction } from '../admin/audit.ts';
import { assignable, canSee, may, SYSTEM, type Actor, type InboxAction } from '../policies/index.ts';
import { dueAt } from './due.ts';
import { InboxImageEntity, StaffReplyEntity, type InboxImageRow, type StaffReplyRow } from './entities.ts';
import { localTime } from './format.ts';
import { MAX_IMAGE_BYTES, sniffImage } from './images.ts';
import { clip } from '../platform/text.ts';

export type InboxErrorCode = 'not_found' | 'forbidden' | 'conflict' | 'invalid';

/** A command refused: the panel shows the message; routes map the code to 404 / 403 / 409 / 400. */
export class InboxError extends Error {
  constructor(
    readonly code: InboxErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InboxError';
  }
}

/** What staff send: text, a link (with optional words), or an image (with optional words). */
export type ReplyInput =
  | { kind: 'text'; text: string }
  | { kind: 'link'; url: string; title: string; text?: string }
  | { kind: 'image'; image: Buffer; text?: string };

export interface CommandOptions {
  /** Where the request came from, for the audit log. */
  ip?: string | null;
}

export interface InboxDeps {
  db: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  profile: Profile;
  jobs: JobQueue;
  outbox: Outbox;
  conversationLog: ConversationLog;
  accounts: Accounts;
  audit: Audit;
  /** Staff alerts: a 督办 reaches the supervisor at once. */
  alerts: Alerts;
  /** The address citizens' phones reach (answer pages, images). */
  publicUrl: string;
  logger: Logger;
  /** Give the conversation back to the bot (ChatEngine.staffClosed). */
  handBack(openid: string): Promise<void>;
  /**
   * A rating stored, inside its transaction: the rating service (好差评) keeps it with every other
   * rating and opens the rectification a poor one needs.
   */
  onRated?(r: { handoffId: number; openid: string; department: string | null; staffId: number | null; level: number }, tx: EntityManager): Promise<void>;
}

const MAX_TEXT_CHARS = 2000;
/** A service the citizen looked at this recently tells which department the question is for. */
const ROUTING_WINDOW_MS = 30 * 60_000;

/**
 * The inbox: every handed-off conversation, and the commands staff act on them with — claim,
 * assign, transfer, classify, reply, close, escalate. One command per action, used by the panel,
 * the deadline job and the tests alike; each checks the policy, changes the row only if it is
 * still in the state the actor saw (conditional UPDATE), and writes its audit entry in the same
 * transaction.
 */
export class Inbox {
  static readonly ESCALATE_JOB = 'inbox.escalate';
  readonly departments: ReadonlyMap<string, Department>;
  readonly categories: ReadonlyMap<string, Category>;
  /** service id → department id */
  private readonly handledBy: Map<string, string>;

  constructor(private readonly d: InboxDeps) {
    this.departments = new Map(d.profile.departments.map((x) => [x.id, x]));
    this.categories = new Map(d.profile.inbox.categories.map((x) => [x.id, x]));
    this.handledBy = new Map(d.profile.departments.flatMap((x) => x.handles.map((s) => [s, x.id] as const)));
    d.jobs.define<{ id: number }>(Inbox.ESCALATE_JOB, {
      maxAttempts: 10,
      run: (p) => this.escalateIfOverdue(p.id),
    });
  }

  get settings() {
    return this.d.profile.inbox;
  }

  departmentName(id: string | null): string {
    return (id && this.departments.get(id)?.name) || id || '未分配部门';
  }

  categoryName(id: string | null): string {
    return (id && this.categories.get(id)?.name) || id || '未分类';
  }

  // ---- intake: how a new handoff enters the inbox --------------------------------------------

  /** Plugged into Handoffs: department, category and due time of each new handoff, and its deadline job. */
  readonly intake: HandoffIntake = {
    classify: async (h: NewHandoff & { createdAt: number }) => {
      // What the rule or menu entry said comes first; else the service just read, and the default.
      const category = this.categories.get(h.route?.category ?? '') ?? this.categories.get(this.settings.default_category)!;
      const department = h.route?.department && this.departments.has(h.route.department) ? h.route.department : await this.routeDepartment(h.openid, h.createdAt);
      return { department, category: category.id, dueAt: dueAt(category.due, h.createdAt, this.d.calendar) };
    },
    opened: async (row: HandoffRow, tx: EntityManager, route: HandoffRoute | undefined) => {
      if (row.dueAt !== null) await this.scheduleEscalation(row.id, row.dueAt, tx);
      // An urgent handoff (a rule said so) reaches the department's supervisors — or its duty
      // officers — at once, in the same transaction: the alert exists exactly when the handoff does.
      if (row.urgent) {
        await this.d.alerts.raise({ kind: 'urgent-handoff', department: row.department, to: route?.alert ?? 'supervisors', title: `紧急：${row.question.slice(0, 60)}`, link: `/admin/inbox/${row.id}`, urgent: true }, tx);
      }
    },
  };

  /** The department that handles the service the citizen was just reading about, else the default one. */
  private async routeDepartment(openid: string, now: number): Promise<string> {
    const recent = await this.d.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .select(['m.ref'])
      .where('m.openid = :openid AND m.direction = :out AND m.ref LIKE :service AND m.created_at >= :since', { openid, out: 'out', service: 'service:%', since: now - ROUTING_WINDOW_MS })
      .orderBy('m.id', 'DESC')
      .limit(1)
      .getOne();
    const service = recent?.ref ? /^service:([a-z0-9-]+)/.exec(recent.ref)?.[1] : undefined;
    return (service && this.handledBy.get(service)) || this.settings.default_department;
  }

  private async scheduleEscalation(id: number, at: number, manager?: EntityManager): Promise<void> {
    // One job per due time: a job left from an earlier due time finds nothing to do.
    await this.d.jobs.enqueue(Inbox.ESCALATE_JOB, { id }, { runAt: at, uniqueKey: `${Inbox.ESCALATE_JOB}:${id}:${at}`, ...(manager ? { manager } : {}) });
  }

  /**
   * Handoffs stored before the inbox existed (or while a department was missing from the profile)
   * go to the default department with a due time from the default category.
   */
  async adopt(): Promise<number> {
    const repo = this.d.db.getRepository(HandoffEntity);
    const orphans = await repo.find({ where: { department: IsNull() } });
    const category = this.categories.get(this.settings.default_category)!;
    for (const h of orphans) {
      const due = h.dueAt ?? dueAt(category.due, h.createdAt, this.d.calendar);
      await this.d.db.transaction(async (tx) => {
        await tx.getRepository(HandoffEntity).update({ id: h.id }, { department: this.settings.default_department, category: h.category ?? category.id, dueAt: due, updatedAt: this.d.clock.now() });
        if (h.status === 'open') await this.scheduleEscalation(h.id, due, tx);
      });
    }
    return orphans.length;
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** The conversation if the actor may see it; NotFound otherwise (whether or not it exists). */
  async load(actor: Actor, id: number): Promise<HandoffRow> {
    const row = Number.isSafeInteger(id) && id > 0 ? await this.d.db.getRepository(HandoffEntity).findOne({ where: { id } }) : null;
    if (!row || !canSee(actor, row)) throw new InboxError('not_found', '没有这个会话，或它不属于您的部门');
    return row;
  }

  private async loadFor(actor: Actor, id: number, action: InboxAction): Promise<HandoffRow> {
    const row = await this.load(actor, id);
    if (!may(actor, action, row)) throw new InboxError('forbidden', refusal(action, row));
    return row;
  }

  async image(id: number): Promise<InboxImageRow | null> {
    return this.d.db.getRepository(InboxImageEntity).findOne({ where: { id } });
  }

  /** The conversation's staff replies, oldest first. */
  async replies(handoffId: number): Promise<StaffReplyRow[]> {
    return this.d.db.getRepository(StaffReplyEntity).find({ where: { handoffId }, order: { id: 'ASC' } });
  }

  /**
   * Which stretch of the citizen's conversation log a staff conversation shows (and within which a
   * message may be shown in full). The log is the citizen's, not the conversation's, and a citizen
   * may have talked with several departments over time. The rule:
   *
   *   the citizen's messages after the end of their latest earlier conversation that the actor may
   *   not see (another department's), and before the start of their earliest later one that the
   *   actor may not see — or, when there is such a later one, before this one's close (what the
   *   citizen said on the way to it is its own).
   *
   * So a conversation shows what led up to it (the bot, earlier conversations of the same
   * department) and what followed it, but never a stretch that belongs to another department's
   * conversation. A conversation transferred to another department goes with its messages: it is
   * that department's now. Administrators see every department, so for them nothing is cut.
   * Bounds are exclusive (a message stamped in the very millisecond of a boundary is left out).
   */
  async historyWindow(actor: Actor, h: HandoffRow): Promise<HistoryWindow> {
    const all = await this.d.db.getRepository(HandoffEntity).find({ where: { openid: h.openid }, select: { id: true, department: true, createdAt: true, closedAt: true } });
    let after: number | null = null;
    let before: number | null = null;
    for (const o of all) {
      if (o.id === h.id || canSee(actor, o)) continue;
      if (o.id < h.id) {
        // An earlier conversation still open would be an anomaly: show nothing before this one.
        const end = o.closedAt ?? h.createdAt - 1;
        after = after === null ? end : Math.max(after, end);
      } else {
        // What the citizen said on the way to the later conversation (before it was opened) is
        // its, not this one's: a closed conversation ends at its close.
        const start = h.closedAt !== null ? Math.min(o.createdAt, h.closedAt) : o.createdAt;
        before = before === null ? start : Math.min(before, start);
      }
    }
    return { after, before };
  }

  /**
   * Show one message in full (the list and the history mask personal data). Recorded in the audit
   * log; the message must be one this conversation shows (its citizen's, inside historyWindow).
   */
  async reveal(actor: Actor, id: number, what: { messageId: number } | 'question', o: CommandOptions = {}): Promise<string> {
    const row = await this.loadFor(actor, id, 'unmask');
    let text: string;
    let detail: string;
    if (what === 'question') {
      text = row.question;
      detail = '问题原文';
    } else {
      const m = await this.d.db.getRepository(MessageEntity).findOne({ where: { id: what.messageId } });
      if (!m || m.openid !== row.openid || !inWindow(m.createdAt, await this.historyWindow(actor, row))) throw new InboxError('not_found', '这条消息不属于这个会话');
      text = m.content;
      detail = `message:${m.id}`;
    }
    await this.d.audit.record({ actor, action: 'unmask', target: `handoff:${row.id}`, department: row.department, detail, ip: o.ip ?? null });
    return text;
  }

  /** Record that the actor opened the conversation (the panel calls this once per visit). */
  async recordView(actor: Actor, row: HandoffRow, o: CommandOptions = {}): Promise<void> {
    await this.d.audit.record({ actor, action: 'view', target: `handoff:${row.id}`, department: row.department, ip: o.ip ?? null });
  }

  // ---- commands ---------------------------------------------------------------------------------

  /** Take a waiting conversation. */
  async claim(actor: Actor, id: number, o: CommandOptions = {}): Promise<void> {
    // Someone else took it first (a race lost before or at the UPDATE, or a stale list): the same
    // answer either way — it is taken, not forbidden.
    // One read: a second one could see the winner of a race and refuse as "forbidden" instead.
    const row = await this.loadFor(actor, id, 'view');
    const me = staffId(actor);
    if (row.status === 'open' && row.assigneeId !== null && row.assigneeId !== me) throw new InboxError('conflict', '已被其他同事领取');
    if (!may(actor, 'claim', row)) throw new InboxError('forbidden', refusal('claim', row));
    await this.change(row, { assigneeId: IsNull() }, { assigneeId: me }, '已被其他同事领取', { actor, action: 'claim', ip: o.ip });
  }

  /** Hand a conversation to a colleague of its department. */
  async assign(actor: Actor, id: number, toStaffId: number, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'assign');
    const target = await this.d.accounts.get(toStaffId);
    if (!target || !assignable(target, row)) throw new InboxError('invalid', '只能指派给本部门在岗的工作人员');
    if (row.assigneeId === target.id) return;
    await this.change(row, { assigneeId: row.assigneeId ?? IsNull() }, { assigneeId: target.id }, '会话刚被其他同事改动，请刷新后再试', {
      actor,
      action: 'assign',
      detail: `指派给 ${target.name}（${target.username}）`,
      ip: o.ip,
    });
  }

  /** Send a conversation to another department; it waits there to be claimed. */
  async transfer(actor: Actor, id: number, department: string, note: string, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'transfer');
    if (!this.departments.has(department)) throw new InboxError('invalid', '没有这个部门');
    if (department === row.department) throw new InboxError('invalid', '会话已经在这个部门');
    const cleanNote = clip(note.trim(), 500);
    const escalatedTo = row.escalatedAt !== null ? ((await this.supervisorOf(department))?.id ?? null) : null;
    await this.change(
      row,
      { department: row.department ?? IsNull() },
      { department, assigneeId: null, escalatedTo },
      '会话刚被其他同事改动，请刷新后再试',
      { actor, action: 'transfer', detail: `${this.departmentName(row.department)} → ${this.departmentName(department)}${cleanNote ? `：${cleanNote}` : ''}`, ip: o.ip },
    );
  }

  /** Set the request's category; its due time follows from it (counted from when it arrived). */
  async classify(actor: Actor, id: number, category: string, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'classify');
    const c = this.categories.get(category);
    if (!c) throw new InboxError('invalid', '没有这个分类');
    if (row.category === category) return;
    const due = dueAt(c.due, row.createdAt, this.d.calendar);
    await this.change(
      row,
      { category: row.category ?? IsNull() },
      { category, dueAt: due },
      '会话刚被其他同事改动，请刷新后再试',
      { actor, action: 'classify', detail: `${this.categoryName(row.category)} → ${c.name}，应于 ${localTime(this.d.calendar, due)} 前首次答复`, ip: o.ip },
      async (tx) => {
        if (row.firstRepliedAt === null) await this.scheduleEscalation(row.id, due, tx);
      },
    );
  }

  /**
   * Answer the citizen. Inside the 48-hour window the answer goes as a customer-service message;
   * past it, as the profile's staff_reply template linking to the answer page. Delivery is an
   * outbox job (retried, never sent twice); the same form submitted twice (`nonce`) is one reply.
   * Replying to a waiting conversation claims it (for those who may claim: not administrators).
   */
  async reply(actor: Actor, id: number, input: ReplyInput, o: CommandOptions & { nonce?: string } = {}): Promise<StaffReplyRow> {
    const row = await this.loadFor(actor, id, 'reply');
    const me = staffId(actor);
    const r = this.checkReply(input);
    const nonce = o.nonce && /^[A-Za-z0-9_-]{8,64}$/.test(o.nonce) ? o.nonce : null;
    if (nonce) {
      const same = await this.d.db.getRepository(StaffReplyEntity).findOne({ where: { handoffId: row.id, nonce } });
      if (same) return same;
    }
    const now = this.d.clock.now();
    const token = randomBytes(24).toString('base64url');
    const answerUrl = `${this.d.publicUrl}/h5/answer/${token}`;
    const template = this.d.profile.templates.staff_reply;
    const held = this.held(actor, 'reply', row);
    const fallback: TemplateMessage | undefined = template
      ? fillTemplate(template, { question: maskText(row.question), time: localTime(this.d.calendar, now), department: this.departmentName(row.department) }, answerUrl)
      : undefined;

    return this.d.db.transaction(async (tx) => {
      let imageId: number | null = null;
      if (r.kind === 'image') {
        const res = await tx
          .createQueryBuilder()
          .insert()
          .into(InboxImageEntity)
          .values({ handoffId: row.id, staffId: me, mime: r.mime, data: r.image.toString('base64'), size: r.image.length, createdAt: now })
          .execute();
        imageId = res.identifiers[0]!.id as number;
      }
      const values: Omit<StaffReplyRow, 'id'> = {
        handoffId: row.id,
        openid: row.openid,
        staffId: me,
        kind: r.kind,
        body: r.text,
        linkUrl: r.kind === 'link' ? r.url : null,
        linkTitle: r.kind === 'link' ? r.title : null,
        imageId,
        token,
        nonce,
        jobId: null,
        createdAt: now,
      };
      const replyId = await insertIgnoringDuplicate(tx, StaffReplyEntity, values);
      if (replyId === null) {
        // The same submission raced itself: the first one stands.
        const same = await tx.getRepository(StaffReplyEntity).findOne({ where: { handoffId: row.id, nonce: nonce ?? IsNull() } });
        if (same) return same;
        throw new InboxError('conflict', '回复没有保存，请再试一次');
      }
      const messages = this.messagesFor(r, answerUrl, imageId === null ? null : `${answerUrl}/images/${imageId}`, this.signature(row.department));
      const jobId = await this.d.outbox.send({ openid: row.openid, messages, ...(fallback ? { fallback } : {}), ref: `handoff:${row.id}` }, { uniqueKey: `inbox.reply:${replyId}`, manager: tx });
      await tx.getRepository(StaffReplyEntity).update({ id: replyId }, { jobId });
      const res = await tx.getRepository(HandoffEntity).update({ id: row.id, status: 'open', ...held }, { updatedAt: now });
      if (!res.affected) throw await this.conflict(tx, row, held, '会话已经办结，不能再回复', '会话已经办结，不能再回复');
      // Claim a waiting conversation (when the actor may: not an administrator) and stamp the first
      // reply, each only if still unset.
      const claimed = may(actor, 'claim', row) && !!(await tx.getRepository(HandoffEntity).update({ id: row.id, assigneeId: IsNull() }, { assigneeId: me })).affected;
      await tx.getRepository(HandoffEntity).update({ id: row.id, firstRepliedAt: IsNull() }, { firstRepliedAt: now });
      if (claimed) await this.d.audit.record({ actor, action: 'claim', target: `handoff:${row.id}`, department: row.department, detail: '回复时领取', ip: o.ip ?? null }, tx);
      await this.d.audit.record({ actor, action: 'reply', target: `handoff:${row.id}`, department: row.department, detail: `${KIND_NAMES[r.kind]}回复 #${replyId}`, ip: o.ip ?? null }, tx);
      return { ...values, id: replyId, jobId };
    });
  }

  /**
   * Close the conversation: the bot takes over again, and the citizen is asked, once, to rate the
   * answer — by tappable choices inside the customer-service window; past it, by the staff-reply
   * template linking to the answer page, which then offers the same five choices.
   */
  async close(actor: Actor, id: number, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'close');
    const now = this.d.clock.now();
    const inWindow = await this.d.conversationLog.withinServiceWindow(row.openid);
    const held = this.held(actor, 'close', row);
    await this.d.db.transaction(async (tx) => {
      const res = await tx.getRepository(HandoffEntity).update({ id: row.id, status: 'open', ...held }, { status: 'closed', closedAt: now, closedBy: 'staff', updatedAt: now });
      if (!res.affected) throw await this.conflict(tx, row, held, '会话已经办结');
      const latest = await tx.getRepository(StaffReplyEntity).findOne({ where: { handoffId: row.id }, order: { id: 'DESC' } });
      const template = this.d.profile.templates.staff_reply;
      const fallback =
        latest && template
          ? fillTemplate(template, { question: maskText(row.question), time: localTime(this.d.calendar, now), department: this.departmentName(row.department) }, `${this.d.publicUrl}/h5/answer/${latest.token}#rate`)
          : undefined;
      const asked = inWindow ? '已邀请市民评价' : fallback ? '已超过 48 小时客服窗口，已用模板消息邀请市民在答复页评价' : '已超过 48 小时客服窗口且没有答复页，未邀请评价';
      await this.d.audit.record({ actor, action: 'close', target: `handoff:${row.id}`, department: row.department, detail: asked, ip: o.ip ?? null }, tx);
      // The outbox tries the choices first and falls back to the template when the window is shut.
      if (inWindow || fallback) {
        await this.d.outbox.send({ openid: row.openid, messages: [this.ratingMenu(row.id)], ...(fallback ? { fallback } : {}), ref: `handoff:${row.id}:rating` }, { uniqueKey: `inbox.rate:${row.id}`, manager: tx });
      }
    });
    await this.d.handBack(row.openid);
  }

  /** Ask the department's supervisor to step in (督办): by a staff member, or by the deadline job. */
  async escalate(actor: Actor, id: number, reason: string, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'escalate');
    const supervisor = await this.supervisorOf(row.department);
    const now = this.d.clock.now();
    await this.change(
      row,
      { escalatedAt: IsNull() },
      { escalatedAt: now, escalatedTo: supervisor?.id ?? null },
      '会话已经在督办中',
      { actor, action: 'escalate', detail: `${reason}${supervisor ? `，督办人：${supervisor.name}（${supervisor.username}）` : '，本部门没有在岗负责人，由管理员督办'}`, ip: o.ip },
      (tx) =>
        this.d.alerts
          .raise({ kind: 'escalation', department: row.department, to: supervisor ? { staffIds: [supervisor.id] } : 'supervisors', title: `督办：${reason}（${row.question.slice(0, 40)}）`, link: `/admin/inbox/${row.id}`, urgent: true }, tx)
          .then(() => undefined),
    );
  }

  /** Put a failed delivery back in the queue. */
  async retryDelivery(actor: Actor, id: number, replyId: number, o: CommandOptions = {}): Promise<void> {
    const row = await this.loadFor(actor, id, 'retry_delivery');
    const reply = await this.d.db.getRepository(StaffReplyEntity).findOne({ where: { id: replyId, handoffId: row.id } });
    if (!reply || reply.jobId === null) throw new InboxError('not_found', '没有这条回复');
    if (!(await this.d.jobs.retry(reply.jobId))) throw new InboxError('conflict', '这条回复没有发送失败，无需重发');
    await this.d.audit.record({ actor, action: 'retry-delivery', target: `handoff:${row.id}`, department: row.department, detail: `回复 #${reply.id}`, ip: o.ip ?? null });
  }

  // ---- the deadline job -------------------------------------------------------------------------

  /** Runs at a due time: a conversation still without a first answer is escalated and marked 督办. */
  private async escalateIfOverdue(id: number): Promise<void> {
    const row = await this.d.db.getRepository(HandoffEntity).findOne({ where: { id } });
    if (!row || row.status !== 'open' || row.firstRepliedAt !== null || row.escalatedAt !== null || row.dueAt === null) return;
    if (this.d.clock.now() < row.dueAt) return; // the due time moved later: its own job will come
    try {
      await this.escalate(SYSTEM, id, `首次答复超时（应于 ${localTime(this.d.calendar, row.dueAt)} 前答复）`);
    } catch (err) {
      if (err instanceof InboxError && err.code === 'conflict') return; // escalated meanwhile
      throw err;
    }
  }

  /** The supervisor an escalation goes to: the profile's choice if active, else any active supervisor of the department. */
  async supervisorOf(department: string | null) {
    if (!department) return null;
    const staff = await this.d.accounts.list({ department, active: true });
    const supervisors = staff.filter((s) => s.role === 'supervisor');
    for (const username of this.departments.get(department)?.supervisors ?? []) {
      const s = supervisors.find((x) => x.username === username);
      if (s) return s;
    }
    return supervisors[0] ?? null;
  }

  // ---- the rating after closing ---------------------------------------------------------------

  /** The five-level question, as tappable choices; each comes back as text with its bizmsgmenuid. */
  ratingMenu(handoffId: number): CustomMessage {
    const r = this.settings.rating;
    return {
      type: 'msgmenu',
      headContent: r.head,
      list: [...r.levels].sort((a, b) => b.level - a.level).map((l) => ({ id: `rate-${handoffId}-${l.level}`, content: l.label })),
      ...(r.tail ? { tailContent: r.tail } : {}),
    };
  }

  /**
   * Store a citizen's rating of a closed conversation of theirs (once). Returns what to say back;
   * null when the choice is not theirs to make (another citizen's, or not a closed conversation).
   */
  async rate(openid: string, handoffId: number, level: number): Promise<string | null> {
    const r = this.settings.rating;
    if (!Number.isInteger(level) || level < 1 || level > 5) return null;
    const row = await this.d.db.getRepository(HandoffEntity).findOne({ where: { id: handoffId } });
    if (!row || row.openid !== openid || row.status !== 'closed') return null;
    const now = this.d.clock.now();
    const stored = await this.d.db.transaction(async (tx) => {
      const res = await tx.getRepository(HandoffEntity).update({ id: handoffId, rating: IsNull() }, { rating: level, ratedAt: now, updatedAt: now });
      if (!res.affected) return false;
      // Raters stay private: the log says that a rating came, not who gave it (the conversation does).
      await this.d.audit.record({ actor: { kind: 'anonymous', username: 'citizen' }, action: 'rated', target: `handoff:${handoffId}`, department: row.department, detail: `${level} 星` }, tx);
      await this.d.onRated?.({ handoffId, openid, department: row.department, staffId: row.assigneeId, level }, tx);
      return true;
    });
    if (!stored) return r.already;
    return level <= 2 ? r.thanks_poor : r.thanks;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /**
   * Change a conversation only if it is still open and as the actor saw it (`expect`), with its
   * audit entry in the same transaction. A concurrent change makes it a conflict, not a lost update.
   */
  private async change(
    row: HandoffRow,
    expect: Record<string, unknown>,
    set: Partial<HandoffRow>,
    conflict: string,
    audit: { actor: Actor; action: Extract<InboxAction, AuditAction>; detail?: string; ip?: string | null | undefined },
    more?: (tx: EntityManager) => Promise<void>,
  ): Promise<void> {
    const now = this.d.clock.now();
    const held = 'assigneeId' in expect ? {} : this.held(audit.actor, audit.action, row);
    await this.d.db.transaction(async (tx) => {
      const res = await tx.getRepository(HandoffEntity).update({ id: row.id, status: 'open', ...held, ...expect }, { ...set, updatedAt: now });
      if (!res.affected) throw await this.conflict(tx, row, held, conflict);
      await this.d.audit.record({ actor: audit.actor, action: audit.action, target: `handoff:${row.id}`, department: set.department ?? row.department, detail: audit.detail ?? null, ip: audit.ip ?? null }, tx);
      await more?.(tx);
    });
  }

  /**
   * The UPDATE condition that keeps the actor's permission true when it hangs on who holds the
   * conversation: a handler may close (transfer, classify, answer) their own or a waiting
   * conversation, so the change lands only if it is still held as they saw it — not after it was
   * just reassigned. Asked of the policy: no condition when the actor may act whoever holds it.
   */
  private held(actor: Actor, action: InboxAction, row: HandoffRow): { assigneeId?: number | FindOperator<number> } {
    const me = actor.kind === 'staff' ? actor.id : null;
    const anyHolder = [null, me, -1].every((assigneeId) => may(actor, action, { ...row, assigneeId }));
    return anyHolder ? {} : { assigneeId: row.assigneeId ?? IsNull() };
  }

  /** Why a conditional UPDATE changed nothing, in words for the panel. */
  private async conflict(tx: EntityManager, row: HandoffRow, held: { assigneeId?: unknown }, otherwise: string, closed = '会话已经办结'): Promise<InboxError> {
    const now = await tx.getRepository(HandoffEntity).findOne({ where: { id: row.id } });
    if (!now || now.status !== 'open') return new InboxError('conflict', closed);
    if ('assigneeId' in held && now.assigneeId !== row.assigneeId) {
      return new InboxError('conflict', now.assigneeId === null ? '这个会话刚刚退回待领取，请刷新页面后再试' : '这个会话刚刚改由其他同事办理，您不能再这样做；请刷新页面后再试');
    }
    return new InboxError('conflict', otherwise);
  }

  private checkReply(input: ReplyInput): { kind: 'text'; text: string } | { kind: 'link'; text: string; url: string; title: string } | { kind: 'image'; text: string; image: Buffer; mime: string } {
    // Links go through the link kind (checked); anchors typed into the text are dropped.
    const text = withoutAnchors(input.text ?? '').trim();
    if ([...text].length > MAX_TEXT_CHARS) throw new InboxError('invalid', `回复最多 ${MAX_TEXT_CHARS} 字`);
    switch (input.kind) {
      case 'text':
        if (!text) throw new InboxError('invalid', '请填写回复内容');
        return { kind: 'text', text };
      case 'link': {
        const url = input.url.trim();
        const title = input.title.trim();
        if (!/^https?:\/\/[^\s"'<>]+$/i.test(url) || url.length > 1000) throw new InboxError('invalid', '链接须以 http:// 或 https:// 开头，且不含空格和引号');
        if (!title || [...title].length > 64 || /[<>"]/.test(title)) throw new InboxError('invalid', '链接标题须为 1–64 个字，不含 < > "');
        return { kind: 'link', text, url, title };
      }
      case 'image': {
        if (input.image.length === 0) throw new InboxError('invalid', '请选择图片');
        if (input.image.length > MAX_IMAGE_BYTES) throw new InboxError('invalid', `图片不能超过 ${MAX_IMAGE_BYTES / 1024 / 1024} MB`);
        const mime = sniffImage(input.image);
        if (!mime) throw new InboxError('invalid', '只能发送 PNG、JPEG、GIF 或 WebP 图片');
        return { kind: 'image', text, image: input.image, mime };
      }
    }
  }

  /** The customer-service messages that carry a reply inside the window. */
  /** The line signed under a reply of this department's (the profile's inbox.reply_signature). */
  private signature(department: string | null): string {
    const s = this.settings.reply_signature.replaceAll('{department}', this.departmentName(department)).trim();
    return s ? `\n${s}` : '';
  }

  private messagesFor(r: ReturnType<Inbox['checkReply']>, answerUrl: string, imageUrl: string | null, signed: string): CustomMessage[] {
    switch (r.kind) {
      case 'text':
        return splitText(`${r.text}${signed}`, MAX_TEXT_BYTES).map((content) => ({ type: 'text', content }));
      case 'link':
        return splitText(`${r.text ? `${r.text}\n` : ''}<a href="${r.url}">${r.title}</a>${signed}`, MAX_TEXT_BYTES).map((content) => ({ type: 'text', content }));
      case 'image':
        return [
          {
            type: 'news',
            article: { title: '工作人员给您发来一张图片', description: r.text ? [...r.text].slice(0, 100).join('') : '点开查看大图', url: answerUrl, picUrl: imageUrl! },
          },
        ];
    }
  }
}

/**
 * The text without <a …> and </a> tags, removed until none is left: removing one can join the
 * pieces around it into another (`<<a>a href="weixin://…">` becomes `<a href="weixin://…">`).
 */
export function withoutAnchors(text: string): string {
  for (;;) {
    const next = text.replace(/<\/?a\b[^>]*>/gi, '');
    if (next === text) return text;
    text = next;
  }
}

/** Exclusive bounds (epoch ms) on the messages a conversation shows; null: unbounded. */
export interface HistoryWindow {
  after: number | null;
  before: number | null;
}

export function inWindow(at: number, w: HistoryWindow): boolean {
  return (w.after === null || at > w.after) && (w.before === null || at < w.before);
}

const KIND_NAMES = { text: '文字', link: '链接', image: '图片' } as const;

function staffId(a: Actor): number {
  if (a.kind !== 'staff') throw new InboxError('forbidden', '只有工作人员可以这样做');
  return a.id;
}

function refusal(action: InboxAction, row: HandoffRow): string {
  if (row.status === 'closed' && action !== 'view' && action !== 'unmask') return '会话已经办结';
  switch (action) {
    case 'claim':
      return '会话已被领取';
    case 'escalate':
      return row.escalatedAt !== null ? '会话已经在督办中' : '负责人和管理员无需上报';
    case 'assign':
      return '只有值班员、负责人和管理员可以指派';
    default:
      return '这个会话由其他同事办理，您不能这样做';
  }
}
