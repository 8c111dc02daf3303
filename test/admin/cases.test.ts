import { describe, expect, it } from 'vitest';
import { AuditEntity } from '../../src/admin/audit.ts';
import { CaseEntity } from '../../src/services/cases/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { makeTeam, signedIn } from './client.ts';

const startApp = appsClosedAfterEach();

const ID = validId();
const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>';

async function setup() {
  const a = await startApp();
  const team = await makeTeam(a);
  const c = await a.cases.submit('o_case_owner', 'residence-permit', { name: '王小明', id_card: ID, phone: '13812345678', address: `示范区天山路 600 弄 2 号 ${XSS}`, kind: '首次申领' }, [
    { fieldId: 'photo', fileName: `${XSS}.jpg`, data: JPEG },
    { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
  ]);
  return { a, team, c };
}

describe('办件 in the staff panel', () => {
  it('a handler of the department sees the case, masked, and moves it; each move is on the timeline and in the audit log', async () => {
    const { a, team, c } = await setup();
    const h = await signedIn(a, team.handler);
    const list = await h.page('/admin/cases');
    expect(list.html).toContain(c.caseNo);
    const page = await h.page(`/admin/cases/${c.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('138****5678');
    expect(page.html).not.toContain('13812345678');
    expect(page.html).not.toContain(ID);
    expect(page.html).not.toContain('<img src=x'); // citizen text is inert
    expect(page.html).not.toContain('<script>alert');
    let res = await h.post(`/admin/cases/${c.id}/correct`, { note: '合同缺少签字页，请补拍上传。' });
    expect(res.status).toBe(302);
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.status).toBe('correction');
    await a.cases.correct('o_case_owner', c.id, { note: '补上了' }, [{ fieldId: 'proof', fileName: 'p2.jpg', data: JPEG }]);
    res = await h.post(`/admin/cases/${c.id}/accept`, { note: '材料齐全' });
    expect(res.status).toBe(302);
    await h.post(`/admin/cases/${c.id}/advance`, { note: '' });
    await h.post(`/admin/cases/${c.id}/advance`, { note: '' });
    const done = await a.db.getRepository(CaseEntity).findOneBy({ id: c.id });
    expect(done?.status).toBe('completed');
    const detail = await h.page(`/admin/cases/${c.id}`);
    expect(detail.html).toContain('qian.jingban');
    const audit = await a.db.getRepository(AuditEntity).find({ where: { target: `case:${c.id}` }, order: { id: 'ASC' } });
    expect(audit.map((x) => x.action)).toEqual(['view', 'case-correct', 'case-accept', 'case-advance', 'case-complete', 'view']);
  });

  it('a file replaced by a 补正 stays in the staff view, marked as replaced', async () => {
    const { a, team, c } = await setup();
    await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清，请重拍一张。');
    await a.cases.correct('o_case_owner', c.id, {}, [{ fieldId: 'photo', fileName: 'clear.jpg', data: JPEG }]);
    const h = await signedIn(a, team.handler);
    const page = await h.page(`/admin/cases/${c.id}`);
    const items = [...page.html.matchAll(/<li><a href="\/admin\/cases\/\d+\/files\/\d+"[^>]*>([^<]*)<\/a>(.*?)<\/li>/g)].map((m) => [m[1], m[2]!.includes('补正时已替换')]);
    expect(items.map(([name, replaced]) => [String(name).endsWith('.jpg') && name !== 'clear.jpg' ? 'the first photo' : name, replaced])).toEqual([
      ['the first photo', true],
      ['contract.pdf', false],
      ['clear.jpg', false],
    ]);
  });

  it('an item of two steps offers 办结 right after 受理, and it completes the case', async () => {
    const a = await startApp({
      profile: (p) => {
        p.services.find((x: { id: string }) => x.id === 'residence-permit').application.steps = [
          { id: 'accept', name: '受理' },
          { id: 'complete', name: '办结' },
        ];
      },
    });
    const team = await makeTeam(a);
    const c = await a.cases.submit('o_case_owner', 'residence-permit', { name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号', kind: '首次申领' }, [
      { fieldId: 'photo', fileName: 'p.jpg', data: JPEG },
      { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
    ]);
    const h = await signedIn(a, team.handler);
    await h.page(`/admin/cases/${c.id}`);
    await h.post(`/admin/cases/${c.id}/accept`, { note: '' });
    const page = await h.page(`/admin/cases/${c.id}`);
    expect(page.html).toMatch(new RegExp(`action="/admin/cases/${c.id}/advance"[\\s\\S]*?>办结</button>`));
    expect((await h.post(`/admin/cases/${c.id}/advance`, { note: '请到中心领卡' })).status).toBe(302);
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.status).toBe('completed');
  });

  it('an item without 补正 and 不予受理 offers neither, and a forged post changes nothing', async () => {
    const a = await startApp({ profile: (p) => Object.assign(p.services.find((x: { id: string }) => x.id === 'residence-permit').application, { correction: false, refusal: false }) });
    const team = await makeTeam(a);
    const c = await a.cases.submit('o_case_owner', 'residence-permit', { name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号', kind: '首次申领' }, [
      { fieldId: 'photo', fileName: 'p.jpg', data: JPEG },
      { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
    ]);
    const h = await signedIn(a, team.handler);
    const page = await h.page(`/admin/cases/${c.id}`);
    expect(page.html).toContain(`/admin/cases/${c.id}/accept`);
    expect(page.html).not.toContain(`/admin/cases/${c.id}/correct`);
    expect(page.html).not.toContain(`/admin/cases/${c.id}/refuse`);
    await h.post(`/admin/cases/${c.id}/refuse`, { note: '不符合申领条件' });
    expect((await h.page(`/admin/cases/${c.id}`)).html).toContain('这个事项不设不予受理');
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.status).toBe('submitted');
  });

  it('an overdue case is under 督办 with the department\'s supervisor, in its own tab of the case list', async () => {
    const { a, team, c } = await setup();
    const other = await a.cases.submit('o_case_owner', 'residence-permit', { name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号', kind: '年度签注' }, [
      { fieldId: 'photo', fileName: 'p.jpg', data: JPEG },
      { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
    ]);
    const accepted = await a.cases.accept(c.id, 'staff:qian.jingban');
    a.clock.set(accepted.dueAt! + 1);
    await a.jobs.runDue();
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.escalatedTo).toBe(team.supervisor.id);
    const boss = await signedIn(a, team.supervisor);
    const tab = await boss.page('/admin/cases?status=escalated');
    expect(tab.status).toBe(200);
    expect(tab.html).toContain('<a href="/admin/cases?status=escalated" class="on">督办</a>');
    expect(tab.html).toContain(c.caseNo);
    expect(tab.html).not.toContain(other.caseNo);
    expect(tab.html).toContain('督办 · 王主任');
    expect((await boss.page(`/admin/cases/${c.id}`)).html).toContain('督办 · 王主任');
    expect((await (await signedIn(a, team.ssSupervisor)).page('/admin/cases?status=escalated')).html).not.toContain(c.caseNo); // another department's
  });

  it('showing the form and what the citizen wrote in full is an explicit, audited action', async () => {
    const { a, team, c } = await setup();
    await a.cases.requestCorrection(c.id, 'staff:1', '合同缺少签字页，请补拍上传。');
    await a.cases.correct('o_case_owner', c.id, { note: '已补，有问题打我爱人电话 19912345678，身份证 110105-19491231-002X' }, []);
    const h = await signedIn(a, team.handler);
    const page = (await h.page(`/admin/cases/${c.id}`)).html;
    expect(page).toContain('已补，有问题打我爱人电话 199****5678，身份证 1101**-********-**2X');
    expect(page).not.toContain('19912345678');
    expect(page).toContain('合同缺少签字页，请补拍上传。'); // staff's own words are shown as written
    const res = await h.post(`/admin/cases/${c.id}/reveal`);
    const text = await res.text();
    expect(text).toContain('13812345678');
    expect(text).toContain('有问题打我爱人电话 19912345678，身份证 110105-19491231-002X');
    expect(await a.db.getRepository(AuditEntity).countBy({ target: `case:${c.id}`, action: 'unmask' })).toBe(1);
  });

  it('another department cannot read or move the case by changing the id; the duty officer reads but does not move', async () => {
    const { a, team, c } = await setup();
    const other = await signedIn(a, team.ssHandler);
    expect((await other.page(`/admin/cases/${c.id}`)).status).toBe(404);
    expect((await other.page('/admin/cases')).html).not.toContain(c.caseNo);
    await other.page('/admin/cases');
    expect((await other.post(`/admin/cases/${c.id}/accept`, { note: 'x' })).status).toBe(404);
    expect((await other.get(`/admin/cases/${c.id}/files/1`)).status).toBe(404);
    const duty = await signedIn(a, team.duty);
    const page = await duty.page(`/admin/cases/${c.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('action="/admin/cases/' + c.id + '/accept"');
    await duty.post(`/admin/cases/${c.id}/accept`, { note: 'x' });
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.status).toBe('submitted');
  });

  it('refuses moves without the CSRF token and moves that make no sense, telling why', async () => {
    const { a, team, c } = await setup();
    const h = await signedIn(a, team.handler);
    await h.page(`/admin/cases/${c.id}`);
    expect((await h.post(`/admin/cases/${c.id}/accept`, {}, { csrf: null })).status).toBe(403);
    const res = await h.post(`/admin/cases/${c.id}/correct`, { note: '缺' });
    expect(res.status).toBe(302);
    const page = await h.page(`/admin/cases/${c.id}`);
    expect(page.html).toContain('请写清楚缺什么材料');
    expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.status).toBe('submitted');
  });
});
