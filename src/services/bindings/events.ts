import type { DataSource, EntityManager } from 'typeorm';
import { fillTemplate } from '../../chat/templates.ts';
import type { ConversationLog } from '../../chat/log.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { insertIgnoringDuplicate } from '../../platform/db.ts';
import { PermanentJobError, type JobQueue } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/log.ts';
import { maskPersonal } from '../../platform/pii.ts';
import type { BindingsConfig, EventKind, EventSystem } from '../../profile/bindings.ts';
import type { ProfileTemplate } from '../../profile/schema.ts';
import { isWeChatError, type WeChatApi } from '../../wechat/api/index.ts';
import { DeptEventEntity, PushOptOutEntity, type DeptEventRow } from './entities.ts';
import { keyField, maskKey, normalizeValue, targetHash, type Bindings } from './index.ts';
import { SIGNATURE_HEADERS, signBody } from './verify.ts';

/**
 * The narrow door to payment: an event that carries a fine asks for a bill through it. Wired to
 * pay's bills command once that capability is on main; until then the fine is pushed without a
 * pay link and the event records that the bill is waiting.
 */
export interface BillIssuer {
  issueBill(
    input: {
      openid: string;
      /** What it is for, as the citizen reads it ("闽D****66 交通违法罚款"). */
      title: string;
      amountFen: number;
      /** The department's own reference (the violation number): the bill's idempotency key with the system. */
      reference: string;
      system: string;
      /** Where to report the payment: called once the bill is paid (see `Events.settled`). */
      eventId: number;
    },
    manager?: EntityManager,
  ): Promise<{ billId: string; payUrl: string }>;
}

/** An event refused: HTTP status and a reason the department's developers can act on (no personal data). */
export class EventError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EventError';
  }
}

export interface EventsDeps {
  db: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  jobs: JobQueue;
  api: WeChatApi;
  conversationLog: ConversationLog;
  log: Logger;
  config: BindingsConfig;
  templates: Record<string, ProfileTemplate>;
  bindings: Bindings;
  publicUrl: string;
  secrets: Map<string, string>;
  bills?: BillIssuer | undefined;
}

export interface AcceptResult {
  id: number;
  status: DeptEventRow['status'] | 'duplicate';
  /** When the push goes out (quiet hours hold it). */
  sendAt?: number;
}

const IDEMPOTENCY = /^[A-Za-z0-9_.:-]{1,100}$/;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Departments' events: accepted once per idempotency key, matched to the citizen bound to their
 * target, and pushed as one message at a sensible hour; a fine asks for a bill on the way.
 */
export class Events {
  static readonly PUSH = 'bindings.push';
  static readonly SETTLE = 'bindings.settle';

  constructor(private readonly d: EventsDeps) {
    d.jobs.define<{ eventId: number }>(Events.PUSH, {
      maxAttempts: 6,
      backoffMs: (n) => [10_000, 60_000, 300_000, 1_800_000, 3_600_000][n - 1] ?? 3_600_000,
      run: (p) => this.push(p.eventId),
    });
    d.jobs.define<{ eventId: number; billId: string }>(Events.SETTLE, {
      // The department must learn the fine is paid: keep trying for about two days.
      maxAttempts: 40,
      backoffMs: (n) => Math.min(3_600_000, 15_000 * 2 ** (n - 1)),
      run: (p) => this.notifyDepartment(p.eventId, p.billId),
    });
  }

  kind(id: string): EventKind | undefined {
    return this.d.config.events.find((e) => e.id === id);
  }

  system(id: string): EventSystem | undefined {
    return this.d.config.systems.find((s) => s.id === id);
  }

  /** When a push may go out: now, or the end of the quiet hours. */
  sendTime(now: number): number {
    const q = this.d.config.quiet_hours;
    const from = minutesOf(q.from);
    const to = minutesOf(q.to);
    const m = this.d.calendar.localParts(now).minutes;
    const quiet = from <= to ? m >= from && m < to : m >= from || m < to;
    if (!quiet) return now;
    const wait = (to - m + 1440) % 1440;
    const startOfMinute = now - (now % 60_000);
    return startOfMinute + wait * 60_000;
  }

  /** Check an event's body against its kind (values declared, lengths, ASCII) and store it once. */
  async accept(systemId: string, body: unknown): Promise<AcceptResult> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new EventError(400, 'expected a JSON object {kind, idempotency_key, target, values}');
    const b = body as Record<string, unknown>;
    const kind = typeof b.kind === 'string' ? this.kind(b.kind) : undefined;
    if (!kind) throw new EventError(422, `kind: expected one of ${this.d.config.events.map((e) => e.id).join(', ')}`);
    if (!kind.systems.includes(systemId)) throw new EventError(403, `kind ${kind.id}: system ${systemId} may not post it`);
    const idem = b.idempotency_key;
    if (typeof idem !== 'string' || !IDEMPOTENCY.test(idem)) throw new EventError(422, 'idempotency_key: expected 1–100 letters, digits or _ . : -');
    if (typeof b.target !== 'string' || !normalizeValue(b.target)) throw new EventError(422, `target: expected the ${kind.binding} key as a string`);
    const bindingKind = this.d.bindings.kind(kind.binding)!;
    const kf = keyField(bindingKind);
    const target = normalizeValue(b.target);
    if (!new RegExp(kf.pattern, 'u').test(target)) throw new EventError(422, `target: expected a ${kf.label} (${kf.hint})`);
    const raw = b.values ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw) || raw === null) throw new EventError(422, 'values: expected an object');
    const values: Record<string, string> = {};
    for (const [name, spec] of Object.entries(kind.values)) {
      const v = (raw as Record<string, unknown>)[name];
      if (v === undefined || v === null || v === '') {
        if (spec.required) throw new EventError(422, `values.${name}: required`);
        continue;
      }
      if (typeof v !== 'string' && typeof v !== 'number') throw new EventError(422, `values.${name}: expected a string or number`);
      const s = String(v).trim();
      if ([...s].length > spec.max) throw new EventError(422, `values.${name}: expected at most ${spec.max} characters (WeChat refuses longer template values); got ${[...s].length}`);
      if (spec.ascii && /[^\x20-\x7e]/.test(s)) throw new EventError(422, `values.${name}: expected ASCII only`);
      values[name] = s;
    }
    const unknown = Object.keys(raw).filter((k) => !kind.values[k]);
    if (unknown.length) throw new EventError(422, `values: unexpected ${unknown.join(', ')}`);
    if (kind.bill) {
      // Decimal digits only: Number() would also read "2e4", "0x10" or "+500" as an amount.
      const written = values[kind.bill.amount_value] ?? '';
      const fen = /^\d+$/.test(written) ? Number(written) : NaN;
      if (!Number.isInteger(fen) || fen <= 0 || fen > 100_000_000) throw new EventError(422, `values.${kind.bill.amount_value}: expected an amount in fen, a positive integer`);
    }

    const now = this.d.clock.now();
    return this.d.db.transaction(async (tx) => {
      const id = await insertIgnoringDuplicate(tx, DeptEventEntity, {
        system: systemId,
        idempotencyKey: idem,
        kind: kind.id,
        targetHash: targetHash(bindingKind.id, target),
        targetDisplay: maskKey(kf, target),
        payload: JSON.stringify(values),
        status: 'queued',
        openid: null,
        detail: null,
        receivedAt: now,
        sendAt: null,
        sentAt: null,
      });
      const repo = tx.getRepository(DeptEventEntity);
      if (id === null) {
        const prev = await repo.findOneByOrFail({ system: systemId, idempotencyKey: idem });
        return { id: prev.id, status: 'duplicate' as const };
      }
      const holder = await this.d.bindings.holder(bindingKind.id, target, tx);
      if (!holder) {
        await repo.update({ id }, { status: 'no_binding', detail: 'nobody has bound this target' });
        this.d.log.info({ event: id, kind: kind.id, system: systemId }, 'event for nobody bound: kept, not pushed');
        return { id, status: 'no_binding' as const };
      }
      const optedOut = kind.can_opt_out && (await tx.getRepository(PushOptOutEntity).findOne({ where: { openid: holder.openid, eventKind: kind.id } }));
      if (optedOut) {
        await repo.update({ id }, { status: 'opted_out', openid: holder.openid, detail: 'the citizen switched this kind off' });
        return { id, status: 'opted_out' as const };
      }
      let detail: string | null = null;
      if (kind.bill) {
        if (this.d.bills) {
          const bill = await this.d.bills.issueBill(
            { openid: holder.openid, title: this.fill(kind.bill.title, { ...values, target: holder.display }), amountFen: Number(values[kind.bill.amount_value]), reference: values[kind.bill.reference_value]!, system: systemId, eventId: id },
            tx,
          );
          values.pay_url = bill.payUrl;
          detail = `bill ${bill.billId}`;
          await repo.update({ id }, { payload: JSON.stringify(values) });
        } else {
          detail = 'bill waiting: payment is not available yet';
        }
      }
      const sendAt = kind.respect_quiet_hours ? this.sendTime(now) : now;
      await repo.update({ id }, { openid: holder.openid, sendAt, detail });
      await this.d.jobs.enqueue(Events.PUSH, { eventId: id }, { uniqueKey: `push:${id}`, runAt: sendAt, manager: tx });
      return { id, status: 'queued' as const, sendAt };
    });
  }

  private fill(pattern: string, vars: Record<string, string>): string {
    return pattern.replace(/\{(\w+)\}/g, (_m, n: string) => vars[n] ?? '');
  }

  /** The message an event becomes (its template filled, the link to its page). */
  message(e: DeptEventRow): { templateId: string; data: Record<string, string>; url: string } {
    const kind = this.kind(e.kind)!;
    const tpl = this.d.templates[kind.template]!;
    const values = JSON.parse(e.payload) as Record<string, string>;
    const bk = this.d.bindings.kind(kind.binding)!;
    const vars: Record<string, string> = { ...values, target: e.targetDisplay, kind: bk.name };
    if (kind.bill) vars.amount = `${(Number(values[kind.bill.amount_value]) / 100).toFixed(2)}元`;
    const link = values.pay_url ?? (kind.link ? this.fill(kind.link, vars) : `/h5/notices/${e.id}`);
    const url = link.startsWith('/') ? `${this.d.publicUrl}${link}` : link;
    const m = fillTemplate(tpl, vars, url);
    return { templateId: m.templateId, data: m.data, url };
  }

  /** The message's values by the template's labels (what the citizen reads in WeChat). */
  labelled(e: DeptEventRow): Record<string, string> {
    const kind = this.kind(e.kind);
    const tpl = kind ? this.d.templates[kind.template] : undefined;
    if (!tpl) return {};
    const m = this.message(e);
    return Object.fromEntries(Object.entries(m.data).map(([k, v]) => [tpl.labels[k] ?? k, v]));
  }

  /** Push one event, exactly once: the log key stops a repeat; WeChat's client_msg_id a crash's. */
  private async push(eventId: number): Promise<void> {
    const repo = this.d.db.getRepository(DeptEventEntity);
    const e = await repo.findOneBy({ id: eventId });
    if (!e || e.status !== 'queued' || !e.openid) return;
    const kind = this.kind(e.kind);
    if (!kind) {
      await repo.update({ id: e.id }, { status: 'failed', detail: 'kind no longer in the profile' });
      return;
    }
    // Still bound by the same citizen? (Unbound between the event and the end of the quiet hours: not sent.)
    const still = (await this.d.bindings.list(e.openid)).some((x) => x.kind === kind.binding && targetHash(x.kind, x.keyValue) === e.targetHash);
    if (!still) {
      await repo.update({ id: e.id }, { status: 'no_binding', detail: 'unbound before it was sent' });
      return;
    }
    if (kind.can_opt_out && (await this.d.db.getRepository(PushOptOutEntity).findOne({ where: { openid: e.openid, eventKind: kind.id } }))) {
      await repo.update({ id: e.id }, { status: 'opted_out', detail: 'the citizen switched this kind off' });
      return;
    }
    const key = `out:event:${e.id}`;
    if (!(await this.d.conversationLog.findByKey(key))) {
      const m = this.message(e);
      try {
        if (kind.channel === 'subscribe') await this.d.api.subscribe.bizsend(e.openid, { templateId: m.templateId, data: m.data, page: m.url });
        else await this.d.api.template.send(e.openid, { ...m, clientMsgId: `ev-${e.id}` });
      } catch (err) {
        if (isWeChatError(err) && !err.retryable) {
          await repo.update({ id: e.id }, { status: 'failed', detail: `WeChat refused: ${err.message}`.slice(0, 200) });
          throw new PermanentJobError(err.message);
        }
        throw err;
      }
      await this.d.conversationLog.recordOutbound({ openid: e.openid, kind: kind.channel, content: Object.values(m.data).join(' · '), payload: m, channel: 'template', ref: `event:${e.id}`, msgKey: key });
    }
    await repo.update({ id: e.id }, { status: 'sent', sentAt: this.d.clock.now() });
  }

  /** Switch a kind of push off (退订) or on again for a citizen. */
  async setOptOut(openid: string, eventKind: string, off: boolean): Promise<void> {
    const kind = this.kind(eventKind);
    if (!kind || !kind.can_opt_out) return;
    const repo = this.d.db.getRepository(PushOptOutEntity);
    if (off) await insertIgnoringDuplicate(this.d.db.manager, PushOptOutEntity, { openid, eventKind, createdAt: this.d.clock.now() });
    else await repo.delete({ openid, eventKind });
  }

  async optOuts(openid: string): Promise<Set<string>> {
    const rows = await this.d.db.getRepository(PushOptOutEntity).find({ where: { openid } });
    return new Set(rows.map((r) => r.eventKind));
  }

  async forCitizen(openid: string, id: number): Promise<DeptEventRow | null> {
    return this.d.db.getRepository(DeptEventEntity).findOne({ where: { id, openid } });
  }

  async recent(limit = 100): Promise<DeptEventRow[]> {
    return this.d.db.getRepository(DeptEventEntity).find({ order: { receivedAt: 'DESC', id: 'DESC' }, take: limit });
  }

  /** An event's values for showing: personal ones masked. */
  shownValues(e: DeptEventRow): Record<string, string> {
    const kind = this.kind(e.kind);
    const values = JSON.parse(e.payload) as Record<string, string>;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) {
      if (k === 'pay_url') continue;
      const personal = kind?.values[k]?.personal;
      out[k] = personal ? maskPersonal(personal, v) : v;
    }
    return out;
  }

  /**
   * A fine's bill was paid (called by pay): tell the department's system, signed, retried until it
   * answers 2xx.
   */
  async settled(eventId: number, billId: string, manager?: EntityManager): Promise<void> {
    await this.d.jobs.enqueue(Events.SETTLE, { eventId, billId }, { uniqueKey: `settle:${eventId}`, ...(manager ? { manager } : {}) });
  }

  private async notifyDepartment(eventId: number, billId: string): Promise<void> {
    const e = await this.d.db.getRepository(DeptEventEntity).findOneBy({ id: eventId });
    if (!e) throw new PermanentJobError(`event ${eventId} not found`);
    const kind = this.kind(e.kind);
    const system = this.system(e.system);
    const secret = this.d.secrets.get(e.system);
    if (!kind?.bill || !system?.callback_url || !secret) throw new PermanentJobError(`system ${e.system} has no callback_url or key`);
    const values = JSON.parse(e.payload) as Record<string, string>;
    const body = JSON.stringify({ type: 'bill.paid', idempotency_key: e.idempotencyKey, reference: values[kind.bill.reference_value], bill_id: billId, amount_fen: Number(values[kind.bill.amount_value]), paid_at: new Date(this.d.clock.now()).toISOString() });
    const ts = String(Math.floor(this.d.clock.now() / 1000));
    const res = await fetch(system.callback_url, {
      method: 'POST',
      body,
      signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADERS.system]: system.id, [SIGNATURE_HEADERS.timestamp]: ts, [SIGNATURE_HEADERS.signature]: signBody(secret, ts, body) },
    });
    if (res.status < 200 || res.status >= 300) throw new Error(`department callback answered ${res.status}`);
    await this.d.db.getRepository(DeptEventEntity).update({ id: e.id }, { detail: `paid, department notified (bill ${billId})`.slice(0, 200) });
    this.d.log.info({ event: e.id, system: e.system }, 'department notified of payment');
  }
}
