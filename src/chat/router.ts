import type { InboundMessage } from '../wechat/messages.ts';

/**
 * One ordered routing table: the first route whose `when` matches handles the message.
 * A reader scans this list to know what happens to any message (after WxJava's message router).
 */
export interface Route<C, R = unknown> {
  /** Says what the route is for; also what a reader of the table sees. */
  name: string;
  when(m: InboundMessage, ctx: C): boolean | Promise<boolean>;
  handle(m: InboundMessage, ctx: C): Promise<R>;
}

export class Router<C, R = unknown> {
  constructor(private readonly routes: Route<C, R>[]) {}

  names(): string[] {
    return this.routes.map((r) => r.name);
  }

  /** The first matching route's result, or null when no route matches. */
  async dispatch(m: InboundMessage, ctx: C): Promise<{ result: R; route: string } | null> {
    for (const r of this.routes) {
      // Most conditions are synchronous: awaiting those would cost a promise per route per message.
      const w = r.when(m, ctx);
      if (w === true || (w !== false && (await w))) return { result: await r.handle(m, ctx), route: r.name };
    }
    return null;
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
  'unknown', // a type WeChat added after this code: stored, not answered
]);
