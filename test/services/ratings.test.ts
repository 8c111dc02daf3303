import { describe, expect, it } from 'vitest';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { RatingEntity, RectificationEntity } from '../../src/services/ratings/entities.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();
const form = { name: '王小明', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' };
const files = [
  { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
  { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
];

describe('好差评 for cases, on the same service', () => {
  it('a case completed inside the window is followed by the five levels; a tap rates it once; a 差评 opens its rectification', async () => {
    const a = await startApp();
    await a.emulator!.act('o_case_rater', { type: 'subscribe' });
    await a.emulator!.act('o_case_rater', { type: 'text', content: '你好' });
    const c = await a.cases.submit('o_case_rater', 'residence-permit', form, files);
    await a.cases.accept(c.id, 'staff:1');
    await a.cases.advance(c.id, 'staff:1');
    await a.cases.advance(c.id, 'staff:1');
    await a.jobs.runDue();
    await a.jobs.runDue();
    const menus = a.emulator!.platform.inbox('o_case_rater').filter((i) => i.channel === 'custom' && i.message.type === 'msgmenu');
    expect(menus).toHaveLength(1);
    expect(menus[0]!.message.headContent).toContain('已办结');
    expect((menus[0]!.message.list as { id: string }[]).map((x) => x.id)).toEqual([5, 4, 3, 2, 1].map((l) => `rt-case-${c.id}-${l}`));
    const r = await a.emulator!.act('o_case_rater', { type: 'text', content: '不满意', bizmsgmenuid: `rt-case-${c.id}-2` });
    expect(r.reply?.type === 'text' && r.reply.content).toContain('整改');
    const again = await a.emulator!.act('o_case_rater', { type: 'text', content: '非常满意', bizmsgmenuid: `rt-case-${c.id}-5` });
    expect(again.reply?.type === 'text' && again.reply.content).toContain('已经评价过了');
    expect((await a.ratings.ratingOf('case', String(c.id)))?.level).toBe(2);
    expect(await a.db.getRepository(RectificationEntity).countBy({ department: c.department ?? '' })).toBe(1);
    expect((await a.ratings.satisfaction({ subject: 'case' })).byLevel[2]).toBe(1);
  });

  it('past the window the case page asks, once; an unfinished case or another citizen\'s cannot be rated', async () => {
    const a = await startApp();
    const c = await a.cases.submit('o_case_page', 'residence-permit', form, files);
    const other = await a.cases.submit('o_case_page', 'residence-permit', form, files);
    await a.cases.accept(c.id, 'staff:1');
    await a.cases.advance(c.id, 'staff:1');
    await a.cases.advance(c.id, 'staff:1');
    const v = new Visitor(`http://localhost:${a.port}`);
    v.cookie('emu_openid', 'o_case_page');
    const page = await v.get(`/h5/cases/${c.id}`);
    expect(page.text).toContain('评价（自愿）');
    const csrf = v.csrf(page.text);
    expect((await v.post('/h5/rate', { _csrf: csrf, subject: 'case', id: String(other.id), level: '5', back: `/h5/cases/${other.id}` })).status).toBe(400);
    const stranger = new Visitor(`http://localhost:${a.port}`);
    stranger.cookie('emu_openid', 'o_stranger_x');
    const sp = await stranger.get('/h5/cases');
    expect((await stranger.post('/h5/rate', { _csrf: stranger.csrf(sp.text), subject: 'case', id: String(c.id), level: '1', back: `/h5/cases/${c.id}` })).status).toBe(404);
    const done = await v.post('/h5/rate', { _csrf: csrf, subject: 'case', id: String(c.id), level: '4', back: `/h5/cases/${c.id}` });
    expect(done.text).toContain('感谢您的评价');
    expect((await v.get(`/h5/cases/${c.id}`)).text).toContain('您的评价：满意');
    expect((await v.post('/h5/rate', { _csrf: csrf, subject: 'case', id: String(c.id), level: '1', back: 'https://evil.example/' })).text).toContain('已经评价过了');
    expect((await a.ratings.ratingOf('case', String(c.id)))?.level).toBe(4);
  });
});

/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

describe('好差评 for bookings served at the hall', () => {
  const book = (a: Awaited<ReturnType<typeof startApp>>, openid: string, hh: number, day = 24) =>
    a.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, day, hh), channel: 'h5', notify: false });

  it('the desk marks a booking served: the citizen is asked in chat, the rating names the item\'s department and who served, a 差评 opens its rectification, and 运营 counts it', async () => {
    const a = await startApp();
    const team = await makeTeam(a);
    const b = await book(a, 'o_hall_rater', 10);
    a.clock.set(cst(2026, 11, 24, 9, 40));
    await a.emulator!.act('o_hall_rater', { type: 'subscribe' });
    await a.emulator!.act('o_hall_rater', { type: 'text', content: '你好' });
    const duty = await signedIn(a, team.duty);
    await duty.page('/admin/halls/center');
    expect((await duty.post(`/admin/halls/center/bookings/${b.id}/arrived`)).status).toBe(302);
    // Not served yet: nothing to rate.
    await expect(a.ratings.rate('booking', String(b.id), 'o_hall_rater', 5)).rejects.toThrow('办结以后');
    expect((await duty.post(`/admin/halls/center/bookings/${b.id}/served`)).status).toBe(302);
    await a.jobs.runDue();
    const menus = a.emulator!.platform.inbox('o_hall_rater').filter((i) => i.channel === 'custom' && i.message.type === 'msgmenu');
    expect(menus).toHaveLength(1);
    expect(menus[0]!.message.headContent).toContain('上海市居住证办理」已办结');
    expect((menus[0]!.message.list as { id: string }[]).map((x) => x.id)).toEqual([5, 4, 3, 2, 1].map((l) => `rt-booking-${b.id}-${l}`));
    const r = await a.emulator!.act('o_hall_rater', { type: 'text', content: '不满意', bizmsgmenuid: `rt-booking-${b.id}-2` });
    expect(r.reply?.type === 'text' && r.reply.content).toContain('整改');
    // Another citizen cannot rate it; the rater cannot rate it twice.
    await expect(a.ratings.rate('booking', String(b.id), 'o_someone_else', 5)).rejects.toThrow('没有找到');
    const again = await a.emulator!.act('o_hall_rater', { type: 'text', content: '非常满意', bizmsgmenuid: `rt-booking-${b.id}-5` });
    expect(again.reply?.type === 'text' && again.reply.content).toContain('已经评价过了');
    const rating = await a.ratings.ratingOf('booking', String(b.id));
    expect(rating).toMatchObject({ level: 2, department: 'service-centre', staffId: team.duty.id, openid: 'o_hall_rater' });
    expect(await a.db.getRepository(RatingEntity).countBy({ subject: 'booking' })).toBe(1);
    const rect = await a.db.getRepository(RectificationEntity).findOneByOrFail({ ratingId: rating!.id });
    expect(rect).toMatchObject({ department: 'service-centre', status: 'open' });
    const sup = await signedIn(a, team.supervisor);
    expect((await sup.page(`/admin/rectifications/${rect.id}`)).html).toContain(`预约码 ${b.code}`);
    // 运营 → 好差评: per item, department, staff member and channel (booked on a page).
    const ops = (a.capabilities.find((c) => c.name === 'ops') as OpsCapability).operations;
    const v = await ops.satisfaction(ops.lastDays(30), null);
    expect(v.total).toMatchObject({ count: 1, poor: 1 });
    expect(v.byItem.map((x) => [x.label, x.count])).toEqual([['上海市居住证办理', 1]]);
    expect(v.byDepartment.map((x) => [x.key, x.count])).toEqual([['service-centre', 1]]);
    expect(v.byStaff.map((x) => [x.label, x.count, x.poor])).toEqual([[team.duty.name, 1, 1]]);
    expect(v.byChannel.map((x) => [x.key, x.count])).toEqual([['page', 1]]);
    expect(v.poor.map((x) => [x.source, x.id, x.link])).toEqual([['booking', b.id, '/admin/halls/center']]);
  });

  it('past the chat window the booking\'s page asks, once; only the citizen\'s own served booking can be rated', async () => {
    const a = await startApp();
    const team = await makeTeam(a);
    const served = await book(a, 'o_hall_page', 10);
    const waiting = await book(a, 'o_hall_page', 14, 25);
    a.clock.set(cst(2026, 11, 24, 9, 40));
    await a.appointments.markArrived(served.id);
    await a.appointments.markServed(served.id, team.duty.id);
    const v = new Visitor(`http://localhost:${a.port}`);
    v.cookie('emu_openid', 'o_hall_page');
    expect((await v.get(`/h5/bookings/${waiting.id}`)).text).not.toContain('评价（自愿）');
    const page = await v.get(`/h5/bookings/${served.id}`);
    expect(page.text).toContain('评价（自愿）');
    const csrf = v.csrf(page.text);
    const back = `/h5/bookings/${served.id}`;
    expect((await v.post('/h5/rate', { _csrf: csrf, subject: 'booking', id: String(waiting.id), level: '5', back: `/h5/bookings/${waiting.id}` })).status).toBe(400);
    const stranger = new Visitor(`http://localhost:${a.port}`);
    stranger.cookie('emu_openid', 'o_stranger_b');
    const sp = await stranger.get('/h5/bookings');
    expect((await stranger.post('/h5/rate', { _csrf: stranger.csrf(sp.text), subject: 'booking', id: String(served.id), level: '1', back })).status).toBe(404);
    const done = await v.post('/h5/rate', { _csrf: csrf, subject: 'booking', id: String(served.id), level: '4', back });
    expect(done.text).toContain('感谢您的评价');
    expect(done.text).toContain(`href="${back}"`);
    expect((await v.get(back)).text).toContain('您的评价：满意');
    expect((await v.post('/h5/rate', { _csrf: csrf, subject: 'booking', id: String(served.id), level: '1', back })).text).toContain('已经评价过了');
    expect(await a.ratings.ratingOf('booking', String(served.id))).toMatchObject({ level: 4, staffId: team.duty.id, department: 'service-centre' });
    expect(await a.db.getRepository(RectificationEntity).count()).toBe(0);
  });
});
