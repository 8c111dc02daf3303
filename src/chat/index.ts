import type { Logger } from '../platform/log.ts';
import type { Profile } from '../profile/schema.ts';
import type { MessageHandler } from '../wechat/callback.ts';
import type { InboundMessage } from '../wechat/messages.ts';
import { describeReply, type Reply } from '../wechat/replies.ts';
import type { ConversationLog } from './log.ts';
import { replyToCustom, type Outbox } from './outbox.ts';
import { Router, SILENT_KINDS, type Route } from './router.ts';

export interface ChatContext {
  profile: Profile;
}

/** The routing table. Later capabilities insert their routes before the default. */
export function buildRoutes(): Route<ChatContext>[] {
  return [
    { name: 'silent', when: (m) => SILENT_KINDS.has(m.kind), handle: async () => null },
    { name: 'default', when: () => true, handle: async (_m, c) => ({ type: 'text', content: c.profile.replies.default }) },
  ];
}

/** The log key of the passive reply to a message: it also says which message a reply answered. */
const replyKey = (dedupKey: string) => `r:${dedupKey}`;

/**
 * The conversation as the callback sees it: log the message, route it, log the answer.
 */
export class Conversation implements MessageHandler {
  readonly errorReply: Reply;
  private readonly router: Router<ChatContext>;
  /** Which route answered a message in flight (request-scoped, not shared state). */
  private readonly refs = new WeakMap<InboundMessage, string>();

  constructor(
    private readonly deps: { profile: Profile; log: ConversationLog; outbox: Outbox; logger: Logger; routes?: Route<ChatContext>[] },
  ) {
    this.router = new Router(deps.routes ?? buildRoutes());
    this.errorReply = { type: 'text', content: deps.profile.replies.error };
  }

  async handle(m: InboundMessage, meta: { dedupKey: string }): Promise<Reply | null> {
    if (!(await this.deps.log.recordInbound(m, meta.dedupKey))) return null;
    const routed = await this.router.dispatch(m, { profile: this.deps.profile });
    this.refs.set(m, routed.ref);
    return routed.reply;
  }

  async replied(m: InboundMessage, reply: Reply, meta: { dedupKey: string }): Promise<void> {
    await this.deps.log.recordOutbound({
      openid: m.fromUser,
      kind: reply.type,
      content: describeReply(reply),
      payload: reply,
      channel: 'passive',
      ref: this.refs.get(m) ?? null,
      msgKey: replyKey(meta.dedupKey),
    });
  }

  async replyFor(dedupKey: string): Promise<Reply | null> {
    const row = await this.deps.log.findByKey(replyKey(dedupKey));
    return row?.payload ? (JSON.parse(row.payload) as Reply) : null;
  }

  async late(m: InboundMessage, reply: Reply): Promise<void> {
    const message = replyToCustom(reply);
    if (!message) return;
    await this.deps.outbox.send({ openid: m.fromUser, message, ref: this.refs.get(m) ?? 'late-reply' });
  }
}
