import type { Logger } from '../platform/log.ts';
import type { Profile } from '../profile/schema.ts';
import type { CustomMessage } from '../wechat/api/index.ts';
import type { MessageHandler } from '../wechat/callback.ts';
import type { InboundMessage } from '../wechat/messages.ts';
import { describeReply, MAX_TEXT_BYTES, type Reply } from '../wechat/replies.ts';
import type { ChatEngine } from './engine.ts';
import type { ConversationLog } from './log.ts';
import { replyToCustom, type Outbox } from './outbox.ts';
import { splitText } from './text.ts';

/** The log key of the passive reply to a message: it also says which message a reply answered. */
const replyKey = (dedupKey: string) => `r:${dedupKey}`;

/** How long the rest of a long answer waits behind its passive reply. */
export const FOLLOW_UP_DELAY_MS = 1500;

/**
 * The conversation as the callback sees it: log the message, let the engine answer it, log the
 * answer; what does not fit one passive reply follows as customer-service messages.
 */
export class Conversation implements MessageHandler {
  readonly errorReply: Reply;
  /** Which route answered a message in flight (request-scoped, not shared state). */
  private readonly refs = new WeakMap<InboundMessage, string>();
  /** What follows a message's reply, held until the reply is on its way (request-scoped). */
  private readonly pending = new WeakMap<InboundMessage, CustomMessage[]>();

  constructor(
    private readonly deps: { profile: Profile; log: ConversationLog; outbox: Outbox; logger: Logger; engine: ChatEngine },
  ) {
    this.errorReply = { type: 'text', content: deps.profile.replies.error };
  }

  get engine(): ChatEngine {
    return this.deps.engine;
  }

  async handle(m: InboundMessage, meta: { dedupKey: string }): Promise<Reply | null> {
    if (!(await this.deps.log.recordInbound(m, meta.dedupKey))) return null;
    const answer = await this.deps.engine.respond(m);
    this.refs.set(m, answer.ref);
    const followUps: CustomMessage[] = [...(answer.followUps ?? [])];
    let reply = answer.reply;
    if (reply?.type === 'text') {
      // A passive text reply is cut beyond 2048 bytes: the rest follows as customer-service messages.
      const [first, ...rest] = splitText(reply.content, MAX_TEXT_BYTES);
      reply = { type: 'text', content: first! };
      followUps.unshift(...rest.map((content): CustomMessage => ({ type: 'text', content })));
    }
    if (followUps.length) {
      // The rest must not overtake the reply: it waits for `replied` (or travels with a late reply).
      if (reply) this.pending.set(m, followUps);
      else await this.deps.outbox.send({ openid: m.fromUser, messages: followUps, ref: answer.ref });
    }
    return reply;
  }

  async replied(m: InboundMessage, reply: Reply, meta: { dedupKey: string }): Promise<void> {
    await this.deps.log.recordOutbound({
      openid: m.fromUser,
      kind: reply.type,
      content: describeReply(reply),
      // A text reply is its content; only other kinds need their whole shape kept.
      ...(reply.type === 'text' ? {} : { payload: reply }),
      channel: 'passive',
      ref: this.refs.get(m) ?? null,
      msgKey: replyKey(meta.dedupKey),
    });
    const rest = this.pending.get(m);
    if (rest) {
      this.pending.delete(m);
      // WeChat shows the passive reply when our response reaches it; a customer-service message
      // sent at once could arrive first. A short head start keeps them in order.
      await this.deps.outbox.send({ openid: m.fromUser, messages: rest, ref: this.refs.get(m) ?? 'follow-up' }, { delayMs: FOLLOW_UP_DELAY_MS });
    }
  }

  async replyFor(dedupKey: string): Promise<Reply | null> {
    const row = await this.deps.log.findByKey(replyKey(dedupKey));
    if (!row) return null;
    return row.payload ? (JSON.parse(row.payload) as Reply) : { type: 'text', content: row.content };
  }

  async late(m: InboundMessage, reply: Reply): Promise<void> {
    const rest = this.pending.get(m) ?? [];
    this.pending.delete(m);
    const message = replyToCustom(reply);
    // One job, in order: the reply first, then what follows it.
    const messages = message ? [message, ...rest] : rest;
    if (messages.length === 0) return;
    await this.deps.outbox.send({ openid: m.fromUser, messages, ref: this.refs.get(m) ?? 'late-reply' });
  }
}
