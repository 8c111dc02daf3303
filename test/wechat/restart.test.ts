import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { FakeClock } from '../../src/platform/clock.ts';
const claimTtlMs = (t: number) => t + 1000;
import { dedupKey, toMessage } from '../../src/wechat/messages.ts';
import { parseWeChatXml } from '../../src/wechat/xml.ts';
import { MONDAY_10AM, startTestApp, type TestApp } from '../helpers/app.ts';
import { available, KV_BACKENDS, uniqueName } from '../helpers/backends.ts';

/**
 * WeChat retries a message it got no answer to (three times, five seconds apart). Here the
 * process that took the message is gone — stopped after answering, or killed between storing the
 * message and storing its reply — and the retry reaches a fresh process on the same database
 * (and the same Redis, when there is one). "Answered" must be as durable as the reply itself.
 */
const REPLY_TIMEOUT_MS = 400;
const apps: TestApp[] = [];
const files: string[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const f of files.splice(0)) for (const s of ['', '-wal', '-shm']) if (existsSync(f + s)) rmSync(f + s);
});

async function instance(shared: string, kv: 'memory' | 'redis', clock: FakeClock): Promise<TestApp> {
  const app = await startTestApp({ shared, kv, clock, profile: (p) => (p.wechat.reply_timeout_ms = REPLY_TIMEOUT_MS) });
  apps.push(app);
  return app;
}

/** Stop an instance as a crash would: nothing of its memory survives; the database and Redis do. */
async function crash(app: TestApp): Promise<void> {
  apps.splice(apps.indexOf(app), 1);
  await app.close();
}

/** A citizen's text exactly as WeChat posts it, and posts it again on a retry (same query, same body). */
function retryable(app: TestApp, openid: string, content: string, msgId: string) {
  const xml = app.emulator!.wire.buildXml(openid, { type: 'text', content }, Math.floor(app.clock.now() / 1000), msgId);
  const timestamp = String(Math.floor(app.clock.now() / 1000));
  return {
    xml,
    key: dedupKey(toMessage(parseWeChatXml(xml)), parseWeChatXml(xml)),
    /** Post to whichever instance is up now. */
    async post(to: TestApp) {
      const res = await to.emulator!.wire.post(xml, { timestamp, nonce: '424242' });
      return { status: res.status, raw: res.body, reply: res.status === 200 ? await to.emulator!.wire.readReply(res.body, res.encrypted) : null };
    },
  };
}

async function rows(app: TestApp, msgKey: string): Promise<{ direction: string; content: string }[]> {
  await app.conversationLog.flush();
  return app.db.query(`SELECT direction, content FROM messages WHERE msg_key = ${app.db.options.type === 'postgres' ? '$1' : '?'} OR msg_key = ${app.db.options.type === 'postgres' ? '$2' : '?'} ORDER BY id`, [msgKey, `r:${msgKey}`]);
}

/** Count how often the conversation engine answers on an instance. */
function countAnswers(app: TestApp): { n: number } {
  const counter = { n: 0 };
  const respond = app.engine.respond.bind(app.engine);
  app.engine.respond = async (m) => (counter.n++, respond(m));
  return counter;
}

for (const kv of KV_BACKENDS) {
  describe.skipIf(!available(kv))(`a retry after a restart (SQLite file, ${kv.label})`, () => {
    it('is answered from the reply stored before the restart, not with success, and not handled again', async () => {
      const shared = uniqueName('restart');
      files.push(`/tmp/${shared}.sqlite`);
      const clock = new FakeClock(MONDAY_10AM);
      const first = await instance(shared, kv.name, clock);
      await first.emulator!.act('o_restart_1', { type: 'subscribe' });
      const msg = retryable(first, 'o_restart_1', '你好，请问办居住证要带哪些材料？我下午想过去', '88000000000000001');
      const answered = await msg.post(first);
      expect(answered.status).toBe(200);
      expect(answered.reply?.type).toBe('text');

      await crash(first);
      clock.advance(5_000); // WeChat's retry comes five seconds later
      const second = await instance(shared, kv.name, clock);
      const answers = countAnswers(second);
      const retry = await msg.post(second);
      expect(retry.status).toBe(200);
      expect(retry.raw).not.toBe('success');
      expect(retry.reply).toEqual(answered.reply);
      expect(answers.n).toBe(0);
      const stored = await rows(second, msg.key);
      expect(stored.map((r) => r.direction)).toEqual(['in', 'out']);
    });

    it('is handled when the process died after storing the message but before storing its reply', async () => {
      const shared = uniqueName('restart');
      files.push(`/tmp/${shared}.sqlite`);
      const clock = new FakeClock(MONDAY_10AM);
      const first = await instance(shared, kv.name, clock);
      await first.emulator!.act('o_restart_2', { type: 'subscribe' });
      const msg = retryable(first, 'o_restart_2', '谢谢你们', '88000000000000002');
      // What the dying process left: the message stored, its claim on the message (in Redis, where
      // it outlives the process), no reply.
      expect(await first.conversationLog.recordExchange(toMessage(parseWeChatXml(msg.xml)), msg.key, clock.now(), null)).toBeTruthy();
      await first.kv.set(`dedup:${msg.key}`, 'p', claimTtlMs(REPLY_TIMEOUT_MS));
      await crash(first);

      const second = await instance(shared, kv.name, clock);
      const answers = countAnswers(second);
      // WeChat's next retry comes five seconds after the last: by then a dead process's claim has lapsed.
      while ((await second.kv.get(`dedup:${msg.key}`)) !== null) await new Promise((r) => setTimeout(r, 50));
      clock.advance(5_000);
      const retry = await msg.post(second);
      expect(retry.status).toBe(200);
      expect(retry.raw).not.toBe('success');
      expect(retry.reply?.type).toBe('text');
      expect(answers.n).toBe(1);
      const stored = await rows(second, msg.key);
      expect(stored.map((r) => r.direction)).toEqual(['in', 'out']);
      expect(stored[1]!.content).toBe((retry.reply as { content: string }).content);

      // And the retry after that gets the same reply, from the log.
      const again = await msg.post(second);
      expect(again.reply).toEqual(retry.reply);
      expect(answers.n).toBe(1);
    });
  });
}
