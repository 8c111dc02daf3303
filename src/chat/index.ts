import type { Logger } from '../platform/log.ts';
import type { Profile } from '../profile/schema.ts';
import type { CustomMessage } from '../wechat/api/index.ts';
import type { Attempt, MessageHandler } from '../wechat/callback.ts';
import { describeReply, MAX_TEXT_BYTES, type Reply } from '../wechat/replies.ts';
import type { ChatEngine } from './engine.ts';
import { replyKey, type ConversationLog, type StoredReply } from './log.ts';
import { replyToCustom, type Outbox } from './outbox.ts';
import { splitText } from './text.ts';

/** What the conversation keeps on a callback attempt while it is answered. */
interface Answering {
  /** Which route answered. */
  ref: string;
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
 * The conversation as the callback sees it: log the message, let the engine answer it, log the
 * answer; what does not fit one passive reply follows as customer-service messages.
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
    const recorded = await this.deps.log.recordInbound(m, a.dedupKey);
    if (!recorded.fresh && recorded.reply) {
      // Stored and answered before (a retry after a restart, or at another instance): the same reply.
      a.answeredBefore = true;
      return storedReply(recorded.reply);
    }
    // Fresh, or stored without a reply (the process died in between): answer it now.
    const answer = await this.deps.engine.respond(m);
    const state: Answering = { ref: answer.ref, followUps: [] };
    a.handler = state;
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
      if (reply) state.followUps = followUps;
      else await this.deps.outbox.send({ openid: m.fromUser, messages: followUps, ref: answer.ref });
    }
    return reply;
  }

  async replied(a: Attempt, reply: Reply): Promise<void> {
    const m = a.message;
    const state = a.handler as Answering | undefined;
    await this.deps.log.recordOutbound({
      openid: m.fromUser,
      kind: reply.type,
      content: describeReply(reply),
      // A text reply is its content; only other kinds need their whole shape kept.
      ...(reply.type === 'text' ? {} : { payload: reply }),
      channel: 'passive',
      ref: state?.ref ?? null,
      msgKey: replyKey(a.dedupKey),
    });
    const rest = state?.followUps ?? [];
    if (rest.length) {
      state!.followUps = [];
      // WeChat shows the passive reply when our response reaches it; a customer-service message
      // sent at once could arrive first. A short head start keeps them in order.
      await this.deps.outbox.send({ openid: m.fromUser, messages: rest, ref: state!.ref }, { delayMs: FOLLOW_UP_DELAY_MS });
    }
  }

  async late(a: Attempt, reply: Reply): Promise<void> {
    const m = a.message;
    const state = a.handler as Answering | undefined;
    const rest = state?.followUps ?? [];
    if (state) state.followUps = [];
    const message = replyToCustom(reply);
    // One job, in order: the reply first, then what follows it.
    const messages = message ? [message, ...rest] : rest;
    if (messages.length === 0) return;
    await this.deps.outbox.send({ openid: m.fromUser, messages, ref: state?.ref ?? 'late-reply' });
  }
}
