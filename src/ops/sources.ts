import type { DataSource } from 'typeorm';
import { HandoffEntity } from '../chat/handoff.ts';
import { MessageEntity } from '../chat/log.ts';
import { StaffReplyEntity } from '../inbox/entities.ts';
import type { Profile } from '../profile/schema.ts';
import { BookingEntity } from '../services/appointments/entities.ts';
import { CaseEntity, CaseEventEntity } from '../services/cases/entities.ts';
import { PageViewEntity } from '../services/catalogue/views.ts';
import { BillEntity } from '../services/bills/entities.ts';
import { RatingEntity } from '../services/ratings/entities.ts';
import { TicketEntity, TicketEventEntity } from '../services/tickets/entities.ts';

/**
 * What the operations figures are made of, read from the records each capability already keeps —
 * the conversation log, bookings, cases, handed-off conversations — never from a second count.
 * Each source is one small reader; a new service (tickets, bills, ratings) plugs in by adding its
 * reader to the lists in capability.ts, and every figure, page and export picks it up.
 */

export interface Period {
  from: number;
  /** Exclusive. */
  to: number;
}

/** How a citizen reached an item: typing in chat (numbers, keywords, search), the custom menu, or a page. */
export type UseChannel = 'chat' | 'menu' | 'page';
export const USE_CHANNELS: UseChannel[] = ['chat', 'menu', 'page'];
export const CHANNEL_NAMES: Record<UseChannel, string> = { chat: '对话', menu: '菜单', page: '页面' };

/** What the use was. */
export type UseAction = 'read' | 'search' | 'book' | 'apply' | 'pay' | 'ticket';
export const ACTION_NAMES: Record<UseAction, string> = { read: '阅读指南/问答', search: '搜索后打开', book: '预约', apply: '申请', pay: '缴费', ticket: '诉求' };

/** One use of one service item (`service:<id>`) or FAQ entry (`faq:<id>`). */
export interface Use {
  item: string;
  at: number;
  channel: UseChannel;
  action: UseAction;
  audience: string | null;
  /** The citizen (for distinct-user counts; never shown). */
  openid: string | null;
}

export interface UseReader {
  readonly name: string;
  uses(p: Period): Promise<Use[]>;
}

/** The two norms of the 2025 rubric: a simple consultation within 24 hours; a first answer to a complex one within 3 working days. */
export type Norm = 'simple' | 'complex';
export const NORM_NAMES: Record<Norm, string> = { simple: '简单咨询（24 小时内）', complex: '复杂事项（3 个工作日内首次答复）' };

/** A request to a human and its first answer. */
export interface HumanRequest {
  source: string;
  /** 会话 / 办件 / 诉求 */
  sourceName: string;
  id: number;
  /** What staff read as the request (masked by the page). */
  title: string;
  department: string | null;
  /** Who gave the first answer (else who holds it). */
  staffId: number | null;
  norm: Norm;
  createdAt: number;
  firstAnsweredAt: number | null;
  /** The source's own deadline for the first answer (a ticket's working-day 办理时限), instead of the norm's. */
  dueAt?: number;
  /** Whether the request is still waiting for anything (an answered but open one is not overdue). */
  open: boolean;
  link: string;
}

export interface RequestReader {
  readonly name: string;
  /** Requests made within the period. */
  requests(p: Period): Promise<HumanRequest[]>;
  /** Requests still without a first answer, whenever made. */
  unanswered(): Promise<HumanRequest[]>;
}

/** One 好差评 result. */
export interface Rating {
  source: string;
  id: number;
  /** The item it was about, if known (`service:<id>`). */
  item: string | null;
  department: string | null;
  staffId: number | null;
  channel: string;
  /** 1 (非常不满意) … 5 (非常满意). */
  level: number;
  at: number;
  comment: string | null;
  /** For a 差评: whether its rectification (整改) is finished; null when the source keeps none. */
  rectified: boolean | null;
  link: string;
}

export interface RatingReader {
  readonly name: string;
  ratings(p: Period): Promise<Rating[]>;
}

/** Where a logged answer came from: `service:passport via menu:guides`, `faq:x via search`, `service:y via nav:3`. */
export function useOfRef(ref: string): { item: string; channel: UseChannel; action: UseAction } | null {
  const m = /^(service|faq):([a-z0-9][a-z0-9_-]*)(?: via (.+))?$/.exec(ref);
  if (!m) return null;
  const via = m[3] ?? '';
  const channel: UseChannel = via.startsWith('menu:') ? 'menu' : 'chat';
  return { item: `${m[1]}:${m[2]}`, channel, action: via === 'search' ? 'search' : 'read' };
}

/**
 * Guides and FAQ answers given in chat: the conversation log's outbound refs. An answer reached
 * through the numbered lists counts for the menu when the citizen had tapped a menu entry within
 * the session before it (the menu opened the list they went on through).
 */
export function conversationUses(db: DataSource, sessionMs: number): UseReader {
  return {
    name: 'conversation',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(MessageEntity)
        .createQueryBuilder('m')
        .leftJoin('Citizen', 'c', 'c.openid = m.openid')
        .select(['m.ref AS ref', 'm.openid AS openid', 'm.created_at AS at', 'c.audience AS audience'])
        .where("m.direction = 'out' AND (m.ref LIKE 'service:%' OR m.ref LIKE 'faq:%') AND m.created_at >= :from AND m.created_at < :to", { from, to })
        .getRawMany<{ ref: string; openid: string; at: number | string; audience: string | null }>();
      const clicks = await db
        .getRepository(MessageEntity)
        .createQueryBuilder('m')
        .select(['m.openid AS openid', 'm.created_at AS at'])
        .where("m.direction = 'in' AND m.kind = 'click' AND m.created_at >= :from AND m.created_at < :to", { from: from - sessionMs, to })
        .getRawMany<{ openid: string; at: number | string }>();
      const tapped = new Map<string, number[]>();
      for (const c of clicks) tapped.set(c.openid, [...(tapped.get(c.openid) ?? []), Number(c.at)]);
      const out: Use[] = [];
      for (const r of rows) {
        const u = useOfRef(r.ref);
        if (!u) continue;
        const at = Number(r.at);
        if (u.channel === 'chat' && / via nav:/.test(r.ref) && (tapped.get(r.openid) ?? []).some((t) => t <= at && at - t <= sessionMs)) u.channel = 'menu';
        out.push({ ...u, at, audience: r.audience ?? null, openid: r.openid });
      }
      return out;
    },
  };
}

/** Guides read on their pages: the pages' own daily counters (no citizen is known there). */
export function pageViewUses(db: DataSource, days: { of(t: number): string; start(day: string): number }): UseReader {
  return {
    name: 'pages',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(PageViewEntity)
        .createQueryBuilder('v')
        .where('v.day >= :a AND v.day <= :b', { a: days.of(from), b: days.of(to - 1) })
        .getMany();
      const out: Use[] = [];
      for (const r of rows) {
        // A day's views count at the later of its start and the period's (a period may begin mid-day).
        const at = Math.max(days.start(r.day), from);
        for (let i = 0; i < r.views; i++) out.push({ item: r.item, at, channel: 'page', action: 'read', audience: null, openid: null });
      }
      return out;
    },
  };
}

/** Bookings (预约), in chat, on a page or by staff for the citizen. */
export function bookingUses(db: DataSource): UseReader {
  return {
    name: 'bookings',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(BookingEntity)
        .createQueryBuilder('b')
        .leftJoin('Citizen', 'c', 'c.openid = b.openid')
        .select(['b.service_id AS service', 'b.openid AS openid', 'b.channel AS channel', 'b.created_at AS at', 'c.audience AS audience'])
        .where('b.created_at >= :from AND b.created_at < :to', { from, to })
        .getRawMany<{ service: string; openid: string; channel: string; at: number | string; audience: string | null }>();
      return rows.map((r) => ({ item: `service:${r.service}`, at: Number(r.at), channel: r.channel === 'chat' ? 'chat' : 'page', action: 'book', audience: r.audience ?? null, openid: r.openid }));
    },
  };
}

/** Applications (网上申请), made on the application pages. */
export function caseUses(db: DataSource): UseReader {
  return {
    name: 'cases',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(CaseEntity)
        .createQueryBuilder('k')
        .leftJoin('Citizen', 'c', 'c.openid = k.openid')
        .select(['k.service_id AS service', 'k.openid AS openid', 'k.submitted_at AS at', 'c.audience AS audience'])
        .where('k.submitted_at >= :from AND k.submitted_at < :to', { from, to })
        .getRawMany<{ service: string; openid: string; at: number | string; audience: string | null }>();
      return rows.map((r) => ({ item: `service:${r.service}`, at: Number(r.at), channel: 'page', action: 'apply', audience: r.audience ?? null, openid: r.openid }));
    },
  };
}

/**
 * Handed-off conversations: the first staff reply is the first answer, by whoever sent it. The
 * norm follows the conversation's category: one due in hours is a simple consultation, one due in
 * working days a complex matter.
 */
export function conversationRequests(db: DataSource, profile: Profile): RequestReader {
  const normOf = (category: string | null): Norm => {
    const c = profile.inbox.categories.find((x) => x.id === (category ?? profile.inbox.default_category));
    return c && 'working_days' in c.due ? 'complex' : 'simple';
  };
  const load = async (where: string, params: Record<string, unknown>): Promise<HumanRequest[]> => {
    const rows = await db.getRepository(HandoffEntity).createQueryBuilder('h').where(where, params).getMany();
    const first = new Map<number, number>();
    if (rows.length) {
      const ids = rows.map((h) => h.id);
      for (let i = 0; i < ids.length; i += 500) {
        const replies = await db
          .getRepository(StaffReplyEntity)
          .createQueryBuilder('r')
          .select(['r.handoff_id AS handoff', 'r.staff_id AS staff', 'r.created_at AS at'])
          .where('r.handoff_id IN (:...ids)', { ids: ids.slice(i, i + 500) })
          .orderBy('r.created_at', 'ASC')
          .getRawMany<{ handoff: number | string; staff: number | string; at: number | string }>();
        for (const r of replies) if (!first.has(Number(r.handoff))) first.set(Number(r.handoff), Number(r.staff));
      }
    }
    return rows.map((h) => ({
      source: 'conversation',
      sourceName: '会话',
      id: h.id,
      title: h.question,
      department: h.department,
      staffId: first.get(h.id) ?? h.assigneeId,
      norm: normOf(h.category),
      createdAt: h.createdAt,
      firstAnsweredAt: h.firstRepliedAt,
      open: h.status === 'open',
      link: `/admin/inbox/${h.id}`,
    }));
  };
  return {
    name: 'conversations',
    requests: ({ from, to }) => load('h.created_at >= :from AND h.created_at < :to', { from, to }),
    unanswered: () => load("h.status = 'open' AND h.first_replied_at IS NULL", {}),
  };
}

/**
 * Applications: the first answer is the first move staff make (受理, 补正, 不予受理 …), a complex
 * matter by the norm; the staff member is who made it.
 */
export function caseRequests(db: DataSource, profile: Profile, staffIdOf: (username: string) => Promise<number | null>): RequestReader {
  const names = new Map(profile.services.map((s) => [s.id, s.name]));
  const load = async (where: string, params: Record<string, unknown>): Promise<HumanRequest[]> => {
    const rows = await db.getRepository(CaseEntity).createQueryBuilder('c').where(where, params).getMany();
    const first = new Map<number, { at: number; actor: string }>();
    const ids = rows.map((c) => c.id);
    for (let i = 0; i < ids.length; i += 500) {
      const events = await db
        .getRepository(CaseEventEntity)
        .createQueryBuilder('e')
        .where("e.case_id IN (:...ids) AND e.actor LIKE 'staff:%'", { ids: ids.slice(i, i + 500) })
        .orderBy('e.created_at', 'ASC')
        .getMany();
      for (const e of events) if (!first.has(e.caseId)) first.set(e.caseId, { at: e.createdAt, actor: e.actor });
    }
    const out: HumanRequest[] = [];
    for (const c of rows) {
      const f = first.get(c.id);
      out.push({
        source: 'case',
        sourceName: '办件',
        id: c.id,
        title: `${c.caseNo} ${names.get(c.serviceId) ?? c.serviceId}`,
        department: c.department,
        staffId: f ? await staffIdOf(f.actor.slice('staff:'.length)) : null,
        norm: 'complex',
        createdAt: c.submittedAt,
        firstAnsweredAt: f?.at ?? null,
        open: c.status !== 'completed' && c.status !== 'refused',
        link: `/admin/cases/${c.id}`,
      });
    }
    return out;
  };
  return {
    name: 'cases',
    requests: ({ from, to }) => load('c.submitted_at >= :from AND c.submitted_at < :to', { from, to }),
    async unanswered() {
      const open = await load("c.status IN ('submitted', 'in_progress', 'correction')", {});
      return open.filter((r) => r.firstAnsweredAt === null);
    },
  };
}

/** The service item a citizen was last reading (within a day) before asking for a person. */
async function itemBeforeHandoff(db: DataSource, handoffId: number): Promise<string | null> {
  const h = await db.getRepository(HandoffEntity).findOneBy({ id: handoffId });
  if (!h) return null;
  const last = await db
    .getRepository(MessageEntity)
    .createQueryBuilder('m')
    .select('m.ref', 'ref')
    .where("m.openid = :openid AND m.direction = 'out' AND m.ref LIKE 'service:%' AND m.created_at <= :at AND m.created_at >= :since", { openid: h.openid, at: h.createdAt, since: h.createdAt - 86_400_000 })
    .orderBy('m.created_at', 'DESC')
    .limit(1)
    .getRawOne<{ ref: string }>();
  return last ? (useOfRef(last.ref)?.item ?? null) : null;
}

/** Finished tickets (no answer is awaited any more). */
const TICKET_DONE = ['completed', 'closed', 'rejected', 'merged'];
/** A staff move that answers the citizen: 答复, or 不予受理 with its reason. */
const TICKET_ANSWERS = ['answered', 'rejected'];

/** Tickets (诉求) filed by citizens through the account — in chat, 随手拍 or a mailbox page — counted by category (`ticket:<category>`). */
export function ticketUses(db: DataSource): UseReader {
  return {
    name: 'tickets',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(TicketEntity)
        .createQueryBuilder('t')
        .leftJoin('Citizen', 'c', 'c.openid = t.openid')
        .select(['t.category AS category', 't.openid AS openid', 't.channel AS channel', 't.filed_at AS at', 'c.audience AS audience'])
        // Open311 reports come from other systems, not through the account; a merged report is still a citizen's use.
        .where("t.channel <> 'open311' AND t.filed_at >= :from AND t.filed_at < :to", { from, to })
        .getRawMany<{ category: string; openid: string | null; channel: string; at: number | string; audience: string | null }>();
      return rows.map((r) => ({ item: `ticket:${r.category}`, at: Number(r.at), channel: r.channel === 'chat' ? 'chat' : 'page', action: 'ticket', audience: r.audience ?? null, openid: r.openid }));
    },
  };
}

/**
 * Payments (缴费) of a case's or a booking's fee, counted for that case's or booking's service item
 * when paid (a department's own bill — a fine — belongs to no item of the catalogue). Paid on the
 * pay page; a bill later refunded was still paid.
 */
export function paymentUses(db: DataSource): UseReader {
  return {
    name: 'payments',
    async uses({ from, to }) {
      const rows = await db
        .getRepository(BillEntity)
        .createQueryBuilder('b')
        .leftJoin('Case', 'k', "b.pays_kind = 'case' AND CAST(k.id AS varchar(64)) = b.pays_ref")
        .leftJoin('Booking', 'p', "b.pays_kind = 'booking' AND CAST(p.id AS varchar(64)) = b.pays_ref")
        .leftJoin('Citizen', 'c', 'c.openid = b.openid')
        .select(['k.service_id AS case_service', 'p.service_id AS booking_service', 'b.openid AS openid', 'b.paid_at AS at', 'c.audience AS audience'])
        .where("b.pays_kind IN ('case', 'booking') AND b.paid_at IS NOT NULL AND b.paid_at >= :from AND b.paid_at < :to", { from, to })
        .getRawMany<{ case_service: string | null; booking_service: string | null; openid: string; at: number | string; audience: string | null }>();
      const out: Use[] = [];
      for (const r of rows) {
        const service = r.case_service ?? r.booking_service;
        if (service) out.push({ item: `service:${service}`, at: Number(r.at), channel: 'page', action: 'pay', audience: r.audience ?? null, openid: r.openid });
      }
      return out;
    },
  };
}

/**
 * Tickets: the first answer is the first 答复 (or 不予受理) staff gave, due by the ticket's own
 * working-day deadline (its kind's 办理时限, moved by an approved 延期); the staff member is who gave it.
 * A report merged into another is answered there and is not a request of its own.
 */
export function ticketRequests(db: DataSource, staffIdOf: (username: string) => Promise<number | null>): RequestReader {
  const load = async (where: string, params: Record<string, unknown>): Promise<HumanRequest[]> => {
    const rows = await db.getRepository(TicketEntity).createQueryBuilder('t').where(`t.status <> 'merged' AND ${where}`, params).getMany();
    const first = new Map<number, { at: number; actor: string }>();
    const ids = rows.map((t) => t.id);
    for (let i = 0; i < ids.length; i += 500) {
      const events = await db
        .getRepository(TicketEventEntity)
        .createQueryBuilder('e')
        .where("e.ticket_id IN (:...ids) AND e.kind IN (:...kinds) AND e.actor LIKE 'staff:%'", { ids: ids.slice(i, i + 500), kinds: TICKET_ANSWERS })
        .orderBy('e.created_at', 'ASC')
        .addOrderBy('e.id', 'ASC')
        .getMany();
      for (const e of events) if (!first.has(e.ticketId)) first.set(e.ticketId, { at: e.createdAt, actor: e.actor });
    }
    const out: HumanRequest[] = [];
    for (const t of rows) {
      const f = first.get(t.id);
      out.push({
        source: 'ticket',
        sourceName: '诉求',
        id: t.id,
        title: `${t.ticketNo} ${t.description.slice(0, 40)}`,
        department: t.department,
        staffId: f ? await staffIdOf(f.actor.slice('staff:'.length)) : null,
        norm: 'complex',
        createdAt: t.filedAt,
        firstAnsweredAt: f?.at ?? t.answeredAt ?? null,
        dueAt: t.dueAt,
        open: !TICKET_DONE.includes(t.status),
        link: `/admin/tickets/${t.id}`,
      });
    }
    return out;
  };
  return {
    name: 'tickets',
    requests: ({ from, to }) => load('t.filed_at >= :from AND t.filed_at < :to', { from, to }),
    async unanswered() {
      const open = await load('t.status NOT IN (:...done) AND t.answered_at IS NULL', { done: TICKET_DONE });
      return open.filter((r) => r.firstAnsweredAt === null);
    },
  };
}

/**
 * 好差评, all from the rating service's table `ratings` (conversations' ratings are recorded there
 * by the inbox too, so there is no second count) with each 差评's 整改 (`rectifications`: finished when
 * a supervisor approved it). The item is the case's or the booking's service, or the ticket's
 * category, or for a conversation what the citizen was reading before asking; the channel is where the rated thing came in. The rater's openid is never read here.
 */
export function serviceRatings(db: DataSource): RatingReader {
  return {
    name: 'ratings',
    async ratings({ from, to }) {
      const rows = await db
        .getRepository(RatingEntity)
        .createQueryBuilder('r')
        .leftJoin('Rectification', 'x', 'x.rating_id = r.id')
        .leftJoin('Ticket', 't', "r.subject = 'ticket' AND CAST(t.id AS varchar(48)) = r.subject_id")
        .leftJoin('Case', 'k', "r.subject = 'case' AND CAST(k.id AS varchar(48)) = r.subject_id")
        .leftJoin('Booking', 'b', "r.subject = 'booking' AND CAST(b.id AS varchar(48)) = r.subject_id")
        .select([
          'r.id AS id',
          'r.subject AS subject',
          'r.subject_id AS subject_id',
          'r.department AS department',
          'r.staff_id AS staff',
          'r.level AS level',
          'r.comment AS comment',
          'r.created_at AS at',
          'x.status AS rectification',
          't.category AS category',
          't.channel AS ticket_channel',
          'k.service_id AS case_service',
          'b.service_id AS booking_service',
          'b.channel AS booking_channel',
          'b.hall_id AS booking_hall',
        ])
        .where('r.created_at >= :from AND r.created_at < :to', { from, to })
        .getRawMany<{
          id: number | string;
          subject: string;
          subject_id: string;
          department: string | null;
          staff: number | string | null;
          level: number | string;
          comment: string | null;
          at: number | string;
          rectification: string | null;
          category: string | null;
          ticket_channel: string | null;
          case_service: string | null;
          booking_service: string | null;
          booking_channel: string | null;
          booking_hall: string | null;
        }>();
      const out: Rating[] = [];
      for (const r of rows) {
        const level = Number(r.level);
        const item = r.category ? `ticket:${r.category}` : r.case_service ? `service:${r.case_service}` : r.booking_service ? `service:${r.booking_service}` : r.subject === 'conversation' ? await itemBeforeHandoff(db, Number(r.subject_id)) : null;
        const channel =
          r.subject === 'conversation' ? 'chat' : r.subject === 'case' ? 'page' : r.subject === 'booking' ? (r.booking_channel === 'chat' ? 'chat' : r.booking_channel === 'staff' ? 'hall' : 'page') : r.ticket_channel === 'chat' ? 'chat' : r.ticket_channel === 'open311' ? 'open311' : r.ticket_channel ? 'page' : 'page';
        const link = r.subject === 'ticket' ? `/admin/tickets/${r.subject_id}` : r.subject === 'case' ? `/admin/cases/${r.subject_id}` : r.subject === 'conversation' ? `/admin/inbox/${r.subject_id}` : r.booking_hall ? `/admin/halls/${r.booking_hall}` : '/admin/halls';
        out.push({
          source: r.subject,
          id: Number(r.subject_id),
          item,
          department: r.department,
          staffId: r.staff === null ? null : Number(r.staff),
          channel,
          level,
          at: Number(r.at),
          comment: r.comment,
          rectified: level <= 2 ? r.rectification === 'approved' : null,
          link,
        });
      }
      return out;
    },
  };
}
