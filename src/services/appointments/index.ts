import { randomInt } from 'node:crypto';
import { LessThanOrEqual, type DataSource, type EntityManager } from 'typeorm';
import type { Outbox } from '../../chat/outbox.ts';
import { fillTemplate } from '../../chat/templates.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { insertIgnoringDuplicate, isUniqueViolation, nextNumber } from '../../platform/db.ts';
import type { JobQueue } from '../../platform/jobs.ts';
import { withLock, type Kv } from '../../platform/kv/index.ts';
import type { Wording } from '../../profile/texts.ts';
import type { Logger } from '../../platform/log.ts';
import { isValidIdCard } from '../../platform/idcard.ts';
import type { Service } from '../../profile/catalogue.ts';
import type { AppointmentRule, Hall } from '../../profile/halls.ts';
import type { ProfileTemplate } from '../../profile/schema.ts';
import { isValidAt } from '../../profile/validity.ts';
import type { Halls } from '../halls/index.ts';
import { BookingEntity, QueueCounterEntity, SlotCountEntity, type BookingRow } from './entities.ts';

const DAY = 86_400_000;
const MINUTE = 60_000;
const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const WEEKDAY: Record<string, string> = { mon: '周一', tue: '周二', wed: '周三', thu: '周四', fri: '周五', sat: '周六', sun: '周日' };

export type BookingFailure =
  | 'not_bookable'
  | 'no_such_hall'
  | 'no_such_slot'
  | 'past'
  | 'too_late'
  | 'too_early'
  | 'beyond_window'
  | 'closed'
  | 'full'
  | 'daily_limit'
  | 'suspended'
  | 'invalid_contact'
  | 'not_found'
  | 'not_active'
  | 'cancel_too_late'
  | 'no_booking_today'
  | 'check_in_closed'
  | 'code_expired'
  | 'screen_code_only';

/** A refusal with a plain Chinese explanation for the citizen; nothing was changed. */
export class BookingError extends Error {
  constructor(
    readonly code: BookingFailure,
    message: string,
  ) {
    super(message);
    this.name = 'BookingError';
  }
}

export interface Slot {
  start: number;
  end: number;
  capacity: number;
  booked: number;
  free: number;
  /** Can be booked now (free, not past the cut-off). */
  bookable: boolean;
}

export interface DayOffer {
  /** Midnight of the day (China time). */
  day: number;
  /** 11月25日 周三 */
  label: string;
  open: boolean;
  /** Why the hall is closed, if it is. */
  closedBecause: string | null;
  free: number;
  slots: Slot[];
}

export type Contact = Partial<Record<'name' | 'phone' | 'id_card', string>>;

/** The scene of a hall's check-in code (printed from the staff panel; the chat answers its scan). */
export const CHECK_IN_SCENE = 'checkin:';
export const checkInScene = (hallId: string) => `${CHECK_IN_SCENE}${hallId}`;
/** The scene of the code a hall's screen shows during one period: `checkin:<hall>:<period, base 36>`. */
export const screenCheckInScene = (hallId: string, period: number) => `${CHECK_IN_SCENE}${hallId}:${period.toString(36)}`;

/** Which code was scanned: the printed, permanent one, or the screen's of a period. */
export type CheckInCode = { kind: 'printed' } | { kind: 'screen'; period: number };

/** A check-in scene's hall and code; null when the scene is not a check-in code. */
export function parseCheckInScene(scene: string): { hallId: string; code: CheckInCode } | null {
  const m = /^checkin:([a-z0-9][a-z0-9-]{0,47})(?::([0-9a-z]{1,12}))?$/.exec(scene);
  if (!m) return null;
  return { hallId: m[1]!, code: m[2] === undefined ? { kind: 'printed' } : { kind: 'screen', period: parseInt(m[2], 36) } };
}

export interface AppointmentDeps {
  ds: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  halls: Halls;
  services: Service[];
  jobs: JobQueue;
  outbox: Outbox;
  kv: Kv;
  templates: Record<string, ProfileTemplate>;
  publicUrl: string;
  log: Logger;
  /** The profile's words for 大厅, 预约 … in what is sent to citizens. */
  wording?: Wording;
}

/**
 * Service halls' appointments: one set of commands — find slots, book, cancel, reschedule, check
 * in, and the staff's arrived / no-show / served — used alike by the chat, the pages and the staff.
 * A slot is never oversold: a counter per slot is raised only while below capacity, in one
 * conditional UPDATE, inside the transaction that writes the booking.
 */
export class Appointments {
  static readonly REMIND = 'appointments.remind';
  private readonly services: Map<string, Service>;

  private readonly bookedHooks: ((b: BookingRow, s: Service, tx: EntityManager) => Promise<void>)[] = [];
  private readonly cancelledHooks: ((b: BookingRow, tx: EntityManager) => Promise<void>)[] = [];
  private readonly servedHooks: ((b: BookingRow, tx: EntityManager) => Promise<void>)[] = [];

  /** Told inside the transaction that books a place (not a reschedule): a booking fee's bill. */
  onBooked(h: (b: BookingRow, s: Service, tx: EntityManager) => Promise<void>): void {
    this.bookedHooks.push(h);
  }

  /** Told inside the transaction that marks a booking served at the hall (the 好差评 question). */
  onServed(h: (b: BookingRow, tx: EntityManager) => Promise<void>): void {
    this.servedHooks.push(h);
  }

  /** Told inside the transaction that cancels a booking (the citizen's cancel, a release). */
  onCancelled(h: (b: BookingRow, tx: EntityManager) => Promise<void>): void {
    this.cancelledHooks.push(h);
  }

  constructor(private readonly d: AppointmentDeps) {
    this.services = new Map(d.services.map((s) => [s.id, s]));
    d.jobs.define<{ bookingId: number }>(Appointments.REMIND, { maxAttempts: 3, run: (p) => this.remind(p.bookingId) });
  }

  // ---- what can be booked --------------------------------------------------------------------

  /** Items that take bookings now, in profile order. */
  bookable(now = this.d.clock.now()): Service[] {
    return [...this.services.values()].filter((s) => s.appointment && isValidAt(s, now));
  }

  service(id: string): (Service & { appointment: AppointmentRule }) | null {
    const s = this.services.get(id);
    return s?.appointment && isValidAt(s, this.d.clock.now()) ? (s as Service & { appointment: AppointmentRule }) : null;
  }

  hallsFor(serviceId: string): Hall[] {
    const s = this.service(serviceId);
    return s ? s.appointment.halls.map((h) => this.d.halls.get(h)!).filter(Boolean) : [];
  }

  capacity(s: Service & { appointment: AppointmentRule }, hall: Hall): number {
    return s.appointment.capacity_per_slot ?? hall.windows.filter((w) => w.services.includes(s.id)).length;
  }

  /** The slots of one day, as generated from the hall's openings (before counting bookings). */
  private generate(s: Service & { appointment: AppointmentRule }, hall: Hall, day: number): { start: number; end: number }[] {
    const len = s.appointment.slot_minutes * MINUTE;
    const out: { start: number; end: number }[] = [];
    for (const o of this.d.halls.openings(hall, day + 12 * 3_600_000)) {
      for (let t = o.start; t + len <= o.end; t += len) out.push({ start: t, end: t + len });
    }
    return out;
  }

  /** Last day that can be booked: `days_ahead` working days after today. */
  private lastDay(s: Service & { appointment: AppointmentRule }, now: number): number {
    return this.d.halls.dayStart(this.d.calendar.addWorkingDays(now, s.appointment.days_ahead));
  }

  label(day: number): string {
    const p = this.d.calendar.localParts(day + 12 * 3_600_000);
    return `${p.month}月${p.day}日 ${WEEKDAY[p.weekday]}`;
  }

  /** "9:30" */
  timeOfDay(t: number): string {
    const q = this.d.calendar.localParts(t);
    return `${Math.floor(q.minutes / 60)}:${String(q.minutes % 60).padStart(2, '0')}`;
  }

  /** "11月25日（周三）10:00–10:30" */
  describeTime(start: number, end: number): string {
    const p = this.d.calendar.localParts(start);
    const hm = (t: number) => {
      const q = this.d.calendar.localParts(t);
      return `${Math.floor(q.minutes / 60)}:${String(q.minutes % 60).padStart(2, '0')}`;
    };
    return `${p.month}月${p.day}日（${WEEKDAY[p.weekday]}）${hm(start)}–${hm(end)}`;
  }

  /** Every day one may book, with its slots and free places. */
  async days(serviceId: string, hallId: string, now = this.d.clock.now()): Promise<DayOffer[]> {
    const { s, hall } = this.require(serviceId, hallId);
    const first = this.d.halls.dayStart(now);
    const last = this.lastDay(s, now);
    const counts = await this.counts(s.id, hall.id, first, last + DAY);
    const cap = this.capacity(s, hall);
    const offers: DayOffer[] = [];
    for (let day = first; day <= last; day += DAY) {
      const generated = this.generate(s, hall, day);
      const slots = generated.map((g): Slot => {
        const booked = counts.get(g.start) ?? 0;
        const free = Math.max(0, cap - booked);
        return { ...g, capacity: cap, booked, free, bookable: free > 0 && g.start - s.appointment.cutoff_minutes * MINUTE >= now };
      });
      const noon = day + 12 * 3_600_000;
      offers.push({
        day,
        label: this.label(day),
        open: generated.length > 0,
        closedBecause: generated.length ? null : (this.d.halls.closure(hall, noon) ?? (this.d.calendar.dayKind(noon) === 'holiday' ? '法定节假日' : '休息日')),
        free: slots.filter((x) => x.bookable).reduce((n, x) => n + x.free, 0),
        slots,
      });
    }
    return offers;
  }

  private async counts(serviceId: string, hallId: string, from: number, to: number): Promise<Map<number, number>> {
    const rows = await this.d.ds
      .getRepository(SlotCountEntity)
      .createQueryBuilder('c')
      .where('c.service_id = :serviceId AND c.hall_id = :hallId AND c.starts_at >= :from AND c.starts_at < :to', { serviceId, hallId, from, to })
      .getMany();
    return new Map(rows.map((r) => [r.startsAt, r.booked]));
  }

  /** Places still free today at a hall, over every item it takes bookings for. */
  async remainingToday(hallId: string, now = this.d.clock.now()): Promise<number> {
    let total = 0;
    for (const s of this.bookable(now)) {
      if (!s.appointment!.halls.includes(hallId)) continue;
      // The offer always starts with today (the window ends on or after it).
      total += (await this.days(s.id, hallId, now))[0]!.free;
    }
    return total;
  }

  private require(serviceId: string, hallId: string) {
    const s = this.service(serviceId);
    if (!s) throw new BookingError('not_bookable', '这项服务暂时不能预约。');
    if (!s.appointment.halls.includes(hallId)) throw new BookingError('no_such_hall', '这个大厅不办理这项服务的预约，请换一个大厅。');
    const hall = this.d.halls.get(hallId);
    if (!hall) throw new BookingError('no_such_hall', '没有找到这个大厅。');
    return { s, hall };
  }

  // ---- booking -------------------------------------------------------------------------------

  /**
   * Book a slot. Checks, in order: the item and hall, the slot is a real one of an open day,
   * not past, not within the cut-off, not beyond the booking window, the citizen is not
   * suspended for no-shows, the per-day limit, the contact details the item asks for, and
   * finally a free place. Either all of it is written (booking, counter, reminder, message) or
   * nothing is.
   */
  async book(b: { openid: string; serviceId: string; hallId: string; start: number; contact?: Contact; channel: BookingRow['channel']; notify: boolean; replacing?: number }): Promise<BookingRow> {
    return withLock(this.d.kv, `appointments:citizen:${b.openid}`, { ttlMs: 15_000, waitMs: 10_000 }, () =>
      this.d.ds.transaction((tx) => this.bookIn(tx, b)),
    );
  }

  private async bookIn(
    tx: EntityManager,
    b: { openid: string; serviceId: string; hallId: string; start: number; contact?: Contact; channel: BookingRow['channel']; notify: boolean; replacing?: number },
  ): Promise<BookingRow> {
    const now = this.d.clock.now();
    const { s, hall } = this.require(b.serviceId, b.hallId);
    const rule = s.appointment;
    const day = this.d.halls.dayStart(b.start);
    const generated = this.generate(s, hall, day);
    const slot = generated.find((g) => g.start === b.start);
    if (!slot) {
      if (generated.length === 0) throw new BookingError('closed', `${hall.name}这一天不开放，请换一天。`);
      throw new BookingError('no_such_slot', '没有这个时间段，请从可选时间里选。');
    }
    if (slot.start <= now) throw new BookingError('past', '这个时间已经过去了，请选以后的时间。');
    if (slot.start - rule.cutoff_minutes * MINUTE < now) throw new BookingError('too_late', `开始前 ${rule.cutoff_minutes} 分钟内不能再预约这个时段了，请选更晚的时间。`);
    if (day > this.lastDay(s, now)) throw new BookingError('beyond_window', `只能预约 ${rule.days_ahead} 个工作日内的时间。`);
    const contact = this.checkContact(rule, b.contact ?? {});
    const repo = tx.getRepository(BookingEntity);
    await this.checkSuspension(tx, b.openid, rule, now);
    const sameDay = await repo
      .createQueryBuilder('k')
      .where('k.openid = :openid AND k.service_id = :sid AND k.starts_at >= :from AND k.starts_at < :to AND k.status IN (:...st)', {
        openid: b.openid,
        sid: s.id,
        from: day,
        to: day + DAY,
        st: ['booked', 'checked_in'],
      })
      .getMany();
    // (A booking being rescheduled was cancelled just before, in this transaction: it is not counted.)
    if (sameDay.length >= rule.max_per_citizen_per_day) {
      throw new BookingError('daily_limit', `同一天最多预约 ${rule.max_per_citizen_per_day} 次这项服务。如需换时间，请先取消原来的预约。`);
    }
    // The one place that decides whether a place is free.
    await insertIgnoringDuplicate(tx, SlotCountEntity, { hallId: hall.id, serviceId: s.id, startsAt: slot.start, capacity: this.capacity(s, hall), booked: 0 });
    const raised = await tx
      .createQueryBuilder()
      .update(SlotCountEntity)
      .set({ booked: () => 'booked + 1' })
      // Against today's profile, not the capacity stored when the slot was first booked: a
      // department that lowers it (a window closed) must not have the old number sold.
      .where('hall_id = :h AND service_id = :s AND starts_at = :t AND booked < :cap', { h: hall.id, s: s.id, t: slot.start, cap: this.capacity(s, hall) })
      .execute();
    if (raised.affected !== 1) throw new BookingError('full', '这个时间段已经约满了，请换一个时间。');
    const booking = await this.insertBooking(tx, {
      openid: b.openid,
      serviceId: s.id,
      hallId: hall.id,
      startsAt: slot.start,
      endsAt: slot.end,
      status: 'booked',
      contact: Object.keys(contact).length ? JSON.stringify(contact) : null,
      channel: b.channel,
      queueNo: null,
      rescheduledFrom: b.replacing ?? null,
      createdAt: now,
      updatedAt: now,
      checkedInAt: null,
      cancelledAt: null,
      servedBy: null,
    });
    await this.scheduleReminder(tx, booking, now);
    if (b.notify) await this.notify(tx, booking, 'booking_confirmed', this.confirmationText(booking), `booking:${booking.id}:confirmed`);
    if (b.replacing === undefined) for (const h of this.bookedHooks) await h(booking, s, tx);
    return booking;
  }

  private async insertBooking(tx: EntityManager, row: Omit<BookingRow, 'id' | 'code'>): Promise<BookingRow> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
      if (await tx.getRepository(BookingEntity).exists({ where: { code } })) continue;
      try {
        const res = await tx.createQueryBuilder().insert().into(BookingEntity).values({ ...row, code }).execute();
        return { ...row, code, id: res.identifiers[0]!.id as number };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        throw new BookingError('full', '系统繁忙，请再试一次。'); // a code collided in a concurrent transaction
      }
    }
    throw new Error('could not find a free booking code');
  }

  private checkContact(rule: AppointmentRule, c: Contact): Contact {
    const out: Contact = {};
    for (const field of rule.collect) {
      const v = (c[field] ?? '').trim();
      if (field === 'name' && !/^[\u4e00-\u9fa5·A-Za-z ]{2,20}$/u.test(v)) throw new BookingError('invalid_contact', '请填写办事人的真实姓名（2 到 20 个字）。');
      if (field === 'phone' && !/^1[3-9]\d{9}$/.test(v)) throw new BookingError('invalid_contact', '请填写 11 位手机号码。');
      if (field === 'id_card' && !isValidIdCard(v.toUpperCase(), this.d.clock.now())) throw new BookingError('invalid_contact', '身份证号码不正确，请核对后再填。');
      out[field] = field === 'id_card' ? v.toUpperCase() : v;
    }
    return out;
  }

  /** Too many no-shows recently: booking is suspended for a while. */
  private async checkSuspension(tx: EntityManager, openid: string, rule: AppointmentRule, now: number): Promise<void> {
    const { limit, within_days: within, suspend_days: days } = rule.no_show;
    const recent = await tx
      .getRepository(BookingEntity)
      .createQueryBuilder('k')
      .where('k.openid = :openid AND k.status = :st AND k.starts_at >= :since', { openid, st: 'no_show', since: now - within * DAY })
      .orderBy('k.starts_at', 'DESC')
      .getMany();
    if (recent.length < limit) return;
    const until = recent[0]!.startsAt + days * DAY;
    if (now < until) {
      const p = this.d.calendar.localParts(until);
      throw new BookingError('suspended', `您最近 ${within} 天内有 ${recent.length} 次预约未到，${p.month}月${p.day}日前暂时不能预约。可以直接到大厅现场取号办理。`);
    }
  }

  // ---- my bookings, cancel, reschedule --------------------------------------------------------

  /** A citizen's bookings: upcoming first, then the last month's. */
  async mine(openid: string, now = this.d.clock.now()): Promise<BookingRow[]> {
    const rows = await this.d.ds
      .getRepository(BookingEntity)
      .createQueryBuilder('k')
      .where('k.openid = :openid AND k.starts_at >= :since', { openid, since: now - 30 * DAY })
      .orderBy('k.starts_at', 'ASC')
      .getMany();
    const upcoming = rows.filter((r) => r.endsAt >= now && (r.status === 'booked' || r.status === 'checked_in'));
    return [...upcoming, ...rows.filter((r) => !upcoming.includes(r)).reverse()];
  }

  /** Only the citizen's own booking; another's is "not found", so ids reveal nothing. */
  async own(openid: string, bookingId: number, manager: EntityManager = this.d.ds.manager): Promise<BookingRow> {
    const b = Number.isSafeInteger(bookingId) ? await manager.getRepository(BookingEntity).findOneBy({ id: bookingId, openid }) : null;
    if (!b) throw new BookingError('not_found', '没有找到这条预约。');
    return b;
  }

  /** Cancel the citizen's booking; `notify: false` when the caller tells the citizen itself (chat). */
  async cancel(openid: string, bookingId: number, opts: { notify?: boolean } = {}): Promise<BookingRow> {
    return this.d.ds.transaction(async (tx) => {
      const b = await this.own(openid, bookingId, tx);
      return this.cancelIn(tx, b, opts.notify ?? true);
    });
  }

  private async cancelIn(tx: EntityManager, b: BookingRow, notify: boolean): Promise<BookingRow> {
    const now = this.d.clock.now();
    if (b.status !== 'booked') throw new BookingError('not_active', '这条预约已经不能取消了。');
    const s = this.services.get(b.serviceId);
    const cutoff = s?.appointment?.cancel_cutoff_minutes ?? 60;
    if (b.startsAt - cutoff * MINUTE < now) throw new BookingError('cancel_too_late', `开始前 ${cutoff} 分钟内不能取消或改约了。如果来不了，请打电话告诉大厅。`);
    if (!(await this.freePlace(tx, b, now))) throw new BookingError('not_active', '这条预约已经不能取消了。');
    const cancelled = { ...b, status: 'cancelled' as const, cancelledAt: now, updatedAt: now };
    for (const h of this.cancelledHooks) await h(cancelled, tx);
    if (notify) {
      await this.notify(tx, cancelled, null, `已取消您的预约：${this.serviceName(b.serviceId)}，${this.describeTime(b.startsAt, b.endsAt)}，预约码 ${b.code}。`, `booking:${b.id}:cancelled`);
    }
    return cancelled;
  }

  /**
   * Cancel a booking that is still held and give its place back (the slot's count, its reminder).
   * False when someone else changed it first.
   */
  private async freePlace(tx: EntityManager, b: BookingRow, now: number): Promise<boolean> {
    const res = await tx.getRepository(BookingEntity).update({ id: b.id, status: 'booked' }, { status: 'cancelled', cancelledAt: now, updatedAt: now });
    if (res.affected !== 1) return false;
    await tx
      .createQueryBuilder()
      .update(SlotCountEntity)
      .set({ booked: () => 'booked - 1' })
      .where('hall_id = :h AND service_id = :s AND starts_at = :t AND booked > 0', { h: b.hallId, s: b.serviceId, t: b.startsAt })
      .execute();
    await this.d.jobs.cancel(`booking:${b.id}:remind`, tx);
    return true;
  }

  /**
   * Release the place of a booking whose fee was not paid in time (the bill closed unpaid), inside
   * the bill's transaction: whatever the cancel cut-off, the place goes back to others. False when
   * the booking is no longer held (cancelled, checked in).
   */
  async releaseUnpaid(bookingId: number, tx: EntityManager, reason: string): Promise<boolean> {
    const now = this.d.clock.now();
    const b = await tx.getRepository(BookingEntity).findOneBy({ id: bookingId });
    if (!b || b.status !== 'booked') return false;
    if (!(await this.freePlace(tx, b, now))) return false;
    await this.notify(tx, { ...b, status: 'cancelled', cancelledAt: now, updatedAt: now }, null, `${reason}：${this.serviceName(b.serviceId)}，${this.describeTime(b.startsAt, b.endsAt)}，预约码 ${b.code}。需要的话可以重新预约。`, `booking:${b.id}:released`);
    return true;
  }

  /** Move a booking to another slot: the new one is booked and the old one released together. */
  async reschedule(openid: string, bookingId: number, to: { hallId: string; start: number; channel: BookingRow['channel']; notify: boolean }): Promise<BookingRow> {
    return withLock(this.d.kv, `appointments:citizen:${openid}`, { ttlMs: 15_000, waitMs: 10_000 }, () =>
      this.d.ds.transaction(async (tx) => {
        const old = await tx.getRepository(BookingEntity).findOneBy({ id: bookingId, openid });
        if (!old) throw new BookingError('not_found', '没有找到这条预约。');
        await this.cancelIn(tx, old, false);
        const contact = old.contact ? (JSON.parse(old.contact) as Contact) : {};
        return this.bookIn(tx, { openid, serviceId: old.serviceId, hallId: to.hallId, start: to.start, contact, channel: to.channel, notify: to.notify, replacing: old.id });
      }),
    );
  }

  // ---- at the hall ---------------------------------------------------------------------------

  /**
   * 取号: the citizen scans a code at the hall; their booking there is checked in and gets the next
   * queue number. Says how many checked-in people are ahead. A scan counts only within the hall's
   * window around the booked time (a photo of the code scanned from home hours before does not
   * jump the queue), and a screen's code only while it is current; scanning again once checked in
   * gives the same number.
   */
  async checkIn(openid: string, hallId: string, code: CheckInCode = { kind: 'printed' }): Promise<{ booking: BookingRow; queueNo: number; ahead: number }> {
    try {
      return await this.checkInOnce(openid, hallId, code);
    } catch (err) {
      // Two scans at once: the other one checked the booking in (and this one's number was rolled
      // back); this one now finds it checked in and answers with the same number.
      if (err instanceof BookingError && err.code === 'not_active') return this.checkInOnce(openid, hallId, code);
      throw err;
    }
  }

  /** The screen's code period that `now` falls in, and when the next begins. */
  screenPeriod(hallId: string, now = this.d.clock.now()): { period: number; scene: string; changesAt: number; lifetimeSeconds: number } {
    const hall = this.d.halls.get(hallId);
    if (!hall) throw new BookingError('no_such_hall', '没有这个大厅。');
    const span = hall.check_in.screen_code_minutes * MINUTE;
    const period = Math.floor(now / span);
    // The code lives on the platform until the one after it has taken over.
    return { period, scene: screenCheckInScene(hallId, period), changesAt: (period + 1) * span, lifetimeSeconds: (2 * span) / 1000 };
  }

  private checkCode(hallId: string, code: CheckInCode, now: number): void {
    const hall = this.d.halls.get(hallId)!;
    if (code.kind === 'printed') {
      if (!hall.check_in.printed_code) throw new BookingError('screen_code_only', '请扫大厅叫号屏上的签到码签到（每几分钟换一次）。');
      return;
    }
    const current = this.screenPeriod(hallId, now).period;
    if (code.period !== current && code.period !== current - 1) throw new BookingError('code_expired', '这个签到码已经换了，请扫叫号屏上现在的签到码。');
  }

  private async checkInOnce(openid: string, hallId: string, code: CheckInCode): Promise<{ booking: BookingRow; queueNo: number; ahead: number }> {
    const now = this.d.clock.now();
    const day = this.d.halls.dayStart(now);
    const rule = this.d.halls.get(hallId)?.check_in;
    if (!rule) throw new BookingError('no_such_hall', '没有这个大厅。');
    return this.d.ds.transaction(async (tx) => {
      const repo = tx.getRepository(BookingEntity);
      const todays = await repo
        .createQueryBuilder('k')
        .where('k.openid = :openid AND k.hall_id = :hallId AND k.starts_at >= :from AND k.starts_at < :to AND k.status IN (:...st)', {
          openid,
          hallId,
          from: day,
          to: day + DAY,
          st: ['booked', 'checked_in'],
        })
        .orderBy('k.starts_at', 'ASC')
        .getMany();
      const already = todays.find((k) => k.status === 'checked_in');
      let booking = already;
      if (!booking) {
        const waiting = todays; // none is checked in: each of today's is still booked
        if (!waiting.length) throw new BookingError('no_booking_today', '您今天在这个大厅没有预约。可以到服务台现场取号，或回复「预约」约个时间。');
        this.checkCode(hallId, code, now);
        booking = waiting.find((k) => now >= k.startsAt - rule.early_minutes * MINUTE && now <= k.startsAt + rule.late_minutes * MINUTE);
        if (!booking) {
          const next = waiting.find((k) => now < k.startsAt);
          if (next) {
            throw new BookingError('too_early', `您预约的是今天 ${this.timeOfDay(next.startsAt)}，请在 ${this.timeOfDay(next.startsAt - rule.early_minutes * MINUTE)} 以后到了大厅再扫码签到。`);
          }
          const last = waiting[waiting.length - 1]!;
          throw new BookingError('check_in_closed', `您预约的 ${this.timeOfDay(last.startsAt)} 已经过了签到时间（预约时间后 ${rule.late_minutes} 分钟内），请到服务台找工作人员。`);
        }
      }
      const queueNo = already?.queueNo ?? (await this.arrive(tx, booking, now));
      const ahead = await repo
        .createQueryBuilder('k')
        .where('k.hall_id = :hallId AND k.starts_at >= :from AND k.starts_at < :to AND k.status = :st AND k.queue_no < :no', {
          hallId,
          from: day,
          to: day + DAY,
          st: 'checked_in',
          no: queueNo,
        })
        .getCount();
      return { booking: { ...booking, status: 'checked_in', queueNo }, queueNo, ahead };
    });
  }

  private async arrive(tx: EntityManager, b: BookingRow, now: number): Promise<number> {
    const queueNo = await nextNumber(tx, QueueCounterEntity, { hall_id: b.hallId, day: this.d.halls.dayKey(now) });
    // Only a booking still waiting is checked in; a concurrent check-in makes this throw, which
    // rolls the queue number back with the transaction.
    const res = await tx.getRepository(BookingEntity).update({ id: b.id, status: 'booked' }, { status: 'checked_in', queueNo, checkedInAt: now, updatedAt: now });
    if (res.affected !== 1) throw new BookingError('not_active', '这条预约不是待到场状态。');
    await this.d.jobs.cancel(`booking:${b.id}:remind`, tx);
    return queueNo;
  }

  /** Staff: today's bookings at a hall, by time. */
  async today(hallId: string, now = this.d.clock.now()): Promise<BookingRow[]> {
    const day = this.d.halls.dayStart(now);
    return this.d.ds
      .getRepository(BookingEntity)
      .createQueryBuilder('k')
      .where('k.hall_id = :hallId AND k.starts_at >= :from AND k.starts_at < :to', { hallId, from: day, to: day + DAY })
      .orderBy('k.starts_at', 'ASC')
      .addOrderBy('k.id', 'ASC')
      .getMany();
  }

  /** Staff: the citizen is here (no phone to scan with): check in and give a queue number. */
  async markArrived(bookingId: number): Promise<BookingRow> {
    const now = this.d.clock.now();
    return this.d.ds.transaction(async (tx) => {
      const b = await tx.getRepository(BookingEntity).findOneBy({ id: bookingId });
      if (!b || b.status !== 'booked') throw new BookingError('not_active', '这条预约不是待到场状态。');
      const queueNo = await this.arrive(tx, b, now);
      return { ...b, status: 'checked_in', queueNo, checkedInAt: now };
    });
  }

  /** Staff: marked as not come (counts towards a suspension). */
  /** Staff: not come — only once the booked time is over (it counts towards a suspension). */
  async markNoShow(bookingId: number): Promise<void> {
    const now = this.d.clock.now();
    const res = await this.d.ds.getRepository(BookingEntity).update({ id: bookingId, status: 'booked', endsAt: LessThanOrEqual(now) }, { status: 'no_show', updatedAt: now });
    if (res.affected === 1) return;
    const b = await this.d.ds.getRepository(BookingEntity).findOneBy({ id: bookingId });
    if (b?.status === 'booked') throw new BookingError('too_early', '预约的时间还没过，不能标记为未到。');
    throw new BookingError('not_active', '只有还没到场的预约可以标记为未到。');
  }

  /** Staff: 未到 was a mistake (the citizen came after all): the booking waits again. */
  async undoNoShow(bookingId: number): Promise<void> {
    const res = await this.d.ds.getRepository(BookingEntity).update({ id: bookingId, status: 'no_show' }, { status: 'booked', updatedAt: this.d.clock.now() });
    if (res.affected !== 1) throw new BookingError('not_active', '只有标记为未到的预约可以撤销。');
  }

  /**
   * Staff: the matter was handled at the window, by `staffId` (who is rated for it). Those told
   * (onServed: the 好差评 question) hear of it in the same transaction.
   */
  async markServed(bookingId: number, staffId: number | null = null): Promise<BookingRow> {
    const now = this.d.clock.now();
    return this.d.ds.transaction(async (tx) => {
      const res = await tx.getRepository(BookingEntity).update({ id: bookingId, status: 'checked_in' }, { status: 'served', servedBy: staffId, updatedAt: now });
      if (res.affected !== 1) throw new BookingError('not_active', '只有已签到的预约可以标记为办结。');
      const b = await tx.getRepository(BookingEntity).findOneByOrFail({ id: bookingId });
      for (const h of this.servedHooks) await h(b, tx);
      return b;
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  serviceName(id: string): string {
    return this.services.get(id)?.name ?? id;
  }

  /** What to bring, as the item's guide says: the confirmation names it instead of "请带好材料". */
  private materialsLines(serviceId: string): string[] {
    const materials = this.services.get(serviceId)?.guide.materials ?? [];
    if (materials.length === 0) return [];
    return ['请带好：', ...materials.map((m, i) => `${i + 1}. ${m}`)];
  }

  confirmationText(b: BookingRow): string {
    const hall = this.d.halls.get(b.hallId)!;
    return [
      '预约成功！',
      `事项：${this.serviceName(b.serviceId)}`,
      `地点：${hall.name}（${hall.address}）`,
      `时间：${this.describeTime(b.startsAt, b.endsAt)}`,
      `预约码：${b.code}`,
      ...this.materialsLines(b.serviceId),
      '请按时到达；到大厅后扫服务台的二维码签到取号。',
      '要取消或改约，回复「我的预约」。',
    ].join('\n');
  }

  /** The day before, 18:00 (China time); not scheduled when that has already passed. */
  private async scheduleReminder(tx: EntityManager, b: BookingRow, now: number): Promise<void> {
    const p = this.d.calendar.localParts(b.startsAt - DAY);
    const at = this.d.calendar.atLocal(p.year, p.month, p.day, 18, 0);
    if (at <= now) return;
    await this.d.jobs.enqueue(Appointments.REMIND, { bookingId: b.id }, { runAt: at, uniqueKey: `booking:${b.id}:remind`, manager: tx });
  }

  private async remind(bookingId: number): Promise<void> {
    const b = await this.d.ds.getRepository(BookingEntity).findOneBy({ id: bookingId });
    if (!b || b.status !== 'booked') return;
    const hall = this.d.halls.get(b.hallId)!;
    const text = [`温馨提醒：您明天预约了「${this.serviceName(b.serviceId)}」。`, `时间：${this.describeTime(b.startsAt, b.endsAt)}`, `地点：${hall.name}（${hall.address}）`, `预约码：${b.code}`, '来不了请提前回复「我的预约」取消，把时间让给别人。'].join('\n');
    await this.notify(this.d.ds.manager, b, 'booking_reminder', text, `booking:${b.id}:reminder`);
  }

  /** A message to the citizen: customer-service inside the window, the template after it. */
  private async notify(tx: EntityManager, b: BookingRow, template: string | null, text: string, uniqueKey: string): Promise<void> {
    const t = template ? this.d.templates[template] : undefined;
    const hall = this.d.halls.get(b.hallId)!;
    const fallback = t
      ? fillTemplate(t, { service: this.serviceName(b.serviceId), time: this.describeTime(b.startsAt, b.endsAt), hall: hall.name, code: b.code }, `${this.d.publicUrl}/h5/bookings`)
      : undefined;
    await this.d.outbox.send({ openid: b.openid, messages: [{ type: 'text', content: (this.d.wording ?? String)(text) }], ...(fallback ? { fallback } : {}), ref: `booking:${b.id}` }, { uniqueKey, manager: tx });
  }
}
