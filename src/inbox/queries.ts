import type { DataSource, SelectQueryBuilder } from 'typeorm';
import { HandoffEntity, type HandoffRow } from '../chat/handoff.ts';
import { MessageEntity, type MessageRow } from '../chat/log.ts';
import type { Clock } from '../platform/clock.ts';
import { HOUR } from '../platform/clock.ts';
import { JobEntity, type JobRow } from '../platform/jobs.ts';
import type { Accounts, StaffInfo } from '../admin/accounts.ts';
import { departmentsOf, may, views, INBOX_ACTIONS, type InboxAction, type InboxView, type StaffActor } from '../policies/index.ts';
import { urgency, type Urgency } from './due.ts';
import { StaffReplyEntity, type StaffReplyRow } from './entities.ts';
import type { Inbox } from './inbox.ts';

/** A row of the inbox list. */
export interface InboxItem {
  h: HandoffRow;
  assignee: StaffInfo | null;
  escalatedTo: StaffInfo | null;
  urgency: Urgency;
  /** The citizen's latest message (masked by the page) and when. */
  lastIn: { at: number; content: string } | null;
  /** The citizen wrote after the last staff reply (or no reply yet). */
  waitingForUs: boolean;
  /** A staff reply whose delivery failed for good. */
  deliveryFailed: boolean;
}

export type DeliveryState = 'queued' | 'sending' | 'retrying' | 'sent' | 'failed';

/** A staff reply and how its delivery went (the outbox job and the log entry it wrote). */
export interface ReplyDelivery {
  reply: StaffReplyRow;
  author: StaffInfo | null;
  state: DeliveryState;
  /** custom: customer-service message; template: the staff_reply template past the window. */
  channel: 'custom' | 'template' | null;
  attempts: number;
  lastError: string | null;
  sentAt: number | null;
}

export interface Conversation {
  h: HandoffRow;
  assignee: StaffInfo | null;
  escalatedTo: StaffInfo | null;
  urgency: Urgency;
  /** The citizen's conversation from the log, oldest first (content not yet masked); only the stretch Inbox.historyWindow allows. */
  history: MessageRow[];
  replies: ReplyDelivery[];
  /** What the actor may do to it now. */
  can: Record<InboxAction, boolean>;
  /** Colleagues it may be assigned to. */
  colleagues: StaffInfo[];
}

const PAGE = 50;

/** Reading the inbox for the panel: lists by view, one conversation, and what changed (live updates). */
export class InboxReader {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly accounts: Accounts,
    private readonly inbox: Inbox,
  ) {}

  private get nearMs(): number {
    return this.inbox.settings.near_due_hours * HOUR;
  }

  private scoped(actor: StaffActor, q: SelectQueryBuilder<HandoffRow>): SelectQueryBuilder<HandoffRow> {
    const deps = departmentsOf(actor);
    if (deps === null) return q;
    if (deps.length === 0) return q.andWhere('1 = 0');
    return q.andWhere('h.department IN (:...deps)', { deps });
  }

  private viewQuery(actor: StaffActor, view: InboxView): SelectQueryBuilder<HandoffRow> {
    const q = this.scoped(actor, this.db.getRepository(HandoffEntity).createQueryBuilder('h'));
    switch (view) {
      case 'waiting':
        return q.andWhere('h.status = :open AND h.assignee_id IS NULL', { open: 'open' });
      case 'mine':
        return q.andWhere('h.status = :open AND h.assignee_id = :me', { open: 'open', me: actor.id });
      case 'department':
        return q.andWhere('h.status = :open', { open: 'open' });
      case 'escalated':
        return q.andWhere('h.status = :open AND h.escalated_at IS NOT NULL', { open: 'open' });
      case 'all':
        return q;
    }
  }

  /** How many conversations each of the actor's views holds (the tabs' badges). */
  async counts(actor: StaffActor): Promise<Partial<Record<InboxView, number>>> {
    const out: Partial<Record<InboxView, number>> = {};
    for (const v of views(actor)) if (v !== 'all') out[v] = await this.viewQuery(actor, v).getCount();
    return out;
  }

  /** One page of a view: open ones by due time (most urgent first); `all` newest first. */
  async list(actor: StaffActor, view: InboxView, opts: { before?: number } = {}): Promise<{ items: InboxItem[]; more: boolean }> {
    if (!views(actor).includes(view)) return { items: [], more: false };
    const q = this.viewQuery(actor, view);
    if (view === 'all') {
      if (opts.before) q.andWhere('h.id < :before', { before: opts.before });
      q.orderBy('h.id', 'DESC');
    } else {
      q.orderBy('h.escalated_at IS NULL', 'ASC').addOrderBy('h.first_replied_at IS NULL', 'DESC').addOrderBy('h.due_at', 'ASC').addOrderBy('h.id', 'ASC');
    }
    const rows = await q.limit(PAGE + 1).getMany();
    const more = rows.length > PAGE;
    return { items: await this.items(rows.slice(0, PAGE)), more };
  }

  private async items(rows: HandoffRow[]): Promise<InboxItem[]> {
    if (rows.length === 0) return [];
    const now = this.clock.now();
    const people = await this.accounts.names(rows.flatMap((h) => [h.assigneeId, h.escalatedTo].filter((x): x is number => x !== null)));
    // The citizen's latest message per conversation, up to its close: a closed conversation does not
    // preview what the citizen said later (perhaps to another department).
    const ids = rows.map((h) => h.id);
    const lastIds = await this.db
      .getRepository(MessageEntity)
      .createQueryBuilder('m')
      .innerJoin(HandoffEntity.options.name, 'h', 'h.openid = m.openid')
      .select('h.id', 'hid')
      .addSelect('MAX(m.id)', 'id')
      .where('h.id IN (:...ids) AND m.direction = :in AND (h.closed_at IS NULL OR m.created_at <= h.closed_at)', { ids, in: 'in' })
      .groupBy('h.id')
      .getRawMany<{ hid: number | string; id: number | string }>();
    const last = lastIds.length
      ? await this.db
          .getRepository(MessageEntity)
          .createQueryBuilder('m')
          .where('m.id IN (:...ids)', { ids: lastIds.map((r) => Number(r.id)) })
          .getMany()
      : [];
    const byId = new Map(last.map((m) => [m.id, m]));
    const lastBy = new Map(lastIds.map((r) => [Number(r.hid), byId.get(Number(r.id))]));
    const replies = await this.db.getRepository(StaffReplyEntity).createQueryBuilder('r').where('r.handoff_id IN (:...ids)', { ids }).getMany();
    const jobIds = replies.map((r) => r.jobId).filter((x): x is number => x !== null);
    const failedJobs = new Set(
      jobIds.length
        ? (await this.db.getRepository(JobEntity).createQueryBuilder('j').select(['j.id']).where('j.id IN (:...jobIds) AND j.status = :failed', { jobIds, failed: 'failed' }).getMany()).map((j) => j.id)
        : [],
    );
    const lastReplyAt = new Map<number, number>();
    for (const r of replies) lastReplyAt.set(r.handoffId, Math.max(lastReplyAt.get(r.handoffId) ?? 0, r.createdAt));
    return rows.map((h) => {
      const m = lastBy.get(h.id);
      return {
        h,
        assignee: h.assigneeId !== null ? (people.get(h.assigneeId) ?? null) : null,
        escalatedTo: h.escalatedTo !== null ? (people.get(h.escalatedTo) ?? null) : null,
        urgency: urgency(h, now, this.nearMs),
        lastIn: m ? { at: m.createdAt, content: m.content } : null,
        waitingForUs: h.status === 'open' && (!lastReplyAt.has(h.id) || (m !== undefined && m.createdAt > lastReplyAt.get(h.id)!)),
        deliveryFailed: replies.some((r) => r.handoffId === h.id && r.jobId !== null && failedJobs.has(r.jobId)),
      };
    });
  }

  /** One conversation as the actor may see it (the caller has loaded it through Inbox.load). */
  async conversation(actor: StaffActor, h: HandoffRow): Promise<Conversation> {
    const window = await this.inbox.historyWindow(actor, h);
    const q = this.db.getRepository(MessageEntity).createQueryBuilder('m').where('m.openid = :openid', { openid: h.openid });
    if (window.after !== null) q.andWhere('m.created_at > :after', { after: window.after });
    if (window.before !== null) q.andWhere('m.created_at < :before', { before: window.before });
    const [history, replies, people, colleagues] = await Promise.all([
      q.orderBy('m.id', 'DESC').limit(200).getMany(),
      this.inbox.replies(h.id),
      this.accounts.names([h.assigneeId, h.escalatedTo].filter((x): x is number => x !== null)),
      h.department ? this.accounts.list({ department: h.department, active: true }) : Promise.resolve([]),
    ]);
    const can = Object.fromEntries(INBOX_ACTIONS.map((a) => [a, may(actor, a, h)])) as Record<InboxAction, boolean>;
    return {
      h,
      assignee: h.assigneeId !== null ? (people.get(h.assigneeId) ?? null) : null,
      escalatedTo: h.escalatedTo !== null ? (people.get(h.escalatedTo) ?? null) : null,
      urgency: urgency(h, this.clock.now(), this.nearMs),
      history: history.reverse(),
      replies: await this.deliveries(replies),
      can,
      colleagues: colleagues.filter((s) => s.role !== 'admin'),
    };
  }

  private async deliveries(replies: StaffReplyRow[]): Promise<ReplyDelivery[]> {
    if (replies.length === 0) return [];
    const jobIds = replies.map((r) => r.jobId).filter((x): x is number => x !== null);
    const jobs = jobIds.length ? await this.db.getRepository(JobEntity).createQueryBuilder('j').where('j.id IN (:...jobIds)', { jobIds }).getMany() : [];
    const jobBy = new Map<number, JobRow>(jobs.map((j) => [j.id, j]));
    // Outbox writes the log entry under out:job:<id> (or out:job:<id>:<n> for a multi-part text).
    const keys = jobIds.flatMap((id) => [`out:job:${id}`, `out:job:${id}:0`]);
    const sent = keys.length ? await this.db.getRepository(MessageEntity).createQueryBuilder('m').where('m.msg_key IN (:...keys)', { keys }).getMany() : [];
    const sentBy = new Map(sent.map((m) => [Number(/^out:job:(\d+)/.exec(m.msgKey!)![1]), m]));
    const authors = await this.accounts.names(replies.map((r) => r.staffId));
    return replies.map((reply) => {
      const job = reply.jobId !== null ? jobBy.get(reply.jobId) : undefined;
      const log = reply.jobId !== null ? sentBy.get(reply.jobId) : undefined;
      let state: DeliveryState = 'queued';
      if (job?.status === 'done' || log) state = 'sent';
      else if (job?.status === 'failed') state = 'failed';
      else if (job?.status === 'running') state = 'sending';
      else if (job && job.attempts > 0) state = 'retrying';
      return {
        reply,
        author: authors.get(reply.staffId) ?? null,
        state,
        channel: log ? (log.channel === 'template' ? 'template' : 'custom') : null,
        attempts: job?.attempts ?? 0,
        lastError: job?.lastError ?? null,
        sentAt: log?.createdAt ?? null,
      };
    });
  }

  /**
   * A short fingerprint of everything the actor's page shows that can change: it changes when a
   * conversation in their scope changes, a citizen there writes, or a delivery moves. Pages ask for
   * it (server-sent events) and refetch only when it changes. Read from the database, so it holds
   * across instances.
   */
  async pulse(actor: StaffActor, handoffId: number | null): Promise<string> {
    if (handoffId !== null) {
      const h = await this.db.getRepository(HandoffEntity).findOne({ where: { id: handoffId } });
      if (!h || (departmentsOf(actor) !== null && !departmentsOf(actor)!.includes(h.department ?? ''))) return 'gone';
      const msg = await this.db.getRepository(MessageEntity).createQueryBuilder('m').select('MAX(m.id)', 'v').where('m.openid = :o', { o: h.openid }).getRawOne<{ v: number | null }>();
      const job = await this.db
        .getRepository(JobEntity)
        .createQueryBuilder('j')
        .select('MAX(j.updated_at)', 'v')
        .where('j.id IN (SELECT r.job_id FROM staff_replies r WHERE r.handoff_id = :id)', { id: h.id })
        .getRawOne<{ v: number | null }>();
      return `h${h.updatedAt ?? 0}.m${msg?.v ?? 0}.j${job?.v ?? 0}`;
    }
    const q = this.scoped(actor, this.db.getRepository(HandoffEntity).createQueryBuilder('h')).select('MAX(h.updated_at)', 'u').addSelect('COUNT(*)', 'n');
    const hs = await q.getRawOne<{ u: number | null; n: number | string }>();
    const scope = this.scoped(actor, this.db.getRepository(HandoffEntity).createQueryBuilder('h').select('h.openid').where('h.status = :open', { open: 'open' }));
    const [sql, params] = scope.getQueryAndParameters();
    const msg = await this.db.query(`SELECT MAX(id) AS v FROM messages WHERE direction = 'in' AND openid IN (${sql})`, params);
    // Deliveries move without touching their conversation (queued → sent / failed): the list shows
    // a failed one, so the latest change to a reply's job in scope is part of the fingerprint.
    const [jsql, jparams] = this.scoped(actor, this.db.getRepository(HandoffEntity).createQueryBuilder('h').select('h.id')).getQueryAndParameters();
    const job = await this.db.query(`SELECT MAX(j.updated_at) AS v FROM jobs j WHERE j.id IN (SELECT r.job_id FROM staff_replies r WHERE r.handoff_id IN (${jsql}))`, jparams);
    return `h${hs?.u ?? 0}.n${hs?.n ?? 0}.m${(msg as { v: number | null }[])[0]?.v ?? 0}.j${(job as { v: number | string | null }[])[0]?.v ?? 0}`;
  }
}
