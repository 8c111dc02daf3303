import { describe, expect, it } from 'vitest';
import { RectificationEntity } from '../../src/services/ratings/entities.ts';
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
