import type { InboundMessage } from '../wechat/messages.ts';
import type { Reply } from '../wechat/replies.ts';

/**
 * One ordered routing table: the first route whose `when` matches handles the message.
 * A reader scans this list to know what happens to any message (after WxJava's message router).
 */
export interface Route<C> {
  /** Recorded with the reply (usage counting): which route answered. */
  name: string;
  when(m: InboundMessage, ctx: C): boolean | Promise<boolean>;
  handle(m: InboundMessage, ctx: C): Promise<RouteResult | Reply | null>;
}

export interface RouteResult {
  reply: Reply | null;
  /** A finer reference than the route's name (a rule id, a navigation node). */
  ref?: string;
}

export interface Routed {
  reply: Reply | null;
  route: string;
  ref: string;
}

export class Router<C> {
  constructor(private readonly routes: Route<C>[]) {}

  names(): string[] {
    return this.routes.map((r) => r.name);
  }

  async dispatch(m: InboundMessage, ctx: C): Promise<Routed> {
    for (const r of this.routes) {
      if (!(await r.when(m, ctx))) continue;
      const out = await r.handle(m, ctx);
      if (out && 'reply' in out && !('type' in out)) return { reply: out.reply, route: r.name, ref: out.ref ?? r.name };
      return { reply: (out as Reply | null) ?? null, route: r.name, ref: r.name };
    }
    return { reply: null, route: 'none', ref: 'none' };
  }
}

/** Events that expect no answer. */
export const SILENT_KINDS = new Set<InboundMessage['kind']>([
  'unsubscribe',
  'location_report',
  'view',
  'template_send_finish',
  'subscribe_msg_popup',
  'subscribe_msg_change',
  'subscribe_msg_sent',
]);
