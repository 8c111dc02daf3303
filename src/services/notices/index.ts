import { EntitySchema, In, type DataSource } from 'typeorm';
import { CitizenEntity } from '../../chat/log.ts';
import type { Clock } from '../../platform/clock.ts';
import { epochMs, sqliteDirect } from '../../platform/db.ts';
import { PermanentJobError, type JobQueue } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/log.ts';
import { fieldLimit } from '../../profile/bindings.ts';
import type { Profile, ProfileTemplate } from '../../profile/schema.ts';
import { isWeChatError, WeChatApiError, type WeChatApi } from '../../wechat/api/index.ts';
import { BindingEntity } from '../bindings/entities.ts';
import { CaseEntity } from '../cases/entities.ts';

export type NoticeStatus = 'draft' | 'sending' | 'paused' | 'done';

export interface NoticeRow {
  id: number;
  /** The profile template's purpose (templates.<purpose>). */
  template: string;
  data: string;
  url: string | null;
  /** all | audience:<id> | binding:<kind> | service:<id> */
  segment: string;
  status: NoticeStatus;
  total: number;
  sent: number;
  failed: number;
  /** Reported delivered by TEMPLATESENDJOBFINISH. */
  delivered: number;
  /** The send chain's generation: a batch job of an older one stops (pause and resume start a new one). */
  batches: number;
  createdBy: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export const NoticeEntity = new EntitySchema<NoticeRow>({
  name: 'Notice',
  tableName: 'notices',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    template: { type: 'varchar', length: 64 },
    data: { type: 'text' },
    url: { type: 'varchar', length: 300, nullable: true },
    segment: { type: 'varchar', length: 120 },
    status: { type: 'varchar', length: 16 },
    total: { type: 'integer', default: 0 },
    sent: { type: 'integer', default: 0 },
    failed: { type: 'integer', default: 0 },
    delivered: { type: 'integer', default: 0 },
    batches: { type: 'integer', default: 0 },
    createdBy: { name: 'created_by', type: 'integer' },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    startedAt: { name: 'started_at', type: 'bigint', nullable: true, transformer: epochMs },
    finishedAt: { name: 'finished_at', type: 'bigint', nullable: true, transformer: epochMs },
  },
});

export interface NoticeRecipientRow {
  id: number;
  noticeId: number;
  openid: string;
  /** pending → sending (claimed) → sent | failed. A crash leaves `sending`: resent with the same client_msg_id. */
  status: 'pending' | 'sending' | 'sent' | 'failed';
  msgid: string | null;
  delivery: string | null;
  sentAt: number | null;
}

export const NoticeRecipientEntity = new EntitySchema<NoticeRecipientRow>({
  name: 'NoticeRecipient',
  tableName: 'notice_recipients',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    noticeId: { name: 'notice_id', type: 'integer' },
    openid: { type: 'varchar', length: 64 },
    status: { type: 'varchar', length: 16 },
    msgid: { type: 'varchar', length: 32, nullable: true },
    delivery: { type: 'varchar', length: 40, nullable: true },
    sentAt: { name: 'sent_at', type: 'bigint', nullable: true, transformer: epochMs },
  },
  indices: [
    { name: 'ux_notice_recipients', columns: ['noticeId', 'openid'], unique: true },
    { name: 'ix_notice_recipients_next', columns: ['noticeId', 'status', 'id'] },
    { name: 'ix_notice_recipients_msgid', columns: ['msgid'] },
  ],
});

export class NoticeError extends Error {}

export interface NoticesDeps {
  db: DataSource;
  clock: Clock;
  jobs: JobQueue;
  api: WeChatApi;
  log: Logger;
  profile: Profile;
  publicUrl: string;
  /** Messages per batch and the pause between batches: WeChat's rate, kept. */
  batchSize?: number;
  batchIntervalMs?: number;
  /** Sends in flight at once within a batch (default 16): the rate is kept by the batches, not by waiting on each answer. */
  concurrency?: number;
}

/**
 * Mass notices (群发通知): a template message to a segment of followers, sent as a resumable job.
 * The recipients are fixed when sending starts; each is claimed before it is sent and marked after,
 * and the send carries `client_msg_id` = notice and recipient, so a run killed mid-send and taken over
 * sends nobody twice (WeChat drops a repeat of the same id within 10 minutes).
 */
export class Notices {
  static readonly JOB = 'notices.batch';
  readonly batchSize: number;
  readonly batchIntervalMs: number;
  readonly concurrency: number;

  constructor(private readonly d: NoticesDeps) {
    this.batchSize = d.batchSize ?? 100;
    this.batchIntervalMs = d.batchIntervalMs ?? 1000;
    this.concurrency = Math.max(1, d.concurrency ?? 16);
    d.jobs.define<{ noticeId: number; generation: number; step?: number }>(Notices.JOB, {
      maxAttempts: 20,
      backoffMs: (n) => Math.min(600_000, 5_000 * 2 ** (n - 1)),
      leaseMs: 120_000,
      run: (p) => this.batch(p.noticeId, p.generation, p.step ?? 0),
    });
  }

  /** Segments staff may choose, with their labels. */
  segments(): { id: string; label: string }[] {
    const p = this.d.profile;
    return [
      { id: 'all', label: '全部关注者' },
      ...(p.audiences?.options ?? []).map((a) => ({ id: `audience:${a.id}`, label: `人群：${a.name}` })),
      ...p.bindings.kinds.map((k) => ({ id: `binding:${k.id}`, label: `已绑定${k.name}的市民` })),
      ...p.services.filter((s) => s.application).map((s) => ({ id: `service:${s.id}`, label: `申请过「${s.name}」的市民` })),
    ];
  }

  segmentLabel(id: string): string {
    return this.segments().find((s) => s.id === id)?.label ?? id;
  }

  template(purpose: string): ProfileTemplate | undefined {
    return this.d.profile.templates[purpose];
  }

  /** Check each value against WeChat's limit for its field: refused with the label, never cut. */
  checkValues(t: ProfileTemplate, values: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of Object.keys(t.fields)) {
      const label = t.labels[key] ?? key;
      const v = (values[key] ?? '').replace(/\s+/g, ' ').trim();
      if (!v) throw new NoticeError(`请填写「${label}」`);
      const lim = fieldLimit(key);
      if (lim && [...v].length > lim.max) throw new NoticeError(`「${label}」最多 ${lim.max} 个字，现在 ${[...v].length} 个（微信会拒发）`);
      if (lim?.ascii && /[^\x20-\x7e]/.test(v)) throw new NoticeError(`「${label}」只能填字母、数字和符号（微信不收汉字）`);
      if (lim?.chineseOnly && /[^\u4e00-\u9fa5]/.test(v)) throw new NoticeError(`「${label}」只能填汉字`);
      out[key] = v;
    }
    return out;
  }

  async create(staffId: number, template: string, values: Record<string, string>, segment: string, url: string | null): Promise<NoticeRow> {
    const t = this.template(template);
    if (!t) throw new NoticeError('没有这个模板');
    if (!this.segments().some((s) => s.id === segment)) throw new NoticeError('请选择发送对象');
    if (url && !/^(\/h5\/[^\s]*|https:\/\/[^\s]+)$/.test(url)) throw new NoticeError('链接须以 /h5/ 或 https:// 开头');
    const data = this.checkValues(t, values);
    const now = this.d.clock.now();
    return this.d.db.getRepository(NoticeEntity).save({ template, data: JSON.stringify(data), url, segment, status: 'draft', total: 0, sent: 0, failed: 0, delivered: 0, batches: 0, createdBy: staffId, createdAt: now, startedAt: null, finishedAt: null } as NoticeRow);
  }

  async get(id: number): Promise<NoticeRow | null> {
    return this.d.db.getRepository(NoticeEntity).findOneBy({ id });
  }

  async list(): Promise<NoticeRow[]> {
    return this.d.db.getRepository(NoticeEntity).find({ order: { id: 'DESC' }, take: 50 });
  }

  /** Followers in a segment now (subscribed only). */
  async audience(segment: string): Promise<string[]> {
    const db = this.d.db;
    const followers = async (extra: Record<string, unknown> = {}) => (await db.getRepository(CitizenEntity).find({ select: { openid: true }, where: { subscribed: true, ...extra } })).map((c) => c.openid);
    const [kind, value] = segment.includes(':') ? (segment.split(':', 2) as [string, string]) : [segment, ''];
    if (kind === 'all') return followers();
    if (kind === 'audience') return followers({ audience: value });
    const among = async (openids: string[]) => {
      const set = new Set(await followers());
      return [...new Set(openids)].filter((o) => set.has(o));
    };
    if (kind === 'binding') return among((await db.getRepository(BindingEntity).find({ select: { openid: true }, where: { kind: value, status: 'bound' } })).map((b) => b.openid));
    if (kind === 'service') return among((await db.getRepository(CaseEntity).find({ select: { openid: true }, where: { serviceId: value } })).map((c) => c.openid));
    throw new NoticeError('unknown segment');
  }

  /** Fix the recipients and start sending. */
  async start(id: number): Promise<NoticeRow> {
    const recipients = await this.audience((await this.get(id))?.segment ?? 'all');
    return this.d.db.transaction(async (tx) => {
      const repo = tx.getRepository(NoticeEntity);
      const now = this.d.clock.now();
      const res = await repo.update({ id, status: 'draft' }, { status: 'sending', startedAt: now, total: recipients.length, batches: 1 });
      if (!res.affected) throw new NoticeError('这条通知已经发出过了');
      for (let i = 0; i < recipients.length; i += 500) {
        await tx.getRepository(NoticeRecipientEntity).insert(recipients.slice(i, i + 500).map((openid) => ({ noticeId: id, openid, status: 'pending' as const, msgid: null, delivery: null, sentAt: null })));
      }
      await this.d.jobs.enqueue(Notices.JOB, { noticeId: id, generation: 1 }, { uniqueKey: `notice:${id}:1:0`, manager: tx });
      return (await repo.findOneByOrFail({ id }))!;
    });
  }

  async pause(id: number): Promise<boolean> {
    const res = await this.d.db.getRepository(NoticeEntity).update({ id, status: 'sending' }, { status: 'paused' });
    return !!res.affected;
  }

  async resume(id: number): Promise<boolean> {
    return this.d.db.transaction(async (tx) => {
      const repo = tx.getRepository(NoticeEntity);
      const n = await repo.findOneBy({ id, status: 'paused' });
      if (!n) return false;
      const generation = n.batches + 1;
      const res = await repo.update({ id, status: 'paused', batches: n.batches }, { status: 'sending', batches: generation });
      if (!res.affected) return false;
      await this.d.jobs.enqueue(Notices.JOB, { noticeId: id, generation }, { uniqueKey: `notice:${id}:${generation}:0`, manager: tx });
      return true;
    });
  }

  /**
   * One batch: claim it (one statement), send it with up to `concurrency` calls in flight, mark the
   * sent in one transaction; then schedule the next so that batches start `batchIntervalMs` apart
   * (the rate, counted from this batch's start rather than its end), or finish.
   */
  private async batch(noticeId: number, generation: number, step: number): Promise<void> {
    const db = this.d.db;
    const startedAt = this.d.clock.now();
    const notice = await this.get(noticeId);
    if (!notice || notice.status !== 'sending' || notice.batches !== generation) return; // paused, done, or an older chain
    const t = this.template(notice.template);
    if (!t) throw new PermanentJobError(`template ${notice.template} is no longer in the profile`);
    const data = JSON.parse(notice.data) as Record<string, string>;
    const url = notice.url ? (notice.url.startsWith('/') ? `${this.d.publicUrl}${notice.url}` : notice.url) : undefined;
    const rrepo = db.getRepository(NoticeRecipientEntity);
    // Those left `sending` by a run that died go first, with the same client_msg_id. Two queries,
    // each walking the (notice, status, id) index for a batch, rather than one over both statuses
    // that sorts every pending recipient to take the first hundred.
    const pick = { select: { id: true, openid: true, status: true }, order: { id: 'ASC' as const } };
    const left = await rrepo.find({ ...pick, where: { noticeId, status: 'sending' }, take: this.batchSize });
    const fresh = left.length < this.batchSize ? await rrepo.find({ ...pick, where: { noticeId, status: 'pending' }, take: this.batchSize - left.length }) : [];
    if (fresh.length) {
      // Claimed together: a crash from here on leaves them `sending`, resent with their own client_msg_id.
      await rrepo.createQueryBuilder().update(NoticeRecipientEntity).set({ status: 'sending' }).where('id IN (:...ids) AND status = :pending', { ids: fresh.map((r) => r.id), pending: 'pending' }).execute();
    }
    const next = [...left, ...fresh];
    const sent: { id: number; msgid: string; at: number }[] = [];
    const refused: { id: number; delivery: string }[] = [];
    const unsent: number[] = [];
    let quotaSpent = false;
    let failure: unknown = null;
    let i = 0;
    const worker = async () => {
      while (i < next.length) {
        const r = next[i++]!;
        if (quotaSpent || failure) {
          // Not tried: one this run claimed goes back to `pending`; one left `sending` by a run that
          // died stays so (it may be in the citizen's WeChat already: only its own id may resend it).
          if (r.status === 'pending') unsent.push(r.id);
          continue;
        }
        try {
          const res = await this.d.api.template.send(r.openid, { templateId: t.id, data, ...(url ? { url } : {}), clientMsgId: `nt-${noticeId}-${r.id}` });
          sent.push({ id: r.id, msgid: String(res.msgid), at: this.d.clock.now() });
        } catch (err) {
          if (err instanceof WeChatApiError && err.errcode === 45009) {
            quotaSpent = true;
            unsent.push(r.id); // refused, so not sent: back to `pending`
          } else if (isWeChatError(err) && !err.retryable) {
            refused.push({ id: r.id, delivery: `refused ${(err as WeChatApiError).errcode}`.slice(0, 40) });
          } else {
            failure ??= err; // retried later: this recipient stays `sending` and is resent with the same id
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, next.length) }, worker));
    await this.mark(sent, refused, quotaSpent ? unsent : []);
    if (quotaSpent) {
      // The day's template quota is spent: hold the notice (resumed by staff, or tomorrow).
      await db.getRepository(NoticeEntity).update({ id: noticeId, status: 'sending' }, { status: 'paused' });
      await this.count(noticeId);
      this.d.log.warn({ notice: noticeId }, 'notice paused: the daily template quota is spent');
      return;
    }
    if (failure) {
      await this.count(noticeId);
      throw failure;
    }
    const remaining = await this.count(noticeId);
    if (remaining === 0) {
      await db.getRepository(NoticeEntity).update({ id: noticeId, status: 'sending' }, { status: 'done', finishedAt: this.d.clock.now() });
      this.d.log.info({ notice: noticeId }, 'notice sent to everyone in its segment');
      return;
    }
    // Keyed by chain and step: a batch run again after a crash schedules the same next step, not a second chain.
    const delayMs = Math.max(0, startedAt + this.batchIntervalMs - this.d.clock.now());
    await this.d.jobs.enqueue(Notices.JOB, { noticeId, generation, step: step + 1 }, { uniqueKey: `notice:${noticeId}:${generation}:${step + 1}`, delayMs });
  }

  /** Record a batch's outcome in one transaction: sent (with WeChat's msgid), refused, and those put back (quota). */
  private async mark(sent: { id: number; msgid: string; at: number }[], refused: { id: number; delivery: string }[], back: number[]): Promise<void> {
    if (!sent.length && !refused.length && !back.length) return;
    const direct = sqliteDirect(this.d.db);
    if (direct) {
      // SQLite: prepared statements in one transaction, without TypeORM's query building per row.
      await direct.run((h) => {
        const s = h.prepare('UPDATE notice_recipients SET status = ?, msgid = ?, sent_at = ? WHERE id = ?');
        const f = h.prepare('UPDATE notice_recipients SET status = ?, delivery = ? WHERE id = ?');
        const b = h.prepare("UPDATE notice_recipients SET status = 'pending' WHERE id = ?");
        h.transaction(() => {
          for (const r of sent) s.run('sent', r.msgid, r.at, r.id);
          for (const r of refused) f.run('failed', r.delivery, r.id);
          for (const id of back) b.run(id);
        })();
      });
      return;
    }
    await this.d.db.transaction(async (tx) => {
      const repo = tx.getRepository(NoticeRecipientEntity);
      for (const r of sent) await repo.update({ id: r.id }, { status: 'sent', msgid: r.msgid, sentAt: r.at });
      for (const r of refused) await repo.update({ id: r.id }, { status: 'failed', delivery: r.delivery });
      if (back.length) await repo.update({ id: In(back) }, { status: 'pending' });
    });
  }

  /** Recount sent and failed (one pass over the notice's index entries); returns how many are left. */
  private async count(noticeId: number): Promise<number> {
    const rows = (await this.d.db.getRepository(NoticeRecipientEntity).createQueryBuilder('r').select('r.status', 'status').addSelect('COUNT(*)', 'n').where('r.notice_id = :noticeId', { noticeId }).groupBy('r.status').getRawMany()) as { status: string; n: string | number }[];
    const by = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
    await this.d.db.getRepository(NoticeEntity).update({ id: noticeId }, { sent: by('sent'), failed: by('failed') });
    return by('pending') + by('sending');
  }

  /** TEMPLATESENDJOBFINISH: record a recipient's delivery (success, failed:user block, failed:system failed). */
  async delivered(msgid: string, status: string): Promise<boolean> {
    const rrepo = this.d.db.getRepository(NoticeRecipientEntity);
    const r = await rrepo.findOneBy({ msgid });
    if (!r || r.delivery) return false;
    await rrepo.update({ id: r.id }, { delivery: status.slice(0, 40) });
    const delivered = await rrepo.count({ where: { noticeId: r.noticeId, delivery: 'success' } });
    await this.d.db.getRepository(NoticeEntity).update({ id: r.noticeId }, { delivered });
    return true;
  }

  /** Delivery results of a notice: how many of each status. */
  async report(noticeId: number): Promise<Record<string, number>> {
    const rows = (await this.d.db.getRepository(NoticeRecipientEntity).createQueryBuilder('r').select('r.delivery', 'delivery').addSelect('COUNT(*)', 'n').where('r.notice_id = :id', { id: noticeId }).groupBy('r.delivery').getRawMany()) as { delivery: string | null; n: string | number }[];
    return Object.fromEntries(rows.map((r) => [r.delivery ?? 'unreported', Number(r.n)]));
  }
}
