import { describe, expect, it } from 'vitest';
import { ConversationLog, describeInbound } from '../../src/chat/log.ts';
import { dedupKey, toMessage, type InboundMessage } from '../../src/wechat/messages.ts';
import { parseWeChatXml } from '../../src/wechat/xml.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';

/**
 * SQLite never enforces a varchar's length; PostgreSQL does. The conversation log writes every
 * message of an event-loop turn in one transaction, so one row PostgreSQL refuses used to fail
 * the write — and the answer — of every citizen in the same batch.
 */
const start = appsClosedAfterEach();

function text(app: TestApp, openid: string, content: string, msgId: string): string {
  return app.emulator!.wire.buildXml(openid, { type: 'text', content }, Math.floor(app.clock.now() / 1000), msgId);
}

async function count(app: TestApp, sql: string): Promise<number> {
  await app.conversationLog.flush();
  const [row] = (await app.db.query(sql)) as { n: string | number }[];
  return Number(row!.n);
}

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`field bounds (${db.label})`, () => {
    it('an over-long openid or MsgId is refused at the edge, and the citizens beside it are answered', async () => {
      const app = await start({ db: db.name });
      const citizens = Array.from({ length: 8 }, (_, i) => `o_bounds_${i}`);
      for (const c of citizens) await app.emulator!.act(c, { type: 'subscribe' });
      const good = citizens.map((c, i) => text(app, c, i % 2 ? '谢谢' : '你好，我想问一下社保卡丢了怎么补办', `7700000000000${i}`));
      const bad = [
        text(app, `o_${'z'.repeat(90)}`, '谢谢', '77000000000099'), // openid beyond its column
        text(app, 'o_bounds_0', '谢谢', '9'.repeat(200)), // MsgId beyond anything WeChat sends
      ];
      // All at once, so that they would share one group-committed write.
      const all = await Promise.all([...good, ...bad].map((x) => app.emulator!.wire.post(x)));
      expect(all.slice(good.length).map((r) => r.status)).toEqual([400, 400]);
      const answers = await Promise.all(all.slice(0, good.length).map((r) => app.emulator!.wire.readReply(r.body, r.encrypted)));
      for (const a of answers) {
        expect(a?.type).toBe('text');
        expect((a as { content: string }).content).not.toBe(app.profile.replies.error);
      }
      expect(await count(app, `SELECT count(*) AS n FROM messages WHERE direction = 'in' AND openid LIKE 'o_bounds_%' AND kind = 'text'`)).toBe(good.length);
    });

    it('a row the database refuses fails alone: the others of its batch are stored', async () => {
      const app = await start({ db: db.name });
      const make = (openid: string, msgId: string): [InboundMessage, string] => {
        const x = parseWeChatXml(text(app, 'o_placeholder', '麻烦帮我看看我的预约还在不在', msgId));
        const m = { ...toMessage(x), fromUser: openid } as InboundMessage; // past the edge: as if a check were missed
        return [m, dedupKey(m, x)];
      };
      const rows = [make('o_batch_1', '1'), make('o_batch_2', '2'), make(`o_${'q'.repeat(70)}`, '3'), make('o_batch_3', '4')];
      // Enqueued in one turn: one batch.
      const settled = await Promise.allSettled(rows.map(([m, k]) => app.conversationLog.recordExchange(m, k, app.clock.now(), null)));
      const expected = db.name === 'postgres' ? ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'] : ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'];
      expect(settled.map((s) => s.status)).toEqual(expected);
      expect(await count(app, `SELECT count(*) AS n FROM messages WHERE openid IN ('o_batch_1', 'o_batch_2', 'o_batch_3')`)).toBe(3);
      expect(await count(app, `SELECT count(*) AS n FROM citizens WHERE openid IN ('o_batch_1', 'o_batch_2', 'o_batch_3')`)).toBe(3);
      expect(describeInbound(rows[0]![0])).toBe('麻烦帮我看看我的预约还在不在');
    });

    it('one batch: a follow and a first message of one citizen merge; a retry beside them brings its stored reply and changes nothing', async () => {
      const app = await start({ db: db.name });
      const log = app.conversationLog;
      const parse = (xml: string): [InboundMessage, string] => {
        const x = parseWeChatXml(xml);
        const m = toMessage(x);
        return [m, dedupKey(m, x)];
      };
      const wire = app.emulator!.wire;
      const now = () => Math.floor(app.clock.now() / 1000);
      // An earlier message of another citizen, answered and stored.
      const [old, oldKey] = parse(text(app, 'o_batch_old', '上午有人吗', '5000'));
      expect(await log.recordExchange(old, oldKey, app.clock.now(), null)).toEqual({ fresh: true });
      await log.recordOutbound({ openid: 'o_batch_old', kind: 'text', content: '工作日上午 9 点到 12 点都有人。', channel: 'passive', msgKey: `r:${oldKey}` });
      const oldCitizen = await log.citizen('o_batch_old');
      app.clock.advance(60_000);
      const [follow, followKey] = parse(wire.buildXml('o_batch_new', { type: 'subscribe', scene: 'hall-xinhua' }, now(), '0'));
      const [first, firstKey] = parse(text(app, 'o_batch_new', '您好，刚关注，想问问老年卡怎么办', '5001'));
      // Enqueued in one turn: one batch.
      const results = await Promise.all([log.recordExchange(follow, followKey, app.clock.now(), null), log.recordExchange(first, firstKey, app.clock.now(), null), log.recordExchange(old, oldKey, app.clock.now(), null)]);
      expect(results).toEqual([{ fresh: true }, { fresh: true }, { fresh: false, reply: { kind: 'text', content: '工作日上午 9 点到 12 点都有人。', payload: null } }]);
      expect(await log.citizen('o_batch_new')).toMatchObject({ subscribed: true, scene: 'hall-xinhua', lastInteractionKind: 'message', lastMessageAt: app.clock.now() });
      expect(await log.citizen('o_batch_old')).toEqual(oldCitizen); // the retry is not a new interaction
    });

    it('a message and its passive reply are stored together; the reply stored first is the one that stands', async () => {
      const app = await start({ db: db.name });
      const log = app.conversationLog;
      const x = parseWeChatXml(text(app, 'o_exchange_1', '请问公积金提取要带什么材料', '6100'));
      const m = toMessage(x);
      const key = dedupKey(m, x);
      expect(await log.lookup(key)).toEqual({ fresh: true });
      const received = app.clock.now();
      app.clock.advance(300); // handling it took a moment
      const first = { kind: 'text', content: '带身份证和银行卡，到任一服务大厅即可。', payload: undefined, ref: 'faq:gjj' };
      // Two attempts that both answered it (the shared store lost its mark): one batch, the first reply stands.
      const [a, b] = await Promise.all([log.recordExchange(m, key, received, first), log.recordExchange(m, key, received, { ...first, content: '另一个答案' })]);
      expect(a).toEqual({ fresh: true });
      expect(b).toEqual({ fresh: false, reply: { kind: 'text', content: first.content, payload: null } });
      const rows = (await app.db.query(`SELECT direction, content, ref, created_at FROM messages WHERE msg_key IN ('${key}', 'r:${key}') ORDER BY id`)) as { direction: string; content: string; ref: string | null; created_at: string | number }[];
      expect(rows.map((r) => [r.direction, r.content, r.ref])).toEqual([
        ['in', '请问公积金提取要带什么材料', null],
        ['out', first.content, 'faq:gjj'],
      ]);
      // The message keeps the time it arrived, the reply the time it was given.
      expect(rows.map((r) => Number(r.created_at))).toEqual([received, received + 300]);
      expect(await log.citizen('o_exchange_1')).toMatchObject({ subscribed: true, lastMessageAt: received });
      expect(await log.lookup(key)).toEqual({ fresh: false, reply: { kind: 'text', content: first.content, payload: null } });
      // Later attempts get the stored reply.
      expect(await log.recordExchange(m, key, received, { ...first, content: '第三个' })).toEqual({ fresh: false, reply: { kind: 'text', content: first.content, payload: null } });

      // A message with nothing to say at once is stored alone; the lookup says so.
      const y = parseWeChatXml(text(app, 'o_exchange_1', '（没有回复的消息）', '6101'));
      const n = toMessage(y);
      const nKey = dedupKey(n, y);
      expect(await log.recordExchange(n, nKey, app.clock.now(), null)).toEqual({ fresh: true });
      expect(await log.lookup(nKey)).toEqual({ fresh: false, reply: null });
      // Answered later (the process died in between): the reply is stored beside it.
      expect(await log.recordExchange(n, nKey, app.clock.now(), { ...first, content: '补上的答复' })).toEqual({ fresh: true });
      expect(await count(app, `SELECT count(*) AS n FROM messages WHERE msg_key IN ('${nKey}', 'r:${nKey}')`)).toBe(2);
    });

    it('in one batch of one shape, only the citizens whose messages were stored now change; the same batch again changes none', async () => {
      const app = await start({ db: db.name });
      const log = app.conversationLog;
      const parse = (openid: string, words: string, msgId: string): [InboundMessage, string] => {
        const x = parseWeChatXml(text(app, openid, words, msgId));
        const m = toMessage(x);
        return [m, dedupKey(m, x)];
      };
      const said = [parse('o_shape_a', '我上周交的材料审核到哪一步了', '8101'), parse('o_shape_b', '请问周六大厅开门吗', '8102'), parse('o_shape_c', '医保卡挂失打哪个电话', '8103'), parse('o_shape_d', '谢谢你们', '8104')];
      // b and d wrote before: their messages are stored already.
      const before = app.clock.now();
      for (const i of [1, 3]) await log.recordExchange(said[i]![0], said[i]![1], before, null);
      app.clock.advance(5 * 60_000);
      const now = app.clock.now();
      const reply = { kind: 'text', content: '收到，我们尽快答复您。', payload: undefined, ref: 'default' };
      // One turn: one batch, every citizen's change of the same shape (a plain message).
      const results = await Promise.all(said.map(([m, k]) => log.recordExchange(m, k, now, reply)));
      expect(results.map((r) => r.fresh)).toEqual([true, true, true, true]); // b and d had no reply stored: ours stands
      const last = async (openid: string) => (await log.citizen(openid))?.lastMessageAt;
      expect([await last('o_shape_a'), await last('o_shape_b'), await last('o_shape_c'), await last('o_shape_d')]).toEqual([now, before, now, before]);
      // Each message before its reply, in arrival order.
      const rows = (await app.db.query(`SELECT openid, direction FROM messages WHERE openid LIKE 'o_shape_%' AND created_at >= ${now} ORDER BY id`)) as { openid: string; direction: string }[];
      expect(rows.map((r) => `${r.openid.slice(-1)}${r.direction}`)).toEqual(['ain', 'aout', 'bout', 'cin', 'cout', 'dout']);
      // The same batch again (every one a retry, with its reply stored): nothing changes, each gets the reply stored first.
      app.clock.advance(60_000);
      const again = await Promise.all(said.map(([m, k]) => log.recordExchange(m, k, app.clock.now(), { ...reply, content: '另一个答复' })));
      expect(again).toEqual(said.map(() => ({ fresh: false, reply: { kind: 'text', content: reply.content, payload: null } })));
      expect([await last('o_shape_a'), await last('o_shape_b'), await last('o_shape_c'), await last('o_shape_d')]).toEqual([now, before, now, before]);
    });

    it('two logs on one database write batches of different shapes, each on connections the other has prepared statements on', async () => {
      const app = await start({ db: db.name });
      const other = new ConversationLog(app.db, app.clock);
      const parse = (xml: string): [InboundMessage, string] => {
        const x = parseWeChatXml(xml);
        const m = toMessage(x);
        return [m, dedupKey(m, x)];
      };
      const reply = { kind: 'text', content: '您好，欢迎关注。', payload: undefined, ref: 'welcome' };
      // A plain message and a follow change different columns of the citizen: statements of two texts.
      // Each log meets them in the other order, on the same pooled connections.
      for (let i = 0; i < 3; i++) {
        const [said, saidKey] = parse(text(app, `o_twologs_${i}`, '请问公积金怎么提取', `82000${i}`));
        const [follow, followKey] = parse(app.emulator!.wire.buildXml(`o_twologs_f${i}`, { type: 'subscribe' }, Math.floor(app.clock.now() / 1000), ''));
        expect(await app.conversationLog.recordExchange(said, saidKey, app.clock.now(), reply)).toEqual({ fresh: true });
        expect(await other.recordExchange(follow, followKey, app.clock.now(), reply)).toEqual({ fresh: true });
        const [follow2, follow2Key] = parse(app.emulator!.wire.buildXml(`o_twologs_g${i}`, { type: 'subscribe' }, Math.floor(app.clock.now() / 1000), ''));
        const [said2, said2Key] = parse(text(app, `o_twologs_h${i}`, '谢谢', `82100${i}`));
        expect(await app.conversationLog.recordExchange(follow2, follow2Key, app.clock.now(), reply)).toEqual({ fresh: true });
        expect(await other.recordExchange(said2, said2Key, app.clock.now(), reply)).toEqual({ fresh: true });
      }
      expect(await count(app, `SELECT count(*) AS n FROM citizens WHERE openid LIKE 'o_twologs_%'`)).toBe(12);
    });

    it('choosing an audience before the citizen has a row creates the row with it', async () => {
      const app = await start({ db: db.name });
      await app.conversationLog.setAudience('o_new_elder', 'elderly');
      expect(await app.conversationLog.citizen('o_new_elder')).toMatchObject({ audience: 'elderly', subscribed: true, firstSeenAt: app.clock.now() });
      // Their first message, stored after it was answered, keeps it.
      const x = parseWeChatXml(text(app, 'o_new_elder', '老年卡', '6200'));
      const m = toMessage(x);
      app.clock.advance(1000);
      await app.conversationLog.recordExchange(m, dedupKey(m, x), app.clock.now(), null);
      expect(await app.conversationLog.citizen('o_new_elder')).toMatchObject({ audience: 'elderly', lastMessageAt: app.clock.now() });
    });
  });
}
