import { afterEach, describe, expect, it } from 'vitest';
import { CitizenWire, type PhoneReply } from '../../src/emulator/citizen.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { dropSchema } from '../../src/platform/db.ts';
import { BookingEntity } from '../../src/services/appointments/entities.ts';
import { WeChatCrypto } from '../../src/wechat/crypto.ts';
import { sha1Signature } from '../../src/wechat/signature.ts';
import { makeTeam, PASSWORD, StaffClient } from '../admin/client.ts';
import { MONDAY_10AM, startTestApp, type TestApp } from '../helpers/app.ts';
import { PG_URL, REDIS_URL, uniqueName } from '../helpers/backends.ts';
import { hasNginx, startNginx, type RunningNginx } from '../helpers/nginx.ts';

/**
 * Two instances of the account on one PostgreSQL database and one Redis, behind Debian's nginx
 * (round robin, as the recipe in the README configures it), and a whole conversation through the
 * proxy: WeChat's retries land on the other instance, a dialog moves between instances at every
 * step, two citizens confirm the last place of a slot at once, both instances send through the
 * platform API with one access token, each job runs once, and the staff panel's live updates
 * come through the proxy.
 */
const skip = !PG_URL || !REDIS_URL || !hasNginx;
const label = skip
  ? 'two instances behind nginx (SKIPPED: needs DATABASE_URL=postgres://…, REDIS_URL and /usr/sbin/nginx)'
  : 'two instances behind nginx on PostgreSQL and Redis';

const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const textOf = (r: PhoneReply | null) => (r?.type === 'text' ? r.content : '');
const lines = (t: string) => t.split('\n').filter((l) => l.startsWith('回复 ') && !l.startsWith('回复 0')).map((l) => l.replace(/<[^>]+>/g, '').replace(/^回复 \d+\s+/, ''));
const indexOf = (t: string, label: RegExp) => String(lines(t).findIndex((l) => label.test(l)) + 1);

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe.skipIf(skip)(label, () => {
  it('carries a conversation, its retries, a race for the last place, the token, the jobs and live updates', async () => {
    const schema = uniqueName('nginx');
    const clock = new FakeClock(MONDAY_10AM);
    const before = process.env.TRUST_PROXY;
    process.env.TRUST_PROXY = '1';
    cleanup.push(async () => {
      if (before === undefined) delete process.env.TRUST_PROXY;
      else process.env.TRUST_PROXY = before;
      await dropSchema(PG_URL!, schema);
    });
    const start = async (o: Parameters<typeof startTestApp>[0] = {}) => {
      const app = await startTestApp({ db: 'postgres', kv: 'redis', shared: schema, clock, admin: { pulseMs: 30 }, ...o });
      cleanup.push(() => app.close());
      return app;
    };
    const a = await start();
    const b = await start({ profile: (p) => (p.menu.sync_on_start = false) });
    // Both instances speak to the same platform, as both speak to api.weixin.qq.com: here A's
    // emulator (a profile cannot name another emulator, so B's client is pointed there directly).
    (b.api as unknown as { client: { o: { baseUrl: string } } }).client.o.baseUrl = `${a.url}/emulator`;
    const platform = a.emulator!.platform;
    const proxy: RunningNginx = await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], '    add_header X-Weiban-Upstream $upstream_addr always;');
    cleanup.push(() => proxy.close());
    const which = (res: Response) => (res.headers.get('x-weiban-upstream') === `127.0.0.1:${a.port}` ? 'a' : res.headers.get('x-weiban-upstream') === `127.0.0.1:${b.port}` ? 'b' : '?');

    // WeChat, as the proxy sees it: signed, encrypted posts to /wechat.
    const w = a.profile.wechat;
    const crypto = new WeChatCrypto(w.token, w.aes_key!, w.appid);
    const phone = new CitizenWire({ callbackUrl: `${proxy.url}/wechat`, originalId: w.original_id, appid: w.appid, token: w.token, aesKey: w.aes_key!, encoding: w.encoding }, platform, clock);
    let msgId = 91_000_000_000_000_000n;
    const prepare = (openid: string, content: string) => {
      platform.interacted(openid, content === '(follow)' ? 'event' : 'message'); // what WeChat's side knows
      const xml = phone.buildXml(openid, content === '(follow)' ? { type: 'subscribe' } : { type: 'text', content }, Math.floor(clock.now() / 1000), String(++msgId));
      const timestamp = String(Math.floor(clock.now() / 1000));
      const nonce = String(msgId % 1_000_000n);
      const enc = crypto.encrypt(xml);
      const q = new URLSearchParams({ timestamp, nonce, signature: sha1Signature(w.token, timestamp, nonce), encrypt_type: 'aes', msg_signature: crypto.sign(timestamp, nonce, enc), openid });
      const body = `<xml><ToUserName><![CDATA[${w.original_id}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`;
      return async () => {
        const res = await fetch(`${proxy.url}/wechat?${q}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
        const raw = await res.text();
        return { status: res.status, at: which(res), text: textOf(res.status === 200 ? await phone.readReply(raw, true) : null), raw };
      };
    };
    const say = async (openid: string, content: string) => {
      const r = await prepare(openid, content)();
      expect(r.status).toBe(200);
      return r;
    };
    let answered = 0;
    for (const app of [a, b]) {
      const respond = app.engine.respond.bind(app.engine);
      app.engine.respond = async (m) => (answered++, respond(m));
    }

    // Two citizens follow and walk to the confirmation of the same slot, each step on the other instance.
    const seen = new Set<string>();
    const walk = async (openid: string) => {
      platform.setSubscribed(openid, true);
      seen.add((await say(openid, '(follow)')).at);
      const items = await say(openid, '我想预约一下办居住证');
      seen.add(items.at);
      const halls = await say(openid, indexOf(items.text, /居住证/));
      seen.add(halls.at);
      const days = await say(openid, indexOf(halls.text, /示范区行政服务中心/));
      expect(days.text).toContain('请选择日期');
      const times = await say(openid, '2'); // Tuesday
      expect(times.text).toContain('请选择时间');
      const confirm = await say(openid, '3'); // 10:00, two places
      expect(confirm.text).toContain('11月24日（周二）10:00–10:30');
      seen.add(confirm.at);
    };
    await walk('o_ng_li');
    await walk('o_ng_wang');
    expect([...seen].sort()).toEqual(['a', 'b']); // the dialogs did move between the instances

    // Someone takes one of the two places on the pages; the two citizens confirm the last one at once.
    await b.appointments.book({ openid: 'o_ng_pages', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    const confirmLi = prepare('o_ng_li', '1');
    const confirmWang = prepare('o_ng_wang', '1');
    const [li, wang] = await Promise.all([confirmLi(), confirmWang()]);
    expect(new Set([li.at, wang.at])).toEqual(new Set(['a', 'b']));
    const won = [li, wang].filter((r) => /预约成功/.test(r.text));
    expect(won).toHaveLength(1);
    expect([li, wang].filter((r) => r.text.includes('约满'))).toHaveLength(1);
    const winner = won[0] === li ? 'o_ng_li' : 'o_ng_wang';
    const booked = await a.db.getRepository(BookingEntity).findBy({ startsAt: cst(2026, 11, 24, 10), status: 'booked' });
    expect(booked.map((x) => x.openid).sort()).toEqual([winner, 'o_ng_pages'].sort());
    expect(won[0]!.text).toContain(`预约码：${booked.find((x) => x.openid === winner)!.code}`);

    // WeChat retries the winner's confirmation (its answer was lost on the way): the retry lands on
    // the other instance and gets the same confirmation with the same code, and nothing is booked twice.
    const answeredBefore = answered;
    const stored = async () => Number(((await a.db.query(`SELECT count(*) AS n FROM messages WHERE openid = $1`, [winner])) as [{ n: string }])[0].n);
    const storedBefore = await stored();
    const original = won[0]!;
    const retryOf = won[0] === li ? confirmLi : confirmWang;
    let retry = await retryOf();
    if (retry.at === original.at) retry = await retryOf(); // round robin: the next one goes to the other
    expect(retry.at).not.toBe(original.at);
    expect(retry.text).toBe(original.text);
    expect(answered).toBe(answeredBefore);
    expect(await a.db.getRepository(BookingEntity).countBy({ openid: winner })).toBe(1);
    expect(await stored()).toBe(storedBefore); // neither the message nor its reply stored again

    // The platform knocks out the account's token (someone called /cgi-bin/token elsewhere), and both
    // instances send through the API at once: both meet 40001 with the token they share, and it is
    // refreshed once.
    const tokenCalls = () => platform.calls.filter((c) => /\/cgi-bin\/(stable_)?token$/.test(c.path)).length;
    await a.api.custom.send('o_ng_li', { type: 'text', content: '您好' }).catch(() => undefined); // both hold a token now
    platform.revokeAllTokens();
    const tokensBefore = tokenCalls();
    await Promise.all([
      a.outbox.send({ openid: 'o_ng_li', messages: [{ type: 'text', content: '您预约的材料清单：身份证、居住登记凭证。' }], ref: 'test' }),
      b.outbox.send({ openid: 'o_ng_wang', messages: [{ type: 'text', content: '10:00 已约满，可以改约 10:30。' }], ref: 'test' }),
    ]);
    // Each job runs once, whichever instance's worker gets to it.
    const ran = await Promise.all([a.jobs.runDue(), b.jobs.runDue(), a.jobs.runDue(), b.jobs.runDue()]);
    expect(ran.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(2);
    const custom = (openid: string) => platform.inbox(openid).filter((i) => i.channel === 'custom');
    expect(custom('o_ng_li').filter((i) => JSON.stringify(i).includes('材料清单'))).toHaveLength(1);
    expect(custom('o_ng_wang').filter((i) => JSON.stringify(i).includes('已约满'))).toHaveLength(1);
    expect(tokenCalls() - tokensBefore).toBe(1);

    // Staff sign in through the proxy; the panel's live stream (through the proxy, unbuffered)
    // hears of a citizen handed off — whichever instance took the message.
    const team = await makeTeam(a);
    const staff = new StaffClient(proxy.url);
    expect((await staff.signIn(team.duty.username, PASSWORD)).status).toBe(302);
    expect((await staff.page('/admin/inbox')).status).toBe(200);
    expect((await staff.page('/admin/inbox')).status).toBe(200); // the same session, on the other instance too
    const res = await fetch(`${proxy.url}/admin/events?since=x`, { headers: { cookie: `weiban_staff=${staff.cookies.get('weiban_staff')}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let stream = new TextDecoder().decode((await reader.read()).value);
    platform.setSubscribed('o_ng_zhang', true);
    await say('o_ng_zhang', '(follow)');
    const handoff = await say('o_ng_zhang', '我要找人工，我家老人的社保卡丢了不会弄');
    expect(handoff.text).toContain('工作人员');
    while (!/"v":"h\d+\.n1\./.test(stream)) stream += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
  });
});
