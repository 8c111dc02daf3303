import { createHash, randomInt } from 'node:crypto';
import { In, IsNull, type DataSource, type EntityManager } from 'typeorm';
import type { Alerts } from '../../alerts/index.ts';
import type { Outbox } from '../../chat/outbox.ts';
import { fillTemplate } from '../../chat/templates.ts';
import { sniffImage } from '../../inbox/images.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { nextNumber } from '../../platform/db.ts';
import { PermanentJobError, type JobQueue } from '../../platform/jobs.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';
import type { Logger } from '../../platform/log.ts';
import { maskName, maskText } from '../../platform/pii.ts';
import type { FileStorage } from '../../platform/storage.ts';
import type { ProfileTemplate } from '../../profile/schema.ts';
import type { Wording } from '../../profile/texts.ts';
import type { TicketCategory, TicketKind, TicketsSettings } from '../../profile/tickets.ts';
import type { CustomMessage } from '../../wechat/api/index.ts';
import { TicketCounterEntity, TicketEntity, TicketEventEntity, TicketPhotoEntity, type TicketChannel, type TicketEventKind, type TicketEventRow, type TicketPhotoRow, type TicketRow, type TicketStatus } from './entities.ts';

const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const LOOKUP_TRIES = 10;
const LOOKUP_WINDOW_MS = 3_600_000;
export const MAX_DESCRIPTION = 4000;
const PHONE = /^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$/;

export type TicketFailure = 'invalid' | 'not_found' | 'wrong_state' | 'conflict' | 'too_many';

/** A refusal with a plain Chinese explanation; nothing was written. `fields` names what is wrong. */
export class TicketError extends Error {
  constructor(
    readonly code: TicketFailure,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'TicketError';
  }
}

export interface PhotoUpload {
  fileName: string;
  data: Buffer;
  truncated?: boolean;
}

/** What a report says, from whichever way it came in (chat, 随手拍, mailbox, Open311). */
export interface TicketInput {
  channel: TicketChannel;
  openid: string | null;
  kind?: string | undefined;
  category?: string | undefined;
  mailbox?: string | undefined;
  urgent?: boolean | undefined;
  description: string;
  lat?: number | undefined;
  lng?: number | undefined;
  address?: string | undefined;
  contactName?: string | undefined;
  phone?: string | undefined;
  anonymous?: boolean | undefined;
  publish?: boolean | undefined;
  photos?: PhotoUpload[] | undefined;
  /** Photos sent in chat: their PicUrl. */
  chatPhotos?: string[] | undefined;
  apiKeyId?: number | undefined;
  deviceId?: string | undefined;
  mediaUrl?: string | undefined;
}

export interface TicketsDeps {
  ds: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  jobs: JobQueue;
  outbox: Outbox;
  kv: Kv;
  storage: FileStorage;
  alerts: Alerts;
  settings: TicketsSettings;
  templates: Record<string, ProfileTemplate>;
  publicUrl: string;
  log: Logger;
  /** The profile's department ids. */
  departments: string[];
  departmentName(id: string | null): string;
  wording?: Wording;
  /** After 办结 and a solved 回访: the rating question (好差评), as tappable choices. */
  ratingMenu?: (t: TicketRow) => CustomMessage | null;
}

/** Moves the reporter is told of, in order, once each. */
const PUSH_KINDS = new Set<TicketEventKind>(['filed', 'accepted', 'rejected', 'dispatched', 'handling', 'answered', 'extension_approved', 'completed', 'visit_asked', 'reopened', 'merged', 'solved']);
const OPEN: TicketStatus[] = ['submitted', 'accepted', 'dispatched', 'handling', 'replied'];

export const STATUS_NAMES: Record<TicketStatus, string> = {
  submitted: '待受理',
  accepted: '已受理',
  dispatched: '已派单',
  handling: '办理中',
  replied: '已答复',
  completed: '已办结',
  closed: '已结案',
  rejected: '不予受理',
  merged: '已合并',
};

/** Metres between two points (haversine). */
export function distanceMeters(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const r = 6_371_000;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

/**
 * Tickets (工单), the 12345 loop as one command per move: file (chat, 随手拍, mailbox, Open311) →
 * 受理 / 不予受理 → 派单 (协办) → 退单 → 办理 → 答复 → 延期 (asked, approved) → 督办 when overdue → 办结 →
 * 回访 (未解决 reopens) → 评价. Every move is a timeline entry, pushed to the reporter(s) in order
 * and once; deadlines are working days on the holiday calendar.
 */
export class Tickets {
  static readonly PUSH = 'tickets.push';
  static readonly OVERDUE = 'tickets.overdue';
  readonly kinds: Map<string, TicketKind>;
  readonly categories: Map<string, TicketCategory>;

  constructor(private readonly d: TicketsDeps) {
    this.kinds = new Map(d.settings.kinds.map((k) => [k.id, k]));
    this.categories = new Map(d.settings.categories.map((c) => [c.id, c]));
    d.jobs.define<{ ticketId: number }>(Tickets.PUSH, { maxAttempts: 8, run: (p) => this.pushPending(p.ticketId) });
    d.jobs.define<{ ticketId: number; dueAt: number }>(Tickets.OVERDUE, { maxAttempts: 5, run: (p) => this.checkOverdue(p.ticketId, p.dueAt) });
  }

  get settings(): TicketsSettings {
    return this.d.settings;
  }

  kindName(id: string): string {
    return this.kinds.get(id)?.name ?? id;
  }

  categoryName(id: string): string {
    return this.categories.get(id)?.name ?? (id ? id : '未分类');
  }

  mailboxName(id: string | null): string | null {
    return id ? (this.d.settings.mailboxes.find((m) => m.id === id)?.name ?? id) : null;
  }

  departmentName(id: string | null): string {
    return this.d.departmentName(id);
  }

  /** The nearest area of the profile to a point (routing by district or street). */
  nearestArea(lat: number, lng: number): string | null {
    let best: { id: string; m: number } | null = null;
    for (const a of this.d.settings.areas) {
      const m = distanceMeters({ lat, lng }, a);
      if (!best || m < best.m) best = { id: a.id, m };
    }
    return best?.id ?? null;
  }

  /** Guess a category from the citizen's words (its name or keywords in them). */
  guessCategory(text: string): string | null {
    for (const c of this.d.settings.categories) if (text.includes(c.name) || c.keywords.some((k) => text.includes(k))) return c.id;
    return null;
  }

  // ---- filing ------------------------------------------------------------------------------------

  /** Check a report; throws TicketError('invalid') naming every wrong field, having written nothing. */
  private check(input: TicketInput): { kind: TicketKind; category: TicketCategory | null; department: string; area: string | null; photos: { upload: PhotoUpload; mime: string }[] } {
    const s = this.d.settings;
    const errors: Record<string, string> = {};
    const mailbox = input.mailbox ? s.mailboxes.find((m) => m.id === input.mailbox) : undefined;
    if (input.mailbox && !mailbox) errors.mailbox = '没有这个信箱，请重新选择';
    const category = input.category ? this.categories.get(input.category) : undefined;
    if (input.category && !category) errors.category = '请从列表里选择问题类别';
    if (!input.category && !mailbox) errors.category = '请选择问题类别';
    const kindId = input.kind || category?.kind || s.kinds[0]!.id;
    const kind = this.kinds.get(kindId);
    if (!kind) errors.kind = '请选择诉求类型';
    const description = input.description.trim();
    if (description.length < 4) errors.description = '请写几句话说明情况（至少 4 个字）';
    else if ([...description].length > MAX_DESCRIPTION) errors.description = `内容太长了，请精简到 ${MAX_DESCRIPTION} 字以内`;
    const hasLat = input.lat !== undefined;
    const hasLng = input.lng !== undefined;
    if (hasLat !== hasLng || (hasLat && (!Number.isFinite(input.lat) || !Number.isFinite(input.lng) || Math.abs(input.lat!) > 90 || Math.abs(input.lng!) > 180))) errors.location = '位置不完整，请重新选择位置';
    else if (hasLat && s.bounds && (input.lat! < s.bounds.south || input.lat! > s.bounds.north || input.lng! < s.bounds.west || input.lng! > s.bounds.east)) errors.location = '这个位置不在本区范围内，请移动地图上的标记到问题所在的地方';
    if (input.address && [...input.address].length > 200) errors.address = '地址太长了';
    const phone = input.phone?.replace(/[\s-]/g, (c) => (c === '-' ? '-' : '')) ?? '';
    if (phone && !PHONE.test(phone) && input.channel !== 'open311') errors.phone = '请填写正确的手机号或座机号（如 13812345678）';
    if (input.contactName && [...input.contactName].length > 40) errors.contactName = '姓名太长了';
    // Chat reporters are reachable in WeChat; a page or mailbox report of a kind that may not be anonymous needs a phone.
    if (kind && !kind.anonymous && !phone && (input.channel === 'snap' || input.channel === 'mailbox')) errors.phone = `${kind.name}需要留一个联系电话，方便核实和回复`;
    const photos: { upload: PhotoUpload; mime: string }[] = [];
    const uploads = input.photos ?? [];
    if (uploads.length + (input.chatPhotos?.length ?? 0) > s.max_photos) errors.photos = `照片最多 ${s.max_photos} 张`;
    for (const u of uploads) {
      const mime = sniffImage(u.data);
      if (u.truncated || u.data.length > s.max_photo_kb * 1024) errors.photos = `每张照片不超过 ${s.max_photo_kb >= 1024 ? `${Math.round(s.max_photo_kb / 1024)} MB` : `${s.max_photo_kb} KB`}`;
      else if (mime !== 'image/jpeg' && mime !== 'image/png') errors.photos = '只能上传照片（JPG 或 PNG），这个文件不是照片';
      else photos.push({ upload: u, mime });
    }
    if (Object.keys(errors).length) throw new TicketError('invalid', '有几项需要改一下，请看标红的地方。', errors);
    const area = hasLat ? this.nearestArea(input.lat!, input.lng!) : null;
    const department = mailbox?.department ?? (area && category?.by_area[area]) ?? category!.department;
    return { kind: kind!, category: category ?? null, department, area, photos };
  }

  /**
   * File a report. Photos are stored first; then the ticket, its number and query code, its photos,
   * its first timeline entry, the push to the reporter, the deadline check and (urgent) the alert
   * to the department's supervisors are one transaction — or nothing is (and the photos are removed).
   */
  async file(input: TicketInput): Promise<TicketRow> {
    const c = this.check(input);
    const stored: { key: string; mime: string; size: number }[] = [];
    try {
      for (const p of c.photos) stored.push({ key: await this.d.storage.put(p.upload.data), mime: p.mime, size: p.upload.data.length });
      return await this.d.ds.transaction(async (tx) => {
        const now = this.d.clock.now();
        const row: Omit<TicketRow, 'id'> = {
          ticketNo: await this.nextNo(tx, now),
          queryCode: Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join(''),
          openid: input.openid,
          channel: input.channel,
          kind: c.kind.id,
          category: c.category?.id ?? '',
          mailbox: input.mailbox ?? null,
          urgent: input.urgent ?? false,
          anonymous: input.anonymous ?? (!input.contactName && !input.phone),
          department: c.department,
          coDepartments: '[]',
          status: 'submitted',
          description: input.description.trim(),
          lat: input.lat ?? null,
          lng: input.lng ?? null,
          address: input.address?.trim() || null,
          area: c.area,
          contactName: input.contactName?.trim() || null,
          phone: input.phone?.replace(/\s/g, '') || null,
          publish: input.publish ?? false,
          answer: null,
          answeredAt: null,
          filedAt: now,
          dueAt: this.d.calendar.workingDaysDeadline(now, c.kind.due_working_days),
          completedAt: null,
          escalatedAt: null,
          visitResult: null,
          visitedAt: null,
          mergedInto: null,
          apiKeyId: input.apiKeyId ?? null,
          deviceId: input.deviceId ?? null,
          mediaUrl: input.mediaUrl ?? null,
          updatedAt: now,
        };
        const res = await tx.createQueryBuilder().insert().into(TicketEntity).values(row).execute();
        const t: TicketRow = { ...row, id: res.identifiers[0]!.id as number };
        const photos = [
          ...stored.map((s) => ({ ticketId: t.id, source: 'upload' as const, url: null, storageKey: s.key, mime: s.mime, size: s.size, createdAt: now })),
          ...(input.chatPhotos ?? []).map((u) => ({ ticketId: t.id, source: 'wechat' as const, url: u.slice(0, 1000), storageKey: null, mime: null, size: null, createdAt: now })),
        ];
        if (photos.length) await tx.createQueryBuilder().insert().into(TicketPhotoEntity).values(photos).execute();
        // A chat report is answered with its number in the reply itself: nothing more to push.
        await this.event(tx, t, 'filed', input.channel === 'open311' ? `api:${input.apiKeyId ?? 0}` : 'citizen', null, null, null, input.channel === 'chat');
        await this.scheduleOverdue(tx, t);
        if (t.urgent) {
          await this.d.alerts.raise({ kind: 'urgent-ticket', department: t.department, to: 'supervisors', title: `紧急工单 ${t.ticketNo}：${this.categoryName(t.category)} · ${[...maskText(t.description)].slice(0, 40).join('')}`, link: `/admin/tickets/${t.id}`, urgent: true }, tx);
        }
        return t;
      });
    } catch (err) {
      for (const s of stored) await this.d.storage.delete(s.key).catch(() => undefined);
      throw err;
    }
  }

  /** GD20261124-0007: a counter per (China-time) day. */
  private async nextNo(tx: EntityManager, now: number): Promise<string> {
    const p = this.d.calendar.localParts(now);
    const day = `${p.year}${String(p.month).padStart(2, '0')}${String(p.day).padStart(2, '0')}`;
    return `GD${day}-${String(await nextNumber(tx, TicketCounterEntity, { day })).padStart(4, '0')}`;
  }

  // ---- the moves -----------------------------------------------------------------------------------

  private async move(id: number, expect: TicketStatus[], actor: string, fn: (t: TicketRow, tx: EntityManager, now: number) => Promise<{ set: Partial<TicketRow>; event: TicketEventKind; note: string | null; department?: string | null; days?: number | null }>): Promise<TicketRow> {
    return this.d.ds.transaction(async (tx) => {
      const t = Number.isSafeInteger(id) ? await tx.getRepository(TicketEntity).findOneBy({ id }) : null;
      if (!t) throw new TicketError('not_found', '没有找到这个工单。');
      if (!expect.includes(t.status)) throw new TicketError('wrong_state', `工单现在是「${STATUS_NAMES[t.status]}」，不能这样操作。`);
      const now = this.d.clock.now();
      const out = await fn(t, tx, now);
      const res = await tx.getRepository(TicketEntity).update({ id, status: t.status, updatedAt: t.updatedAt }, { ...out.set, updatedAt: now });
      if (res.affected !== 1) throw new TicketError('conflict', '工单刚被其他同事改动，请刷新后再试。');
      const next = { ...t, ...out.set, updatedAt: now };
      await this.event(tx, next, out.event, actor, out.note, out.department ?? null, out.days ?? null);
      return next;
    });
  }

  private static note(s: string | null | undefined, what: string, min = 2): string {
    const v = (s ?? '').trim();
    if ([...v].length < min) throw new TicketError('invalid', `请写明${what}。`, { note: `请写明${what}` });
    if ([...v].length > 2000) throw new TicketError('invalid', `${what}太长了（最多 2000 字）。`, { note: '太长了' });
    return v;
  }

  /** 受理. */
  async accept(id: number, actor: string, note?: string | null): Promise<TicketRow> {
    return this.move(id, ['submitted'], actor, async () => ({ set: { status: 'accepted' }, event: 'accepted', note: note?.trim() || null }));
  }

  /** 不予受理, with the reason the citizen is told. */
  async reject(id: number, actor: string, reason: string): Promise<TicketRow> {
    const why = Tickets.note(reason, '不予受理的理由', 4);
    return this.move(id, ['submitted'], actor, async (_t, tx) => {
      await this.cancelOverdue(tx, id);
      return { set: { status: 'rejected', completedAt: this.d.clock.now() }, event: 'rejected', note: why };
    });
  }

  /** 派单 to a department, with others helping (协办). */
  async dispatch(id: number, actor: string, department: string, co: string[] = [], note?: string | null): Promise<TicketRow> {
    const known = (d: string) => this.d.departments.includes(d);
    if (!known(department)) throw new TicketError('invalid', '请选择承办部门。', { department: '请选择承办部门' });
    const helpers = [...new Set(co.filter((d) => d && d !== department))];
    if (helpers.some((d) => !known(d))) throw new TicketError('invalid', '协办部门不对，请重新选择。', { co: '请从列表里选择' });
    return this.move(id, ['accepted'], actor, async () => ({
      set: { status: 'dispatched', department, coDepartments: JSON.stringify(helpers) },
      event: 'dispatched',
      note: note?.trim() || null,
      department,
    }));
  }

  /** 退单: the department sends it back to the dispatcher, saying why. */
  async giveBack(id: number, actor: string, reason: string): Promise<TicketRow> {
    const why = Tickets.note(reason, '退单理由', 4);
    return this.move(id, ['dispatched'], actor, async (t, tx) => {
      // The dispatch desk hears at once that it has a ticket to send elsewhere.
      await this.d.alerts.raise({ kind: 'ticket-returned', department: this.d.settings.dispatch_department, to: 'duty', title: `退单：工单 ${t.ticketNo}（${this.departmentName(t.department)}）`, link: `/admin/tickets/${t.id}` }, tx);
      return { set: { status: 'accepted', coDepartments: '[]' }, event: 'returned', note: why, department: t.department };
    });
  }

  /** 办理: the department has started on it. */
  async startHandling(id: number, actor: string, note?: string | null): Promise<TicketRow> {
    return this.move(id, ['dispatched'], actor, async () => ({ set: { status: 'handling' }, event: 'handling', note: note?.trim() || null }));
  }

  /** 答复: the answer, pushed to the reporter (and everyone whose report was merged into this one). */
  async answer(id: number, actor: string, text: string): Promise<TicketRow> {
    const a = Tickets.note(text, '答复内容', 4);
    return this.move(id, ['dispatched', 'handling', 'replied'], actor, async (_t, _tx, now) => ({ set: { status: 'replied', answer: a, answeredAt: now }, event: 'answered', note: a }));
  }

  /** 延期 asked by the department: the dispatcher or a supervisor approves it. */
  async requestExtension(id: number, actor: string, days: number, reason: string): Promise<TicketRow> {
    if (!Number.isInteger(days) || days < 1 || days > 30) throw new TicketError('invalid', '延期天数应为 1 到 30 个工作日。', { days: '1 到 30 个工作日' });
    const why = Tickets.note(reason, '延期理由', 4);
    return this.d.ds.transaction(async (tx) => {
      const t = await this.open(tx, id);
      if (await this.pendingExtension(tx, id)) throw new TicketError('conflict', '已经有一个延期申请在等待审批。');
      await this.event(tx, t, 'extension_requested', actor, why, null, days);
      await this.d.alerts.raise({ kind: 'ticket-extension', department: this.d.settings.dispatch_department, to: 'supervisors', title: `延期申请：工单 ${t.ticketNo} 申请延期 ${days} 个工作日`, link: `/admin/tickets/${t.id}` }, tx);
      return t;
    });
  }

  /** The 延期 waiting for approval (asked after the last decision), if any. */
  async pendingExtension(m: EntityManager | DataSource, id: number): Promise<TicketEventRow | null> {
    const rows = await m.getRepository(TicketEventEntity).find({ where: { ticketId: id, kind: In(['extension_requested', 'extension_approved', 'extension_refused']) }, order: { id: 'DESC' }, take: 1 });
    return rows[0]?.kind === 'extension_requested' ? rows[0] : null;
  }

  /** Approve or refuse the pending 延期; approved moves the due time by its working days (and the 督办 check with it). */
  async decideExtension(id: number, actor: string, approve: boolean, note?: string | null): Promise<TicketRow> {
    return this.d.ds.transaction(async (tx) => {
      const t = await this.open(tx, id);
      const asked = await this.pendingExtension(tx, id);
      if (!asked) throw new TicketError('wrong_state', '没有等待审批的延期申请。');
      if (!approve) {
        await this.event(tx, t, 'extension_refused', actor, note?.trim() || null);
        return t;
      }
      const dueAt = this.d.calendar.workingDaysDeadline(t.dueAt, asked.days ?? 1);
      const now = this.d.clock.now();
      const res = await tx.getRepository(TicketEntity).update({ id, updatedAt: t.updatedAt }, { dueAt, escalatedAt: null, updatedAt: now });
      if (res.affected !== 1) throw new TicketError('conflict', '工单刚被其他同事改动，请刷新后再试。');
      const next = { ...t, dueAt, escalatedAt: null, updatedAt: now };
      await this.cancelOverdue(tx, id);
      await this.scheduleOverdue(tx, next);
      await this.event(tx, next, 'extension_approved', actor, note?.trim() || null, null, asked.days);
      return next;
    });
  }

  private async open(tx: EntityManager, id: number): Promise<TicketRow> {
    const t = Number.isSafeInteger(id) ? await tx.getRepository(TicketEntity).findOneBy({ id }) : null;
    if (!t) throw new TicketError('not_found', '没有找到这个工单。');
    if (!OPEN.includes(t.status)) throw new TicketError('wrong_state', `工单现在是「${STATUS_NAMES[t.status]}」，不能这样操作。`);
    return t;
  }

  /** 办结 (after an answer): the reporter is asked whether the problem is solved (回访). */
  async complete(id: number, actor: string, note?: string | null): Promise<TicketRow> {
    return this.d.ds.transaction(async (tx) => {
      const t = await this.open(tx, id);
      if (t.status !== 'replied') throw new TicketError('wrong_state', '请先答复市民，再办结。');
      const now = this.d.clock.now();
      const res = await tx.getRepository(TicketEntity).update({ id, status: 'replied', updatedAt: t.updatedAt }, { status: 'completed', completedAt: now, updatedAt: now });
      if (res.affected !== 1) throw new TicketError('conflict', '工单刚被其他同事改动，请刷新后再试。');
      const next: TicketRow = { ...t, status: 'completed', completedAt: now, updatedAt: now };
      await this.cancelOverdue(tx, id);
      await this.event(tx, next, 'completed', actor, note?.trim() || null);
      if (next.openid) await this.event(tx, next, 'visit_asked', 'system', null);
      return next;
    });
  }

  /**
   * 回访: the reporter (a tap, or the dispatcher on the phone) says whether it is solved. Solved
   * closes it (and the rating is asked); unsolved reopens it to the same department, with a new
   * deadline of its kind.
   */
  async visit(id: number, actor: string, solved: boolean, note?: string | null, openid?: string): Promise<TicketRow> {
    return this.d.ds.transaction(async (tx) => {
      const t = Number.isSafeInteger(id) ? await tx.getRepository(TicketEntity).findOneBy(openid ? { id, openid } : { id }) : null;
      if (!t) throw new TicketError('not_found', '没有找到这个工单。');
      if (t.status !== 'completed') throw new TicketError('wrong_state', t.visitResult ? '这个工单已经回访过了，感谢您的反馈。' : `工单现在是「${STATUS_NAMES[t.status]}」，还不能回访。`);
      const now = this.d.clock.now();
      const set: Partial<TicketRow> = solved
        ? { status: 'closed', visitResult: 'solved', visitedAt: now }
        : { status: 'dispatched', visitResult: 'unsolved', visitedAt: now, completedAt: null, answer: t.answer, dueAt: this.d.calendar.workingDaysDeadline(now, this.kinds.get(t.kind)?.due_working_days ?? 10), escalatedAt: null };
      const res = await tx.getRepository(TicketEntity).update({ id, status: 'completed', updatedAt: t.updatedAt }, { ...set, updatedAt: now });
      if (res.affected !== 1) throw new TicketError('conflict', '这个工单已经回访过了。');
      const next = { ...t, ...set, updatedAt: now };
      await this.event(tx, next, solved ? 'solved' : 'reopened', actor, note?.trim() || null, solved ? null : t.department);
      if (!solved) await this.scheduleOverdue(tx, next);
      return next;
    });
  }

  /**
   * Merge a duplicate into the report it repeats (same category): it stops moving on its own, and
   * its reporter hears every later move of the other one.
   */
  async merge(id: number, intoId: number, actor: string): Promise<TicketRow> {
    if (id === intoId) throw new TicketError('invalid', '不能合并到自己。');
    return this.d.ds.transaction(async (tx) => {
      const t = await this.open(tx, id);
      const into = await this.open(tx, intoId).catch(() => {
        throw new TicketError('invalid', '要合并到的工单不存在或已经结束。');
      });
      if (into.category !== t.category) throw new TicketError('invalid', '只能合并同一类别的问题。');
      if (into.mergedInto !== null) throw new TicketError('invalid', '要合并到的工单本身已被合并。');
      const now = this.d.clock.now();
      const res = await tx.getRepository(TicketEntity).update({ id, updatedAt: t.updatedAt }, { status: 'merged', mergedInto: into.id, updatedAt: now });
      if (res.affected !== 1) throw new TicketError('conflict', '工单刚被其他同事改动，请刷新后再试。');
      // Reports merged into this one follow it to the other as well.
      await tx.getRepository(TicketEntity).update({ mergedInto: id }, { mergedInto: into.id });
      await this.cancelOverdue(tx, id);
      const next = { ...t, status: 'merged' as const, mergedInto: into.id, updatedAt: now };
      await this.event(tx, next, 'merged', actor, into.ticketNo);
      await this.event(tx, into, 'note', actor, `合并了同一问题的工单 ${t.ticketNo}`);
      return next;
    });
  }

  /** Open reports of the same category, close by and filed not long before or after: merge candidates. */
  async duplicatesOf(t: TicketRow): Promise<TicketRow[]> {
    if (t.lat === null || t.lng === null || !t.category) return [];
    const span = this.d.settings.duplicates.hours * 3_600_000;
    const rows = await this.d.ds
      .getRepository(TicketEntity)
      .createQueryBuilder('t')
      .where('t.category = :c AND t.id <> :id AND t.filed_at BETWEEN :a AND :b AND t.status IN (:...st) AND t.lat IS NOT NULL', { c: t.category, id: t.id, a: t.filedAt - span, b: t.filedAt + span, st: OPEN })
      .getMany();
    return rows.filter((r) => distanceMeters({ lat: r.lat!, lng: r.lng! }, { lat: t.lat!, lng: t.lng! }) <= this.d.settings.duplicates.meters);
  }

  // ---- reading -------------------------------------------------------------------------------------

  async get(id: number): Promise<TicketRow | null> {
    return Number.isSafeInteger(id) ? this.d.ds.getRepository(TicketEntity).findOneBy({ id }) : null;
  }

  /** The reporter's own ticket; another's reads as "not found". */
  async own(openid: string, id: number): Promise<TicketRow | null> {
    return Number.isSafeInteger(id) ? this.d.ds.getRepository(TicketEntity).findOneBy({ id, openid }) : null;
  }

  async mine(openid: string): Promise<TicketRow[]> {
    return this.d.ds.getRepository(TicketEntity).find({ where: { openid }, order: { filedAt: 'DESC' }, take: 100 });
  }

  async timeline(id: number): Promise<TicketEventRow[]> {
    return this.d.ds.getRepository(TicketEventEntity).find({ where: { ticketId: id }, order: { id: 'ASC' } });
  }

  async photos(id: number): Promise<TicketPhotoRow[]> {
    return this.d.ds.getRepository(TicketPhotoEntity).find({ where: { ticketId: id }, order: { id: 'ASC' } });
  }

  async photo(ticketId: number, photoId: number): Promise<{ row: TicketPhotoRow; data: Buffer } | null> {
    const row = await this.d.ds.getRepository(TicketPhotoEntity).findOneBy({ id: photoId, ticketId });
    if (!row?.storageKey) return null;
    return { row, data: await this.d.storage.get(row.storageKey) };
  }

  /** By number and query code (or the reporter's own); wrong tries are limited per caller. */
  async lookup(no: string, code: string, callers: string[], openid?: string | null): Promise<TicketRow | null> {
    const keys = [...new Set(callers)].map((c) => `ticket-lookup:${c}`);
    const counts = await Promise.all(keys.map((k) => this.d.kv.incr(k, 1, LOOKUP_WINDOW_MS)));
    if (counts.some((n) => n > LOOKUP_TRIES)) {
      await Promise.all(keys.map((k) => this.d.kv.giveBack(k)));
      throw new TicketError('too_many', '查询码输错的次数太多了，请过一小时再查。');
    }
    const n = no.trim().toUpperCase();
    const t = /^GD\d{8}-\d{4}$/.test(n) ? await this.d.ds.getRepository(TicketEntity).findOneBy({ ticketNo: n }) : null;
    const ok = t && ((openid && t.openid === openid) || code.trim().toUpperCase() === t.queryCode);
    if (ok) await Promise.all(keys.map((k) => this.d.kv.giveBack(k)));
    return ok ? t : null;
  }

  /** Tickets for the staff panel, soonest due first. */
  async list(filter: { departments: string[] | null; statuses?: TicketStatus[]; escalated?: boolean; urgent?: boolean; limit?: number }): Promise<TicketRow[]> {
    const qb = this.d.ds.getRepository(TicketEntity).createQueryBuilder('t');
    if (filter.departments) {
      if (!filter.departments.length) return [];
      // A department sees what it handles and what it helps with (协办).
      qb.where(`(t.department IN (:...deps) OR ${filter.departments.map((_, i) => `t.co_departments LIKE :co${i}`).join(' OR ')})`, {
        deps: filter.departments,
        ...Object.fromEntries(filter.departments.map((d, i) => [`co${i}`, `%"${d}"%`])),
      });
    }
    if (filter.statuses?.length) qb.andWhere('t.status IN (:...st)', { st: filter.statuses });
    if (filter.escalated) qb.andWhere('t.escalated_at IS NOT NULL');
    if (filter.urgent) qb.andWhere('t.urgent = :u', { u: true });
    // Urgent first, then soonest due.
    qb.orderBy('t.urgent', 'DESC').addOrderBy('t.due_at', 'ASC').addOrderBy('t.id', 'ASC').take(filter.limit ?? 500);
    return qb.getMany();
  }

  /** Letters of a mailbox whose writers agreed to publication, answered, newest first. */
  async publicLetters(o: { mailbox?: string | undefined; limit?: number } = {}): Promise<TicketRow[]> {
    const qb = this.d.ds
      .getRepository(TicketEntity)
      .createQueryBuilder('t')
      .where('t.mailbox IS NOT NULL AND t.publish = :p AND t.answered_at IS NOT NULL', { p: true })
      .andWhere('t.status IN (:...st)', { st: ['replied', 'completed', 'closed'] });
    if (o.mailbox) qb.andWhere('t.mailbox = :m', { m: o.mailbox });
    return qb.orderBy('t.filed_at', 'DESC').take(o.limit ?? 50).getMany();
  }

  coDepartments(t: TicketRow): string[] {
    try {
      return JSON.parse(t.coDepartments) as string[];
    } catch {
      return [];
    }
  }

  /**
   * Text about a ticket as anyone but an audited reveal sees it: the reporter's own name (which
   * pattern matching cannot know) masked wherever it appears, then every phone, ID number, address
   * and the like.
   */
  masked(s: string | null, t?: Pick<TicketRow, 'contactName'>): string {
    if (!s) return '';
    const name = t?.contactName?.trim();
    const named = name && [...name].length >= 2 ? s.split(name).join(maskName(name)) : s;
    return maskText(named);
  }

  // ---- timeline, pushes, deadlines -------------------------------------------------------------

  private async event(tx: EntityManager, t: TicketRow, kind: TicketEventKind, actor: string, note: string | null, department: string | null = null, days: number | null = null, told = false): Promise<void> {
    const now = this.d.clock.now();
    await tx.createQueryBuilder().insert().into(TicketEventEntity).values({ ticketId: t.id, kind, note, actor, department, days, createdAt: now, pushedAt: told ? now : null }).execute();
    if (PUSH_KINDS.has(kind) && !told) await this.d.jobs.enqueue(Tickets.PUSH, { ticketId: t.id }, { manager: tx });
  }

  /** Who hears a ticket's moves: its reporter and the reporters of the reports merged into it. */
  private async recipients(t: TicketRow): Promise<string[]> {
    const merged = await this.d.ds.getRepository(TicketEntity).find({ where: { mergedInto: t.id }, select: { openid: true } });
    return [...new Set([t.openid, ...merged.map((m) => m.openid)].filter((o): o is string => !!o))];
  }

  /**
   * Tell every move not yet told, oldest first, under a per-ticket lock: in order, each once. The
   * reports merged into this one are told first (their 合并 notice comes before this one's news).
   */
  private async pushPending(ticketId: number): Promise<void> {
    const merged = await this.d.ds.getRepository(TicketEntity).find({ where: { mergedInto: ticketId }, select: { id: true } });
    for (const m of merged) if ((await this.d.ds.getRepository(TicketEventEntity).countBy({ ticketId: m.id, pushedAt: IsNull() })) > 0) await this.pushOwn(m.id);
    await this.pushOwn(ticketId);
  }

  private async pushOwn(ticketId: number): Promise<void> {
    const lock = await tryLock(this.d.kv, `ticket-push:${ticketId}`, 60_000);
    if (!lock) throw new Error('another instance is pushing this ticket; retry');
    try {
      const t = await this.get(ticketId);
      if (!t) return;
      const pending = await this.d.ds.getRepository(TicketEventEntity).find({ where: { ticketId, pushedAt: IsNull() }, order: { id: 'ASC' } });
      const to = await this.recipients(t);
      for (const e of pending) {
        if (PUSH_KINDS.has(e.kind)) {
          for (const openid of e.kind === 'filed' || e.kind === 'merged' ? (t.openid ? [t.openid] : []) : to) {
            try {
              await this.d.outbox.deliverNow(this.pushFor(t, e, openid), `ticket-event:${e.id}:${createHash('sha256').update(openid).digest('hex').slice(0, 12)}`);
            } catch (err) {
              // One that can never go (unfollowed; the window closed before a second message) must
              // not hold back the moves after it: it stays in the log as not delivered.
              if (!(err instanceof PermanentJobError)) throw err;
              this.d.log.warn({ ticket: t.id, event: e.id, reason: err.message }, 'a ticket push could not be delivered');
            }
          }
        }
        await this.d.ds.getRepository(TicketEventEntity).update({ id: e.id }, { pushedAt: this.d.clock.now() });
      }
    } finally {
      await lock.release();
    }
  }

  page(t: TicketRow): string {
    return `${this.d.publicUrl}/h5/tickets/${t.id}`;
  }

  day(t: number): string {
    const p = this.d.calendar.localParts(t);
    return `${p.year}年${p.month}月${p.day}日`;
  }

  /** The tappable 回访 question: solved / not solved. */
  visitMenu(t: TicketRow): CustomMessage {
    return { type: 'msgmenu', headContent: `您反映的问题（${t.ticketNo}）已办结。问题解决了吗？`, list: [{ id: `tkv-${t.id}-1`, content: '已解决' }, { id: `tkv-${t.id}-0`, content: '没有解决' }], tailContent: '如有其他情况，可以直接留言。' };
  }

  /** What the reporter is told when a report is filed (the chat's reply, the first push). */
  filedText(t: TicketRow): string {
    return (this.d.wording ?? String)(this.d.settings.texts.filed.replace('{kind}', this.kindName(t.kind)).replace('{no}', t.ticketNo).replace('{code}', t.queryCode).replace('{due}', this.day(t.dueAt)) + (t.urgent ? `\n${this.d.settings.texts.urgent_note}` : '') + `\n<a href="${this.page(t)}">查看办理进度</a>`);
  }

  private pushFor(t: TicketRow, e: TicketEventRow, openid: string) {
    const what = `您反映的「${this.categoryName(t.category) || this.kindName(t.kind)}」问题（${t.ticketNo}）`;
    const link = `<a href="${this.page(t)}">查看办理进度</a>`;
    const theirs = openid === t.openid;
    const texts: Partial<Record<TicketEventKind, string>> = {
      filed: this.filedText(t),
      accepted: `${what}已受理，我们会在${this.day(t.dueAt)}前答复您。\n${link}`,
      rejected: `很抱歉，${what}不予受理。\n原因：${e.note}\n有疑问可以回复「转人工」。`,
      dispatched: `${what}已交给${this.departmentName(e.department ?? t.department)}办理。\n${link}`,
      handling: `${this.departmentName(t.department)}正在处理${what}。${e.note ? `\n${e.note}` : ''}\n${link}`,
      answered: `${what}有答复了：\n${e.note}\n${link}`,
      extension_approved: `${what}需要多一些时间办理，答复时间延至${this.day(t.dueAt)}。${e.note ? `\n${e.note}` : ''}\n${link}`,
      completed: `${what}已办结。${e.note ? `\n${e.note}` : ''}\n${link}`,
      solved: '感谢您的反馈！',
      reopened: `收到，${what}会重新办理，${this.departmentName(t.department)}将于${this.day(t.dueAt)}前再次答复您。\n${link}`,
      merged: `您反映的问题和其他市民反映的是同一件事，已合并到工单 ${e.note} 一起办理，办理进展会同样发给您。`,
    };
    const t2 = this.d.templates.ticket_progress ?? this.d.templates.case_progress;
    const step = e.kind === 'answered' ? '已答复' : e.kind === 'completed' ? '已办结' : e.kind === 'rejected' ? '不予受理' : e.kind === 'visit_asked' ? '请您回访' : e.kind === 'reopened' ? '重新办理' : e.kind === 'extension_approved' ? '延期办理' : e.kind === 'filed' ? '已提交' : e.kind === 'merged' ? '已合并' : STATUS_NAMES[t.status];
    const p = this.d.calendar.localParts(this.d.clock.now());
    const time = `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')} ${String(Math.floor(p.minutes / 60)).padStart(2, '0')}:${String(p.minutes % 60).padStart(2, '0')}`;
    const fallback = t2 ? fillTemplate(t2, { service: `${this.categoryName(t.category)}${this.kindName(t.kind)}`, case_no: t.ticketNo, ticket_no: t.ticketNo, step, time, note: e.note ?? '' }, this.page(t)) : undefined;
    let messages: CustomMessage[];
    if (e.kind === 'visit_asked') messages = [this.visitMenu(t)];
    else if (e.kind === 'solved') {
      const menu = this.d.ratingMenu?.(t);
      messages = [{ type: 'text', content: texts.solved! }, ...(menu ? [menu] : [])];
    } else messages = [{ type: 'text', content: (this.d.wording ?? String)(texts[e.kind] ?? '') }];
    // A merged reporter hears the answer as theirs too (their own number is in their first message).
    if (!theirs && messages[0]?.type === 'text') messages[0] = { type: 'text', content: messages[0].content.replace(what, `您反映的问题（已合并到 ${t.ticketNo}）`) };
    return { openid, messages, ...(fallback ? { fallback } : {}), ref: `ticket:${t.id}` };
  }

  private async scheduleOverdue(tx: EntityManager, t: TicketRow): Promise<void> {
    await this.d.jobs.enqueue(Tickets.OVERDUE, { ticketId: t.id, dueAt: t.dueAt }, { runAt: t.dueAt, uniqueKey: `ticket:${t.id}:overdue:${t.dueAt}`, manager: tx });
  }

  private async cancelOverdue(tx: EntityManager, id: number): Promise<void> {
    await this.d.jobs.cancelByPrefix(`ticket:${id}:overdue:`, tx);
  }

  /** At the due time, still open: 督办 — the department's supervisors are alerted, the timeline says so. */
  private async checkOverdue(id: number, dueAt: number): Promise<void> {
    await this.d.ds.transaction(async (tx) => {
      const t = await tx.getRepository(TicketEntity).findOneBy({ id });
      if (!t || t.dueAt !== dueAt || t.escalatedAt !== null || !OPEN.includes(t.status) || t.status === 'replied') return;
      const now = this.d.clock.now();
      const res = await tx.getRepository(TicketEntity).update({ id, dueAt, escalatedAt: IsNull() }, { escalatedAt: now });
      if (res.affected !== 1) return;
      await this.event(tx, { ...t, escalatedAt: now }, 'escalated', 'system', `超过办理时限（${this.day(dueAt)}）`);
      await this.d.alerts.raise({ kind: 'escalation', department: t.department, to: 'supervisors', title: `督办：工单 ${t.ticketNo} 超过办理时限`, link: `/admin/tickets/${t.id}`, urgent: true }, tx);
    });
  }
}
