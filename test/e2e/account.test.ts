import { describe, expect, it } from 'vitest';
import { MessageEntity } from '../../src/chat/log.ts';
import { HOUR } from '../../src/platform/clock.ts';
import { sha1Signature } from '../../src/wechat/signature.ts';
import { available, DB_BACKENDS, KV_BACKENDS } from '../helpers/backends.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const app = appsClosedAfterEach();

const combos = DB_BACKENDS.flatMap((db) => KV_BACKENDS.map((kv) => ({ db, kv })));

for (const { db, kv } of combos) {
  const ok = available(db) && available(kv);
  describe.skipIf(!ok)(`the demo account on ${db.label} + ${kv.label}`, () => {
    it('answers through the emulator over the real wire, and logs every message once', async () => {
      const a = await app({ db: db.name, kv: kv.name });
      const em = a.emulator!;
      const follow = await em.act('o_e2e_citizen', { type: 'subscribe' });
      expect(follow.status).toBe(200);
      expect(follow.raw).toContain('<Encrypt>'); // the demo runs in safe mode
      expect(follow.reply).toMatchObject({ type: 'text' });
      const said = await em.act('o_e2e_citizen', { type: 'text', content: '你好，我想问问社保' });
      expect(said.reply?.type).toBe('text');

      const history = await a.conversationLog.history('o_e2e_citizen');
      expect(history.map((m) => [m.direction, m.kind, m.channel])).toEqual([
        ['in', 'subscribe', 'callback'],
        ['out', 'text', 'passive'],
        ['in', 'text', 'callback'],
        ['out', 'text', 'passive'],
      ]);
      expect(history[2]!.content).toBe('你好，我想问问社保');
      const citizen = await a.conversationLog.citizen('o_e2e_citizen');
      expect(citizen).toMatchObject({ subscribed: true, lastInteractionKind: 'message', lastInteractionAt: a.clock.now() });
      expect(await a.conversationLog.withinServiceWindow('o_e2e_citizen')).toBe(true);

      const health = await fetch(`${a.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', kv: kv.name });
    });

    it('a retry gets the first reply from the log; after the retry window too, and it is never handled twice', async () => {
      const a = await app({ db: db.name, kv: kv.name });
      const em = a.emulator!;
      await em.act('o_retry', { type: 'subscribe' });
      const xml = em.wire.buildXml('o_retry', { type: 'text', content: '一次就好' }, Math.floor(a.clock.now() / 1000), '8800000000000001');
      const opts = { timestamp: String(Math.floor(a.clock.now() / 1000)), nonce: '424242' };
      const first = await em.wire.post(xml, opts);
      const retry = await em.wire.post(xml, opts);
      const r1 = await em.wire.readReply(first.body, first.encrypted);
      expect(r1?.type).toBe('text');
      expect(await em.wire.readReply(retry.body, retry.encrypted)).toEqual(r1);
      if (kv.name === 'memory') {
        a.clock.advance(31_000); // past the de-duplication window: only the log remembers
        const late = await em.wire.post(xml, { ...opts, timestamp: String(Math.floor(a.clock.now() / 1000)) });
        expect(await em.wire.readReply(late.body, late.encrypted)).toEqual(r1);
      }
      const rows = (await a.conversationLog.history('o_retry')).filter((m) => m.content === '一次就好' || m.msgKey?.includes('8800000000000001'));
      expect(rows.map((m) => [m.direction, m.msgKey])).toEqual([
        ['in', 'm:8800000000000001:o_retry'],
        ['out', 'r:m:8800000000000001:o_retry'],
      ]);
    });

    it('the 48-hour window runs from the last message; a menu tap opens only its own minute', async () => {
      const a = await app({ db: db.name, kv: kv.name });
      const em = a.emulator!;
      await em.act('o_window', { type: 'subscribe' });
      a.clock.advance(2 * 60_000);
      expect(await a.conversationLog.withinServiceWindow('o_window')).toBe(false); // a follow: one minute
      await em.act('o_window', { type: 'text', content: '你好' });
      a.clock.advance(47 * 3_600_000);
      await em.act('o_window', { type: 'click', key: 'guides' });
      expect(await a.conversationLog.citizen('o_window')).toMatchObject({ lastInteractionKind: 'event' });
      a.clock.advance(2 * 3_600_000); // 49 hours after the message, 2 after the tap
      expect(await a.conversationLog.withinServiceWindow('o_window')).toBe(false);
      await em.act('o_window', { type: 'click', key: 'guides' });
      expect(await a.conversationLog.withinServiceWindow('o_window')).toBe(true); // the tap's own minute
      a.clock.advance(61_000);
      expect(await a.conversationLog.withinServiceWindow('o_window')).toBe(false);
    });

    it('unfollow and follow again', async () => {
      const a = await app({ db: db.name, kv: kv.name });
      const em = a.emulator!;
      await em.act('o_refollow', { type: 'subscribe' });
      const bye = await em.act('o_refollow', { type: 'unsubscribe' });
      expect(bye.reply).toBeNull();
      expect(await a.conversationLog.citizen('o_refollow')).toMatchObject({ subscribed: false });
      expect(await a.conversationLog.withinServiceWindow('o_refollow')).toBe(false);
      const back = await em.act('o_refollow', { type: 'subscribe', scene: 'hall-1' });
      expect(back.reply?.type).toBe('text');
      expect(await a.conversationLog.citizen('o_refollow')).toMatchObject({ subscribed: true, scene: 'hall-1' });
    });

    it('bad input writes nothing', async () => {
      const a = await app({ db: db.name, kv: kv.name });
      const count = () => a.db.getRepository(MessageEntity).count();
      const before = await count();
      const ts = String(Math.floor(a.clock.now() / 1000));
      const q = (extra: Record<string, string> = {}) => new URLSearchParams({ timestamp: ts, nonce: '1', signature: sha1Signature(a.profile.wechat.token, ts, '1'), ...extra });
      const post = (query: URLSearchParams, body: string) => fetch(`${a.url}/wechat?${query}`, { method: 'POST', body });
      const statuses = [
        (await post(q(), '<xml><ToUserName>gh</ToUserName></xml>')).status, // plain refused in safe mode
        (await post(q({ encrypt_type: 'aes', msg_signature: 'bad' }), '<xml><Encrypt>abc</Encrypt></xml>')).status,
        (await post(new URLSearchParams({ timestamp: ts, nonce: '1', signature: 'forged' }), '<xml/>')).status,
        (await post(q(), '<!DOCTYPE x><xml/>')).status,
        (await post(q(), 'x'.repeat(2 * 1024 * 1024))).status,
      ];
      expect(statuses).toEqual([400, 403, 403, 400, 413]);
      expect(await count()).toBe(before);
    });
  });
}

describe('the outbox: messages the account sends on its own', () => {
  it('sends a customer-service message inside the window, logged once, never twice', async () => {
    const a = await app();
    const em = a.emulator!;
    await em.act('o_out', { type: 'subscribe' });
    await em.act('o_out', { type: 'text', content: '转人工' });
    await a.outbox.send({ openid: 'o_out', messages: [{ type: 'text', content: '工作人员回复：您好' }], ref: 'test' }, { uniqueKey: 'reply:1' });
    await a.outbox.send({ openid: 'o_out', messages: [{ type: 'text', content: '工作人员回复：您好' }], ref: 'test' }, { uniqueKey: 'reply:1' });
    await a.jobs.runDue();
    await a.jobs.runDue();
    const pushed = em.platform.inbox('o_out').filter((i) => i.channel === 'custom');
    expect(pushed.map((i) => i.message)).toEqual([{ type: 'text', content: '工作人员回复：您好' }]);
    const out = (await a.conversationLog.history('o_out')).filter((m) => m.channel === 'custom');
    expect(out).toHaveLength(1);
  });

  it('falls back to the template message past the 48-hour window, and fails visibly without one', async () => {
    const a = await app();
    const em = a.emulator!;
    em.platform.registerTemplate({ id: 'TPL_REPLY', title: '留言回复通知', fields: ['thing1', 'time2'] });
    await em.act('o_old', { type: 'subscribe' });
    await em.act('o_old', { type: 'text', content: '有人吗' });
    a.clock.advance(49 * HOUR);
    await a.outbox.send({
      openid: 'o_old',
      messages: [{ type: 'text', content: '您的留言已回复' }],
      fallback: { templateId: 'TPL_REPLY', data: { thing1: '您的留言已有回复', time2: '2026-11-25 10:00' }, url: 'https://example.org/h5/reply/1' },
    });
    await a.outbox.send({ openid: 'o_old', messages: [{ type: 'text', content: '没有模板的消息' }] });
    await a.jobs.runDue();
    const inbox = em.platform.inbox('o_old');
    expect(inbox.filter((i) => i.channel === 'template')).toHaveLength(1);
    expect(inbox.filter((i) => i.channel === 'custom')).toHaveLength(0);
    const failed = await a.jobs.list({ status: 'failed' });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.lastError).toMatch(/45015/);
  });

  it('retries when the platform is busy and delivers once it recovers', async () => {
    const a = await app();
    const em = a.emulator!;
    await em.act('o_busy', { type: 'subscribe' });
    await em.act('o_busy', { type: 'text', content: 'hi' });
    em.platform.injectFault('/cgi-bin/message/custom/send', -1, 3); // more than the client's own back-off
    await a.outbox.send({ openid: 'o_busy', messages: [{ type: 'text', content: '稍后送达' }] });
    await a.jobs.runDue();
    expect(em.platform.inbox('o_busy').filter((i) => i.channel === 'custom')).toHaveLength(0);
    a.clock.advance(10 * 60 * 1000);
    await a.jobs.runDue();
    expect(em.platform.inbox('o_busy').filter((i) => i.channel === 'custom')).toHaveLength(1);
  });
});

describe('start-up', () => {
  it('syncs the profile menu to the platform', async () => {
    const a = await app();
    const menu = a.emulator!.platform.menu as { name: string }[];
    expect(menu.map((b) => b.name)).toEqual(a.profile.menu!.buttons.map((b) => b.name));
  });

  it('GET /wechat URL check works on the real app', async () => {
    const a = await app();
    const ts = String(Math.floor(a.clock.now() / 1000));
    const sig = sha1Signature(a.profile.wechat.token, ts, 'n');
    const res = await fetch(`${a.url}/wechat?signature=${sig}&timestamp=${ts}&nonce=n&echostr=abc`);
    expect(await res.text()).toBe('abc');
  });
});
