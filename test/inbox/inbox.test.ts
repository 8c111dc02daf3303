import { describe, expect, it, vi } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import { SYSTEM } from '../../src/policies/index.ts';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import { Inbox, InboxError } from '../../src/inbox/inbox.ts';
import { HOUR, MINUTE } from '../../src/platform/clock.ts';
import { JobEntity } from '../../src/platform/jobs.ts';
import { makeTeam, openHandoff, type Team } from '../admin/client.ts';
import { appsClosedAfterEach, MONDAY_10AM, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { cst } from '../helpers/chat.ts';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

const startApp = appsClosedAfterEach();

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`the inbox on ${backend.label}`, () => {
    async function setup(): Promise<{ app: TestApp; team: Team; handoff(openid: string, text?: string): Promise<number> }> {
      const app = await startApp({ db: backend.name });
      const team = await makeTeam(app);
      const handoff = (openid: string, text?: string) => openHandoff(app, openid, text);
      return { app, team, handoff };
    }
    const row = (app: TestApp, id: number) => app.db.getRepository(HandoffEntity).findOneByOrFail({ id });
    const customTo = (app: TestApp, openid: string) => app.emulator!.platform.inbox(openid).filter((i) => i.channel === 'custom').map((i) => i.message);

    it('a new handoff goes to the default department as a simple consultation due in 24 working hours, with its deadline job', async () => {
      const { app, handoff } = await setup();
      const id = await handoff('o_intake');
      const h = await row(app, id);
      expect(h).toMatchObject({ department: 'service-centre', category: 'consultation', assigneeId: null, firstRepliedAt: null, escalatedAt: null });
      expect(h.dueAt).toBe(cst(2026, 11, 24, 10)); // Monday 10:00 + 24 h = Tuesday 10:00
      const jobs = await app.jobs.list({ name: Inbox.ESCALATE_JOB });
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ status: 'pending', runAt: h.dueAt, uniqueKey: `inbox.escalate:${id}:${h.dueAt}` });
    });

    it('a question about a service another department handles goes to that department', async () => {
      const { app } = await setup();
      const o = 'o_route';
      await app.emulator!.act(o, { type: 'subscribe' });
      for (const n of ['1', '2', '1']) await app.emulator!.act(o, { type: 'text', content: n }); // 办事指南 → 社保 → 社保卡
      await app.emulator!.act(o, { type: 'text', content: '转人工' });
      expect((await app.handoffs.openFor(o))?.department).toBe('social-security');
      app.clock.advance(31 * MINUTE); // long after: back to the default department
      await app.handoffs.close((await app.handoffs.openFor(o))!.id, 'staff');
      await app.emulator!.act(o, { type: 'text', content: '转人工' });
      expect((await app.handoffs.openFor(o))?.department).toBe('service-centre');
    });

    it('claim: one colleague gets it, a second claim is refused; both recorded', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_claim');
      await app.inbox.claim(actorOf(team.handler), id, { ip: '10.0.0.9' });
      // Taken already: refused as taken (a stale list), whether it was seen free or not.
      await expect(app.inbox.claim(actorOf(team.handler2), id)).rejects.toMatchObject({ code: 'conflict', message: '已被其他同事领取' });
      // Two claims racing: exactly one wins; the other is told it was taken, however the race ran.
      const id2 = await handoff('o_claim2');
      const results = await Promise.allSettled([app.inbox.claim(actorOf(team.handler), id2), app.inbox.claim(actorOf(team.handler2), id2)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'conflict' });
      expect((await row(app, id)).assigneeId).toBe(team.handler.id);
      const audit = await app.audit.list({ target: `handoff:${id}` });
      expect(audit.map((a) => [a.action, a.actor, a.ip])).toEqual([['claim', 'qian.jingban', '10.0.0.9']]);
    });

    it('assign: the duty officer and the supervisor dispatch within the department; a handler cannot', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_assign');
      await expect(app.inbox.assign(actorOf(team.handler), id, team.handler2.id)).rejects.toMatchObject({ code: 'forbidden' });
      await expect(app.inbox.assign(actorOf(team.duty), id, team.ssHandler.id)).rejects.toMatchObject({ code: 'invalid' }); // another department
      await expect(app.inbox.assign(actorOf(team.duty), id, team.admin.id)).rejects.toMatchObject({ code: 'invalid' });
      await app.inbox.assign(actorOf(team.duty), id, team.handler2.id);
      expect((await row(app, id)).assigneeId).toBe(team.handler2.id);
      await app.accounts.setActive(team.handler.id, false);
      await expect(app.inbox.assign(actorOf(team.supervisor), id, team.handler.id)).rejects.toMatchObject({ code: 'invalid' }); // deactivated
      await app.inbox.assign(actorOf(team.supervisor), id, team.duty.id);
      expect((await app.audit.list({ target: `handoff:${id}`, action: 'assign' })).map((a) => a.detail)).toEqual(['指派给 赵值班（zhao.zhiban）', '指派给 孙经办（sun.jingban）']);
    });

    it('transfer: the conversation leaves the department (and its staff lose sight of it) and waits in the other one', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_transfer');
      await app.inbox.claim(actorOf(team.handler), id);
      await app.inbox.transfer(actorOf(team.handler), id, 'social-security', '社保卡补办，请社保中心答复');
      expect(await row(app, id)).toMatchObject({ department: 'social-security', assigneeId: null });
      await expect(app.inbox.load(actorOf(team.handler), id)).rejects.toMatchObject({ code: 'not_found' });
      await expect(app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '还是我来答' })).rejects.toMatchObject({ code: 'not_found' });
      expect((await app.inbox.load(actorOf(team.ssHandler), id)).id).toBe(id);
      const [t] = await app.audit.list({ target: `handoff:${id}`, action: 'transfer' });
      expect(t).toMatchObject({ department: 'social-security', detail: '行政服务中心 → 社保中心：社保卡补办，请社保中心答复' });
      await expect(app.inbox.transfer(actorOf(team.ssHandler), id, 'nowhere', '')).rejects.toMatchObject({ code: 'invalid' });
    });

    it('classify: a complex matter is due at the end of the 3rd working day; the deadline job follows the new due time', async () => {
      const { app, team, handoff } = await setup();
      app.clock.set(cst(2026, 9, 29, 15)); // Tuesday before the National Day holiday (Oct 1–7)
      const id = await handoff('o_classify');
      expect((await row(app, id)).dueAt).toBe(cst(2026, 9, 30, 15)); // 24 working hours: Wednesday 15:00
      await app.inbox.classify(actorOf(team.handler), id, 'complex');
      // Sep 30 (1), the holiday, Oct 8 (2), Oct 9 (3): end of office hours on Friday Oct 9.
      expect(await row(app, id)).toMatchObject({ category: 'complex', dueAt: cst(2026, 10, 9, 17, 30) });
      await expect(app.inbox.classify(actorOf(team.handler), id, 'nonsense')).rejects.toMatchObject({ code: 'invalid' });
      // The old deadline passes: nothing happens; the new one escalates.
      app.clock.set(cst(2026, 9, 30, 15, 1));
      await app.jobs.runDue();
      expect((await row(app, id)).escalatedAt).toBeNull();
      app.clock.set(cst(2026, 10, 9, 17, 31));
      await app.jobs.runDue();
      expect((await row(app, id)).escalatedAt).toBe(cst(2026, 10, 9, 17, 31));
    });

    it('reply inside the 48-hour window: a customer-service message, once, with the first-reply time and an automatic claim', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_reply');
      app.clock.advance(5 * MINUTE);
      const r1 = await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '您好，社保卡补办带身份证到任一网点即可，当场制卡。' }, { nonce: 'form-nonce-1' });
      const again = await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '您好，社保卡补办带身份证到任一网点即可，当场制卡。' }, { nonce: 'form-nonce-1' });
      expect(again.id).toBe(r1.id); // the same form submitted twice is one reply
      await app.jobs.runDue();
      await app.jobs.runDue();
      // Signed with the department that answers (inbox.reply_signature).
      expect(customTo(app, 'o_reply')).toEqual([{ type: 'text', content: '您好，社保卡补办带身份证到任一网点即可，当场制卡。\n——行政服务中心' }]);
      expect(await row(app, id)).toMatchObject({ assigneeId: team.handler.id, firstRepliedAt: MONDAY_10AM + 5 * MINUTE });
      const log = (await app.conversationLog.history('o_reply')).filter((m) => m.ref === `handoff:${id}`);
      expect(log).toMatchObject([{ direction: 'out', channel: 'custom' }]);
      const [d] = (await app.reader.conversation(actorOf(team.handler), await row(app, id))).replies;
      expect(d).toMatchObject({ state: 'sent', channel: 'custom' });
      expect((await app.audit.list({ target: `handoff:${id}` })).map((a) => a.action)).toEqual(['reply', 'claim']);
      // A reply without a nonce is a new reply each time.
      await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '补充：<a href="javascript:alert(1)">点这里</a>，周六上午也可以办。' });
      await app.jobs.runDue();
      expect(customTo(app, 'o_reply').at(-1)).toEqual({ type: 'text', content: '补充：点这里，周六上午也可以办。\n——行政服务中心' }); // typed anchors are dropped
    });

    it('anchors typed into a reply are dropped even when nested to rebuild one', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_nested');
      const payloads = [
        '<<a>a href="weixin://bizmsgmenu?msgmenucontent=x&msgmenuid=1">点我<</a>/a>',
        '<<<a>a>a href="https://evil.example/">点我<</</a>/a>/a>',
        '<a<a>\nhref="https://evil.example/">点我</A>',
        '<<A HREF="https://evil.example/">a href="https://evil.example/">点我',
      ];
      for (const text of payloads) await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: `请看 ${text}` });
      await app.jobs.runDue();
      const sent = customTo(app, 'o_nested').map((m) => (m as { content: string }).content);
      expect(sent).toHaveLength(payloads.length);
      for (const content of sent) {
        expect(content).not.toMatch(/<\/?a\b/i);
        expect(content).toContain('点我');
      }
    });

    it('reply past the window: the staff_reply template links to an answer page only that link opens', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_late', '我的电话是13812345678，楼下路灯坏了请联系我');
      app.clock.advance(49 * HOUR);
      await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '户口迁移请带户口簿和准迁证，到迁入地派出所办理。' });
      await app.jobs.runDue();
      const tpl = app.emulator!.platform.inbox('o_late').filter((i) => i.channel === 'template');
      expect(tpl).toHaveLength(1);
      const m = tpl[0]!.message as { templateId: string; data: Record<string, string>; url: string };
      expect(m.templateId).toBe('TPL_DEMO_STAFF_REPLY');
      expect(m.data.thing1).toBe('我的电话是138****5678，楼下…'); // masked and fitted to 20 characters
      expect(m.data.thing3).toBe('行政服务中心');
      expect(m.url).toMatch(/^http:\/\/localhost:\d+\/h5\/answer\/[A-Za-z0-9_-]{32}$/);
      const page = await fetch(`${app.url}${new URL(m.url).pathname}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('private, no-store');
      const body = await page.text();
      expect(body).toContain('户口迁移请带户口簿和准迁证');
      expect(body).toContain('我的电话是138****5678');
      expect(body).not.toContain('13812345678');
      const wrong = new URL(m.url).pathname.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
      expect((await fetch(`${app.url}${wrong}`)).status).toBe(404);
      const [d] = (await app.reader.conversation(actorOf(team.handler), await row(app, id))).replies;
      expect(d).toMatchObject({ state: 'sent', channel: 'template' });
    });

    it('link and image replies: only http(s) links; images judged by their bytes, served only through their answer page', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_media');
      const me = actorOf(team.handler);
      for (const url of ['javascript:alert(1)', 'data:text/html,x', '/relative', 'https://x.example/a" onmouseover="x']) {
        await expect(app.inbox.reply(me, id, { kind: 'link', url, title: '指南' })).rejects.toMatchObject({ code: 'invalid' });
      }
      await expect(app.inbox.reply(me, id, { kind: 'link', url: 'https://zwdt.sh.gov.cn/', title: '<b>x</b>' })).rejects.toMatchObject({ code: 'invalid' });
      await app.inbox.reply(me, id, { kind: 'link', url: 'https://zwdt.sh.gov.cn/guide?id=1', title: '一网通办办事指南', text: '详细材料见：' });
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
      await expect(app.inbox.reply(me, id, { kind: 'image', image: svg })).rejects.toMatchObject({ code: 'invalid' });
      await expect(app.inbox.reply(me, id, { kind: 'image', image: Buffer.concat([PNG, Buffer.alloc(2 * 1024 * 1024)]) })).rejects.toMatchObject({ code: 'invalid' });
      const img = await app.inbox.reply(me, id, { kind: 'image', image: PNG, text: '办理地点示意图' });
      await app.jobs.runDue();
      const sent = customTo(app, 'o_media');
      expect(sent[0]).toEqual({ type: 'text', content: '详细材料见：\n<a href="https://zwdt.sh.gov.cn/guide?id=1">一网通办办事指南</a>\n——行政服务中心' });
      const news = sent[1] as { type: string; article: { url: string; picUrl: string; description: string } };
      expect(news.type).toBe('news');
      expect(news.article.description).toBe('办理地点示意图');
      expect(news.article.url).toBe(`${new URL(news.article.url).origin}/h5/answer/${img.token}`);
      const pic = await fetch(`${app.url}${new URL(news.article.picUrl).pathname}`);
      expect(pic.headers.get('content-type')).toBe('image/png');
      expect(pic.headers.get('content-security-policy')).toContain('sandbox');
      expect(Buffer.from(await pic.arrayBuffer()).equals(PNG)).toBe(true);
      // Another conversation's answer link does not open this image.
      const other = await handoff('o_media2');
      const r2 = await app.inbox.reply(me, other, { kind: 'text', text: '好的' });
      expect((await fetch(`${app.url}/h5/answer/${r2.token}/images/${img.imageId}`)).status).toBe(404);
    });

    it('an administrator answers a waiting conversation without taking it: it stays waiting for the department', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_admin');
      const admin = actorOf(team.admin);
      await expect(app.inbox.claim(admin, id)).rejects.toMatchObject({ code: 'forbidden' });
      app.clock.advance(MINUTE);
      await app.inbox.reply(admin, id, { kind: 'text', text: '您好，已转请相关部门答复。' });
      expect(await row(app, id)).toMatchObject({ assigneeId: null, firstRepliedAt: MONDAY_10AM + MINUTE });
      expect((await app.audit.list({ target: `handoff:${id}` })).map((a) => a.action)).toEqual(['reply']);
      expect((await app.reader.list(actorOf(team.handler), 'waiting')).items.map((i) => i.h.id)).toEqual([id]);
      expect((await app.reader.conversation(admin, await row(app, id))).can.claim).toBe(false);
      // The department's staff still take it as before.
      await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '我来跟进。' });
      expect((await row(app, id)).assigneeId).toBe(team.handler.id);
    });

    it('a delivery that fails for good is visible with its error, and can be sent again', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_fail');
      // Busy beyond the client's own quick retries: the job will try again later.
      app.emulator!.platform.injectFault('/cgi-bin/message/custom/send', -1, 3, 'system busy');
      await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '第一条' });
      await app.jobs.runDue();
      let [d] = (await app.reader.conversation(actorOf(team.handler), await row(app, id))).replies;
      expect(d).toMatchObject({ state: 'retrying', attempts: 1 });
      expect(d!.lastError).toContain('system busy');
      app.emulator!.platform.injectFault('/cgi-bin/message/custom/send', 48001, 1, 'api unauthorized');
      app.clock.advance(10 * MINUTE);
      await app.jobs.runDue();
      [d] = (await app.reader.conversation(actorOf(team.handler), await row(app, id))).replies;
      expect(d).toMatchObject({ state: 'failed', attempts: 2 });
      expect(d!.lastError).toContain('48001');
      expect((await app.reader.list(actorOf(team.handler), 'mine')).items[0]).toMatchObject({ deliveryFailed: true });
      await expect(app.inbox.retryDelivery(actorOf(team.handler), id, 999)).rejects.toMatchObject({ code: 'not_found' });
      await app.inbox.retryDelivery(actorOf(team.handler), id, d!.reply.id);
      await app.jobs.runDue();
      [d] = (await app.reader.conversation(actorOf(team.handler), await row(app, id))).replies;
      expect(d).toMatchObject({ state: 'sent' });
      expect(customTo(app, 'o_fail')).toEqual([{ type: 'text', content: '第一条\n——行政服务中心' }]); // exactly once
      await expect(app.inbox.retryDelivery(actorOf(team.handler), id, d!.reply.id)).rejects.toMatchObject({ code: 'conflict' });
    });

    it('a command checked against a conversation that was reassigned meanwhile changes nothing, and says why', async () => {
      const { app, team, handoff } = await setup();
      const me = actorOf(team.handler);
      /** Run `command` with a colleague's assignment landing between its permission check and its change. */
      const reassignedMeanwhile = async (id: number, to: number | null, command: () => Promise<unknown>) => {
        const spy = vi.spyOn(app.inbox, 'load').mockImplementationOnce(async (actor, handoffId) => {
          const seen = await Inbox.prototype.load.call(app.inbox, actor, handoffId);
          await app.db.getRepository(HandoffEntity).update({ id }, { assigneeId: to });
          return seen;
        });
        try {
          return await command();
        } finally {
          spy.mockRestore();
        }
      };
      const reassigned = { code: 'conflict', message: '这个会话刚刚改由其他同事办理，您不能再这样做；请刷新页面后再试' };
      const ids: number[] = [];
      for (const o of ['o_stale1', 'o_stale2', 'o_stale3']) {
        const id = await handoff(o);
        await app.inbox.claim(me, id);
        ids.push(id);
      }
      const [toClose, toTransfer, toClassify] = ids as [number, number, number];
      await expect(reassignedMeanwhile(toClose, team.handler2.id, () => app.inbox.close(me, toClose))).rejects.toMatchObject(reassigned);
      await expect(reassignedMeanwhile(toTransfer, team.handler2.id, () => app.inbox.transfer(me, toTransfer, 'social-security', ''))).rejects.toMatchObject(reassigned);
      await expect(reassignedMeanwhile(toClassify, team.handler2.id, () => app.inbox.classify(me, toClassify, 'complex'))).rejects.toMatchObject(reassigned);
      for (const id of ids) expect(await row(app, id)).toMatchObject({ status: 'open', department: 'service-centre', category: 'consultation', assigneeId: team.handler2.id });
      // A waiting conversation a colleague claims meanwhile: the answer is not sent.
      const waiting = await handoff('o_stale4');
      await expect(reassignedMeanwhile(waiting, team.handler2.id, () => app.inbox.reply(me, waiting, { kind: 'text', text: '我来答' }))).rejects.toMatchObject(reassigned);
      expect(await app.inbox.replies(waiting)).toEqual([]);
      await app.jobs.runDue();
      expect(customTo(app, 'o_stale4')).toEqual([]);
      // One's own conversation handed back to the queue meanwhile: also refused, with its own words.
      await expect(reassignedMeanwhile(toClose, null, () => app.inbox.close(actorOf(team.handler2), toClose))).rejects.toMatchObject({ code: 'conflict', message: '这个会话刚刚退回待领取，请刷新页面后再试' });
      const audit = (await Promise.all([...ids, waiting].map((id) => app.audit.list({ target: `handoff:${id}` })))).flat().map((a) => a.action);
      expect(audit.filter((a) => a !== 'claim')).toEqual([]);
      // A supervisor may act whoever holds it: a reassignment meanwhile does not stand in the way.
      await reassignedMeanwhile(toClose, team.handler.id, () => app.inbox.close(actorOf(team.supervisor), toClose));
      expect((await row(app, toClose)).status).toBe('closed');
    });

    it('closing hands the conversation back to the bot and asks for a five-level rating, stored once', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_close');
      const say = async (openid: string, content: string, bizmsgmenuid?: string) => {
        const r = await app.emulator!.act(openid, { type: 'text', content, ...(bizmsgmenuid ? { bizmsgmenuid } : {}) });
        return r.reply?.type === 'text' ? r.reply.content : '';
      };
      expect(await say('o_close', '1')).toContain('收到，您的留言已经转给工作人员'); // staff have it: the number is theirs, the bot only says it arrived
      await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '已为您查询，请放心。' });
      await app.inbox.close(actorOf(team.handler), id);
      await app.jobs.runDue();
      const menu = customTo(app, 'o_close').at(-1) as { type: string; headContent: string; list: { id: string; content: string }[] };
      expect(menu.type).toBe('msgmenu');
      expect(menu.list).toEqual([
        { id: `rate-${id}-5`, content: '非常满意' },
        { id: `rate-${id}-4`, content: '满意' },
        { id: `rate-${id}-3`, content: '基本满意' },
        { id: `rate-${id}-2`, content: '不满意' },
        { id: `rate-${id}-1`, content: '非常不满意' },
      ]);
      expect(await row(app, id)).toMatchObject({ status: 'closed', closedBy: 'staff' });
      expect(await say('o_close', '1')).toContain('户籍和证件'); // the bot answers again
      // Another citizen cannot rate this conversation.
      await app.emulator!.act('o_stranger', { type: 'subscribe' });
      expect(await say('o_stranger', '非常不满意', `rate-${id}-1`)).toBe('');
      expect(await say('o_close', '满意', `rate-${id}-4`)).toBe('感谢您的评价！');
      expect(await say('o_close', '非常不满意', `rate-${id}-1`)).toBe('您已经评价过这次服务了，感谢！');
      expect(await row(app, id)).toMatchObject({ rating: 4 });
      await expect(app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '还有' })).rejects.toMatchObject({ code: 'forbidden' });
      await expect(app.inbox.close(actorOf(team.handler), id)).rejects.toMatchObject({ code: 'forbidden' });
      // A poor rating gets the apology.
      const id2 = await handoff('o_close2');
      await app.inbox.close(actorOf(team.supervisor), id2);
      expect(await say('o_close2', '不满意', `rate-${id2}-2`)).toContain('我们会认真改进');
    });

    it('closing past the window does not ask for a rating', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_close_late');
      app.clock.advance(49 * HOUR);
      await app.inbox.close(actorOf(team.supervisor), id);
      await app.jobs.runDue();
      expect(customTo(app, 'o_close_late')).toEqual([]);
      expect((await app.audit.list({ target: `handoff:${id}`, action: 'close' }))[0]?.detail).toContain('未邀请评价');
    });

    it('closing past the window asks by template: the answer page then offers the five choices, stored once', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_rate_page');
      const reply = await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '您好，补办社保卡带身份证即可。' });
      await app.jobs.runDue();
      const page = () => fetch(`${app.url}/h5/answer/${reply.token}`).then((r) => r.text());
      expect(await page()).not.toContain('这次答复您满意吗'); // still open: nothing to rate yet
      app.clock.advance(49 * HOUR);
      await app.inbox.close(actorOf(team.handler), id);
      await app.jobs.runDue();
      const tpl = app.emulator!.platform.inbox('o_rate_page').filter((i) => i.channel === 'template').at(-1)!;
      expect(tpl.message.url).toBe(`${new URL(String(tpl.message.url)).origin}/h5/answer/${reply.token}#rate`);
      expect((await app.audit.list({ target: `handoff:${id}`, action: 'close' }))[0]?.detail).toContain('已用模板消息邀请市民在答复页评价');
      const before = await page();
      expect(before).toContain('这次答复您满意吗');
      expect(before).toContain(`action="/h5/answer/${reply.token}/rate"`);
      const rate = (level: string, headers: Record<string, string> = {}) =>
        fetch(`${app.url}/h5/answer/${reply.token}/rate`, { method: 'POST', body: new URLSearchParams({ level }), headers });
      expect((await rate('4', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
      expect((await rate('9')).status).toBe(400);
      expect(await (await rate('2')).text()).toContain('很抱歉这次没有让您满意');
      expect(await row(app, id)).toMatchObject({ rating: 2 });
      expect(await (await rate('5')).text()).toContain('您已经评价过这次服务了'); // once
      expect(await row(app, id)).toMatchObject({ rating: 2 });
      expect(await page()).toContain('您的评价：不满意');
      expect((await fetch(`${app.url}/h5/answer/${'x'.repeat(32)}/rate`, { method: 'POST', body: 'level=5' })).status).toBe(404);
    });

    it('an overdue conversation is escalated to the department supervisor by the deadline job and marked 督办', async () => {
      const { app, team, handoff } = await setup();
      const late = await handoff('o_late1');
      const answered = await handoff('o_ok1');
      await app.inbox.reply(actorOf(team.handler), answered, { kind: 'text', text: '已答复' });
      app.clock.set(cst(2026, 11, 24, 9, 59));
      await app.jobs.runDue();
      expect((await row(app, late)).escalatedAt).toBeNull();
      app.clock.set(cst(2026, 11, 24, 10, 0));
      await app.jobs.runDue();
      expect(await row(app, late)).toMatchObject({ escalatedAt: cst(2026, 11, 24, 10), escalatedTo: team.supervisor.id });
      expect((await row(app, answered)).escalatedAt).toBeNull();
      const [e] = await app.audit.list({ target: `handoff:${late}`, action: 'escalate' });
      expect(e).toMatchObject({ actor: 'system', actorId: null });
      expect(e!.detail).toBe('首次答复超时（应于 2026-11-24 10:00 前答复），督办人：王主任（wang.zhuren）');
      const esc = await app.reader.list(actorOf(team.supervisor), 'escalated');
      expect(esc.items.map((i) => [i.h.id, i.urgency])).toEqual([[late, 'overdue']]);
      // The supervisor is alerted at once, pointed at the conversation.
      const alerts = await app.alerts.list(team.supervisor.id);
      expect(alerts.map((x) => [x.kind, x.link, x.urgent])).toEqual([['escalation', `/admin/inbox/${late}`, true]]);
      // Running the job again changes nothing.
      await app.jobs.enqueue(Inbox.ESCALATE_JOB, { id: late });
      await app.jobs.runDue();
      expect(await app.audit.list({ target: `handoff:${late}`, action: 'escalate' })).toHaveLength(1);
      expect(await app.alerts.list(team.supervisor.id)).toHaveLength(1);
    });

    it('escalation without a supervisor on duty goes to the administrators; handlers may escalate by hand, supervisors need not', async () => {
      const { app, team, handoff } = await setup();
      await app.accounts.setActive(team.ssSupervisor.id, false);
      const id = await handoff('o_nosup');
      await app.inbox.transfer(actorOf(team.duty), id, 'social-security', '');
      await app.inbox.escalate(actorOf(team.ssHandler), id, '上报：市民情绪激动');
      expect(await row(app, id)).toMatchObject({ escalatedTo: null });
      expect((await app.audit.list({ target: `handoff:${id}`, action: 'escalate' }))[0]?.detail).toContain('由管理员督办');
      const id2 = await handoff('o_sup');
      await expect(app.inbox.escalate(actorOf(team.supervisor), id2, 'x')).rejects.toMatchObject({ code: 'forbidden' });
      await expect(app.inbox.escalate(SYSTEM, id2, 'x')).resolves.toBeUndefined();
      await expect(app.inbox.escalate(actorOf(team.handler), id2, 'x')).rejects.toMatchObject({ code: 'forbidden' }); // already
    });

    it('showing a masked message in full is audited, and only for this conversation\'s citizen', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_pii');
      await app.emulator!.act('o_pii', { type: 'text', content: '我身份证号310101199001011234，住长宁路1234弄5号' });
      const other = await handoff('o_pii2', '楼下路灯坏了，我的手机13900001111');
      const theirs = (await app.conversationLog.history('o_pii2')).find((m) => m.direction === 'in' && m.content.includes('139'))!;
      await expect(app.inbox.reveal(actorOf(team.handler), id, { messageId: theirs.id })).rejects.toMatchObject({ code: 'not_found' });
      const mine = (await app.conversationLog.history('o_pii')).find((m) => m.direction === 'in' && m.content.includes('身份证'))!;
      expect(await app.inbox.reveal(actorOf(team.handler), id, { messageId: mine.id })).toBe('我身份证号310101199001011234，住长宁路1234弄5号');
      expect(await app.inbox.reveal(actorOf(team.handler), other, 'question')).toBe('楼下路灯坏了，我的手机13900001111');
      const audit = await app.audit.list({ action: 'unmask' });
      expect(audit.map((a) => [a.target, a.detail, a.actor])).toEqual([
        [`handoff:${other}`, '问题原文', 'qian.jingban'],
        [`handoff:${id}`, `message:${mine.id}`, 'qian.jingban'],
      ]);
      for (const a of audit) expect(a.detail).not.toMatch(/1234|13900001111/);
    });

    it('a conversation shows the citizen\'s messages around it, never their conversation with another department', async () => {
      const { app, team, handoff } = await setup();
      const o = 'o_two_depts';
      const say = (content: string) => app.emulator!.act(o, { type: 'text', content });
      // 1. A question the default department sends on to social security, answered and closed there.
      const theirs = await handoff(o);
      await say('社保卡丢了怎么办');
      await app.inbox.transfer(actorOf(team.duty), theirs, 'social-security', '');
      app.clock.advance(MINUTE);
      await say('我的社保卡号 123456789，身份证310101199001011234');
      app.clock.advance(MINUTE);
      await app.inbox.close(actorOf(team.ssSupervisor), theirs);
      // 2. A question of the default department's own, ended by the citizen.
      app.clock.advance(MINUTE);
      const earlier = await handoff(o);
      await say('营业执照怎么办');
      await app.inbox.reply(actorOf(team.duty), earlier, { kind: 'text', text: '可以在一网通办申请。' });
      app.clock.advance(MINUTE);
      await say('结束人工'); // answered: ended by the citizen
      // 3. Another one there, open.
      app.clock.advance(MINUTE);
      const ours = await handoff(o);
      await say('路灯坏了');
      app.clock.advance(MINUTE);
      await say('我家住长宁路1234弄');
      expect((await row(app, earlier)).status).toBe('closed');

      const texts = async (who: Team[keyof Team], id: number) => (await app.reader.conversation(actorOf(who), await row(app, id))).history.map((m) => m.content);
      const mine = await texts(team.handler, ours);
      expect(mine).toEqual(expect.arrayContaining(['营业执照怎么办', '结束人工', '路灯坏了', '我家住长宁路1234弄'])); // the department's own earlier conversation stays
      expect(mine.join('\n')).not.toMatch(/社保卡|123456789|310101199001011234/);
      const social = await texts(team.ssHandler, theirs);
      expect(social).toEqual(expect.arrayContaining(['社保卡丢了怎么办', '我的社保卡号 123456789，身份证310101199001011234']));
      expect(social.join('\n')).not.toMatch(/营业执照|路灯|长宁路/);
      // An administrator sees every department: nothing is cut.
      expect((await texts(team.admin, ours)).join('\n')).toContain('社保卡丢了怎么办');

      // Showing in full follows the same rule.
      const msg = async (content: string) => (await app.conversationLog.history(o)).find((m) => m.content === content)!;
      const secret = await msg('我的社保卡号 123456789，身份证310101199001011234');
      await expect(app.inbox.reveal(actorOf(team.handler), ours, { messageId: secret.id })).rejects.toMatchObject({ code: 'not_found' });
      await expect(app.inbox.reveal(actorOf(team.supervisor), ours, { messageId: secret.id })).rejects.toMatchObject({ code: 'not_found' });
      expect(await app.inbox.reveal(actorOf(team.handler), ours, { messageId: (await msg('营业执照怎么办')).id })).toBe('营业执照怎么办');
      await expect(app.inbox.reveal(actorOf(team.ssHandler), theirs, { messageId: (await msg('我家住长宁路1234弄')).id })).rejects.toMatchObject({ code: 'not_found' });
      expect(await app.inbox.reveal(actorOf(team.ssHandler), theirs, { messageId: secret.id })).toContain('310101199001011234');
      expect(await app.inbox.reveal(actorOf(team.admin), ours, { messageId: secret.id })).toContain('310101199001011234');

      // The list's preview of a closed conversation is the citizen's last message in it, not a later one.
      const listed = (await app.reader.list(actorOf(team.ssSupervisor), 'all')).items.find((i) => i.h.id === theirs)!;
      expect(listed.lastIn?.content).toBe('我的社保卡号 123456789，身份证310101199001011234');
    });

    it('a closed conversation ends at its close: what the citizen says next, on the way to another department, is not in it', async () => {
      const { app, team, handoff } = await setup();
      const o = 'o_later';
      const say = (content: string) => app.emulator!.act(o, { type: 'text', content });
      const first = await handoff(o);
      await say('路灯坏了三天');
      app.clock.advance(MINUTE);
      await app.inbox.close(actorOf(team.supervisor), first);
      app.clock.advance(MINUTE);
      await say('我的社保卡号 99887766 丢了怎么补'); // said before the next conversation exists
      app.clock.advance(MINUTE);
      const later = await handoff(o, '人工客服');
      await app.inbox.transfer(actorOf(team.duty), later, 'social-security', '');
      const history = (await app.reader.conversation(actorOf(team.handler), await row(app, first))).history.map((m) => m.content);
      expect(history).toContain('路灯坏了三天');
      expect(history.join('\n')).not.toContain('99887766');
      const secret = (await app.conversationLog.history(o)).find((m) => m.content.includes('99887766'))!;
      await expect(app.inbox.reveal(actorOf(team.handler), first, { messageId: secret.id })).rejects.toMatchObject({ code: 'not_found' });
      expect(await app.inbox.reveal(actorOf(team.ssHandler), later, { messageId: secret.id })).toContain('99887766');
    });

    it('lists: waiting / mine / department / escalated / all, scoped to the department, most urgent first', async () => {
      const { app, team, handoff } = await setup();
      const a = await handoff('o_l1');
      app.clock.advance(HOUR);
      const b = await handoff('o_l2');
      const c = await handoff('o_l3');
      await app.inbox.transfer(actorOf(team.duty), c, 'social-security', '');
      await app.inbox.claim(actorOf(team.handler), b);
      app.clock.set(cst(2026, 11, 24, 7)); // 3 hours before a is due: near
      const h = actorOf(team.handler);
      expect((await app.reader.list(h, 'waiting')).items.map((i) => [i.h.id, i.urgency])).toEqual([[a, 'near']]);
      expect((await app.reader.list(h, 'mine')).items.map((i) => i.h.id)).toEqual([b]);
      expect((await app.reader.list(h, 'department')).items.map((i) => i.h.id)).toEqual([a, b]);
      expect((await app.reader.list(h, 'escalated')).items).toEqual([]); // not a handler's view
      expect((await app.reader.list(actorOf(team.ssHandler), 'waiting')).items.map((i) => i.h.id)).toEqual([c]);
      expect((await app.reader.list(actorOf(team.admin), 'all')).items.map((i) => i.h.id)).toEqual([c, b, a]);
      expect(await app.reader.counts(h)).toEqual({ waiting: 1, mine: 1, department: 2 });
      app.clock.set(cst(2026, 11, 24, 10, 30));
      expect((await app.reader.list(h, 'department')).items.map((i) => [i.h.id, i.urgency])).toEqual([
        [a, 'overdue'],
        [b, 'near'],
      ]);
    });

    it('the live-update fingerprint changes when a citizen writes or staff act, and not otherwise', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_pulse');
      const h = actorOf(team.handler);
      const list0 = await app.reader.pulse(h, null);
      const one0 = await app.reader.pulse(h, id);
      expect(await app.reader.pulse(h, null)).toBe(list0);
      await app.emulator!.act('o_pulse', { type: 'text', content: '补充一下，我在长宁区' });
      const list1 = await app.reader.pulse(h, null);
      const one1 = await app.reader.pulse(h, id);
      expect(list1).not.toBe(list0);
      expect(one1).not.toBe(one0);
      app.clock.advance(MINUTE);
      await app.inbox.claim(h, id);
      expect(await app.reader.pulse(h, null)).not.toBe(list1);
      // Another department's events do not reach this handler's fingerprint.
      const ss = actorOf(team.ssHandler);
      const ssBefore = await app.reader.pulse(ss, null);
      await app.emulator!.act('o_pulse', { type: 'text', content: '再补充' });
      expect(await app.reader.pulse(ss, null)).toBe(ssBefore);
      expect(await app.reader.pulse(ss, id)).toBe('gone');
    });

    it('the list\'s live-update fingerprint changes when a reply\'s delivery fails, so the failure shows at once', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_pulse_fail');
      const h = actorOf(team.handler);
      app.emulator!.platform.injectFault('/cgi-bin/message/custom/send', 48001, 1, 'api unauthorized');
      await app.inbox.reply(h, id, { kind: 'text', text: '您好' });
      const before = await app.reader.pulse(h, null);
      const ssBefore = await app.reader.pulse(actorOf(team.ssHandler), null);
      app.clock.advance(1000);
      await app.jobs.runDue();
      expect((await app.reader.list(h, 'mine')).items[0]).toMatchObject({ deliveryFailed: true });
      expect(await app.reader.pulse(h, null)).not.toBe(before);
      // Another department's deliveries are not this list's.
      expect(await app.reader.pulse(actorOf(team.ssHandler), null)).toBe(ssBefore);
    });

    it('the dashboard: today and this week, reply speed, most-used services, unanswered questions', async () => {
      const { app, team, handoff } = await setup();
      app.clock.set(cst(2026, 11, 23, 9)); // Monday
      const instant = await handoff('o_d1');
      app.clock.advance(5 * MINUTE);
      await app.inbox.reply(actorOf(team.handler), instant, { kind: 'text', text: '即时答复' });
      const sameDay = await handoff('o_d2', '我家楼下的路灯坏了三天了');
      app.clock.set(cst(2026, 11, 23, 16));
      await app.inbox.reply(actorOf(team.handler), sameDay, { kind: 'text', text: '当天答复' });
      const nextDay = await handoff('o_d3', '门口的路灯坏了三天了');
      app.clock.set(cst(2026, 11, 24, 11)); // Tuesday 11:00, before nextDay's due time (Tuesday 16:00)
      await app.inbox.reply(actorOf(team.handler), nextDay, { kind: 'text', text: '次日答复' });
      const never = await handoff('o_d4');
      await app.emulator!.act('o_d5', { type: 'subscribe' });
      for (const n of ['1', '2', '1']) await app.emulator!.act('o_d5', { type: 'text', content: n });
      app.clock.set(cst(2026, 11, 25, 12)); // Wednesday noon: `never` (due Wednesday 11:00) is overdue
      const d = await app.stats.dashboard(null);
      expect(d.week).toMatchObject({ handedOff: 4, answered: 3, overdue: 1 });
      expect(d.week.speed).toEqual({ instant: 1, same_day: 1, next_day: 1, later: 0, none: 1 });
      expect(d.today).toMatchObject({ handedOff: 0, answered: 0, overdue: 1 }); // `never` was due today at 11:00
      expect(d.week.messagesIn).toBe(7); // 转人工 ×2, two questions, three navigation digits; follow events do not count
      expect(d.days.map((x) => x.label)).toEqual(['11/19', '11/20', '11/21', '11/22', '11/23', '11/24', '11/25']);
      expect(d.days.slice(-3).map((x) => [x.handedOff, x.answered])).toEqual([
        [3, 2],
        [1, 1],
        [0, 0],
      ]);
      expect(d.topServices[0]).toMatchObject({ id: 'social-security-card', kind: 'service', count: 1 });
      expect(d.topUnanswered.map((q) => q.count)).toEqual([1, 1]);
      // A handler sees their department's handoffs only.
      const ss = await app.stats.dashboard(['social-security']);
      expect(ss.week).toMatchObject({ handedOff: 0, answered: 0, messagesIn: d.week.messagesIn });
      void never;
    });

    it('the dashboard counts the open conversations overdue now, whenever they fell due', async () => {
      const { app, team, handoff } = await setup();
      app.clock.set(cst(2026, 11, 16, 10)); // the Monday before: due Tuesday 17 November
      const lastWeek = await handoff('o_o1');
      const answeredLate = await handoff('o_o2');
      const closed = await handoff('o_o3');
      const elsewhere = await handoff('o_o4');
      await app.inbox.transfer(actorOf(team.duty), elsewhere, 'social-security', '');
      app.clock.set(cst(2026, 11, 18, 10));
      await app.inbox.reply(actorOf(team.handler), answeredLate, { kind: 'text', text: '迟到的答复' });
      await app.inbox.close(actorOf(team.supervisor), closed);
      app.clock.set(cst(2026, 11, 25, 9)); // this week's Wednesday
      const notYet = await handoff('o_o5'); // due tomorrow
      const d = await app.stats.dashboard(null);
      expect(d.overdueNow).toBe(2); // lastWeek and elsewhere; not the answered, closed or not-yet-due ones
      expect(d.week.overdue).toBe(0); // none fell due this week
      expect((await app.stats.dashboard(['service-centre'])).overdueNow).toBe(1);
      expect((await app.stats.dashboard(['social-security'])).overdueNow).toBe(1);
      expect((await app.stats.dashboard([])).overdueNow).toBe(0);
      app.clock.set(cst(2026, 11, 26, 10)); // notYet falls due (Thursday 9:00)
      expect((await app.stats.dashboard(null)).overdueNow).toBe(3);
      void lastWeek;
      void notYet;
    });

    it('handoffs stored before the inbox existed are adopted by the default department', async () => {
      const { app, handoff } = await setup();
      const id = await handoff('o_old');
      await app.db.getRepository(HandoffEntity).update({ id }, { department: null, category: null, dueAt: null });
      await app.db.getRepository(JobEntity).delete({ name: Inbox.ESCALATE_JOB });
      expect(await app.inbox.adopt()).toBe(1);
      expect(await row(app, id)).toMatchObject({ department: 'service-centre', category: 'consultation', dueAt: cst(2026, 11, 24, 10) });
      expect(await app.jobs.list({ name: Inbox.ESCALATE_JOB })).toHaveLength(1);
      expect(await app.inbox.adopt()).toBe(0);
    });

    it('commands refuse the system for staff work, and unknown ids the same way as other departments\' ids', async () => {
      const { app, team, handoff } = await setup();
      const id = await handoff('o_sys');
      await expect(app.inbox.reply(SYSTEM, id, { kind: 'text', text: 'x' })).rejects.toBeInstanceOf(InboxError);
      const missing = await app.inbox.load(actorOf(team.ssHandler), id).catch((e: InboxError) => e.message);
      const unknown = await app.inbox.load(actorOf(team.ssHandler), 99_999).catch((e: InboxError) => e.message);
      expect(missing).toBe(unknown);
    });
  });
}
