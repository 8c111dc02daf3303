import { randomInt } from 'node:crypto';
import { In, IsNull, type DataSource, type EntityManager } from 'typeorm';
import type { Outbox } from '../../chat/outbox.ts';
import type { CustomMessage } from '../../wechat/api/index.ts';
import { fillTemplate } from '../../chat/templates.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import { insertIgnoringDuplicate, nextNumber } from '../../platform/db.ts';
import type { JobQueue } from '../../platform/jobs.ts';
import { tryLock, type Kv } from '../../platform/kv/index.ts';
import { stepStatus, type Wording } from '../../profile/texts.ts';
import type { Logger } from '../../platform/log.ts';
import { maskPersonal, maskText, type PersonalKind } from '../../platform/pii.ts';
import type { FileStorage } from '../../platform/storage.ts';
import { personalKind, type Application, type FormField } from '../../profile/application.ts';
import type { Service } from '../../profile/catalogue.ts';
import type { ProfileTemplate } from '../../profile/schema.ts';
import { isValidAt } from '../../profile/validity.ts';
import { AttachmentEntity, CaseCounterEntity, CaseEntity, CaseEventEntity, DraftEntity, type AttachmentRow, type CaseEventKind, type CaseEventRow, type CaseRow } from './entities.ts';
import { checkForm, cleanFileName, type FieldValue, type Upload } from './forms.ts';
import { clip } from '../../platform/text.ts';

const DAY = 86_400_000;
/** Wrong tries at a case number and query code a caller (an openid, an IP) has per window. */
const LOOKUP_TRIES = 10;
const LOOKUP_WINDOW_MS = 3_600_000;
/** Bounds a submit whose instance died while holding the per-citizen lock (files are stored inside it). */
const SUBMIT_LOCK_MS = 120_000;
const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

export type CaseFailure = 'not_applicable' | 'invalid' | 'not_found' | 'wrong_state' | 'conflict' | 'too_many' | 'not_allowed';

/** A refusal with a plain Chinese explanation; nothing was written. `fields` says which fields are wrong. */
export class CaseError extends Error {
  constructor(
    readonly code: CaseFailure,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'CaseError';
  }
}

export type ApplicableService = Service & { application: Application };

export interface CasesDeps {
  ds: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  jobs: JobQueue;
  outbox: Outbox;
  kv: Kv;
  storage: FileStorage;
  services: Service[];
  templates: Record<string, ProfileTemplate>;
  publicUrl: string;
  log: Logger;
  /** The department that handles an item (the profile's departments), when the application names none. */
  departmentFor?: (serviceId: string) => string | null;
  /** The supervisor (负责人) an overdue case of the department is escalated to, as the inbox chooses. */
  supervisorOf?: (department: string | null) => Promise<Supervisor | null>;
  /**
   * Told when a case passes its due time, inside the transaction that marks it escalated (the
   * audit entry): if it throws, nothing of the escalation is kept and the deadline job retries.
   */
  onEscalate?: (c: CaseRow, tx: EntityManager, supervisor: Supervisor | null) => Promise<void>;
  /** The profile's words for 办件, 受理, 办结 … in what is pushed to citizens. */
  wording?: Wording;
  /**
   * An item with a fee: issue its bill inside the transaction that accepts (or submits) the case,
   * so the case never moves without its bill nor the bill exists without the move.
   */
  charge?: (c: CaseRow, s: ApplicableService, tx: EntityManager) => Promise<void>;
  /** How an address field should be filled (the profile's texts.address_example). */
  addressExample?: string;
  /** After 办结 told inside the window: the rating question (好差评), as tappable choices. */
  ratingMenu?: (c: CaseRow) => CustomMessage | null;
}

export interface Supervisor {
  id: number;
  name: string;
  username: string;
}

/** What each move tells the citizen (null: nothing to tell). */
const PUSH_KINDS = new Set<CaseEventKind>(['submitted', 'accepted', 'advanced', 'correction_requested', 'refused', 'completed', 'renewal_reminded']);

/**
 * Applications and cases: apply online, then one command per move — accept, ask for more
 * material (补正, the clock pauses), take it back in, advance, complete, refuse — used alike by the
 * staff panel and the tests. Every move is a timeline entry with who, when and a note, and is
 * pushed to the citizen in order, once each.
 */
export class Cases {
  static readonly PUSH = 'cases.push';
  static readonly OVERDUE = 'cases.overdue';
  static readonly RENEWAL = 'cases.renewal';
  private readonly services: Map<string, Service>;

  constructor(private readonly d: CasesDeps) {
    this.services = new Map(d.services.map((s) => [s.id, s]));
    d.jobs.define<{ caseId: number }>(Cases.PUSH, { maxAttempts: 8, run: (p) => this.pushPending(p.caseId) });
    d.jobs.define<{ caseId: number; dueAt: number }>(Cases.OVERDUE, { maxAttempts: 5, run: (p) => this.checkOverdue(p.caseId, p.dueAt) });
    d.jobs.define<{ caseId: number }>(Cases.RENEWAL, { maxAttempts: 5, run: (p) => this.remindRenewal(p.caseId) });
  }

  // ---- what can be applied for -----------------------------------------------------------------

  applicable(now = this.d.clock.now()): ApplicableService[] {
    return [...this.services.values()].filter((s): s is ApplicableService => !!s.application && isValidAt(s, now));
  }

  service(id: string): ApplicableService | null {
    const s = this.services.get(id);
    return s?.application && isValidAt(s, this.d.clock.now()) ? (s as ApplicableService) : null;
  }

  stepName(serviceId: string, step: string): string {
    return this.services.get(serviceId)?.application?.steps.find((s) => s.id === step)?.name ?? step;
  }

  /** What the case is while at a step: 审核中, 报名成功, 煎药中 (see stepStatus). */
  stepStatus(serviceId: string, step: string): string {
    const s = this.services.get(serviceId)?.application?.steps.find((x) => x.id === step);
    return s ? stepStatus(s) : step;
  }

  // ---- drafts ------------------------------------------------------------------------------------

  async draft(openid: string, serviceId: string): Promise<{ values: Record<string, FieldValue>; attachments: AttachmentRow[] }> {
    const row = await this.d.ds.getRepository(DraftEntity).findOneBy({ openid, serviceId });
    const attachments = await this.d.ds.getRepository(AttachmentEntity).find({ where: { openid, serviceId, caseId: IsNull() }, order: { id: 'ASC' } });
    return { values: row ? (JSON.parse(row.data) as Record<string, FieldValue>) : {}, attachments };
  }

  /** Keep what the citizen has typed and uploaded so far; what is wrong is reported, the rest kept. */
  async saveDraft(openid: string, serviceId: string, input: Record<string, string>, uploads: Upload[]): Promise<Record<string, string>> {
    const s = this.require(serviceId);
    const existing = await this.draft(openid, serviceId);
    const checked = checkForm(s.application.form, input, uploads, { now: this.d.clock.now(), ...(this.d.addressExample ? { addressExample: this.d.addressExample } : {}), kept: this.countKept(existing.attachments), partial: true });
    const values = { ...existing.values, ...checked.values };
    for (const f of s.application.form) if (f.type !== 'file' && (input[f.id] ?? '').trim() === '' && f.id in input) delete values[f.id];
    const stored = await this.storeFiles(openid, serviceId, checked.files);
    const now = this.d.clock.now();
    try {
      await this.d.ds.transaction(async (tx) => {
        await this.linkFiles(tx, stored, null);
        const repo = tx.getRepository(DraftEntity);
        const res = await repo.update({ openid, serviceId }, { data: JSON.stringify(values), updatedAt: now });
        if (!res.affected) await insertIgnoringDuplicate(tx, DraftEntity, { openid, serviceId, data: JSON.stringify(values), updatedAt: now });
      });
    } catch (err) {
      await this.discardFiles(stored);
      throw err;
    }
    return checked.errors;
  }

  private countKept(attachments: AttachmentRow[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of attachments) out[a.fieldId] = (out[a.fieldId] ?? 0) + 1;
    return out;
  }

  /**
   * Take a file out of the citizen's own draft (a wrong photo, to upload another). Only while it is
   * still a draft file: one a submit has just taken into a case stays there.
   */
  async removeDraftFile(openid: string, attachmentId: number, serviceId?: string): Promise<boolean> {
    if (!Number.isSafeInteger(attachmentId)) return false;
    const where = { id: attachmentId, openid, caseId: IsNull(), ...(serviceId ? { serviceId } : {}) };
    const a = await this.d.ds.getRepository(AttachmentEntity).findOneBy(where);
    if (!a) return false;
    const res = await this.d.ds.getRepository(AttachmentEntity).delete(where);
    if (res.affected !== 1) return false;
    await this.d.storage.delete(a.storageKey).catch((err: unknown) => this.d.log.warn({ err, attachment: a.id }, 'removed draft file left in storage'));
    return true;
  }

  // ---- applying --------------------------------------------------------------------------------

  private require(serviceId: string): ApplicableService {
    const s = this.service(serviceId);
    if (!s) throw new CaseError('not_applicable', '这项服务暂时不能在网上申请。');
    return s;
  }

  /**
   * Submit an application. Every field is checked first (files by content, not name); files are
   * stored; then the case, its number and query code, its attachments, its first timeline entry
   * and the message to the citizen are written in one transaction — or nothing is (and the stored
   * files are removed again).
   *
   * One submit per citizen and item at a time (a double tap, two tabs): the files already in the
   * draft count towards the required ones, and only one case may take them. The other submit is
   * refused and says why; the transaction also takes exactly the draft files that were counted, so
   * a case is never stored without the files it was checked with.
   */
  async submit(openid: string, serviceId: string, input: Record<string, string>, uploads: Upload[]): Promise<CaseRow> {
    const s = this.require(serviceId);
    const lock = await tryLock(this.d.kv, `case-submit:${openid}:${serviceId}`, SUBMIT_LOCK_MS);
    if (!lock) throw new CaseError('conflict', '您的申请正在提交，请稍等一下，不用重复提交。提交好了会在「我的办件」里看到。');
    try {
      return await this.submitLocked(s, openid, serviceId, input, uploads);
    } finally {
      await lock.release();
    }
  }

  private async submitLocked(s: ApplicableService, openid: string, serviceId: string, input: Record<string, string>, uploads: Upload[]): Promise<CaseRow> {
    const draft = await this.draft(openid, serviceId);
    const checked = checkForm(s.application.form, input, uploads, { now: this.d.clock.now(), ...(this.d.addressExample ? { addressExample: this.d.addressExample } : {}), kept: this.countKept(draft.attachments) });
    if (Object.keys(checked.errors).length) throw new CaseError('invalid', '有几项需要改一下，请看标红的地方。', checked.errors);
    const stored = await this.storeFiles(openid, serviceId, checked.files);
    try {
      return await this.d.ds.transaction(async (tx) => {
        const now = this.d.clock.now();
        const caseNo = await this.nextCaseNo(tx, now);
        const queryCode = Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
        const row: Omit<CaseRow, 'id'> = {
          caseNo,
          queryCode,
          openid,
          serviceId,
          department: s.application.department ?? this.d.departmentFor?.(s.id) ?? null,
          status: 'submitted',
          step: s.application.steps[0]!.id,
          stepBeforeCorrection: null,
          formData: JSON.stringify(checked.values),
          feeFen: s.application.fee_fen ?? null,
          submittedAt: now,
          acceptedAt: null,
          dueAt: null,
          pausedAt: null,
          correctionRequest: null,
          completedAt: null,
          validUntil: null,
          escalatedAt: null,
          escalatedTo: null,
          updatedAt: now,
        };
        const res = await tx.createQueryBuilder().insert().into(CaseEntity).values(row).execute();
        const c: CaseRow = { ...row, id: res.identifiers[0]!.id as number };
        await this.linkFiles(tx, stored, c.id);
        const kept = draft.attachments.map((x) => x.id);
        if (kept.length) {
          const taken = await tx.getRepository(AttachmentEntity).update({ id: In(kept), openid, caseId: IsNull() }, { caseId: c.id });
          if (taken.affected !== kept.length) throw new CaseError('conflict', '草稿里的文件刚刚有了变动，请刷新页面，看一下已上传的文件再提交。');
        }
        await tx.getRepository(DraftEntity).delete({ openid, serviceId });
        await this.event(tx, c, 'submitted', 'citizen', null);
        if (s.application.fee_fen && s.application.fee_at === 'submit') await this.d.charge?.(c, s, tx);
        return c;
      });
    } catch (err) {
      await this.discardFiles(stored);
      throw err;
    }
  }

  private async storeFiles(openid: string, serviceId: string, files: Record<string, { upload: Upload; mime: string }[]>): Promise<Omit<AttachmentRow, 'id' | 'caseId'>[]> {
    const out: Omit<AttachmentRow, 'id' | 'caseId'>[] = [];
    const { createHash } = await import('node:crypto');
    try {
      for (const [fieldId, list] of Object.entries(files)) {
        for (const { upload, mime } of list) {
          const storageKey = await this.d.storage.put(upload.data);
          out.push({
            openid,
            serviceId,
            fieldId,
            fileName: cleanFileName(upload.fileName),
            mime,
            size: upload.data.length,
            sha256: createHash('sha256').update(upload.data).digest('hex'),
            storageKey,
            createdAt: this.d.clock.now(),
            replacedAt: null,
          });
        }
      }
    } catch (err) {
      await this.discardFiles(out);
      throw err;
    }
    return out;
  }

  private async linkFiles(tx: EntityManager, stored: Omit<AttachmentRow, 'id' | 'caseId'>[], caseId: number | null): Promise<void> {
    if (stored.length) await tx.createQueryBuilder().insert().into(AttachmentEntity).values(stored.map((s) => ({ ...s, caseId }))).execute();
  }

  private async discardFiles(stored: { storageKey: string }[]): Promise<void> {
    for (const s of stored) await this.d.storage.delete(s.storageKey).catch(() => undefined);
  }

  /** WB20261124-0007: a counter per (China-time) day. */
  private async nextCaseNo(tx: EntityManager, now: number): Promise<string> {
    const p = this.d.calendar.localParts(now);
    const day = `${p.year}${String(p.month).padStart(2, '0')}${String(p.day).padStart(2, '0')}`;
    return `WB${day}-${String(await nextNumber(tx, CaseCounterEntity, { day })).padStart(4, '0')}`;
  }

  // ---- the handler's moves -----------------------------------------------------------------------

  private async move(caseId: number, expect: CaseRow['status'][], fn: (c: CaseRow, s: ApplicableService, tx: EntityManager, now: number) => Promise<Partial<CaseRow> & { event: CaseEventKind; note: string | null }>, actor: string): Promise<CaseRow> {
    return this.d.ds.transaction(async (tx) => {
      const c = await tx.getRepository(CaseEntity).findOneBy({ id: caseId });
      if (!c) throw new CaseError('not_found', '没有找到这个办件。');
      if (!expect.includes(c.status)) throw new CaseError('wrong_state', `办件现在是「${statusName(c.status)}」，不能这样操作。`);
      const s = this.services.get(c.serviceId) as ApplicableService;
      const now = this.d.clock.now();
      const { event, note, ...changes } = await fn(c, s, tx, now);
      // Conditional on the state read: a concurrent move by a colleague makes this one fail cleanly.
      const res = await tx.getRepository(CaseEntity).update({ id: c.id, status: c.status, step: c.step, updatedAt: c.updatedAt }, { ...changes, updatedAt: now });
      if (res.affected !== 1) throw new CaseError('conflict', '办件刚被别人处理过，请刷新后再试。');
      const next = { ...c, ...changes, updatedAt: now };
      await this.event(tx, next, event, actor, note);
      return next;
    });
  }

  /** 受理: the clock starts (承诺时限 in working days). */
  async accept(caseId: number, actor: string, note: string | null = null): Promise<CaseRow> {
    return this.move(
      caseId,
      ['submitted'],
      async (c, s, tx, now) => {
        const dueAt = this.d.calendar.workingDaysDeadline(now, s.application.time_limit_days);
        await this.scheduleOverdue(tx, c.id, dueAt);
        if (s.application.fee_fen && s.application.fee_at === 'accept') await this.d.charge?.(c, s, tx);
        return { event: 'accepted', note, status: 'in_progress', step: s.application.steps[1]!.id, acceptedAt: now, dueAt };
      },
      actor,
    );
  }

  /**
   * Move to the next step; moving into the last step completes the case. With only two steps
   * (受理 → 办结) acceptance already stands at the last one, and advancing from it completes too.
   */
  async advance(caseId: number, actor: string, note: string | null = null): Promise<CaseRow> {
    const c = await this.d.ds.getRepository(CaseEntity).findOneBy({ id: caseId });
    if (!c) throw new CaseError('not_found', '没有找到这个办件。');
    const steps = (this.services.get(c.serviceId) as ApplicableService).application.steps;
    const i = steps.findIndex((x) => x.id === c.step);
    if (c.status === 'in_progress' && i >= 0 && i >= steps.length - 2) return this.complete(caseId, actor, note);
    return this.move(caseId, ['in_progress'], async (cur) => {
      const j = steps.findIndex((x) => x.id === cur.step);
      if (j < 0 || j >= steps.length - 2) throw new CaseError('wrong_state', '已经是最后一步了，请办结。');
      return { event: 'advanced', note, step: steps[j + 1]!.id };
    }, actor);
  }

  /** 办结. A permit with a validity gets its renewal reminder. */
  async complete(caseId: number, actor: string, note: string | null = null): Promise<CaseRow> {
    return this.move(
      caseId,
      ['in_progress'],
      async (c, s, tx, now) => {
        const validUntil = s.application.validity_days ? now + s.application.validity_days * DAY : null;
        if (validUntil) {
          const at = validUntil - s.application.renewal_reminder_days * DAY;
          if (at > now) await this.d.jobs.enqueue(Cases.RENEWAL, { caseId: c.id }, { runAt: at, uniqueKey: `case:${c.id}:renewal`, manager: tx });
        }
        await this.cancelOverdue(tx, c.id);
        return { event: 'completed', note, status: 'completed', step: s.application.steps[s.application.steps.length - 1]!.id, completedAt: now, validUntil };
      },
      actor,
    );
  }

  /** 补正: tell the citizen exactly what is missing; the clock pauses until they send it. */
  async requestCorrection(caseId: number, actor: string, missing: string): Promise<CaseRow> {
    const what = missing.trim();
    if (what.length < 4) throw new CaseError('invalid', '请写清楚缺什么材料、为什么缺，市民才知道怎么补。');
    return this.move(
      caseId,
      ['submitted', 'in_progress'],
      async (c, s, tx, now) => {
        if (!s.application.correction) throw new CaseError('not_allowed', '这个事项不办理补正。');
        await this.cancelOverdue(tx, c.id);
        return { event: 'correction_requested', note: what, status: 'correction', stepBeforeCorrection: c.step, correctionRequest: what, pausedAt: c.acceptedAt ? now : null };
      },
      actor,
    );
  }

  /** 不予受理 (or 不予许可): the reason is told to the citizen. */
  async refuse(caseId: number, actor: string, reason: string): Promise<CaseRow> {
    const why = reason.trim();
    if (why.length < 4) throw new CaseError('invalid', '请写明不予受理的理由和依据。');
    return this.move(
      caseId,
      ['submitted', 'correction', 'in_progress'],
      async (c, s, tx) => {
        if (!s.application.refusal) throw new CaseError('not_allowed', '这个事项不设不予受理。');
        await this.cancelOverdue(tx, c.id);
        return { event: 'refused', note: why, status: 'refused' };
      },
      actor,
    );
  }

  // ---- the citizen's side --------------------------------------------------------------------

  /**
   * The citizen sends what was missing (from the same case); the case goes back where it was.
   * A field keeps at most its max_files current files: when the new ones would go past it, they
   * replace the field's oldest (a clearer photo for a blurred one). Replaced files stay on the
   * case for the record, marked, and no longer count.
   */
  async correct(openid: string, caseId: number, input: Record<string, string>, uploads: Upload[]): Promise<CaseRow> {
    const c = await this.own(openid, caseId);
    if (c.status !== 'correction') throw new CaseError('wrong_state', '这个办件现在不需要补正。');
    const s = this.services.get(c.serviceId) as ApplicableService;
    const fileFields = s.application.form.filter((f): f is Extract<FormField, { type: 'file' }> => f.type === 'file').map((f) => ({ ...f, required: false }));
    const checked = checkForm(fileFields, {}, uploads, { now: this.d.clock.now(), ...(this.d.addressExample ? { addressExample: this.d.addressExample } : {}), partial: true });
    if (Object.keys(checked.errors).length) throw new CaseError('invalid', '有文件需要换一下，请看标红的地方。', checked.errors);
    const note = clip((input.note ?? '').trim(), 500);
    if (Object.values(checked.files).flat().length === 0 && note.length === 0) throw new CaseError('invalid', '请上传补正的材料，或写一句说明。');
    const stored = await this.storeFiles(openid, c.serviceId, checked.files);
    try {
      return await this.move(
        caseId,
        ['correction'],
        async (cur, _s, tx, now) => {
          await this.replaceOverLimit(tx, cur.id, fileFields, checked.files, now);
          await this.linkFiles(tx, stored, cur.id);
          let dueAt = cur.dueAt;
          if (dueAt && cur.pausedAt) {
            // Time waiting for the citizen does not count: the due date moves by the working days it took.
            dueAt = this.d.calendar.addWorkingDays(dueAt, this.d.calendar.workingDaysBetween(cur.pausedAt, now));
            await this.scheduleOverdue(tx, cur.id, dueAt);
          }
          const back = cur.stepBeforeCorrection ?? s.application.steps[0]!.id;
          return { event: 'corrected', note: note || null, status: cur.acceptedAt ? 'in_progress' : 'submitted', step: back, stepBeforeCorrection: null, pausedAt: null, dueAt };
        },
        'citizen',
      );
    } catch (err) {
      await this.discardFiles(stored);
      throw err;
    }
  }

  /** The citizen's own case; another's reads as "not found" whatever its id. */
  async own(openid: string, caseId: number): Promise<CaseRow> {
    const c = Number.isSafeInteger(caseId) ? await this.d.ds.getRepository(CaseEntity).findOneBy({ id: caseId, openid }) : null;
    if (!c) throw new CaseError('not_found', '没有找到这个办件。');
    return c;
  }

  async mine(openid: string): Promise<CaseRow[]> {
    return this.d.ds.getRepository(CaseEntity).find({ where: { openid }, order: { submittedAt: 'DESC' } });
  }

  /** By number: the applicant, or anyone with the query code. The answer does not say which failed. */
  async lookup(caseNo: string, who: { openid?: string; queryCode?: string }): Promise<CaseRow | null> {
    const no = caseNo.trim().toUpperCase();
    if (!/^WB\d{8}-\d{4}$/.test(no)) return null;
    const c = await this.d.ds.getRepository(CaseEntity).findOneBy({ caseNo: no });
    if (!c) return null;
    if (who.openid && c.openid === who.openid) return c;
    const code = (who.queryCode ?? '').trim().toUpperCase();
    return code.length === 6 && code === c.queryCode ? c : null;
  }

  /**
   * lookup() for callers who may guess. Each caller (`openid:…`, `ip:…`) has its own number of
   * failed tries per LOOKUP_WINDOW_MS (LOOKUP_TRIES unless given: an address may be shared by many
   * citizens behind one network, so it is given more), then is refused (too_many) even with the
   * right code. A try is counted before the lookup and given back when it succeeds, so parallel
   * guesses cannot all slip in under the limit; the window starts at a caller's first counted try.
   */
  async lookupLimited(caseNo: string, who: { openid?: string; queryCode?: string }, callers: (string | { key: string; tries: number })[]): Promise<CaseRow | null> {
    const limits = [...new Map(callers.map((c) => (typeof c === 'string' ? [c, LOOKUP_TRIES] : [c.key, c.tries])))].map(([c, tries]) => ({ key: `case-lookup:${c}`, tries }));
    const keys = limits.map((l) => l.key);
    const counts = await Promise.all(keys.map((k) => this.d.kv.incr(k, 1, LOOKUP_WINDOW_MS)));
    if (counts.some((n, i) => n > limits[i]!.tries)) {
      await Promise.all(keys.map((k) => this.d.kv.giveBack(k))); // a refused try is no guess
      throw new CaseError('too_many', '查询码输错的次数太多了。为了保护办件信息，请过一小时再查。');
    }
    const c = await this.lookup(caseNo, who);
    if (c) await Promise.all(keys.map((k) => this.d.kv.giveBack(k)));
    return c;
  }

  async timeline(caseId: number): Promise<CaseEventRow[]> {
    return this.d.ds.getRepository(CaseEventEntity).find({ where: { caseId }, order: { id: 'ASC' } });
  }

  /** A case's files, oldest first; `current` leaves out those replaced in a 补正. */
  async attachments(caseId: number, o: { current?: boolean } = {}): Promise<AttachmentRow[]> {
    return this.d.ds.getRepository(AttachmentEntity).find({ where: { caseId, ...(o.current ? { replacedAt: IsNull() } : {}) }, order: { id: 'ASC' } });
  }

  /** Mark the oldest current files of each field replaced, so that with `incoming` none goes past its max_files. */
  private async replaceOverLimit(tx: EntityManager, caseId: number, fields: Extract<FormField, { type: 'file' }>[], incoming: Record<string, unknown[]>, now: number): Promise<void> {
    const repo = tx.getRepository(AttachmentEntity);
    for (const f of fields) {
      const n = incoming[f.id]?.length ?? 0;
      if (n === 0) continue;
      const current = await repo.find({ where: { caseId, fieldId: f.id, replacedAt: IsNull() }, order: { id: 'ASC' } });
      const over = current.length + n - f.max_files;
      if (over > 0) await repo.update({ id: In(current.slice(0, over).map((x) => x.id)), replacedAt: IsNull() }, { replacedAt: now });
    }
  }

  /** A stored file, for its owner (or staff, who pass no openid). */
  async file(attachmentId: number, openid?: string): Promise<{ row: AttachmentRow; data: Buffer } | null> {
    const row = await this.d.ds.getRepository(AttachmentEntity).findOneBy(openid ? { id: attachmentId, openid } : { id: attachmentId });
    if (!row) return null;
    return { row, data: await this.d.storage.get(row.storageKey) };
  }

  async get(caseId: number): Promise<CaseRow | null> {
    return Number.isSafeInteger(caseId) ? this.d.ds.getRepository(CaseEntity).findOneBy({ id: caseId }) : null;
  }

  /**
   * A timeline note as it may be shown. What the citizen wrote (a 补正 note) is free text that may
   * hold anything personal: masked wherever it is shown, in full only to staff after an audited
   * 显示完整, and never to someone who holds only the number and the query code (the public
   * progress page, 进度 asked for someone else). What staff wrote for the citizen is shown as written.
   */
  noteShown(e: CaseEventRow, to: 'public' | 'citizen' | 'staff', revealed = false): string | null {
    if (!e.note) return null;
    if (e.actor !== 'citizen') return e.note;
    if (to === 'public') return null;
    return to === 'staff' && revealed ? e.note : maskText(e.note);
  }

  /** The form in full (staff, after an audited 显示完整). */
  plainForm(c: CaseRow): { label: string; value: string }[] {
    const s = this.services.get(c.serviceId) as ApplicableService | undefined;
    const values = JSON.parse(c.formData) as Record<string, FieldValue>;
    return (s?.application.form ?? []).filter((f) => f.type !== 'file' && values[f.id] !== undefined).map((f) => ({ label: f.label, value: String(values[f.id]) }));
  }

  /** The form as staff and citizens see it in lists: personal data masked. */
  maskedForm(c: CaseRow): { label: string; value: string }[] {
    const s = this.services.get(c.serviceId) as ApplicableService | undefined;
    const values = JSON.parse(c.formData) as Record<string, FieldValue>;
    return (s?.application.form ?? [])
      .filter((f) => f.type !== 'file' && values[f.id] !== undefined)
      .map((f) => {
        const v = String(values[f.id]);
        const kind = personalKind(f);
        // A field of a personal kind is masked as that kind; a free-text field as text (it may hold anything).
        return { label: f.label, value: kind ? maskPersonal(kind, v) : f.type === 'text' ? maskText(v) : v };
      });
  }

  /** The kinds of personal data the case's form holds (what a reveal shows, named in its audit entry). */
  personalKinds(c: CaseRow): PersonalKind[] {
    const s = this.services.get(c.serviceId) as ApplicableService | undefined;
    const values = JSON.parse(c.formData) as Record<string, FieldValue>;
    const kinds = (s?.application.form ?? []).filter((f) => values[f.id] !== undefined && values[f.id] !== '').map(personalKind);
    return [...new Set(kinds.filter((k): k is PersonalKind => k !== null))];
  }

  /** The department's cases for the staff panel, most urgent first; `escalated`: only those under 督办. */
  async forDepartment(department: string | null, filter: { status?: CaseRow['status'][]; escalated?: boolean } = {}): Promise<CaseRow[]> {
    const qb = this.d.ds.getRepository(CaseEntity).createQueryBuilder('c');
    if (department) qb.where('c.department = :department', { department });
    if (filter.status?.length) qb.andWhere('c.status IN (:...st)', { st: filter.status });
    if (filter.escalated) qb.andWhere('c.escalated_at IS NOT NULL');
    return (await qb.getMany()).sort((a, b) => (a.dueAt ?? Infinity) - (b.dueAt ?? Infinity) || a.submittedAt - b.submittedAt);
  }

  // ---- timeline, pushes, deadlines -------------------------------------------------------------

  private async event(tx: EntityManager, c: CaseRow, kind: CaseEventKind, actor: string, note: string | null): Promise<void> {
    const now = this.d.clock.now();
    await tx.createQueryBuilder().insert().into(CaseEventEntity).values({ caseId: c.id, kind, step: c.step, note, actor, createdAt: now, pushedAt: null }).execute();
    if (PUSH_KINDS.has(kind)) await this.d.jobs.enqueue(Cases.PUSH, { caseId: c.id }, { manager: tx });
  }

  /**
   * Tell the citizen every move not yet told, oldest first, under a per-case lock: in order, and
   * each once (a move is marked told only after it went out).
   */
  private async pushPending(caseId: number): Promise<void> {
    const lock = await tryLock(this.d.kv, `case-push:${caseId}`, 60_000);
    if (!lock) throw new Error('another instance is pushing this case; retry');
    try {
      const c = await this.d.ds.getRepository(CaseEntity).findOneBy({ id: caseId });
      if (!c) return;
      const pending = await this.d.ds
        .getRepository(CaseEventEntity)
        .createQueryBuilder('e')
        .where('e.case_id = :id AND e.pushed_at IS NULL', { id: caseId })
        .orderBy('e.id', 'ASC')
        .getMany();
      for (const e of pending) {
        if (PUSH_KINDS.has(e.kind)) {
          const how = await this.d.outbox.deliverNow(this.pushFor(c, e), `case-event:${e.id}`);
          // Told inside the window: the rating question follows as its own message (past it, the case page asks).
          const menu = e.kind === 'completed' && how === 'custom' ? this.d.ratingMenu?.(c) : null;
          if (menu) await this.d.outbox.send({ openid: c.openid, messages: [menu], ref: `case:${c.id}:rating` }, { uniqueKey: `case-rating:${c.id}` });
        }
        await this.d.ds.getRepository(CaseEventEntity).update({ id: e.id }, { pushedAt: this.d.clock.now() });
      }
    } finally {
      await lock.release();
    }
  }

  casePage(c: CaseRow): string {
    return `${this.d.publicUrl}/h5/cases/${c.id}`;
  }

  applyPage(serviceId: string): string {
    return `${this.d.publicUrl}/h5/apply/${serviceId}`;
  }

  private pushFor(c: CaseRow, e: CaseEventRow) {
    const name = this.services.get(c.serviceId)?.name ?? c.serviceId;
    const step = this.stepName(c.serviceId, e.step ?? c.step);
    const link = `<a href="${this.casePage(c)}">查看办理进度</a>`;
    const due = c.dueAt ? this.day(c.dueAt) : null;
    const texts: Record<string, string> = {
      submitted: `已收到您的「${name}」申请。\n办件编号：${c.caseNo}\n查询码：${c.queryCode}（家人帮您查进度时需要）\n我们会尽快受理，办理进展会发到这里。回复「进度」可随时查看。\n${link}`,
      accepted: `您的「${name}」申请已受理（${c.caseNo}）。${due ? `承诺${due}前办结。` : ''}\n${link}`,
      advanced: `您的「${name}」（${c.caseNo}）已进入「${step}」环节。${e.note ? `\n说明：${e.note}` : ''}\n${link}`,
      correction_requested: `您的「${name}」（${c.caseNo}）需要补充材料：\n${e.note}\n请点下面的链接补充，补齐后我们继续办理：\n<a href="${this.casePage(c)}">去补充材料</a>`,
      refused: `很抱歉，您的「${name}」申请（${c.caseNo}）不予受理。\n原因：${e.note}\n有疑问可以回复「转人工」。`,
      completed: `您的「${name}」（${c.caseNo}）已办结！${e.note ? `\n${e.note}` : ''}\n${link}`,
      renewal_reminded: `您的「${name}」（${c.caseNo}）将于 ${c.validUntil ? this.day(c.validUntil) : ''} 到期，可以提前在网上办理：\n<a href="${this.applyPage(c.serviceId)}">现在去办理</a>`,
    };
    const t = this.d.templates.case_progress;
    const stepWord = e.kind === 'refused' ? '不予受理' : e.kind === 'correction_requested' ? '需要补正' : e.kind === 'completed' ? '已办结' : e.kind === 'renewal_reminded' ? '即将到期' : e.kind === 'submitted' ? '已提交' : step;
    // The renewal reminder leads to applying again, as its text does; every other move to the case.
    const target = e.kind === 'renewal_reminded' ? this.applyPage(c.serviceId) : this.casePage(c);
    const fallback = t ? fillTemplate(t, { service: name, case_no: c.caseNo, step: stepWord, time: this.minute(this.d.clock.now()), note: e.note ?? '' }, target) : undefined;
    return { openid: c.openid, messages: [{ type: 'text' as const, content: (this.d.wording ?? String)(texts[e.kind] ?? '') }], ...(fallback ? { fallback } : {}), ref: `case:${c.id}` };
  }

  private day(t: number): string {
    const p = this.d.calendar.localParts(t);
    return `${p.year}年${p.month}月${p.day}日`;
  }

  private minute(t: number): string {
    const p = this.d.calendar.localParts(t);
    return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')} ${String(Math.floor(p.minutes / 60)).padStart(2, '0')}:${String(p.minutes % 60).padStart(2, '0')}`;
  }

  /**
   * The deadline check for a due time. Its key carries the move's place on the timeline, not only
   * the due time: a 补正 answered within the same working day leaves the due time as it was, and
   * the check called off when 补正 was asked must then be scheduled anew, not found "already there".
   */
  private async scheduleOverdue(tx: EntityManager, caseId: number, dueAt: number): Promise<void> {
    const seq = await tx.getRepository(CaseEventEntity).countBy({ caseId });
    await this.d.jobs.enqueue(Cases.OVERDUE, { caseId, dueAt }, { runAt: dueAt, uniqueKey: `case:${caseId}:overdue:${dueAt}:${seq}`, manager: tx });
  }

  /** Call off the case's pending deadline checks (whatever due time or move they were for). */
  private async cancelOverdue(tx: EntityManager, caseId: number): Promise<void> {
    await this.d.jobs.cancelByPrefix(`case:${caseId}:overdue:`, tx);
  }

  /**
   * At the due time: still open and not waiting for the citizen → 督办, escalated to the
   * department's supervisor. The mark, the supervisor, the timeline entry and onEscalate's audit
   * entry are one transaction: a failure leaves nothing half done, and the job's retry does it all.
   */
  private async checkOverdue(caseId: number, dueAt: number): Promise<void> {
    // Only an accepted case has a due time (a 补正 before acceptance sends it back to 待受理 without one).
    const open = (c: CaseRow | null): c is CaseRow => !!c && c.dueAt === dueAt && !c.pausedAt && !c.escalatedAt && c.status === 'in_progress';
    const c = await this.d.ds.getRepository(CaseEntity).findOneBy({ id: caseId });
    if (!open(c)) return;
    // Looked up before the transaction: on SQLite a read from outside would wait for it.
    const supervisor = (await this.d.supervisorOf?.(c.department)) ?? null;
    await this.d.ds.transaction(async (tx) => {
      const now = this.d.clock.now();
      const res = await tx
        .getRepository(CaseEntity)
        .update({ id: c.id, status: c.status, dueAt, pausedAt: IsNull(), escalatedAt: IsNull() }, { escalatedAt: now, escalatedTo: supervisor?.id ?? null });
      if (res.affected !== 1) return; // moved or escalated meanwhile
      const next: CaseRow = { ...c, escalatedAt: now, escalatedTo: supervisor?.id ?? null };
      const to = supervisor ? `已提交负责人督办：${supervisor.name}（${supervisor.username}）` : '本部门没有在岗负责人，已提交管理员督办';
      await this.event(tx, next, 'escalated', 'system', `超过承诺时限（${this.day(dueAt)}），${to}`);
      await this.d.onEscalate?.(next, tx, supervisor);
    });
  }

  /** Once per case: a run repeated after its reminder was written (its instance stopped) sends nothing more. */
  private async remindRenewal(caseId: number): Promise<void> {
    await this.d.ds.transaction(async (tx) => {
      const c = await tx.getRepository(CaseEntity).findOneBy({ id: caseId });
      if (!c || c.status !== 'completed' || !c.validUntil) return;
      if ((await tx.getRepository(CaseEventEntity).countBy({ caseId, kind: 'renewal_reminded' })) > 0) return;
      await this.event(tx, c, 'renewal_reminded', 'system', null);
    });
  }
}

const STATUS_NAMES: Record<CaseRow['status'], string> = { submitted: '待受理', in_progress: '办理中', correction: '待补正', completed: '已办结', refused: '不予受理' };

export function statusName(s: CaseRow['status']): string {
  return STATUS_NAMES[s];
}
