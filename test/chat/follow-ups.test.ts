import { describe, expect, it } from 'vitest';
import { Conversation, FOLLOW_UP_DELAY_MS } from '../../src/chat/index.ts';
import type { Attempt } from '../../src/wechat/callback.ts';
import type { InboundMessage } from '../../src/wechat/messages.ts';
import type { Reply } from '../../src/wechat/replies.ts';
import { createLogger } from '../../src/platform/log.ts';

/** A conversation whose engine answers with a text too long for one passive reply. */
function rig() {
  const long = Array.from({ length: 60 }, (_, i) => `第 ${i + 1} 行：请带好身份证原件。`).join('\n');
  const queued: { messages: { type: string; content?: string }[]; delayMs: number | undefined }[] = [];
  const conv = new Conversation({
    profile: { replies: { error: '系统繁忙' } },
    log: { now: () => 0, lookup: async () => ({ fresh: true }), recordExchange: async () => ({ fresh: true }), recordOutbound: async () => undefined, findByKey: async () => null },
    outbox: { send: async (m: { messages: { type: string; content?: string }[] }, o: { delayMs?: number } = {}) => (queued.push({ messages: m.messages, delayMs: o.delayMs }), 1) },
    logger: createLogger({ level: 'silent' }),
    engine: { respond: async () => ({ reply: { type: 'text', content: long }, ref: 'rule:long' }) },
  } as unknown as ConstructorParameters<typeof Conversation>[0]);
  const message = { kind: 'text', content: '长文', fromUser: 'o_long', toUser: 'gh_x', createTime: 1, msgId: '1' } as unknown as InboundMessage;
  const attempt = (dedupKey: string) => ({ arrivedAt: Date.now(), message, dedupKey }) as unknown as Attempt;
  const joined = () => queued.flatMap((q) => q.messages.map((m) => m.content)).join('\n');
  return { conv, attempt, long, queued, joined };
}

describe('the rest of a long answer', () => {
  it('is queued only once the passive reply is on its way, a moment behind it', async () => {
    const { conv, attempt, long, queued, joined } = rig();
    const a = attempt('k1');
    const reply = (await conv.handle(a)) as Reply & { content: string };
    expect(queued).toHaveLength(0); // nothing may overtake the reply
    await conv.replied(a, reply);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.delayMs).toBe(FOLLOW_UP_DELAY_MS);
    expect(`${reply.content}\n${joined()}`).toBe(long);
  });

  it('travels with a late reply, in order, as one job', async () => {
    const { conv, attempt, long, queued, joined } = rig();
    const a = attempt('k2');
    const reply = (await conv.handle(a))!;
    await conv.late(a, reply); // the reply missed WeChat's five seconds
    expect(queued).toHaveLength(1);
    expect(queued[0]!.delayMs).toBeUndefined();
    expect(joined()).toBe(long);
  });
});
