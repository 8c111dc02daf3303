import { describe, expect, it } from 'vitest';
import type { PhoneReply } from '../../src/emulator/index.ts';
import { AttachmentEntity, CaseEntity } from '../../src/services/cases/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { BIG_JPEG, EXE_AS_JPG, JPEG, PDF, validId, wrongCheckDigit } from '../helpers/files.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();

const ID = validId();
const textOf = (r: PhoneReply | null) => (r?.type === 'text' ? r.content : '');

async function setup(openid = 'o_applicant_web') {
  const a = await startApp();
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  return { a, v, openid };
}

function residenceForm(csrf: string, o: { fields?: Record<string, string>; photo?: Buffer | null; photoName?: string; proof?: Buffer | null; action?: string } = {}): FormData {
  const f = new FormData();
  f.set('_csrf', csrf);
  f.set('action', o.action ?? 'submit');
  const fields = { name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领', ...(o.fields ?? {}) };
  for (const [k, val] of Object.entries(fields)) f.set(k, val);
  if (o.photo !== null) f.append('photo', new Blob([o.photo ?? JPEG]), o.photoName ?? 'me.jpg');
  if (o.proof !== null) f.append('proof', new Blob([o.proof ?? PDF]), 'contract.pdf');
  return f;
}

describe('applying on the page', () => {
  it('renders the form from its definition, submits with attachments, and gives a case number and query code', async () => {
    const { a, v } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    expect(page.status).toBe(200);
    expect(page.text).toContain('enctype="multipart/form-data"');
    expect(page.text).toContain('data-idcard');
    expect(page.text).toContain('accept="image/jpeg,.jpg,.jpeg,image/png,.png"');
    const r = await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(page.text)));
    expect(r.status).toBe(302);
    const [c] = await a.db.getRepository(CaseEntity).find();
    expect(r.location).toBe(`/h5/cases/${c!.id}?submitted=1`);
    const shown = await v.get(r.location!);
    expect(shown.text).toContain(c!.caseNo);
    expect(shown.text).toContain(c!.queryCode);
    expect(shown.text).toContain('138****5678'); // masked even to the applicant's page
    expect(shown.text).not.toContain('13812345678');
  });

  it('refuses, per field and storing nothing: a wrong check digit, a missing field, an oversized file, a disguised file, no CSRF token', async () => {
    const { a, v } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    const csrf = v.csrf(page.text);
    const tries: [FormData, string][] = [
      [residenceForm(csrf, { fields: { id_card: wrongCheckDigit(ID) } }), '身份证号码不正确（校验位不对）'],
      [residenceForm(csrf, { fields: { name: '' } }), '请填写申请人姓名'],
      [residenceForm(csrf, { photo: BIG_JPEG }), '太大了，不能超过 2 MB'],
      [residenceForm(csrf, { photo: EXE_AS_JPG, photoName: 'photo.jpg' }), '「photo.jpg」不是 JPG 或 PNG 图片，'],
    ];
    for (const [form, message] of tries) {
      const r = await v.postMultipart('/h5/apply/residence-permit', form);
      expect(r.status, message).toBe(400);
      expect(r.text).toContain(message);
      expect(r.text).toContain('value="示范区天山路 600 弄 2 号 301 室"'); // what was typed is kept
    }
    expect((await v.postMultipart('/h5/apply/residence-permit', residenceForm('x'.repeat(32)))).status).toBe(403);
    expect(await a.db.getRepository(CaseEntity).count()).toBe(0);
    expect(await a.db.getRepository(AttachmentEntity).count()).toBe(0);
  });

  it('keeps a draft when the citizen leaves, including an uploaded photo', async () => {
    const { v } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    const saved = await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(page.text), { action: 'draft', fields: { phone: '' }, proof: null }));
    expect(saved.status).toBe(302);
    expect(saved.location).toBe('/h5/apply/residence-permit?saved=1');
    const back = await v.get('/h5/apply/residence-permit');
    expect(back.text).toContain('value="王小明"');
    expect(back.text).toContain('已上传：me.jpg');
    // the page's own autosave (text fields only)
    const auto = await v.post('/h5/apply/residence-permit/draft', { _csrf: v.csrf(back.text), phone: '13900001111' });
    expect(auto.status).toBe(200);
    expect((await v.get('/h5/apply/residence-permit')).text).toContain('value="13900001111"');
  });

  it('a wrong photo in the draft can be deleted (only by its owner, with the CSRF token) and another one uploaded', async () => {
    const { a, v } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(page.text), { action: 'draft', proof: null, photoName: 'wrong.jpg' }));
    const [photo] = await a.db.getRepository(AttachmentEntity).find();
    const withFile = await v.get('/h5/apply/residence-permit');
    expect(withFile.text).toContain('已上传：wrong.jpg');
    expect(withFile.text).toContain(`formaction="/h5/apply/residence-permit/files/${photo!.id}/delete"`);
    expect(withFile.text).toMatch(/<button[^>]*formnovalidate[^>]*>删除<\/button>/);
    // the limit of one photo: another cannot be added on top
    const stuck = await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(withFile.text), { photoName: 'right.jpg' }));
    expect(stuck.status).toBe(400);
    expect(stuck.text).toContain('本人近期证件照最多传 1 个文件。已上传的可以先点「删除」，再传新的。');

    const other = new Visitor(`http://localhost:${a.port}`);
    other.cookie('emu_openid', 'o_nosy_neighbour');
    const otherPage = await other.get('/h5/apply/residence-permit');
    expect((await other.post(`/h5/apply/residence-permit/files/${photo!.id}/delete`, { _csrf: other.csrf(otherPage.text) })).status).toBe(404);
    expect((await v.post(`/h5/apply/residence-permit/files/${photo!.id}/delete`, { _csrf: 'x'.repeat(32) })).status).toBe(403);
    expect((await v.post(`/h5/apply/senior-card/files/${photo!.id}/delete`, { _csrf: v.csrf(withFile.text) })).status).toBe(404); // another item's draft
    expect(await a.db.getRepository(AttachmentEntity).count()).toBe(1);

    const removed = await v.post(`/h5/apply/residence-permit/files/${photo!.id}/delete`, { _csrf: v.csrf(withFile.text), name: '王大明', photo: 'right.jpg' });
    expect(removed.status).toBe(302);
    expect(removed.location).toBe('/h5/apply/residence-permit?removed=1');
    const after = await v.get(removed.location!);
    expect(after.text).toContain('文件已删除');
    expect(after.text).not.toContain('wrong.jpg');
    expect(after.text).toContain('value="王大明"'); // what was typed went along and was kept
    expect(await a.db.getRepository(AttachmentEntity).count()).toBe(0);
    const done = await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(after.text), { photoName: 'right.jpg' }));
    expect(done.status).toBe(302);
    const [c] = await a.db.getRepository(CaseEntity).find();
    expect((await a.cases.attachments(c!.id)).map((x) => x.fileName)).toEqual(['right.jpg', 'contract.pdf']);
  });

  it('the 补正 form says how many files each field already has and that a new one replaces the old', async () => {
    const { a, v } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(page.text)));
    const [c] = await a.db.getRepository(CaseEntity).find();
    await a.cases.requestCorrection(c!.id, 'staff:1', '照片看不清，请重拍一张。');
    const casePage = await v.get(`/h5/cases/${c!.id}`);
    expect(casePage.text).toContain('已交 1 个，最多 1 个；新传的会替换原来的。');
    expect(casePage.text).toContain('已交 1 个，最多 3 个。');
    const form = new FormData();
    form.set('_csrf', v.csrf(casePage.text));
    form.append('photo', new Blob([JPEG]), 'clear.jpg');
    expect((await v.postMultipart(`/h5/cases/${c!.id}/correct`, form)).status).toBe(200);
    const shown = await v.get(`/h5/cases/${c!.id}`);
    expect(shown.text).toContain('clear.jpg');
    expect(shown.text).not.toContain('me.jpg'); // replaced: staff still see it, marked
  });

  it('the progress line tells the truth: 待受理 is waiting (not done, not under way), and 办结 keeps the promised date', async () => {
    const { a, v, openid } = await setup('o_steps');
    const c = await a.cases.submit(openid, 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    const steps = async () => {
      const html = (await v.get(`/h5/cases/${c.id}`)).text;
      return { html, items: [...html.matchAll(/<li class="([^"]*)"[^>]*>(.*?)<\/li>/g)].filter((m) => /is-|^$/.test(m[1]!)).map((m) => [m[1], m[2]!.replace(/<[^>]+>/g, '')]) };
    };
    const submitted = await steps();
    expect(submitted.items[0]).toEqual(['is-waiting', expect.stringContaining('等待受理')]);
    expect(submitted.html).not.toContain('is-done');
    expect(submitted.html).not.toContain('class="is-current"');
    await a.cases.accept(c.id, 'staff:1');
    const accepted = await steps();
    expect(accepted.items[0]![0]).toMatch(/is-done|is-current/);
    expect(accepted.html).not.toContain('is-waiting');
    const due = (await a.db.getRepository(CaseEntity).findOneByOrFail({ id: c.id })).dueAt!;
    let row = await a.db.getRepository(CaseEntity).findOneByOrFail({ id: c.id });
    while (row.status !== 'completed') {
      await (row.step === a.profile.services.find((x) => x.id === 'senior-card')!.application!.steps.at(-1)!.id ? a.cases.complete(c.id, 'staff:1') : a.cases.advance(c.id, 'staff:1'));
      row = await a.db.getRepository(CaseEntity).findOneByOrFail({ id: c.id });
    }
    const completed = await steps();
    expect(completed.html).not.toContain('is-current');
    const p = a.calendar.localParts(due);
    expect(completed.html).toContain(`承诺 ${p.year}年${p.month}月${p.day}日 前办结，已于`);
  });

  it('the citizen answers 补正 from the same case; another citizen cannot see or touch it', async () => {
    const { a, v, openid } = await setup();
    const page = await v.get('/h5/apply/residence-permit');
    await v.postMultipart('/h5/apply/residence-permit', residenceForm(v.csrf(page.text)));
    const [c] = await a.db.getRepository(CaseEntity).find();
    await a.cases.requestCorrection(c!.id, 'staff:1', '租房合同缺少签字页，请补拍上传。');
    const casePage = await v.get(`/h5/cases/${c!.id}`);
    expect(casePage.text).toContain('需要补正：租房合同缺少签字页');
    const form = new FormData();
    form.set('_csrf', v.csrf(casePage.text));
    form.append('proof', new Blob([JPEG]), 'signature-page.jpg');
    // What the citizen writes with it is free text: it may hold anything personal.
    form.set('note', '房东电话 139 8765 4321，住长宁路1234弄5号601室，签字页已补');
    const done = await v.postMultipart(`/h5/cases/${c!.id}/correct`, form);
    expect(done.status).toBe(200);
    expect(done.text).toContain('补正材料已提交');
    expect(done.text).toContain('房东电话 139 **** 4321，住长宁路****，签字页已补'); // masked on their own page too
    expect(done.text).not.toContain('8765');
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c!.id }))?.status).toBe('submitted');

    const other = new Visitor(`http://localhost:${a.port}`);
    other.cookie('emu_openid', 'o_nosy_neighbour');
    expect((await other.get(`/h5/cases/${c!.id}`)).status).toBe(404);
    const files = await a.cases.attachments(c!.id);
    expect((await other.get(`/h5/files/${files[0]!.id}`)).status).toBe(404);
    expect((await v.get(`/h5/files/${files[0]!.id}`)).status).toBe(200);
    expect((await other.get(`/h5/progress?no=${c!.caseNo}&code=AAAAAA`)).status).toBe(404);
    const family = await other.get(`/h5/progress?no=${c!.caseNo}&code=${c!.queryCode}`);
    expect(family.status).toBe(200);
    expect(family.text).not.toContain('王小明');
    // The page needs no sign-in: what the citizen wrote is not on it at all, masked or not.
    expect(family.text).toContain('已补正');
    expect(family.text).not.toContain('房东电话');
    expect(family.text).not.toContain('签字页已补');
    expect(family.text).toContain('租房合同缺少签字页'); // what staff asked for is
    expect(openid).toBe('o_applicant_web');
  });
});

describe('guessing query codes', () => {
  it('on the progress page: ten wrong tries an hour for a citizen, then refused even with the right code', async () => {
    const { a, v } = await setup();
    await v.get('/h5/cases'); // v signs in through WeChat's web authorisation (silent)
    const c = await a.cases.submit('o_someone', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    const wrong = c.queryCode === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA';
    for (let i = 0; i < 9; i++) expect((await v.get(`/h5/progress?no=${c.caseNo}&code=${wrong}`)).status).toBe(404);
    expect((await v.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(200); // a right one does not count
    expect((await v.get(`/h5/progress?no=WB20261123-0099&code=${wrong}`)).status).toBe(404); // the tenth wrong try
    const refused = await v.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`);
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('查询码输错的次数太多了。为了保护办件信息，请过一小时再查。');
    expect(refused.text).not.toContain('李奶奶');
    // Another browser at the same address is not held back by one citizen's guesses.
    expect((await new Visitor(`http://localhost:${a.port}`).get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(200);
    a.clock.advance(3_600_000);
    expect((await v.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(200);
  });

  it('on the progress page without WeChat: an address has sixty wrong tries an hour (it may be shared), then everyone there waits', async () => {
    const { a, v } = await setup();
    const c = await a.cases.submit('o_someone', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    const browser = new Visitor(`http://localhost:${a.port}`);
    const wrong = c.queryCode === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA';
    for (let i = 0; i < 59; i++) expect((await browser.get(`/h5/progress?no=${c.caseNo}&code=${wrong}`)).status).toBe(404);
    expect((await browser.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(200);
    expect((await browser.get(`/h5/progress?no=${c.caseNo}&code=${wrong}`)).status).toBe(404); // the sixtieth
    expect((await browser.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(429);
    expect((await v.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(429); // same address
    a.clock.advance(3_600_000);
    expect((await browser.get(`/h5/progress?no=${c.caseNo}&code=${c.queryCode}`)).status).toBe(200);
  });

  it('in the chat: ten wrong tries an hour per citizen, then a plain refusal; others are not affected', async () => {
    const { a } = await setup();
    const c = await a.cases.submit('o_chat_owner', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    const say = async (who: string, content: string) => textOf((await a.emulator!.act(who, { type: 'text', content })).reply);
    await a.emulator!.act('o_guesser', { type: 'subscribe' });
    await a.emulator!.act('o_family', { type: 'subscribe' });
    const wrong = c.queryCode === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA';
    for (let i = 0; i < 10; i++) expect(await say('o_guesser', `进度 ${c.caseNo} ${wrong}`)).toContain('没有查到这个办件');
    const refused = await say('o_guesser', `进度 ${c.caseNo} ${c.queryCode}`);
    expect(refused).toContain('查询码输错的次数太多了');
    expect(refused).not.toContain('当前：');
    expect(await say('o_family', `进度 ${c.caseNo} ${c.queryCode}`)).toContain('当前：待受理');
    a.clock.advance(3_600_000);
    expect(await say('o_guesser', `进度 ${c.caseNo} ${c.queryCode}`)).toContain('当前：待受理');
  });
});

describe('progress in the chat', () => {
  it('进度 lists the citizen\'s cases; 进度 <number> needs the query code from anyone else', async () => {
    const { a } = await setup();
    await a.emulator!.act('o_chat_applicant', { type: 'subscribe' });
    const c = await a.cases.submit('o_chat_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    await a.cases.accept(c.id, 'staff:1');
    const say = async (who: string, content: string) => textOf((await a.emulator!.act(who, { type: 'text', content })).reply);
    const mine = await say('o_chat_applicant', '进度');
    expect(mine).toContain(`【老年人优待证（敬老卡）】${c.caseNo}`);
    expect(mine).toContain('当前：制卡中');
    expect(mine).toMatch(/承诺 \d+月\d+日前办结/);
    await a.emulator!.act('o_stranger_x', { type: 'subscribe' });
    expect(await say('o_stranger_x', `进度 ${c.caseNo}`)).toContain('没有查到这个办件');
    const withCode = await say('o_stranger_x', `进度 ${c.caseNo} ${c.queryCode}`);
    expect(withCode).toContain('当前：制卡中');
    expect(withCode).not.toContain('查看详情');
    expect(await say('o_stranger_x', '进度')).toContain('帮家人查询');
    // A 补正 note is the citizen's free text: masked to them, not shown at all to a query-code holder.
    await a.cases.requestCorrection(c.id, 'staff:1', '照片不清楚，请重新上传。');
    await a.cases.correct('o_chat_applicant', c.id, { note: '重拍了，老人手机 137 1234 5678' }, []);
    expect(await say('o_chat_applicant', `进度 ${c.caseNo}`)).toContain('已补正：重拍了，老人手机 137 **** 5678');
    const family = await say('o_stranger_x', `进度 ${c.caseNo} ${c.queryCode}`);
    expect(family).toContain('已补正');
    expect(family).not.toContain('老人手机');
    expect(await say('o_stranger_x', '我想申请居住证')).toMatch(/<a href="http:\/\/localhost:\d+\/h5\/apply\/residence-permit">网上申请上海市居住证办理<\/a>/);
  });
});
