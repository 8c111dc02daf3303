import { describe, expect, it } from 'vitest';
import { parseStringPromise } from 'xml2js';
import { AuditEntity } from '../../src/admin/audit.ts';
import { TicketEntity, TicketPhotoEntity } from '../../src/services/tickets/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { EXE_AS_JPG, JPEG } from '../helpers/files.ts';
import { Visitor } from '../helpers/visitor.ts';
import { makeTeam, PASSWORD, signedIn } from '../admin/client.ts';

const startApp = appsClosedAfterEach();
const XINHUA = { lat: 31.2071, lng: 121.4258 };
const ID = '310105198001011234';

function citizen(a: TestApp, openid: string): Visitor {
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  return v;
}

async function issueKey(a: TestApp): Promise<{ key: string; admin: Awaited<ReturnType<typeof signedIn>> }> {
  const team = await makeTeam(a);
  const admin = await signedIn(a, team.admin);
  await admin.page('/admin/open311-keys');
  const res = await admin.post('/admin/open311-keys', { name: '市 12345 平台' });
  const key = /<code>(wb311_[A-Za-z0-9_-]+)<\/code>/.exec(await res.text())![1]!;
  return { key, admin };
}

const post311 = (a: TestApp, fields: Record<string, string>, format = 'json') =>
  fetch(`${a.url}/open311/v2/requests.${format}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams(fields).toString() });

describe('随手拍 and the leader mailbox pages', () => {
  it('随手拍 files a report with a photo and a location, behind silent web authorisation only', async () => {
    const a = await startApp();
    const v = citizen(a, 'o_snapper');
    const page = await v.get('/h5/snap');
    expect(page.status).toBe(200);
    expect(page.text).toContain('定位到我现在的位置');
    const form = new FormData();
    form.set('_csrf', v.csrf(page.text));
    form.set('category', 'sanitation');
    form.set('description', '菜场后门的垃圾堆了三天了，天热发臭，老人小孩路过都捂着鼻子');
    form.set('lat', String(XINHUA.lat));
    form.set('lng', String(XINHUA.lng));
    form.set('phone', '139 1234 5678');
    form.append('photos', new Blob([JPEG], { type: 'image/jpeg' }), 'IMG_2031.jpg');
    const res = await v.postMultipart('/h5/snap', form);
    expect(res.status).toBe(302);
    const t = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_snapper' });
    expect(t).toMatchObject({ channel: 'snap', department: 'xinhua-street', area: 'xinhua', phone: '13912345678' });
    const shown = await v.get(res.location!);
    expect(shown.text).toContain(t.ticketNo);
    expect(shown.text).toContain(t.queryCode);
    const [photo] = await a.db.getRepository(TicketPhotoEntity).findBy({ ticketId: t.id });
    expect((await v.get(`/h5/tickets/${t.id}/photos/${photo!.id}`)).status).toBe(200);
    // Another citizen sees neither the ticket nor its photo.
    const other = citizen(a, 'o_nosy');
    expect((await other.get(`/h5/tickets/${t.id}`)).status).toBe(404);
    expect((await other.get(`/h5/tickets/${t.id}/photos/${photo!.id}`)).status).toBe(404);
  });

  it('随手拍 refuses a file that is not a photo and a place outside the district, keeping what was typed', async () => {
    const a = await startApp();
    const v = citizen(a, 'o_snap_bad');
    const page = await v.get('/h5/snap');
    const form = new FormData();
    form.set('_csrf', v.csrf(page.text));
    form.set('category', 'road');
    form.set('description', '人行道砖头翘起来了，我妈昨天在这里绊了一跤');
    form.set('lat', '39.9');
    form.set('lng', '116.4');
    form.append('photos', new Blob([EXE_AS_JPG], { type: 'image/jpeg' }), 'photo.jpg');
    const res = await v.postMultipart('/h5/snap', form);
    expect(res.status).toBe(400);
    expect(res.text).toContain('这个文件不是照片');
    expect(res.text).toContain('不在本区范围内');
    expect(res.text).toContain('人行道砖头翘起来了');
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
    const stale = new FormData();
    stale.set('_csrf', 'forged');
    stale.set('category', 'road');
    stale.set('description', '人行道砖头翘起来了');
    expect((await v.postMultipart('/h5/snap', stale)).status).toBe(403);
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
  });

  it('the mailbox lists every mailbox and routes the letter; the public list shows only consenting letters, answered, masked, with reply time', async () => {
    const a = await startApp();
    const v = citizen(a, 'o_writer');
    const page = await v.get('/h5/mailbox');
    for (const name of ['区委书记信箱', '区长信箱', '城管执法局局长信箱', '社保中心主任信箱']) expect(page.text).toContain(name);
    const letter = `我叫张建国，身份证 ${ID}，住示范区天山路 600 弄 2 号 301 室，电话 13812345678。小区旁边工地每天晚上十一点还在施工，希望区长关心一下。`;
    let res = await v.post('/h5/mailbox', { _csrf: v.csrf(page.text), mailbox: 'urban', kind: 'complaint', category: 'noise', description: letter, contactName: '张建国', phone: '13812345678', publish: '1' });
    expect(res.status).toBe(302);
    const t = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_writer' });
    expect(t).toMatchObject({ mailbox: 'urban', department: 'urban-management', publish: true });
    // a second letter, not for publication
    res = await v.post('/h5/mailbox', { _csrf: v.csrf(page.text), mailbox: 'mayor', kind: 'suggestion', description: '建议在地铁站口多设几个共享单车停放点，不要只有一处' });
    expect(res.status).toBe(302);
    const hidden = await a.db.getRepository(TicketEntity).findOneByOrFail({ mailbox: 'mayor' });
    // a report (举报) without a phone is refused with the reason, nothing written
    res = await v.post('/h5/mailbox', { _csrf: v.csrf(page.text), mailbox: 'mayor', kind: 'report', description: '举报某饭店把地沟油倒进雨水井' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('举报需要留一个联系电话');
    for (const x of [t, hidden]) {
      await a.tickets!.accept(x.id, 'staff:hotline');
      await a.tickets!.dispatch(x.id, 'staff:hotline', x.department);
    }
    a.clock.advance(2 * 86_400_000);
    await a.tickets!.answer(t.id, 'staff:cg', '经核查，该工地已办理夜间施工许可至 22:00，超时施工已责令停止。张建国先生的电话 13812345678 已登记回访。');
    await a.tickets!.answer(hidden.id, 'staff:hotline', '已转交交通部门研究。');
    const pub = await new Visitor(`http://localhost:${a.port}`).get('/h5/mailbox/letters'); // no sign-in at all
    expect(pub.status).toBe(200);
    expect(pub.text).toContain('城管执法局局长信箱');
    expect(pub.text).toContain('工地每天晚上十一点还在施工');
    expect(pub.text).toContain('超时施工已责令停止');
    expect(pub.text).toContain('用时 2 个工作日');
    for (const leak of ['13812345678', ID, '600 弄 2 号', '张建国']) expect(pub.text).not.toContain(leak);
    expect(pub.text).not.toContain('共享单车');
  });
});

describe('the reporter\'s progress page, 回访 and 评价 on the page; a family member with the query code', () => {
  it('shows the answer and the citizen-facing moves; 没有解决 reopens; 已解决 then offers the five levels, once', async () => {
    const a = await startApp();
    const t = a.tickets!;
    const row = await t.file({ channel: 'snap', openid: 'o_page', category: 'noise', description: '对面 KTV 每晚唱到两点，电话 13700001111', lat: 31.2135, lng: 121.4019 });
    await t.accept(row.id, 'staff:desk');
    await t.dispatch(row.id, 'staff:desk', 'urban-management');
    await t.giveBack(row.id, 'staff:cg', '属于公安噪声管理范围');
    await t.dispatch(row.id, 'staff:desk', 'urban-management');
    await t.answer(row.id, 'staff:cg', '已联合派出所上门，约定晚十点后关窗降低音量。');
    await t.complete(row.id, 'staff:cg');
    const v = citizen(a, 'o_page');
    let page = await v.get(`/h5/tickets/${row.id}`);
    expect(page.text).toContain('已联合派出所上门');
    expect(page.text).toContain('问题解决了吗？');
    expect(page.text).not.toContain('退单'); // the desk's business
    expect(page.text).toContain('137****1111');
    let res = await v.post(`/h5/tickets/${row.id}/visit`, { _csrf: v.csrf(page.text), solved: '0' });
    expect(res.text).toContain('已重新交给部门办理');
    expect((await t.get(row.id))?.status).toBe('dispatched');
    await t.answer(row.id, 'staff:cg', '已要求 KTV 加装隔音门，复查无扰民。');
    await t.complete(row.id, 'staff:cg');
    page = await v.get(`/h5/tickets/${row.id}`);
    res = await v.post(`/h5/tickets/${row.id}/visit`, { _csrf: v.csrf(page.text), solved: '1' });
    expect(res.text).toContain('评价（自愿）');
    res = await v.post(`/h5/tickets/${row.id}/rate`, { _csrf: v.csrf(res.text), level: '5' });
    expect(res.text).toContain('感谢您的评价');
    expect(res.text).not.toContain('评价（自愿）');
    res = await v.post(`/h5/tickets/${row.id}/rate`, { _csrf: v.csrf(res.text), level: '1' });
    expect((await a.ratings.ratingOf('ticket', String(row.id)))?.level).toBe(5);
    // A family member: number and code, no sign-in; nothing personal, no note the citizen wrote.
    const family = new Visitor(`http://localhost:${a.port}`);
    const wrong = await family.get(`/h5/ticket-progress?no=${row.ticketNo}&code=ZZZZZZ`);
    expect(wrong.status).toBe(404);
    const right = await family.get(`/h5/ticket-progress?no=${row.ticketNo}&code=${row.queryCode}`);
    expect(right.status).toBe(200);
    expect(right.text).toContain('已结案');
    expect(right.text).not.toContain('13700001111');
    expect(right.text).not.toContain('KTV 每晚唱到两点');
  });

  it('an upload far over the limit is refused whole, before anything is stored', async () => {
    const a = await startApp();
    const v = citizen(a, 'o_bigfiles');
    const page = await v.get('/h5/snap');
    const form = new FormData();
    form.set('_csrf', v.csrf(page.text));
    form.set('category', 'road');
    form.set('description', '路灯坏了一整排，晚上黑乎乎的');
    for (let i = 0; i < 6; i++) form.append('photos', new Blob([JPEG, Buffer.alloc(4 * 1024 * 1024)], { type: 'image/jpeg' }), `p${i}.jpg`);
    const res = await v.postMultipart('/h5/snap', form);
    expect(res.status).toBe(413);
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
  });
});

describe('工单 in the staff panel', () => {
  it('a department sees only its own and helped tickets; another department gets 404; the desk dispatches; moves are audited', async () => {
    const a = await startApp();
    const team = await makeTeam(a);
    const make = async (username: string, role: 'handler' | 'supervisor' | 'duty', department: string) => (await a.accounts.create({ username, name: username, role, department, password: PASSWORD, mustChangePassword: false })).account!;
    const desk = await make('desk.one', 'duty', 'hotline');
    const cg = await make('cg.one', 'handler', 'urban-management');
    const t = await a.tickets!.file({ channel: 'snap', openid: 'o_p', category: 'noise', description: `楼下烧烤店每天凌晨两点还很吵，老板电话 13912345678`, lat: 31.2135, lng: 121.4019 });
    const d = await signedIn(a, desk);
    const list = await d.page('/admin/tickets');
    expect(list.html).toContain(t.ticketNo);
    const detail = await d.page(`/admin/tickets/${t.id}`);
    expect(detail.html).toContain('139****5678');
    expect(detail.html).not.toContain('13912345678');
    expect((await d.post(`/admin/tickets/${t.id}/accept`, { note: '' })).status).toBe(302);
    expect((await d.post(`/admin/tickets/${t.id}/dispatch`, { department: 'urban-management', co: 'market-regulation' })).status).toBe(302);
    expect((await a.tickets!.get(t.id))?.status).toBe('dispatched');
    // The social-security handler: not theirs, not helped: 404 for the page and every move.
    const ss = await signedIn(a, team.ssHandler);
    expect((await ss.page(`/admin/tickets/${t.id}`)).status).toBe(404);
    expect((await ss.post(`/admin/tickets/${t.id}/answer`, { note: '这不是我们的事情啊' })).status).toBe(404);
    expect((await ss.page('/admin/tickets?view=all')).html).not.toContain(t.ticketNo);
    // The desk may not answer in the department's stead; the department may.
    await d.page(`/admin/tickets/${t.id}`);
    await d.post(`/admin/tickets/${t.id}/answer`, { note: '已经通知他们了' });
    expect((await a.tickets!.get(t.id))?.answer).toBeNull();
    const c = await signedIn(a, cg);
    expect((await c.page('/admin/tickets?view=working')).html).toContain(t.ticketNo);
    await c.page(`/admin/tickets/${t.id}`);
    await c.post(`/admin/tickets/${t.id}/answer`, { note: '已上门告知店主，晚十点后停止室外经营。' });
    expect((await a.tickets!.get(t.id))?.status).toBe('replied');
    const audit = await a.db.getRepository(AuditEntity).find({ where: { target: `ticket:${t.id}`, action: 'ticket-move' }, order: { id: 'ASC' } });
    expect(audit.map((x) => x.detail?.split('：')[0])).toEqual(['accept', 'dispatch', 'answer']);
  });

  it('CSV and XLSX exports are masked', async () => {
    const a = await startApp();
    const team = await makeTeam(a);
    await a.tickets!.file({ channel: 'mailbox', openid: 'o_e', mailbox: 'mayor', kind: 'complaint', description: `我是李四，身份证 ${ID}，电话 13812345678，反映物业乱收费`, contactName: '李四', phone: '13812345678' });
    const admin = await signedIn(a, team.admin);
    const csv = await (await admin.get('/admin/tickets/export.csv?view=all')).text();
    expect(csv).toContain('138****5678');
    expect(csv).not.toContain('13812345678');
    expect(csv).not.toContain(ID);
    const res = await admin.get('/admin/tickets/export.xlsx?view=all');
    expect(res.headers.get('content-type')).toContain('spreadsheetml');
    const { default: ExcelJS } = await import('exceljs');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(Buffer.from(await res.arrayBuffer()) as unknown as ArrayBuffer);
    const cells = wb.worksheets[0]!.getSheetValues().flat().map(String).join('|');
    expect(cells).toContain('工单编号');
    expect(cells).toContain('138****5678');
    expect(cells).not.toContain('13812345678');
    expect(cells).not.toContain(ID);
  });
});

describe('Open311 GeoReport v2', () => {
  it('services and a service definition, in XML (with its declaration) and JSON (bare arrays)', async () => {
    const a = await startApp();
    const xml = await fetch(`${a.url}/open311/v2/services.xml`);
    expect(xml.headers.get('content-type')).toBe('text/xml; charset=utf-8');
    const body = await xml.text();
    expect(body.startsWith('<?xml version="1.0" encoding="utf-8"?>')).toBe(true);
    const doc = await parseStringPromise(body);
    const first = doc.services.service[0];
    expect(Object.keys(first).sort()).toEqual(['description', 'group', 'keywords', 'metadata', 'service_code', 'service_name', 'type']);
    expect(first.service_code[0]).toBe('noise');
    expect(first.type[0]).toBe('realtime');
    const json = await fetch(`${a.url}/open311/v2/services.json?jurisdiction_id=`);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const list = (await json.json()) as { service_code: string; keywords: string }[];
    expect(Array.isArray(list)).toBe(true);
    expect(list.find((s) => s.service_code === 'road')?.keywords).toBe('坑,井盖,路面,破损,路灯');
    const def = await parseStringPromise(await (await fetch(`${a.url}/open311/v2/services/road.xml`)).text());
    const attr = def.service_definition.attributes[0].attribute[0];
    expect(attr).toMatchObject({ variable: ['true'], code: ['kind'], datatype: ['singlevaluelist'], required: ['false'], order: ['1'] });
    expect(attr.values[0].value.map((x: { key: string[] }) => x.key[0])).toContain('complaint');
    const missing = await fetch(`${a.url}/open311/v2/services/nope.json`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual([{ code: 404, description: 'service_code nope not found' }]);
  });

  it('POST needs a key an administrator issued; a revoked key is refused; a good post enters the same loop and GETs leak no personal data', async () => {
    const a = await startApp();
    const base = { service_code: 'road', lat: '31.2071', long: '121.4258', address_string: '新华路 211 号门口', first_name: '建国', last_name: '张', phone: '13812345678', email: 'zhang@example.com', device_id: 'tt222111', description: '人行道上有一个很深的坑，张建国 13812345678 发现的', media_url: 'http://www.example.org/pothole.jpg', 'attribute[kind]': 'help' };
    let res = await post311(a, base);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual([{ code: 403, description: 'api_key missing, wrong or revoked' }]);
    const { key, admin } = await issueKey(a);
    res = await post311(a, { ...base, api_key: 'wb311_guessed' }, 'xml');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<errors><error><code>403</code>');
    res = await post311(a, { ...base, api_key: key, jurisdiction_id: '' });
    expect(res.status).toBe(200);
    const [created] = (await res.json()) as { service_request_id: string; service_notice: string; account_id: null; token?: string }[];
    expect(created!.service_request_id).toMatch(/^GD\d{8}-\d{4}$/);
    expect(created).not.toHaveProperty('token');
    const t = await a.db.getRepository(TicketEntity).findOneByOrFail({ ticketNo: created!.service_request_id });
    expect(t).toMatchObject({ channel: 'open311', kind: 'help', department: 'xinhua-street', phone: '13812345678', contactName: '张建国', openid: null });
    await a.tickets!.accept(t.id, 'staff:hotline');
    const one = (await (await fetch(`${a.url}/open311/v2/requests/${t.ticketNo}.json`)).json()) as Record<string, unknown>[];
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ service_request_id: t.ticketNo, status: 'open', service_code: 'road', agency_responsible: '新华路街道办事处', lat: 31.207, long: 121.426, media_url: 'http://www.example.org/pothole.jpg', zipcode: null });
    expect(String(one[0]!.requested_datetime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    const all = await (await fetch(`${a.url}/open311/v2/requests.json?status=open&service_code=road,noise`)).text();
    for (const leak of ['13812345678', '张建国', 'zhang@example.com', '211 号']) expect(all).not.toContain(leak);
    expect(JSON.parse(all)).toHaveLength(1);
    expect(await (await fetch(`${a.url}/open311/v2/requests.json?status=closed`)).json()).toEqual([]);
    // service_request_id overrides every other filter; XML lists are <service_requests><request>.
    const byId = await parseStringPromise(await (await fetch(`${a.url}/open311/v2/requests.xml?service_request_id=${t.ticketNo},GD20990101-0009&status=closed&service_code=noise`)).text());
    expect(byId.service_requests.request.map((r: { service_request_id: string[] }) => r.service_request_id[0])).toEqual([t.ticketNo]);
    expect(byId.service_requests.request[0].address_id).toEqual(['']);
    expect((await fetch(`${a.url}/open311/v2/requests.json?status=maybe`)).status).toBe(400);
    expect((await fetch(`${a.url}/open311/v2/requests/GD20990101-0001.xml`)).status).toBe(404);
    expect((await fetch(`${a.url}/open311/v2/tokens/abc.json`)).status).toBe(404);
    // bad input: each refused with 400, nothing written
    const before = await a.db.getRepository(TicketEntity).count();
    for (const bad of [{ service_code: '' }, { service_code: 'ufo' }, { lat: '31.2', long: '' , address_string: '' }, { lat: '39.9', long: '116.4' }, { description: 'x'.repeat(4001) }, { 'attribute[kind]': 'bribe' }, { lat: 'north', long: 'east' }]) {
      const r = await post311(a, { ...base, api_key: key, ...bad });
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    expect(await a.db.getRepository(TicketEntity).count()).toBe(before);
    // revoked: refused from then on
    const keys = await admin.page('/admin/open311-keys');
    const id = /\/admin\/open311-keys\/(\d+)\/revoke/.exec(keys.html)![1]!;
    expect((await admin.post(`/admin/open311-keys/${id}/revoke`)).status).toBe(302);
    expect((await post311(a, { ...base, api_key: key })).status).toBe(403);
    // With no dates, the last 90 days: a request filed 100 days ago is left out unless asked for.
    a.clock.advance(100 * 86_400_000);
    expect(await (await fetch(`${a.url}/open311/v2/requests.json`)).json()).toEqual([]);
    expect(await (await fetch(`${a.url}/open311/v2/requests.json?start_date=2026-11-01T00:00:00%2B08:00`)).json()).toHaveLength(1);
    expect((await fetch(`${a.url}/open311/v2/requests.json?start_date=yesterday`)).status).toBe(400);
  });
  it('the open GETs list public-space problems and what writers agreed to publish, never a private matter or a 举报', async () => {
    const a = await startApp();
    const t = a.tickets!;
    const pothole = await t.file({ channel: 'snap', openid: 'o_pub_1', category: 'road', kind: 'help', description: '小区门口路面塌了一个坑，晚上看不见，老人差点摔跤', lat: 31.2071, lng: 121.4258 });
    const refund = await t.file({ channel: 'chat', openid: 'o_pub_2', category: 'consumer', description: '楼下健身房预付卡办了三千块钱，现在老板跑路了，退不了款，我姓王电话13912345678' });
    const agreed = await t.file({ channel: 'chat', openid: 'o_pub_3', category: 'consumer', description: '商场买的羽绒服是假货，商家不给退', publish: true });
    const tipOff = await t.file({ channel: 'chat', openid: 'o_pub_4', category: 'parking', kind: 'report', description: '隔壁饭店老板天天把车停在盲道上，车牌沪A12345', contactName: '李四', phone: '13600001111' });
    const listed = (await (await fetch(`${a.url}/open311/v2/requests.json`)).json()) as { service_request_id: string }[];
    expect(listed.map((r) => r.service_request_id).sort()).toEqual([pothole.ticketNo, agreed.ticketNo].sort());
    for (const hidden of [refund, tipOff]) {
      expect((await fetch(`${a.url}/open311/v2/requests/${hidden.ticketNo}.json`)).status).toBe(404);
      const byId = (await (await fetch(`${a.url}/open311/v2/requests.json?service_request_id=${hidden.ticketNo}`)).json()) as unknown[];
      expect(byId).toEqual([]);
    }
    expect((await fetch(`${a.url}/open311/v2/requests/${agreed.ticketNo}.json`)).status).toBe(200);
  });
});
