import { describe, expect, it } from 'vitest';
import type { PhoneReply } from '../../src/emulator/index.ts';
import { BookingEntity } from '../../src/services/appointments/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const startApp = appsClosedAfterEach();

const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const textOf = (r: PhoneReply | null) => (r?.type === 'text' ? r.content : '');
const lines = (t: string) => t.split('\n').filter((l) => l.startsWith('回复 ') && !l.startsWith('回复 0')).map((l) => l.replace(/<[^>]+>/g, '').replace(/^回复 \d+\s+/, ''));
const indexOf = (t: string, label: RegExp) => String(lines(t).findIndex((l) => label.test(l)) + 1);

async function citizen(openid = 'o_chat_book') {
  const a = await startApp();
  await a.emulator!.act(openid, { type: 'subscribe' });
  const say = async (content: string) => textOf((await a.emulator!.act(openid, { type: 'text', content })).reply);
  return { a, say, openid };
}

describe('预约 in the chat', () => {
  it('walks item → hall → day → time → confirm, and books the same way the pages do', async () => {
    const { a, say, openid } = await citizen();
    const items = await say('我想预约');
    expect(items).toContain('请选择要预约的事项');
    const halls = await say(indexOf(items, /居住证/));
    expect(halls).toContain('可以在这些大厅办理');
    const days = await say(indexOf(halls, /示范区行政服务中心/));
    expect(lines(days)[0]).toMatch(/^11月23日 周一（还可约 \d+ 个）$/);
    const times = await say('2'); // Tuesday
    expect(lines(times)[0]).toBe('9:00–9:30（剩 2 个）');
    const confirm = await say('3');
    expect(confirm).toContain('时间：11月24日（周二）10:00–10:30');
    const done = await say('1');
    expect(done).toMatch(/预约成功！[\s\S]*预约码：[2-9A-HJ-NP-Z]{6}/);
    const [b] = await a.db.getRepository(BookingEntity).findBy({ openid });
    expect(b).toMatchObject({ serviceId: 'residence-permit', hallId: 'center', channel: 'chat', startsAt: cst(2026, 11, 24, 10), status: 'booked' });
    expect(done).toContain(`预约码：${b!.code}`);
    // the conversation is back to normal
    expect(await say('00')).toContain('请回复数字选择');
  });

  it('0 steps back; a wrong number repeats the step; a slot taken meanwhile sends the citizen back to the times', async () => {
    const { a, say } = await citizen();
    const items = await say('预约');
    const halls = await say(indexOf(items, /居住证/));
    const days = await say(indexOf(halls, /示范区行政服务中心/));
    expect(await say('0')).toContain('可以在这些大厅办理');
    await say(indexOf(halls, /示范区行政服务中心/));
    expect(await say('99')).toContain('没有这个选项');
    expect(days).toContain('请选择日期');
    await say('2');
    await say('3');
    // two others take the last places of 10:00 before the citizen confirms
    for (const o of ['o_fast1', 'o_fast2']) await a.appointments.book({ openid: o, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    const again = await say('1');
    expect(again).toContain('这个时间段已经约满了');
    expect(again).toContain('请选择时间');
  });

  it('a guide offers "回复 1 预约到大厅办理" and links to its page; 1 starts the booking for that item', async () => {
    const { say } = await citizen('o_guide_book');
    // One item answers the question: its guide comes at once, no list to choose from first.
    const g = await say('社保卡怎么补办');
    expect(g).toMatch(/<a href="http:\/\/localhost:\d+\/h5\/guide\/social-security-card">查看完整办事指南<\/a>/);
    expect(g).toContain('预约到大厅办理');
    const halls = await say('1');
    expect(halls).toContain('「社会保障卡申领和补换」可以在这些大厅办理');
  });

  it('an item that needs contact details is booked on its page', async () => {
    const { say } = await citizen();
    const items = await say('预约');
    const r = await say(indexOf(items, /护照/));
    expect(r).toMatch(/请在页面上预约：\n<a href="http:\/\/localhost:\d+\/h5\/book\/passport">/);
  });
});

describe('a dialog answered in words', () => {
  it('the words of a line count as its number; a spoken number counts too', async () => {
    const { a, say, openid } = await citizen('o_words');
    const items = await say('预约');
    const halls = await say('居住证'); // the words of the item's line
    expect(halls).toContain('可以在这些大厅办理');
    expect(await say('示范区行政服务中心')).toContain('请选择日期');
    const voice = async (recognition: string) => textOf((await a.emulator!.act(openid, { type: 'voice', recognition })).reply);
    expect(await voice('二。')).toContain('请选择时间'); // 二 → 2: Tuesday
    expect(await say('10:00')).toContain('请确认您的预约');
    expect(await say('确认预约')).toContain('预约成功'); // not a new 预约 (the keyword)
    const [b] = await a.db.getRepository(BookingEntity).findBy({ openid });
    expect(b).toMatchObject({ startsAt: cst(2026, 11, 24, 10), status: 'booked' });
    await say('我的预约');
    expect(await say('1')).toContain('取消这次预约');
    // 预约 is part of 取消这次预约 but also a keyword: it starts a new booking, it cancels nothing.
    expect(await say('预约')).toContain('请选择要预约的事项');
    expect((await a.db.getRepository(BookingEntity).findOneByOrFail({ openid })).status).toBe('booked');
    await say('我的预约');
    await say('1');
    expect(await say('取消')).toContain('已取消预约');
    expect(items).toContain('请选择要预约的事项');
  });
});

describe('我的预约 in the chat', () => {
  it('lists, cancels and moves bookings', async () => {
    const { a, say, openid } = await citizen('o_mine');
    expect(await say('我的预约')).toContain('您现在没有待办的预约');
    await a.appointments.book({ openid, serviceId: 'senior-card', hallId: 'xinhua', start: cst(2026, 11, 25, 9), channel: 'h5', notify: false });
    await a.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 26, 14), channel: 'h5', notify: false });
    const list = await say('我的预约');
    expect(lines(list)).toHaveLength(2);
    expect(lines(list)[0]).toMatch(/^11月25日（周三）9:00–9:30 老年人优待证/);
    const item = await say('1');
    expect(item).toContain('取消这次预约');
    expect(await say('1')).toContain('已取消预约');
    await a.jobs.runDue();
    // The chat's own answer says so: no customer-service message repeats it.
    expect(a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'custom' && String(i.message.content).includes('已取消'))).toHaveLength(0);
    const list2 = await say('改约');
    expect(await say('1')).toContain('改约到其他时间');
    const moved = await say('2');
    expect(moved).toContain('请选择日期');
    await say('2');
    const confirm = await say('1');
    expect(confirm).toContain('请确认改约到');
    expect(await say('1')).toContain('预约成功');
    const rows = await a.db.getRepository(BookingEntity).find({ where: { openid }, order: { id: 'ASC' } });
    expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'booked']);
    expect(rows[2]!.rescheduledFrom).toBe(rows[1]!.id);
    expect(list2).toContain('您的预约');
  });
});

describe('halls in the chat', () => {
  it('a location answers with the nearest halls: distance, opening, today\'s places, a link to navigate', async () => {
    const { a } = await citizen('o_loc');
    const r = textOf((await a.emulator!.act('o_loc', { type: 'location', latitude: 31.2197, longitude: 121.4167, label: '中山公园' })).reply);
    const first = r.split('\n\n')[1]!;
    expect(first).toMatch(/^1\. 江苏路街道社区事务受理服务中心 · 1\.3 公里/);
    expect(first).toContain('今天 9:00–17:00，正在开放；今天还可预约');
    expect(first).toMatch(/<a href="http:\/\/localhost:\d+\/h5\/halls\/jiangsu\?lat=31\.2197&lng=121\.4167">查看大厅和导航<\/a>/);
    const sel = textOf((await a.emulator!.act('o_loc', { type: 'location_select', key: 'nearby-halls', latitude: 31.199, longitude: 121.348, label: '虹桥' })).reply);
    expect(sel).toMatch(/1\. 程家桥街道社区事务受理服务中心 · 约 10 米/);
    a.clock.set(cst(2026, 11, 28, 13)); // Saturday afternoon
    const sat = textOf((await a.emulator!.act('o_loc', { type: 'location', latitude: 31.2135, longitude: 121.4019 })).reply);
    expect(sat).toContain('现在不开放，11月30日 9:00 开门');
  });

  it('scanning a hall\'s code on the day checks in and gives a queue number', async () => {
    const { a } = await citizen('o_scan');
    await a.appointments.book({ openid: 'o_scan', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 9, 45));
    const r = textOf((await a.emulator!.act('o_scan', { type: 'scan', scene: 'checkin:center' })).reply);
    expect(r).toContain('签到成功');
    expect(r).toContain('您的排队号：001 号');
    expect(r).toContain('前面还有 0 位');
    const none = textOf((await a.emulator!.act('o_scan', { type: 'scan', scene: 'checkin:xinhua' })).reply);
    expect(none).toContain('您今天在这个大厅没有预约');
    // the codes exist on the platform from the start (the phone can scan them)
    expect(a.emulator!.platform.liveQrCodes().map((q) => q.scene)).toContain('checkin:center');
  });

  it('scanning the printed code from home hours before the booked time says when to come, and takes no number', async () => {
    const { a } = await citizen('o_home_scan');
    await a.appointments.book({ openid: 'o_home_scan', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 16, 30), channel: 'h5', notify: false });
    a.clock.set(cst(2026, 11, 24, 11, 34));
    const r = textOf((await a.emulator!.act('o_home_scan', { type: 'scan', scene: 'checkin:center' })).reply);
    expect(r).toBe('示范区行政服务中心欢迎您！您预约的是今天 16:30，请在 15:30 以后到了大厅再扫码签到。');
    a.clock.set(cst(2026, 11, 24, 16, 5));
    const screen = a.appointments.screenPeriod('center');
    const at = textOf((await a.emulator!.act('o_home_scan', { type: 'scan', scene: screen.scene })).reply);
    expect(at).toContain('您的排队号：001 号');
    const junk = textOf((await a.emulator!.act('o_home_scan', { type: 'scan', scene: 'checkin:center:zz:zz' })).reply);
    expect(junk).toContain('这个二维码不是本大厅的签到码');
  });
});
