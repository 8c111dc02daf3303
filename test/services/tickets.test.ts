import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { listedLabels } from '../../src/chat/format.ts';
import { describe, expect, it } from 'vitest';
import { AlertEntity } from '../../src/alerts/index.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { RatingEntity, RectificationEntity } from '../../src/services/ratings/entities.ts';
import { TicketEntity, TicketEventEntity, TicketPhotoEntity } from '../../src/services/tickets/entities.ts';
import { TicketError, type TicketInput, type Tickets } from '../../src/services/tickets/index.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { EXE_AS_JPG, JPEG, PNG } from '../helpers/files.ts';
import { makeTeam, openHandoff, PASSWORD, signedIn } from '../admin/client.ts';
import { AuditEntity } from '../../src/admin/audit.ts';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { textOf } from '../helpers/chat.ts';
import { rejection } from '../helpers/errors.ts';

const startApp = appsClosedAfterEach();
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
/** 新华路 (area xinhua), inside the demo's bounds. */
const XINHUA = { lat: 31.2071, lng: 121.4258 };

const caught = (p: Promise<unknown>) => rejection(p, TicketError);

async function app(o: { db?: 'sqlite' | 'postgres'; clock?: FakeClock } = {}) {
  const a = await startApp({ ...(o.db ? { db: o.db } : {}), ...(o.clock ? { clock: o.clock } : {}) });
  const following = new Set<string>();
  const act = async (openid: string, action: Parameters<NonNullable<TestApp['emulator']>['act']>[1]) => {
    if (!following.has(openid)) {
      following.add(openid);
      await a.emulator!.act(openid, { type: 'subscribe' });
    }
    return (await a.emulator!.act(openid, action)).reply;
  };
  const say = async (openid: string, content: string, bizmsgmenuid?: string) => textOf(await act(openid, { type: 'text', content, ...(bizmsgmenuid ? { bizmsgmenuid } : {}) }));
  /** What reached the phone after the opening messages: customer-service texts, menus, templates. */
  const pushes = (openid: string) =>
    a.emulator!.platform
      .inbox(openid)
      .filter((i) => i.channel === 'custom' || i.channel === 'template')
      .map((i) => (i.channel === 'template' ? `[template] ${Object.values(i.message.data as Record<string, string>).join(' · ')}` : i.message.type === 'msgmenu' ? `[menu] ${i.message.headContent as string}` : String(i.message.content)));
  return { a, t: a.tickets!, act, say, pushes };
}

const report = (o: Partial<TicketInput> = {}): TicketInput => ({ channel: 'snap', openid: 'o_reporter', category: 'road', description: '小区门口的路面塌了一个大坑，晚上骑车的老人差点摔倒，已经好几天了没人管', ...XINHUA, ...o });

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`tickets: the 12345 loop (${db.label})`, () => {
    it('the chat dialog takes words, voice, a photo and a location in any order, confirms, and files with a number and a query code', async () => {
      const { a, t, act, say } = await app({ db: db.name });
      expect(await say('o_li', '我要反映')).toContain('说完后回复「好了」');
      expect(textOf(await act('o_li', { type: 'image', picUrl: 'http://mmbiz.qpic.cn/pothole.jpg' }))).toContain('照片收到了');
      expect(await say('o_li', '新华路番禺路口那个井盖边上的路面坏了好大一块')).toContain('已记下');
      expect(textOf(await act('o_li', { type: 'voice', recognition: '下雨天积水，电瓶车过去溅人一身' }))).toContain('文字 2 条');
      expect(textOf(await act('o_li', { type: 'location', latitude: XINHUA.lat, longitude: XINHUA.lng, label: '新华路番禺路口' }))).toContain('位置收到了：新华路番禺路口');
      const confirm = await say('o_li', '好了');
      expect(confirm).toContain('类别：道路破损');
      expect(confirm).toContain('照片：1 张');
      expect(confirm).toContain('回复「1」提交');
      const filed = await say('o_li', '1');
      const row = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_li' });
      expect(filed).toContain(`编号 ${row.ticketNo}`);
      expect(filed).toContain(`查询码 ${row.queryCode}`);
      expect(row).toMatchObject({ channel: 'chat', category: 'road', kind: 'help', area: 'xinhua', department: 'xinhua-street', status: 'submitted', address: '新华路番禺路口' });
      expect(row.description).toBe('新华路番禺路口那个井盖边上的路面坏了好大一块\n下雨天积水，电瓶车过去溅人一身');
      expect((await t.photos(row.id)).map((p) => [p.source, p.url])).toEqual([['wechat', 'http://mmbiz.qpic.cn/pothole.jpg']]);
      // Filing is answered in the reply: not pushed a second time.
      await a.jobs.runDue();
      expect((await t.timeline(row.id)).map((e) => [e.kind, e.pushedAt !== null])).toEqual([['filed', true]]);
    });

    it('the dialog can be cancelled, and refuses to confirm nothing', async () => {
      const { a, say } = await app({ db: db.name });
      await say('o_cancel', '投诉');
      expect(await say('o_cancel', '好了')).toContain('还没有说明情况');
      await say('o_cancel', '隔壁饭店油烟太大了');
      await say('o_cancel', '好了');
      expect(await say('o_cancel', '0')).toContain('已取消');
      expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
      expect(await say('o_cancel', '我上次反映的问题，我的投诉进度怎么样了')).toContain('/h5/tickets');
    });

    it('an urgent keyword files an urgent ticket and alerts the department supervisor at once (panel and bound WeChat)', async () => {
      const { a, say } = await app({ db: db.name });
      const boss = (await a.accounts.create({ username: 'xu.jiedao', name: '徐主任', role: 'supervisor', department: 'xinhua-street', password: PASSWORD, mustChangePassword: false })).account!;
      await a.db.query(`UPDATE staff SET wechat_openid = 'o_staff_xu' WHERE id = ${boss.id}`);
      await a.emulator!.act('o_staff_xu', { type: 'subscribe' });
      await say('o_urgent', '我家楼下井盖丢了，好危险');
      await say('o_urgent', '就在新华路 200 号门口');
      await a.emulator!.act('o_urgent', { type: 'location', latitude: XINHUA.lat, longitude: XINHUA.lng, label: '新华路200号' });
      await say('o_urgent', '好了');
      expect(await say('o_urgent', '1')).toContain('已按紧急情况转给负责人');
      const row = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_urgent' });
      expect(row).toMatchObject({ urgent: true, department: 'xinhua-street', category: 'road' });
      const alerts = await a.db.getRepository(AlertEntity).find();
      expect(alerts.map((x) => [x.staffId, x.kind, x.urgent, x.link])).toEqual([[boss.id, 'urgent-ticket', true, `/admin/tickets/${row.id}`]]);
      expect(alerts[0]!.title).toContain(row.ticketNo);
      await a.jobs.runDue();
      expect(a.emulator!.platform.inbox('o_staff_xu').filter((i) => i.channel === 'template')).toHaveLength(1);
    });

    it('every move of the loop is one command, on the timeline, pushed to the reporter in order and once', async () => {
      const { a, t, say, pushes } = await app({ db: db.name });
      await say('o_loop', '你好'); // the 48-hour window is open
      const row = await t.file(report({ openid: 'o_loop' }));
      await t.accept(row.id, 'staff:hotline', '已核实');
      await t.dispatch(row.id, 'staff:hotline', 'urban-management', ['xinhua-street']);
      await t.giveBack(row.id, 'staff:cg', '这段路属于街道养护范围');
      await t.dispatch(row.id, 'staff:hotline', 'xinhua-street');
      await t.startHandling(row.id, 'staff:jd', '已派养护队到现场');
      await t.answer(row.id, 'staff:jd', '坑已经填平，并加装了警示牌。');
      await t.complete(row.id, 'staff:jd');
      await a.jobs.runDue();
      await a.jobs.runDue();
      const seen = pushes('o_loop');
      expect(seen.map((s) => s.split('\n')[0]!.slice(0, 10))).toEqual([
        '已收到您的求助，编号', // filed
        '您反映的「道路破损」',
        '您反映的「道路破损」',
        '您反映的「道路破损」',
        '新华路街道办事处正在',
        '您反映的「道路破损」',
        '您反映的「道路破损」',
        '[menu] 您反映',
      ]);
      expect(seen[1]).toContain('已受理');
      expect(seen[2]).toContain('城管执法局');
      expect(seen[3]).toContain('新华路街道办事处'); // the second dispatch; the 退单 is the desk's business, not told
      expect(seen[5]).toContain('坑已经填平');
      expect(seen[6]).toContain('已办结');
      // 回访: not solved reopens it, to the same department, with a new deadline.
      expect(await say('o_loop', '没有解决', `tkv-${row.id}-0`)).toBe('');
      let now = await t.get(row.id);
      expect(now).toMatchObject({ status: 'dispatched', visitResult: 'unsolved', department: 'xinhua-street' });
      await t.answer(row.id, 'staff:jd', '已重新修补并压实。');
      await t.complete(row.id, 'staff:jd');
      await a.jobs.runDue();
      await say('o_loop', '已解决', `tkv-${row.id}-1`);
      expect(await say('o_loop', '已解决', `tkv-${row.id}-1`)).toContain('已经回访过了');
      await a.jobs.runDue();
      now = await t.get(row.id);
      expect(now?.status).toBe('closed');
      const kinds = (await t.timeline(row.id)).map((e) => e.kind);
      expect(kinds).toEqual(['filed', 'accepted', 'dispatched', 'returned', 'dispatched', 'handling', 'answered', 'completed', 'visit_asked', 'reopened', 'answered', 'completed', 'visit_asked', 'solved']);
      const after = pushes('o_loop');
      expect(after.at(-1)).toMatch(/^\[menu\] 请您为新华路街道办事处的办理打个分/);
      // Each push went once: a second run sends nothing.
      await a.jobs.runDue();
      expect(pushes('o_loop')).toEqual(after);
      // Rated 好差评 with the menu: stored once.
      expect(await say('o_loop', '满意', `rt-ticket-${row.id}-4`)).toBe('感谢您的评价！');
      expect(await say('o_loop', '满意', `rt-ticket-${row.id}-5`)).toContain('已经评价过了');
      expect((await a.ratings.ratingOf('ticket', String(row.id)))?.level).toBe(4);
    });

    it('refuses moves out of order, with the state in the message, and writes nothing', async () => {
      const { a, t } = await app({ db: db.name });
      const row = await t.file(report());
      expect((await caught(t.dispatch(row.id, 'staff:x', 'urban-management'))).code).toBe('wrong_state');
      expect((await caught(t.answer(row.id, 'staff:x', '已经派人处理好了'))).message).toContain('待受理');
      expect((await caught(t.reject(row.id, 'staff:x', ''))).code).toBe('invalid');
      await t.accept(row.id, 'staff:x');
      expect((await caught(t.dispatch(row.id, 'staff:x', 'no-such-department'))).code).toBe('invalid');
      expect((await caught(t.complete(row.id, 'staff:x'))).message).toContain('请先答复');
      expect((await caught(t.accept(999_999, 'staff:x'))).code).toBe('not_found');
      expect((await t.timeline(row.id)).map((e) => e.kind)).toEqual(['filed', 'accepted']);
      expect((await a.db.getRepository(TicketEntity).findOneByOrFail({ id: row.id })).status).toBe('accepted');
    });

    it('不予受理 tells the reporter why and ends the clock', async () => {
      const { a, t, say, pushes } = await app({ db: db.name });
      await say('o_rej', '你好');
      const row = await t.file(report({ openid: 'o_rej', category: 'consumer', description: '网上买的东西想退货，请问怎么办理' }));
      await t.reject(row.id, 'staff:hotline', '属于平台售后，请先联系商家；协商不成可拨打 12315。');
      await a.jobs.runDue();
      expect(pushes('o_rej').at(-1)).toContain('原因：属于平台售后');
      expect(await a.jobs.list({ name: 'tickets.overdue', status: 'pending' })).toEqual([]);
    });
  });
}

describe('tickets: clocks, duplicates, bad input', () => {
  it('a ticket filed the day before 国庆 is due after the holiday, in working days of its kind', async () => {
    const clock = new FakeClock(cst(2026, 9, 30, 10));
    const { t } = await app({ clock });
    const consult = await t.file(report({ kind: 'consult', category: 'social', description: '请问退休以后医保卡里的钱还能用吗', lat: undefined, lng: undefined }));
    // 9/30 (Wed) + 2 working days: 10/1–10/7 are holidays, 10/8 (Thu) and 10/9 (Fri) are the two.
    expect(consult.dueAt).toBe(cst(2026, 10, 9, 17, 30));
    const complaint = await t.file(report({ kind: 'complaint' }));
    expect(complaint.dueAt).toBeGreaterThan(cst(2026, 10, 20));
  });

  it('督办 at the due time alerts the supervisors; an approved 延期 moves the due time and the check with it', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t } = await app({ clock });
    const boss = (await a.accounts.create({ username: 'cg.zhuren', name: '城管主任', role: 'supervisor', department: 'urban-management', password: PASSWORD, mustChangePassword: false })).account!;
    const late = await t.file(report({ kind: 'consult', category: 'noise', description: '工地晚上十点以后还在打桩，能不能管一管', lat: 31.2135, lng: 121.4019 }));
    const extended = await t.file(report({ kind: 'consult', category: 'noise', description: '另一处工地夜间施工，吵得孩子睡不着', lat: 31.2136, lng: 121.4019 }));
    const deskDuty = (await a.accounts.create({ username: 'desk.duty', name: '值班员', role: 'duty', department: 'hotline', password: PASSWORD, mustChangePassword: false })).account!;
    const deskBoss = (await a.accounts.create({ username: 'desk.boss', name: '热线办主任', role: 'supervisor', department: 'hotline', password: PASSWORD, mustChangePassword: false })).account!;
    await t.accept(extended.id, 'staff:hotline');
    await t.dispatch(extended.id, 'staff:hotline', 'xinhua-street');
    await t.giveBack(extended.id, 'staff:jd', '工地不在本街道范围');
    expect((await a.db.getRepository(AlertEntity).findBy({ kind: 'ticket-returned' })).map((x) => [x.staffId, x.link])).toEqual([[deskDuty.id, `/admin/tickets/${extended.id}`]]);
    await t.dispatch(extended.id, 'staff:hotline', 'urban-management');
    await t.requestExtension(extended.id, 'staff:cg', 3, '需要会同住建部门核查夜间施工许可');
    expect((await a.db.getRepository(AlertEntity).findBy({ kind: 'ticket-extension' })).map((x) => x.staffId)).toEqual([deskBoss.id]);
    expect((await caught(t.requestExtension(extended.id, 'staff:cg', 3, '再申请一次看看'))).code).toBe('conflict');
    const moved = await t.decideExtension(extended.id, 'staff:hotline-boss', true);
    expect(moved.dueAt).toBe(cst(2026, 11, 30, 17, 30));
    clock.advance(cst(2026, 11, 25, 18) - clock.now());
    await a.jobs.runDue();
    expect((await t.get(late.id))?.escalatedAt).not.toBeNull();
    expect((await t.get(extended.id))?.escalatedAt).toBeNull();
    const alerts = await a.db.getRepository(AlertEntity).findBy({ kind: 'escalation' });
    expect(alerts.map((x) => [x.staffId, x.link])).toEqual([[boss.id, `/admin/tickets/${late.id}`]]);
    expect((await t.timeline(late.id)).map((e) => e.kind)).toContain('escalated');
  });

  it('reports of one problem close by are offered for merging; merged reporters hear the answer too', async () => {
    const { a, t, say, pushes } = await app();
    await say('o_first', '你好');
    await say('o_second', '你好');
    const first = await t.file(report({ openid: 'o_first', category: 'sanitation', description: '垃圾桶满了好几天没人清，味道很大' }));
    const second = await t.file(report({ openid: 'o_second', category: 'sanitation', description: '这里的垃圾好久没有清运了，苍蝇很多', lat: XINHUA.lat + 0.0005 }));
    const far = await t.file(report({ openid: 'o_far', category: 'sanitation', description: '程家桥这边也有垃圾没清运', lat: 31.199, lng: 121.348 }));
    const other = await t.file(report({ openid: 'o_other', category: 'road', description: '同一个路口的路面有个坑' }));
    expect((await t.duplicatesOf(second)).map((x) => x.id)).toEqual([first.id]);
    expect((await t.duplicatesOf(far)).map((x) => x.id)).toEqual([]);
    expect((await caught(t.merge(other.id, first.id, 'staff:hotline'))).message).toContain('同一类别');
    await t.merge(second.id, first.id, 'staff:hotline');
    expect((await t.get(second.id))).toMatchObject({ status: 'merged', mergedInto: first.id });
    await t.accept(first.id, 'staff:hotline');
    await t.dispatch(first.id, 'staff:hotline', 'xinhua-street');
    await t.answer(first.id, 'staff:jd', '已安排环卫车每天清运两次。');
    await a.jobs.runDue();
    await a.jobs.runDue();
    expect(pushes('o_first').at(-1)).toContain('已安排环卫车每天清运两次');
    expect(pushes('o_second').some((p) => p.includes(`已合并到工单 ${first.ticketNo}`))).toBe(true);
    expect(pushes('o_second').at(-1)).toContain('已安排环卫车每天清运两次');
    expect(pushes('o_second').at(-1)).toContain(`已合并到 ${first.ticketNo}`);
  });

  it('refuses bad reports with a clear message per field, and stores neither the ticket nor any photo', async () => {
    const { a, t } = await app();
    const root = (a as unknown as { storage: { root: string } }).storage.root;
    const uploads = () => (existsSync(root) ? readdirSync(root, { recursive: true }).filter((f) => !String(f).match(/^\d{4}(\/\d{2})?$/)).length : 0);
    const before = uploads();
    const cases: [Partial<TicketInput>, string, RegExp][] = [
      [{ description: '坑' }, 'description', /至少 4 个字/],
      [{ description: '很长'.repeat(2001) }, 'description', /4000 字以内/],
      [{ photos: [{ fileName: 'photo.jpg', data: EXE_AS_JPG }] }, 'photos', /不是照片/],
      [{ photos: Array.from({ length: 5 }, () => ({ fileName: 'a.jpg', data: JPEG })) }, 'photos', /最多 4 张/],
      [{ lat: 39.9042, lng: 116.4074 }, 'location', /不在本区范围内/],
      [{ lat: 31.2, lng: undefined }, 'location', /不完整/],
      [{ phone: '138-不告诉你' }, 'phone', /正确的手机号/],
      [{ category: 'ufo' }, 'category', /从列表里选择/],
      [{ channel: 'mailbox', mailbox: 'mayor', kind: 'report', category: undefined }, 'phone', /举报需要留一个联系电话/],
    ];
    for (const [o, field, msg] of cases) {
      const err = await caught(t.file(report({ photos: [{ fileName: 'ok.png', data: PNG }], ...o })));
      expect(err.code).toBe('invalid');
      expect(err.fields[field]).toMatch(msg);
    }
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
    expect(await a.db.getRepository(TicketPhotoEntity).count()).toBe(0);
    expect(await a.db.getRepository(TicketEventEntity).count()).toBe(0);
    expect(uploads()).toBe(before);
  });

  it('the reporter only: another citizen\'s ticket reads as not found; a guessed query code is limited', async () => {
    const { t } = await app();
    const row = await t.file(report());
    expect(await t.own('o_someone_else', row.id)).toBeNull();
    expect((await caught(t.visit(row.id, 'citizen', true, null, 'o_someone_else'))).code).toBe('not_found');
    for (let i = 0; i < 10; i++) expect(await t.lookup(row.ticketNo, 'AAAAAA', ['ip:9.9.9.9'])).toBeNull();
    expect((await caught(t.lookup(row.ticketNo, row.queryCode, ['ip:9.9.9.9']))).code).toBe('too_many');
    expect((await t.lookup(row.ticketNo, row.queryCode.toLowerCase(), ['ip:1.1.1.1']))?.id).toBe(row.id);
  });
});

describe('好差评: rating → rectification → 反馈', () => {
  it('a poor rating opens a rectification with its deadline and alerts the supervisors; the supervisor approves and the rater is told', async () => {
    const { a, t, say, pushes } = await app();
    const team = await makeTeam(a);
    const boss = (await a.accounts.create({ username: 'jd.zhuren', name: '街道主任', role: 'supervisor', department: 'xinhua-street', password: PASSWORD, mustChangePassword: false })).account!;
    await say('o_rater', '你好');
    const row = await t.file(report({ openid: 'o_rater' }));
    expect((await caught(a.ratings.rate('ticket', String(row.id), 'o_rater', 1).catch((e) => { throw Object.assign(new TicketError('wrong_state', e.message)); }))).message).toContain('办结以后');
    await t.accept(row.id, 'staff:h');
    await t.dispatch(row.id, 'staff:h', 'xinhua-street');
    await t.answer(row.id, 'staff:jd', '已经处理。');
    await t.complete(row.id, 'staff:jd');
    await t.visit(row.id, 'citizen', true, null, 'o_rater');
    await a.jobs.runDue();
    await expect(a.ratings.rate('ticket', String(row.id), 'o_not_the_reporter', 1)).rejects.toThrow('没有找到');
    expect(await say('o_rater', '不满意', `rt-ticket-${row.id}-2`)).toContain('整改结果会告诉您');
    const rect = await a.db.getRepository(RectificationEntity).findOneByOrFail({});
    expect(rect).toMatchObject({ department: 'xinhua-street', status: 'open' });
    expect(rect.dueAt).toBe(a.calendar.workingDaysDeadline(a.clock.now(), 5));
    expect((await a.db.getRepository(AlertEntity).findBy({ kind: 'poor-rating' })).map((x) => x.staffId)).toEqual([boss.id]);
    await expect(a.ratings.reviewRectification(rect.id, boss.id, true, '', '工单')).rejects.toThrow('只能审核已提交的整改');
    await expect(a.ratings.submitRectification(rect.id, team.handler.id, '处理了')).rejects.toThrow('至少 10 个字');
    await a.ratings.submitRectification(rect.id, team.handler.id, '查明施工队未按要求回填，已责令返工并每周巡查一次。');
    await a.ratings.reviewRectification(rect.id, boss.id, false, '请写明巡查由谁负责', '工单');
    await a.ratings.submitRectification(rect.id, team.handler.id, '已返工回填；由街道城建科每周一巡查并拍照存档。');
    await a.ratings.reviewRectification(rect.id, boss.id, true, '同意', '工单 的办理');
    await a.jobs.runDue();
    expect(pushes('o_rater').at(-1)).toContain('整改情况如下：\n已返工回填');
    const s = await a.ratings.satisfaction({ department: 'xinhua-street' });
    expect(s).toMatchObject({ count: 1, poor: 1, average: 2, goodRate: 0 });
    expect(await a.db.getRepository(RatingEntity).count()).toBe(1);
  });

  it('a staff conversation\'s rating lands on the same service: a 差评 opens its rectification, and the rater stays hidden from the staff rated', async () => {
    const { a, say } = await app();
    const team = await makeTeam(a);
    const id = await openHandoff(a, 'o_chat_rater');
    const actor = { kind: 'staff' as const, id: team.handler.id, username: team.handler.username, name: team.handler.name, role: team.handler.role, department: team.handler.department };
    await a.inbox.reply(actor, id, { kind: 'text', text: '您好，已经帮您查过了，材料齐全就可以办。' });
    await a.inbox.close(actor, id);
    await a.jobs.runDue();
    expect(await say('o_chat_rater', '非常不满意', `rate-${id}-1`)).toContain('我们会认真改进');
    const r = await a.ratings.ratingOf('conversation', String(id));
    expect(r).toMatchObject({ level: 1, department: 'service-centre', staffId: team.handler.id, openid: 'o_chat_rater' });
    const rect = await a.db.getRepository(RectificationEntity).findOneByOrFail({ ratingId: r!.id });
    expect(rect.status).toBe('open');
    const h = await signedIn(a, team.handler);
    const page = await h.page(`/admin/rectifications/${rect.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('o_chat_rater');
    expect(page.html).not.toContain('显示评价人');
    const sup = await signedIn(a, team.supervisor);
    const before = await sup.page(`/admin/rectifications/${rect.id}`);
    expect(before.html).toContain('显示评价人');
    const shown = await sup.post(`/admin/rectifications/${rect.id}/reveal`);
    expect(await shown.text()).toContain('o_chat_rater');
    expect(await a.db.getRepository(AuditEntity).countBy({ action: 'rating-reveal', target: `rating:${r!.id}` })).toBe(1);
    expect((await a.ratings.satisfaction({ subject: 'conversation' })).count).toBe(1);
  });

  it('a ticket\'s rating names the staff member who gave the last 答复 or 办结, so satisfaction per staff member counts tickets', async () => {
    const { a, t, say } = await app();
    const team = await makeTeam(a);
    const ops = (a.capabilities.find((c) => c.name === 'ops') as OpsCapability).operations;
    await say('o_rater_a', '你好');
    await say('o_rater_b', '你好');
    // Ticket A: answered by 钱经办, closed by 王主任 → 王主任 is rated. Ticket B: answered and closed by 孙经办.
    const ta = await t.file(report({ openid: 'o_rater_a' }));
    const tb = await t.file(report({ openid: 'o_rater_b', description: '公交站台的顶棚被风吹坏了，下雨天等车的人都淋湿了，请尽快修一修' }));
    for (const [row, answerer, closer] of [[ta, team.handler, team.supervisor], [tb, team.handler2, team.handler2]] as const) {
      await t.accept(row.id, 'staff:admin');
      await t.dispatch(row.id, 'staff:admin', 'service-centre');
      await t.answer(row.id, `staff:${answerer.username}`, '已经派人修好了，感谢您的反映。');
      await t.complete(row.id, `staff:${closer.username}`);
      await t.visit(row.id, 'citizen', true, null, row.openid!);
    }
    await a.jobs.runDue();
    expect(await say('o_rater_a', '不满意', `rt-ticket-${ta.id}-2`)).toContain('整改');
    expect(await say('o_rater_b', '非常满意', `rt-ticket-${tb.id}-5`)).toContain('感谢');
    expect(await a.ratings.ratingOf('ticket', String(ta.id))).toMatchObject({ staffId: team.supervisor.id, level: 2 });
    expect(await a.ratings.ratingOf('ticket', String(tb.id))).toMatchObject({ staffId: team.handler2.id, level: 5 });
    const v = await ops.satisfaction(ops.lastDays(30), null);
    expect(Object.fromEntries(v.byStaff.map((r) => [r.label, [r.count, r.poor]]))).toEqual({ [team.supervisor.name]: [1, 1], [team.handler2.name]: [1, 0] });
  });
});

describe('tickets in another department\'s profile', () => {
  it('the traffic police take a broken signal in chat from the navigation, with its location, and route it to the command centre', async () => {
    const a = await startApp({ profileFile: join(import.meta.dirname, '..', '..', 'profiles', 'xiamen-traffic', 'profile.yaml') });
    const say = async (content: string) => {
      const r = await a.emulator!.act('o_driver', { type: 'text', content });
      return r.reply?.type === 'text' ? r.reply.content : '';
    };
    await a.emulator!.act('o_driver', { type: 'subscribe' });
    // As a driver would: the home list, then 帮助与反馈, then 投诉举报 — by the numbers shown.
    const pick = (list: string, label: string) => String(listedLabels(list).findIndex((l) => l.startsWith(label)) + 1);
    const home = await say('00');
    const feedback = await say(pick(home, '帮助与反馈'));
    expect(await say(pick(feedback, '投诉举报'))).toContain('说完后回复「好了」');
    await say('湖滨南路和湖滨东路路口的红绿灯不亮了，车都挤在一起');
    await a.emulator!.act('o_driver', { type: 'location', latitude: 24.4796, longitude: 118.1139, label: '湖滨南路口' });
    await say('好了');
    expect(await say('1')).toContain('查询码');
    const t = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_driver' });
    expect(t).toMatchObject({ category: 'signal', kind: 'help', department: 'command-centre' });
  });
});
