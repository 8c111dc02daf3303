import type { Logger } from '../platform/log.ts';
import type { Profile } from '../profile/schema.ts';
import type { CustomMessage } from '../wechat/api/index.ts';
import type { Attempt, MessageHandler } from '../wechat/callback.ts';
import { describeReply, MAX_TEXT_BYTES, type Reply } from '../wechat/replies.ts';
import type { ChatEngine } from './engine.ts';
import type { ConversationLog, StoredReply } from './log.ts';
import { replyToCustom, type Outbox } from './outbox.ts';
import { splitText } from './text.ts';

/** What the conversation keeps on a callback attempt while it is answered. */
interface Answering {
  /** When the message arrived (the log's clock): its time in the log. */
  receivedAt: number;
  /** Which route answered. */
  ref: string | null;
  /** What follows the reply, held until the reply is on its way. */
  followUps: CustomMessage[];
}

/** A stored passive reply as it was given. */
export function storedReply(r: StoredReply): Reply {
  return r.payload ? (JSON.parse(r.payload) as Reply) : { type: 'text', content: r.content };
}

/** How long the rest of a long answer waits behind its passive reply. */
export const FOLLOW_UP_DELAY_MS = 1500;

/**
 * The conversation as the callback sees it: let the engine answer the message, then log the
 * message and its answer in one write; what does not fit one passive reply follows as
 * customer-service messages.
 */
export class Conversation implements MessageHandler {
  readonly errorReply: Reply;

  constructor(
    private readonly deps: { profile: Profile; log: ConversationLog; outbox: Outbox; logger: Logger; engine: ChatEngine },
  ) {
    this.errorReply = { type: 'text', content: deps.profile.replies.error };
  }

  get engine(): ChatEngine {
    return this.deps.engine;
  }

  async handle(a: Attempt): Promise<Reply | null> {
    const m = a.message;
    const state: Answering = { receivedAt: this.deps.log.now(), ref: null, followUps: [] };
    a.handler = state;
    if (!a.firstAttempt) {
      // The shared store cannot vouch that no attempt was answered before (a retry after a
      // restart, or one that reached another instance): what the log holds decides.
      const before = await this.deps.log.lookup(a.dedupKey);
      if (!before.fresh && before.reply) {
        a.answeredBefore = true;
        return storedReply(before.reply);
      }
    }
    // Fresh, or stored without a reply (the process died in between, or it had none): answer it now.
    const answer = await this.deps.engine.respond(m);
    state.ref = answer.ref;
    const followUps: CustomMessage[] = [...(answer.followUps ?? [])];
    let reply = answer.reply;
    if (reply?.type === 'text') {
      // A passive text reply is cut beyond 2048 bytes: the rest follows as customer-service messages.
      const [first, ...rest] = splitText(reply.content, MAX_TEXT_BYTES);
      reply = { type: 'text', content: first! };
      followUps.unshift(...rest.map((content): CustomMessage => ({ type: 'text', content })));
    }
    if (reply) {
      // The rest must not overtake the reply: it waits for `replied` (or travels with a late reply).
      state.followUps = followUps;
      return reply;
    }
    // Nothing to say at once: the message is stored now, then whatever follows goes out.
    await this.deps.log.recordExchange(m, a.dedupKey, state.receivedAt, null);
    if (followUps.length) await this.deps.outbox.send({ openid: m.fromUser, messages: followUps, ref: answer.ref });
    return null;
  }

  async replied(a: Attempt, reply: Reply): Promise<Reply> {
    const m = a.message;
    const state = a.handler as Answering | undefined;
    const ref = state?.ref ?? null;
    // The message and its reply in one write, before the reply goes out.
    const recorded = await this.deps.log.recordExchange(m, a.dedupKey, state?.receivedAt ?? this.deps.log.now(), {
      kind: reply.type,
      content: describeReply(reply),
      // A text reply is its content; only other kinds need their whole shape kept.
      payload: reply.type === 'text' ? undefined : reply,
      ref,
    });
    if (!recorded.fresh && recorded.reply) {
      // Another attempt answered this message first: its reply is the one WeChat gets again.
      if (state) state.followUps = [];
      return storedReply(recorded.reply);
    }
    const rest = state?.followUps ?? [];
    if (rest.length) {
      state!.followUps = [];
      // WeChat shows the passive reply when our response reaches it; a customer-service message
      // sent at once could arrive first. A short head start keeps them in order.
      await this.deps.outbox.send({ openid: m.fromUser, messages: rest, ref: ref ?? 'reply' }, { delayMs: FOLLOW_UP_DELAY_MS });
    }
    return reply;
  }

  async late(a: Attempt, reply: Reply): Promise<void> {
    const m = a.message;
    const state = a.handler as Answering | undefined;
    // The message is stored without a passive reply: its answer goes out as a customer-service message.
    await this.deps.log.recordExchange(m, a.dedupKey, state?.receivedAt ?? this.deps.log.now(), null);
    const rest = state?.followUps ?? [];
    if (state) state.followUps = [];
    const message = replyToCustom(reply);
    // One job, in order: the reply first, then what follows it.
    const messages = message ? [message, ...rest] : rest;
    if (messages.length === 0) return;
    await this.deps.outbox.send({ openid: m.fromUser, messages, ref: state?.ref ?? 'late-reply' });
  }
}
