import type { EntityManager } from 'typeorm';
import type { Logger } from '../platform/log.ts';
import { PermanentJobError, type JobQueue } from '../platform/jobs.ts';
import { isWeChatError, type CustomMessage, type TemplateMessage, type WeChatApi } from '../wechat/api/index.ts';
import type { Reply } from '../wechat/replies.ts';
import type { ConversationLog } from './log.ts';

export interface OutboundMessage {
  openid: string;
  /** Sent in order as customer-service messages while the 48-hour window is open. */
  messages: CustomMessage[];
  /** Sent instead when the window has closed (or the quota is spent). */
  fallback?: TemplateMessage;
  /** What this message is about (a case, a conversation), for the log. */
  ref?: string;
}

interface Payload extends OutboundMessage {}

/** Summary of a customer-service message for the log. */
export function describeCustom(m: CustomMessage): string {
  switch (m.type) {
    case 'text':
      return m.content;
    case 'news':
      return `[图文] ${m.article.title}`;
    case 'msgmenu':
      return [m.headContent, ...m.list.map((i) => i.content), m.tailContent ?? ''].filter(Boolean).join('\n');
    default:
      return `[${m.type}]`;
  }
}

/** A passive reply as a customer-service message (transfer_customer_service has none). */
export function replyToCustom(r: Reply): CustomMessage | null {
  switch (r.type) {
    case 'text':
      return { type: 'text', content: r.content };
    case 'news':
      return { type: 'news', article: r.article };
    case 'image':
    case 'voice':
      return { type: r.type, mediaId: r.mediaId };
    case 'video':
      return { type: 'video', mediaId: r.mediaId, ...(r.title ? { title: r.title } : {}), ...(r.description ? { description: r.description } : {}) };
    case 'music':
      return { ...r, type: 'music' };
    case 'transfer_customer_service':
      return null;
  }
}

/**
 * Messages the account sends on its own (late replies, staff answers, progress pushes): each is a
 * durable job with retries, recorded once in the conversation log, customer-service message inside
 * the window and the template fallback outside it.
 */
export class Outbox {
  static readonly JOB = 'outbox.send';

  constructor(
    private readonly jobs: JobQueue,
    private readonly api: WeChatApi,
    private readonly log: ConversationLog,
    private readonly logger: Logger,
  ) {
    jobs.define<Payload>(Outbox.JOB, {
      maxAttempts: 6,
      backoffMs: (n) => [5_000, 30_000, 120_000, 600_000, 1_800_000][n - 1] ?? 3_600_000,
      run: (p, job) => this.deliver(p, job.id),
    });
  }

  /**
   * Queue a message. `uniqueKey` makes it idempotent (the same push is never queued twice);
   * `manager` queues it inside the caller's transaction.
   */
  async send(m: OutboundMessage, opts: { uniqueKey?: string; manager?: EntityManager; delayMs?: number } = {}): Promise<number | null> {
    return this.jobs.enqueue<Payload>(Outbox.JOB, m, opts);
  }

  private async deliver(p: Payload, jobId: number): Promise<void> {
    await this.deliverSequence(p, p.messages.length === 1 ? `out:job:${jobId}` : `out:job:${jobId}:`, `job-${jobId}`);
  }

  /**
   * Deliver right now, from a job of the caller's that keeps its own order (a case's progress).
   * `key` names the delivery in the log: a key already there is not sent again. Throws on a
   * failure worth retrying; returns how the message went.
   */
  async deliverNow(p: OutboundMessage, key: string): Promise<'custom' | 'template' | 'already'> {
    const first = p.messages.length === 1 ? `out:${key}` : `out:${key}:0`;
    if (await this.log.findByKey(first)) return 'already';
    return this.deliverSequence(p, p.messages.length === 1 ? `out:${key}` : `out:${key}:`, key);
  }

  private async deliverSequence(p: Payload, keyBase: string, clientMsgId: string): Promise<'custom' | 'template' | 'already'> {
    let how: 'custom' | 'template' | 'already' = 'already';
    for (let i = 0; i < p.messages.length; i++) {
      const key = p.messages.length === 1 ? keyBase : `${keyBase}${i}`;
      if (await this.log.findByKey(key)) continue; // sent before a crash or an error cut the job short: never twice
      const sent = await this.deliverOne(p, p.messages[i]!, clientMsgId, key, i === 0);
      how = sent ? 'custom' : 'template';
      if (!sent) break; // fell back to the template: the rest cannot follow
    }
    return how;
  }

  /** True when sent as a customer-service message; false when the template fallback went instead. */
  private async deliverOne(p: Payload, message: CustomMessage, clientMsgId: string, key: string, first: boolean): Promise<boolean> {
    try {
      await this.api.custom.send(p.openid, message);
      await this.record(p, 'custom', describeCustom(message), message, key, message.type);
      return true;
    } catch (err) {
      const closed = isWeChatError(err, 'out_of_window') || isWeChatError(err, 'quota_exceeded');
      if (!closed) {
        if (isWeChatError(err) && !err.retryable) throw new PermanentJobError(err.message);
        throw err;
      }
      if (!p.fallback || !first) {
        this.logger.warn({ ref: p.ref, reason: (err as Error).message }, 'customer-service window closed and no template fallback');
        throw new PermanentJobError((err as Error).message);
      }
    }
    try {
      await this.api.template.send(p.openid, { ...p.fallback, clientMsgId: (p.fallback.clientMsgId ?? clientMsgId).slice(0, 64) });
    } catch (err) {
      if (isWeChatError(err) && !err.retryable) throw new PermanentJobError(err.message);
      throw err;
    }
    const summary = Object.values(p.fallback.data).join(' · ');
    await this.record(p, 'template', summary, p.fallback, key, 'template');
    return false;
  }

  private async record(p: Payload, channel: 'custom' | 'template', content: string, payload: unknown, key: string, kind: string): Promise<void> {
    await this.log.recordOutbound({ openid: p.openid, kind, content, payload, channel, ref: p.ref ?? null, msgKey: key });
  }
}
