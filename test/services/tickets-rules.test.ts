/**
 * The tickets' commands one rule at a time, straight on the service (no chat): what a report must
 * hold, what is stored, the numbers, who may move a ticket when, the deadlines, the lists and the
 * masking. tickets.test.ts walks the loops end to end; this file pins the edges.
 */
import { IsNull } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { AlertEntity } from '../../src/alerts/index.ts';
import { existsSync, readdirSync } from 'node:fs';
import { FakeClock } from '../../src/platform/clock.ts';
import { tryLock } from '../../src/platform/kv/index.ts';
import { TicketEntity, TicketEventEntity, TicketPhotoEntity } from '../../src/services/tickets/entities.ts';
import { distanceMeters, MAX_DESCRIPTION, TicketError, type TicketInput } from '../../src/services/tickets/index.ts';
import { appsClosedAfterEach, type TestAppOptions } from '../helpers/app.ts';
import { JPEG, PNG } from '../helpers/files.ts';
import { PASSWORD } from '../admin/client.ts';
import { rejection } from '../helpers/errors.ts';

const startApp = appsClosedAfterEach();
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
/** 新华路 (area xinhua), inside the demo's bounds. */
const XINHUA = { lat: 31.2071, lng: 121.4258 };

const caught = (p: Promise<unknown>) => rejection(p, TicketError);

async function app(o: TestAppOptions = {}) {
  const a = await startApp(o);
  const following = new Set<string>();
  /** The citizen writes (which opens the 48-hour window for customer-service messages). */
  const hello = async (openid: string) => {
    if (!following.has(openid)) {
      following.add(openid);
      await a.emulator!.act(openid, { type: 'subscribe' });
    }
    await a.emulator!.act(openid, { type: 'text', content: '你好' });
  };
  /** What reached the phone: customer-service texts, menus, templates' values. */
  const pushes = (openid: string) =>
    a.emulator!.platform
      .inbox(openid)
      .filter((i) => i.channel === 'custom' || i.channel === 'template')
      .map((i) => (i.channel === 'template' ? `[template] ${Object.values(i.message.data as Record<string, string>).join(' · ')}` : i.message.type === 'msgmenu' ? `[menu] ${JSON.stringify(i.message)}` : String(i.message.content)));
  return { a, t: a.tickets!, hello, pushes };
}

const report = (o: Partial<TicketInput> = {}): TicketInput => ({ channel: 'snap', openid: 'o_reporter', category: 'road', description: '小区门口的路面塌了一个大坑，晚上骑车的老人差点摔倒', ...XINHUA, ...o });

describe('tickets: what a report must hold', () => {
  it('names every wrong field, each with its own message', async () => {
    const { a, t } = await app();
    const fields = async (o: Partial<TicketInput>) => (await caught(t.file(report(o)))).fields;
    expect(await fields({ channel: 'mailbox', mailbox: 'no-such-box' })).toEqual({ mailbox: '没有这个信箱，请重新选择' });
    expect(await fields({ category: undefined })).toEqual({ category: '请选择问题类别' });
    expect(await fields({ category: 'ufo' })).toEqual({ category: '请从列表里选择问题类别' });
    expect(await fields({ kind: 'gossip' })).toEqual({ kind: '请选择诉求类型' });
    expect(await fields({ description: '   路坏了   ' })).toEqual({ description: '请写几句话说明情况（至少 4 个字）' });
    expect(await fields({ address: '路'.repeat(201) })).toEqual({ address: '地址太长了' });
    expect(await fields({ contactName: '名'.repeat(41) })).toEqual({ contactName: '姓名太长了' });
    expect(await fields({ photos: [{ fileName: 'a.jpg', data: JPEG, truncated: true }] })).toEqual({ photos: '每张照片不超过 4 MB' });
    expect(await fields({ photos: [{ fileName: 'a.jpg', data: JPEG }, { fileName: 'b.jpg', data: JPEG }], chatPhotos: ['http://mmbiz.qpic.cn/1.jpg', 'http://mmbiz.qpic.cn/2.jpg', 'http://mmbiz.qpic.cn/3.jpg'] })).toEqual({ photos: '照片最多 4 张' });
    // Several at once: all of them, and nothing written.
    expect(Object.keys(await fields({ kind: 'gossip', description: '坑', address: '路'.repeat(201), phone: '110' })).sort()).toEqual(['address', 'description', 'kind', 'phone']);
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
  });

  it('takes the edges: 4 characters, 4000, an address of 200, a name of 40, four photos', async () => {
    const { t } = await app();
    await expect(t.file(report({ description: '路灯坏了' }))).resolves.toMatchObject({ description: '路灯坏了' });
    await expect(t.file(report({ description: '长'.repeat(MAX_DESCRIPTION) }))).resolves.toBeTruthy();
    expect((await caught(t.file(report({ description: '长'.repeat(MAX_DESCRIPTION + 1) })))).fields.description).toBe('内容太长了，请精简到 4000 字以内');
    // Characters, not UTF-16 units: 4000 characters outside the BMP are still 4000.
    await expect(t.file(report({ description: '𠀀'.repeat(MAX_DESCRIPTION) }))).resolves.toBeTruthy();
    await expect(t.file(report({ address: '路'.repeat(200), contactName: '名'.repeat(40) }))).resolves.toBeTruthy();
    await expect(t.file(report({ photos: [{ fileName: 'a.jpg', data: JPEG }, { fileName: 'b.png', data: PNG }], chatPhotos: ['http://mmbiz.qpic.cn/1.jpg', 'http://mmbiz.qpic.cn/2.jpg'] }))).resolves.toBeTruthy();
  });

  it('a location must be whole, real and inside the district; the district\'s edges are inside', async () => {
    const { t } = await app();
    const where = async (lat: number | undefined, lng: number | undefined) => {
      try {
        await t.file(report({ lat, lng }));
        return 'ok';
      } catch (e) {
        return (e as TicketError).fields.location;
      }
    };
    const broken = '位置不完整，请重新选择位置';
    const outside = '这个位置不在本区范围内，请移动地图上的标记到问题所在的地方';
    expect(await where(undefined, 121.42)).toBe(broken);
    expect(await where(Number.NaN, 121.42)).toBe(broken);
    expect(await where(31.2, Number.POSITIVE_INFINITY)).toBe(broken);
    expect(await where(-91, 121.42)).toBe(broken);
    expect(await where(31.2, 181)).toBe(broken);
    expect(await where(-31.2, -121.42)).toBe(outside); // real, the other side of the world
    expect(await where(90, 121.42)).toBe(outside);
    expect(await where(31.2, 180)).toBe(outside);
    // bounds: south 31.15, west 121.30, north 31.26, east 121.48
    expect(await where(31.149, 121.42)).toBe(outside);
    expect(await where(31.261, 121.42)).toBe(outside);
    expect(await where(31.2, 121.299)).toBe(outside);
    expect(await where(31.2, 121.481)).toBe(outside);
    expect(await where(31.15, 121.3)).toBe('ok');
    expect(await where(31.26, 121.48)).toBe('ok');
    expect(await where(undefined, undefined)).toBe('ok');
  });

  it('a phone: a mobile or a landline, spaces dropped, required of a named kind on the page and in the mailbox but not in chat', async () => {
    const { t } = await app();
    const phone = async (p: string, o: Partial<TicketInput> = {}) => {
      try {
        return (await t.file(report({ phone: p, ...o }))).phone;
      } catch (e) {
        return `! ${(e as TicketError).fields.phone}`;
      }
    };
    const wrong = '! 请填写正确的手机号或座机号（如 13812345678）';
    expect(await phone('138 1234 5678')).toBe('13812345678');
    expect(await phone('19912345678')).toBe('19912345678');
    expect(await phone('021-62345678')).toBe('021-62345678');
    expect(await phone('0755 8765432')).toBe('07558765432');
    expect(await phone('12812345678')).toBe(wrong);
    expect(await phone('1381234567')).toBe(wrong);
    expect(await phone('138123456789')).toBe(wrong);
    expect(await phone('x13812345678')).toBe(wrong);
    expect(await phone('13812345678x')).toBe(wrong);
    expect(await phone('021-623456')).toBe(wrong);
    expect(await phone('021-623456789')).toBe(wrong);
    expect(await phone('0-62345678')).toBe(wrong);
    expect(await phone('02134-62345678')).toBe(wrong);
    expect(await phone('021--62345678')).toBe(wrong);
    // Open311 takes what the partner system holds.
    expect(await phone('8008', { channel: 'open311', apiKeyId: 7 })).toBe('8008');
    // 举报 needs a phone on the page and in a mailbox; in chat the reporter is reachable in WeChat.
    expect(await phone('', { kind: 'report' })).toBe('! 举报需要留一个联系电话，方便核实和回复');
    expect(await phone('', { kind: 'report', channel: 'mailbox', mailbox: 'mayor' })).toBe('! 举报需要留一个联系电话，方便核实和回复');
    expect(await phone('', { kind: 'report', channel: 'chat' })).toBeNull();
    expect(await phone('', { kind: 'complaint' })).toBeNull();
    expect(await phone('13812345678', { kind: 'report' })).toBe('13812345678');
  });

  it('photos: JPEG and PNG stored with their type and size, chat photos by their link; the size limit in KB or MB as the profile says', async () => {
    const { a, t } = await app();
    const row = await t.file(report({ photos: [{ fileName: 'a.jpg', data: JPEG }, { fileName: 'b.png', data: PNG }], chatPhotos: [`http://mmbiz.qpic.cn/${'x'.repeat(1100)}`] }));
    const photos = await t.photos(row.id);
    expect(photos.map((p) => [p.source, p.mime, p.size, p.url?.length ?? null, p.storageKey !== null])).toEqual([
      ['upload', 'image/jpeg', JPEG.length, null, true],
      ['upload', 'image/png', PNG.length, null, true],
      ['wechat', null, null, 1000, false],
    ]);
    const got = await t.photo(row.id, photos[0]!.id);
    expect(got?.data.equals(JPEG)).toBe(true);
    expect(got?.row.id).toBe(photos[0]!.id);
    // A chat photo has no stored file; another ticket's photo is not this one's.
    expect(await t.photo(row.id, photos[2]!.id)).toBeNull();
    const other = await t.file(report());
    expect(await t.photo(other.id, photos[0]!.id)).toBeNull();
    expect(await a.db.getRepository(TicketPhotoEntity).count()).toBe(3);

    for (const [kb, says] of [[50, '每张照片不超过 50 KB'], [1024, '每张照片不超过 1 MB'], [1536, '每张照片不超过 2 MB']] as const) {
      const { t: small } = await app({ profile: (p) => void (p.tickets.max_photo_kb = kb) });
      const exact = Buffer.concat([JPEG.subarray(0, 10), Buffer.alloc(kb * 1024 - 10, 1)]);
      await expect(small.file(report({ photos: [{ fileName: 'a.jpg', data: exact }] }))).resolves.toBeTruthy();
      const over = Buffer.concat([exact, Buffer.from([1])]);
      expect((await caught(small.file(report({ photos: [{ fileName: 'a.jpg', data: over }] })))).fields.photos).toBe(says);
    }
  });
});

describe('tickets: what filing stores', () => {
  it('a number per China-time day, a query code, the defaults, the trimmed words; the mailbox routes the letter', async () => {
    // 00:30 on 24 November in China is still the 23rd in UTC: the number counts China's day.
    const clock = new FakeClock(cst(2026, 11, 24, 0, 30));
    const { t } = await app({ clock });
    const first = await t.file(report({ openid: null, description: '  路面塌了一个大坑，请尽快修  ', address: '  新华路 200 号  ', contactName: '  李建国 ' }));
    const second = await t.file(report());
    expect(first.ticketNo).toBe('GD20261124-0001');
    expect(second.ticketNo).toBe('GD20261124-0002');
    expect(first.queryCode).toMatch(/^[2-9A-HJ-NP-Z]{6}$/);
    expect(first).toMatchObject({
      openid: null,
      channel: 'snap',
      kind: 'help',
      category: 'road',
      mailbox: null,
      urgent: false,
      anonymous: false,
      department: 'xinhua-street',
      area: 'xinhua',
      coDepartments: '[]',
      status: 'submitted',
      description: '路面塌了一个大坑，请尽快修',
      address: '新华路 200 号',
      contactName: '李建国',
      phone: null,
      publish: false,
      answer: null,
      answeredAt: null,
      filedAt: clock.now(),
      completedAt: null,
      escalatedAt: null,
      visitResult: null,
      mergedInto: null,
      apiKeyId: null,
      deviceId: null,
      mediaUrl: null,
      updatedAt: clock.now(),
    });
    expect(await t.get(first.id)).toEqual(first);
    // No name, no phone: anonymous; a phone alone is not; asking for it is.
    expect(second.anonymous).toBe(true);
    expect((await t.file(report({ phone: '13812345678' }))).anonymous).toBe(false);
    expect((await t.file(report({ phone: '13812345678', anonymous: true }))).anonymous).toBe(true);
    clock.advance(24 * 3_600_000);
    expect((await t.file(report())).ticketNo).toBe('GD20261125-0001');
    // Without a location: the category's own department, no area.
    expect(await t.file(report({ lat: undefined, lng: undefined }))).toMatchObject({ department: 'urban-management', area: null, lat: null, lng: null });
    // A letter goes to its mailbox's department, whatever its category; without a category it has none.
    const letter = await t.file(report({ channel: 'mailbox', mailbox: 'urban', category: 'social', phone: '13812345678', publish: true, urgent: true }));
    expect(letter).toMatchObject({ mailbox: 'urban', department: 'urban-management', kind: 'consult', publish: true, urgent: true });
    const plain = await t.file(report({ channel: 'mailbox', mailbox: 'social-security', category: undefined, lat: undefined, lng: undefined }));
    expect(plain).toMatchObject({ mailbox: 'social-security', department: 'social-security', category: '', kind: 'consult' });
    expect(t.mailboxName('social-security')).toBe('社保中心主任信箱');
    expect(t.mailboxName('gone')).toBe('gone');
    expect(t.mailboxName(null)).toBeNull();
    expect(t.categoryName('')).toBe('未分类');
  });

  it('an Open311 report is filed by its key; a chat report is told in the reply, a page report is pushed', async () => {
    const { a, t } = await app();
    const api = await t.file(report({ channel: 'open311', openid: null, apiKeyId: 12, deviceId: 'dev-1', mediaUrl: 'https://example.org/p.jpg' }));
    expect(api).toMatchObject({ apiKeyId: 12, deviceId: 'dev-1', mediaUrl: 'https://example.org/p.jpg' });
    const noKey = await t.file(report({ channel: 'open311', openid: null }));
    const page = await t.file(report());
    const chat = await t.file(report({ channel: 'chat', openid: 'o_chat' }));
    const first = async (id: number) => (await a.db.getRepository(TicketEventEntity).findOneByOrFail({ ticketId: id }));
    expect(await first(api.id)).toMatchObject({ kind: 'filed', actor: 'api:12', pushedAt: null });
    expect((await first(noKey.id)).actor).toBe('api:0');
    expect(await first(page.id)).toMatchObject({ actor: 'citizen', pushedAt: null });
    expect(await first(chat.id)).toMatchObject({ actor: 'citizen', pushedAt: a.clock.now() });
    expect((await a.jobs.list({ name: 'tickets.push' })).map((j) => JSON.parse(j.payload).ticketId)).toEqual([api.id, noKey.id, page.id]);
    expect((await a.jobs.list({ name: 'tickets.overdue' })).map((j) => [JSON.parse(j.payload).ticketId, j.runAt, j.uniqueKey])).toEqual(
      [api, noKey, page, chat].map((x) => [x.id, x.dueAt, `ticket:${x.id}:overdue:${x.dueAt}`]),
    );
  });

  it('an urgent report alerts the department\'s supervisors, with its number, category and masked words', async () => {
    const { a, t } = await app();
    const boss = (await a.accounts.create({ username: 'jd.boss', name: '街道主任', role: 'supervisor', department: 'xinhua-street', password: PASSWORD, mustChangePassword: false })).account!;
    const row = await t.file(report({ urgent: true, description: '井盖丢了，13812345678 是我的电话，就在新华路口，一个很深的洞很危险很危险很危险很危险' }));
    const alerts = await a.db.getRepository(AlertEntity).find();
    expect(alerts.map((x) => [x.staffId, x.kind, x.urgent, x.link])).toEqual([[boss.id, 'urgent-ticket', true, `/admin/tickets/${row.id}`]]);
    expect(alerts[0]!.title).toMatch(new RegExp(`^紧急工单 ${row.ticketNo}：道路破损 · 井盖丢了，138`));
    expect(alerts[0]!.title).not.toContain('13812345678');
    expect([...alerts[0]!.title.split(' · ')[1]!]).toHaveLength(40);
    await t.file(report({ urgent: false }));
    expect(await a.db.getRepository(AlertEntity).count()).toBe(1);
  });
});

describe('tickets: the moves, each from its own states', () => {
  it('受理, 不予受理, 派单 with 协办, 退单, 办理, 答复: what each sets, writes on the timeline and refuses', async () => {
    const { a, t } = await app();
    const duty = (await a.accounts.create({ username: 'desk.duty', name: '值班员', role: 'duty', department: 'hotline', password: PASSWORD, mustChangePassword: false })).account!;
    const row = await t.file(report());
    expect(await caught(t.accept(row.id + 0.5, 'staff:x'))).toMatchObject({ code: 'not_found', message: '没有找到这个工单。', name: 'TicketError' });
    await t.accept(row.id, 'staff:desk', '  已电话核实  ');
    expect(await caught(t.accept(row.id, 'staff:desk'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「已受理」，不能这样操作。' });
    expect(await caught(t.startHandling(row.id, 'staff:x'))).toMatchObject({ code: 'wrong_state' });
    expect(await caught(t.giveBack(row.id, 'staff:x', '不归我们管的事'))).toMatchObject({ code: 'wrong_state' });
    expect(await caught(t.dispatch(row.id, 'staff:desk', 'nowhere'))).toMatchObject({ message: '请选择承办部门。', fields: { department: '请选择承办部门' } });
    expect(await caught(t.dispatch(row.id, 'staff:desk', 'urban-management', ['nowhere']))).toMatchObject({ code: 'invalid', message: '协办部门不对，请重新选择。', fields: { co: '请从列表里选择' } });
    const sent = await t.dispatch(row.id, 'staff:desk', 'urban-management', ['xinhua-street', '', 'urban-management', 'xinhua-street', 'civil-affairs'], '  请三天内到场  ');
    expect(sent).toMatchObject({ status: 'dispatched', department: 'urban-management', coDepartments: '["xinhua-street","civil-affairs"]' });
    expect(t.coDepartments(sent)).toEqual(['xinhua-street', 'civil-affairs']);
    expect(t.coDepartments({ ...sent, coDepartments: 'not json' })).toEqual([]);
    const back = await t.giveBack(row.id, 'staff:cg', '属于街道养护范围');
    expect(back).toMatchObject({ status: 'accepted', coDepartments: '[]', department: 'urban-management' });
    expect((await a.db.getRepository(AlertEntity).findBy({ kind: 'ticket-returned' })).map((x) => [x.staffId, x.title, x.link])).toEqual([[duty.id, `退单：工单 ${row.ticketNo}（城管执法局）`, `/admin/tickets/${row.id}`]]);
    await t.dispatch(row.id, 'staff:desk', 'xinhua-street');
    await t.startHandling(row.id, 'staff:jd', '  已派养护队  ');
    expect(await caught(t.answer(row.id, 'staff:jd', '已修'))).toMatchObject({ code: 'invalid', message: '请写明答复内容。', fields: { note: '请写明答复内容' } });
    a.clock.advance(60_000);
    const answered = await t.answer(row.id, 'staff:jd', '  坑已填平并压实。  ');
    expect(answered).toMatchObject({ status: 'replied', answer: '坑已填平并压实。', answeredAt: a.clock.now(), updatedAt: a.clock.now() });
    // A second answer (more news) replaces the first.
    expect(await t.answer(row.id, 'staff:jd', '又加装了警示牌。')).toMatchObject({ status: 'replied', answer: '又加装了警示牌。' });
    expect(await t.get(row.id)).toMatchObject({ status: 'replied', answer: '又加装了警示牌。', department: 'xinhua-street', coDepartments: '[]' });
    const events = (await t.timeline(row.id)).map((e) => [e.kind, e.actor, e.note, e.department]);
    expect(events).toEqual([
      ['filed', 'citizen', null, null],
      ['accepted', 'staff:desk', '已电话核实', null],
      ['dispatched', 'staff:desk', '请三天内到场', 'urban-management'],
      ['returned', 'staff:cg', '属于街道养护范围', 'urban-management'],
      ['dispatched', 'staff:desk', null, 'xinhua-street'],
      ['handling', 'staff:jd', '已派养护队', null],
      ['answered', 'staff:jd', '坑已填平并压实。', null],
      ['answered', 'staff:jd', '又加装了警示牌。', null],
    ]);
    // Answered straight from 已派单, without 办理 first.
    const quick = await t.file(report());
    await t.accept(quick.id, 'staff:desk', '   ');
    await t.dispatch(quick.id, 'staff:desk', 'xinhua-street', undefined, '  ');
    await expect(t.answer(quick.id, 'staff:jd', '已经处理好了。')).resolves.toMatchObject({ status: 'replied' });
    expect((await t.timeline(quick.id)).map((e) => e.note)).toEqual([null, null, null, '已经处理好了。']);
  });

  it('不予受理 needs a reason of 4 to 2000 characters, ends the clock and says when', async () => {
    const { a, t } = await app();
    const row = await t.file(report());
    expect(await caught(t.reject(row.id, 'staff:x', ' 重复 '))).toMatchObject({ code: 'invalid', message: '请写明不予受理的理由。', fields: { note: '请写明不予受理的理由' } });
    expect(await caught(t.reject(row.id, 'staff:x', '理'.repeat(2001)))).toMatchObject({ code: 'invalid', message: '不予受理的理由太长了（最多 2000 字）。', fields: { note: '太长了' } });
    a.clock.advance(3_600_000);
    const done = await t.reject(row.id, 'staff:x', '理'.repeat(2000));
    expect(done).toMatchObject({ status: 'rejected', completedAt: a.clock.now() });
    expect(await a.jobs.list({ name: 'tickets.overdue', status: 'pending' })).toEqual([]);
    const other = await t.file(report());
    await expect(t.reject(other.id, 'staff:x', '重复反映')).resolves.toMatchObject({ status: 'rejected' });
  });

  it('办结 only after an answer: the clock stops, and only a reporter who can be asked is asked (回访)', async () => {
    const { a, t } = await app();
    const answered = async (o: Partial<TicketInput> = {}) => {
      const r = await t.file(report(o));
      await t.accept(r.id, 'staff:desk');
      await t.dispatch(r.id, 'staff:desk', 'xinhua-street');
      return r;
    };
    const row = await answered();
    expect(await caught(t.complete(row.id, 'staff:jd'))).toMatchObject({ code: 'wrong_state', message: '请先答复市民，再办结。' });
    await t.answer(row.id, 'staff:jd', '已经处理好了。');
    a.clock.advance(60_000);
    expect(await t.complete(row.id, 'staff:jd', '  现场已复核  ')).toMatchObject({ status: 'completed', completedAt: a.clock.now() });
    expect((await t.timeline(row.id)).slice(-2).map((e) => [e.kind, e.actor, e.note])).toEqual([['completed', 'staff:jd', '现场已复核'], ['visit_asked', 'system', null]]);
    expect((await a.jobs.list({ name: 'tickets.overdue' })).map((j) => j.status)).toEqual(['cancelled']);
    expect(await caught(t.complete(row.id, 'staff:jd'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「已办结」，不能这样操作。' });
    // A letter by post or an Open311 report has nobody to ask in WeChat.
    const anon = await answered({ openid: null });
    await t.answer(anon.id, 'staff:jd', '已经处理好了。');
    await t.complete(anon.id, 'staff:jd');
    expect((await t.timeline(anon.id)).map((e) => e.kind).at(-1)).toBe('completed');
    expect(await caught(t.complete(999_999, 'staff:jd'))).toMatchObject({ code: 'not_found' });
  });

  it('回访: solved closes it; unsolved reopens it with a new deadline of its kind from now; asked once; the dispatcher may record it', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t } = await app({ clock });
    const done = async (o: Partial<TicketInput> = {}) => {
      const r = await t.file(report(o));
      await t.accept(r.id, 'staff:desk');
      await t.dispatch(r.id, 'staff:desk', 'xinhua-street');
      await t.answer(r.id, 'staff:jd', '已经处理好了。');
      return r;
    };
    const first = await done({ openid: 'o_a' });
    const second = await done({ openid: 'o_b', kind: 'consult' });
    expect(await caught(t.visit(second.id, 'citizen', true, null, 'o_b'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「已答复」，还不能回访。' });
    await t.complete(first.id, 'staff:jd');
    await t.complete(second.id, 'staff:jd');
    clock.advance(cst(2026, 11, 26, 9) - clock.now());
    // The dispatcher on the phone: no openid, the ticket by its id alone.
    const reopened = await t.visit(second.id, 'staff:desk', false, '  市民说还在漏水  ');
    // 26 November (Thu) + 2 working days: 27 (Fri), 30 (Mon).
    expect(reopened).toMatchObject({ status: 'dispatched', visitResult: 'unsolved', visitedAt: clock.now(), completedAt: null, escalatedAt: null, answer: '已经处理好了。', dueAt: cst(2026, 11, 30, 17, 30) });
    expect((await t.timeline(second.id)).at(-1)).toMatchObject({ kind: 'reopened', actor: 'staff:desk', note: '市民说还在漏水', department: 'xinhua-street' });
    expect((await a.jobs.list({ name: 'tickets.overdue', status: 'pending' })).map((j) => [JSON.parse(j.payload).ticketId, j.runAt])).toEqual([[second.id, cst(2026, 11, 30, 17, 30)]]);
    const closed = await t.visit(first.id, 'citizen', true, null, 'o_a');
    expect(closed).toMatchObject({ status: 'closed', visitResult: 'solved', visitedAt: clock.now() });
    expect((await t.timeline(first.id)).at(-1)).toMatchObject({ kind: 'solved', actor: 'citizen', note: null, department: null });
    expect(await caught(t.visit(first.id, 'citizen', false, null, 'o_a'))).toMatchObject({ code: 'wrong_state', message: '这个工单已经回访过了，感谢您的反馈。' });
    expect(await caught(t.answer(first.id, 'staff:jd', '再补充一句答复。'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「已结案」，不能这样操作。' });
    expect(await caught(t.visit(1.5, 'citizen', true))).toMatchObject({ code: 'not_found', message: '没有找到这个工单。' });
    expect(await caught(t.visit(first.id, 'citizen', true, null, 'o_b'))).toMatchObject({ code: 'not_found', message: '没有找到这个工单。' });
  });

  it('延期: 1 to 30 working days with a reason, one at a time; refused leaves the deadline, approved moves it and the 督办 check, and clears a 督办', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t } = await app({ clock });
    const boss = (await a.accounts.create({ username: 'desk.boss', name: '热线办主任', role: 'supervisor', department: 'hotline', password: PASSWORD, mustChangePassword: false })).account!;
    const row = await t.file(report({ kind: 'consult' }));
    expect(row.dueAt).toBe(cst(2026, 11, 25, 17, 30));
    for (const days of [0, 31, 1.5, Number.NaN]) expect(await caught(t.requestExtension(row.id, 'staff:jd', days, '需要现场核查'))).toMatchObject({ code: 'invalid', message: '延期天数应为 1 到 30 个工作日。', fields: { days: '1 到 30 个工作日' } });
    expect(await caught(t.requestExtension(row.id, 'staff:jd', 3, '核查'))).toMatchObject({ code: 'invalid', message: '请写明延期理由。' });
    expect(await caught(t.requestExtension(999_999, 'staff:jd', 3, '需要现场核查'))).toMatchObject({ code: 'not_found' });
    expect(await caught(t.decideExtension(row.id, 'staff:boss', true))).toMatchObject({ code: 'wrong_state', message: '没有等待审批的延期申请。' });
    await t.requestExtension(row.id, 'staff:jd', 30, '需要会同住建部门核查');
    expect((await t.pendingExtension(a.db, row.id))).toMatchObject({ kind: 'extension_requested', days: 30, note: '需要会同住建部门核查', actor: 'staff:jd' });
    expect((await a.db.getRepository(AlertEntity).findBy({ kind: 'ticket-extension' })).map((x) => [x.staffId, x.title, x.link])).toEqual([[boss.id, `延期申请：工单 ${row.ticketNo} 申请延期 30 个工作日`, `/admin/tickets/${row.id}`]]);
    expect(await caught(t.requestExtension(row.id, 'staff:jd', 2, '再申请两天看看'))).toMatchObject({ code: 'conflict', message: '已经有一个延期申请在等待审批。' });
    // Another ticket's moves in the meantime do not hide this one's request.
    const other = await t.file(report());
    await t.accept(other.id, 'staff:desk');
    expect(await t.pendingExtension(a.db, other.id)).toBeNull();
    expect(await t.pendingExtension(a.db, row.id)).toMatchObject({ ticketId: row.id, kind: 'extension_requested' });
    expect(await t.decideExtension(row.id, 'staff:boss', false, '  先按时答复  ')).toMatchObject({ dueAt: row.dueAt });
    expect(await t.pendingExtension(a.db, row.id)).toBeNull();
    expect((await t.get(row.id))?.dueAt).toBe(row.dueAt);
    // Past the deadline: 督办. Then a new request, approved: the deadline moves from the old one, the 督办 is cleared.
    clock.advance(cst(2026, 11, 26, 9) - clock.now());
    await a.jobs.runDue();
    expect((await t.get(row.id))?.escalatedAt).toBe(clock.now());
    await t.requestExtension(row.id, 'staff:jd', 1, '还要等检测报告');
    const moved = await t.decideExtension(row.id, 'staff:boss', true, '  同意  ');
    expect(moved).toMatchObject({ dueAt: cst(2026, 11, 26, 17, 30), escalatedAt: null, updatedAt: clock.now() });
    expect(await t.get(row.id)).toMatchObject({ dueAt: cst(2026, 11, 26, 17, 30), escalatedAt: null });
    expect(await t.pendingExtension(a.db, row.id)).toBeNull();
    expect((await t.timeline(row.id)).filter((e) => e.kind.startsWith('extension')).map((e) => [e.kind, e.note, e.days])).toEqual([
      ['extension_requested', '需要会同住建部门核查', 30],
      ['extension_refused', '先按时答复', null],
      ['extension_requested', '还要等检测报告', 1],
      ['extension_approved', '同意', 1],
    ]);
    expect((await a.jobs.list({ name: 'tickets.overdue', status: 'pending' })).filter((j) => JSON.parse(j.payload).ticketId === row.id).map((j) => j.runAt)).toEqual([cst(2026, 11, 26, 17, 30)]);
    // Not on a finished ticket.
    const gone = await t.file(report());
    await t.reject(gone.id, 'staff:desk', '重复反映的问题');
    expect(await caught(t.requestExtension(gone.id, 'staff:jd', 3, '需要现场核查'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「不予受理」，不能这样操作。' });
  });

  it('督办 only for an open ticket still unanswered at its own due time, once, to the supervisors, with the date', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t } = await app({ clock });
    const boss = (await a.accounts.create({ username: 'jd.boss', name: '街道主任', role: 'supervisor', department: 'xinhua-street', password: PASSWORD, mustChangePassword: false })).account!;
    const late = await t.file(report({ kind: 'consult' }));
    const answered = await t.file(report({ kind: 'consult' }));
    await t.accept(answered.id, 'staff:desk');
    await t.dispatch(answered.id, 'staff:desk', 'xinhua-street');
    await t.answer(answered.id, 'staff:jd', '已经答复过了。');
    // A check left from an older deadline does nothing.
    await a.jobs.enqueue('tickets.overdue', { ticketId: late.id, dueAt: late.dueAt - 1 }, { runAt: late.dueAt - 1 });
    clock.advance(late.dueAt - 1 - clock.now());
    await a.jobs.runDue();
    expect((await a.jobs.list({ name: 'tickets.overdue' })).filter((j) => JSON.parse(j.payload).dueAt === late.dueAt - 1).map((j) => j.status)).toEqual(['done']);
    expect((await t.get(late.id))?.escalatedAt).toBeNull();
    clock.advance(cst(2026, 11, 26, 9) - clock.now());
    await a.jobs.runDue();
    expect((await t.get(late.id))?.escalatedAt).toBe(clock.now());
    expect((await t.get(answered.id))?.escalatedAt).toBeNull();
    expect((await t.timeline(late.id)).at(-1)).toMatchObject({ kind: 'escalated', actor: 'system', note: '超过办理时限（2026年11月25日）' });
    const alerts = await a.db.getRepository(AlertEntity).findBy({ kind: 'escalation' });
    expect(alerts.map((x) => [x.staffId, x.title, x.link, x.urgent])).toEqual([[boss.id, `督办：工单 ${late.ticketNo} 超过办理时限`, `/admin/tickets/${late.id}`, true]]);
    // The same check again (a retry): nothing more.
    await a.jobs.enqueue('tickets.overdue', { ticketId: late.id, dueAt: late.dueAt }, { runAt: clock.now() });
    await a.jobs.runDue();
    expect((await t.timeline(late.id)).filter((e) => e.kind === 'escalated')).toHaveLength(1);
    expect(await a.db.getRepository(AlertEntity).countBy({ kind: 'escalation' })).toBe(1);
  });
});

describe('tickets: what the reporter is told', () => {
  it('each move in its own words, with the department, the date, the note and the link', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t, hello, pushes } = await app({ clock });
    await hello('o_told');
    const row = await t.file(report({ openid: 'o_told', urgent: true }));
    const link = `<a href="${t.page(row)}">查看办理进度</a>`;
    expect(t.page(row)).toMatch(new RegExp(`^https?://[^/]+/h5/tickets/${row.id}$`));
    const what = `您反映的「道路破损」问题（${row.ticketNo}）`;
    const step = async (move: () => Promise<unknown>) => {
      await move();
      await hello('o_told');
      await a.jobs.runDue();
      return pushes('o_told').at(-1);
    };
    await a.jobs.runDue();
    expect(pushes('o_told')).toEqual([`已收到您的求助，编号 ${row.ticketNo}，查询码 ${row.queryCode}（家人帮您查进度时使用）。我们会在2026年12月7日前答复您，进展会发到这里。\n已按紧急情况转给负责人，请保持电话畅通；如有人身危险请立即拨打 110。\n${link}`]);
    expect(t.filedText({ ...row, urgent: false })).toBe(`已收到您的求助，编号 ${row.ticketNo}，查询码 ${row.queryCode}（家人帮您查进度时使用）。我们会在2026年12月7日前答复您，进展会发到这里。\n${link}`);
    expect(await step(() => t.accept(row.id, 'staff:desk'))).toBe(`${what}已受理，我们会在2026年12月7日前答复您。\n${link}`);
    expect(await step(() => t.dispatch(row.id, 'staff:desk', 'xinhua-street'))).toBe(`${what}已交给新华路街道办事处办理。\n${link}`);
    expect(await step(() => t.startHandling(row.id, 'staff:jd'))).toBe(`新华路街道办事处正在处理${what}。\n${link}`);
    await t.requestExtension(row.id, 'staff:jd', 2, '需要等检测报告');
    expect(await step(() => t.decideExtension(row.id, 'staff:boss', true))).toBe(`${what}需要多一些时间办理，答复时间延至2026年12月9日。\n${link}`);
    expect(await step(() => t.answer(row.id, 'staff:jd', '坑已填平。'))).toBe(`${what}有答复了：\n坑已填平。\n${link}`);
    await t.complete(row.id, 'staff:jd');
    await hello('o_told');
    await a.jobs.runDue();
    expect(pushes('o_told').slice(-2)).toEqual([
      `${what}已办结。\n${link}`,
      `[menu] ${JSON.stringify({ type: 'msgmenu', headContent: `您反映的问题（${row.ticketNo}）已办结。问题解决了吗？`, list: [{ id: `tkv-${row.id}-1`, content: '已解决' }, { id: `tkv-${row.id}-0`, content: '没有解决' }], tailContent: '如有其他情况，可以直接留言。' })}`,
    ]);
    expect(await step(() => t.visit(row.id, 'citizen', false, null, 'o_told'))).toBe(`收到，${what}会重新办理，新华路街道办事处将于2026年12月7日前再次答复您。\n${link}`);
    await t.answer(row.id, 'staff:jd', '已重新修补。');
    await t.requestExtension(row.id, 'staff:jd', 1, '还要再观察一天');
    expect(await step(() => t.decideExtension(row.id, 'staff:boss', true, '同意延期'))).toBe(`${what}需要多一些时间办理，答复时间延至2026年12月8日。\n同意延期\n${link}`);
    await step(() => t.complete(row.id, 'staff:jd', '已复核'));
    expect(pushes('o_told').at(-2)).toBe(`${what}已办结。\n已复核\n${link}`);
    expect(await step(() => t.visit(row.id, 'citizen', true, null, 'o_told'))).toMatch(/^\[menu\] .*请您为新华路街道办事处的办理打个分/);
    expect(pushes('o_told').at(-2)).toBe('感谢您的反馈！');
    const again = await t.file(report({ openid: 'o_told' }));
    await t.accept(again.id, 'staff:desk');
    await t.dispatch(again.id, 'staff:desk', 'xinhua-street');
    expect(await step(() => t.startHandling(again.id, 'staff:jd', '已派养护队'))).toBe(`新华路街道办事处正在处理您反映的「道路破损」问题（${again.ticketNo}）。\n已派养护队\n<a href="${t.page(again)}">查看办理进度</a>`);
    const no = await t.file(report({ openid: 'o_told' }));
    expect(await step(() => t.reject(no.id, 'staff:desk', '已有同一问题的工单在办理'))).toBe(`很抱歉，您反映的「道路破损」问题（${no.ticketNo}）不予受理。\n原因：已有同一问题的工单在办理\n有疑问可以回复「转人工」。`);
  });

  it('out of the window: the progress template, with the step and the time of each move', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 9, 5));
    const { a, t, pushes } = await app({ clock });
    await a.emulator!.act('o_quiet', { type: 'subscribe' });
    const row = await t.file(report({ openid: 'o_quiet', category: 'noise', kind: 'complaint' }));
    const step = async (move: () => Promise<unknown>) => {
      await move();
      clock.advance(61_000);
      await a.jobs.runDue();
    };
    await step(async () => undefined);
    await step(() => t.accept(row.id, 'staff:desk'));
    await step(() => t.dispatch(row.id, 'staff:desk', 'urban-management'));
    await step(() => t.startHandling(row.id, 'staff:cg'));
    await t.requestExtension(row.id, 'staff:cg', 1, '需要夜间复查');
    await step(() => t.decideExtension(row.id, 'staff:boss', true));
    await step(() => t.answer(row.id, 'staff:cg', '已责令停工。'));
    await step(() => t.complete(row.id, 'staff:cg'));
    await step(() => t.visit(row.id, 'citizen', false, null, 'o_quiet'));
    const no = `${row.ticketNo}`;
    expect(pushes('o_quiet')).toEqual([
      `[template] 噪音扰民投诉 · ${no} · 已提交 · 2026-11-23 09:06`,
      `[template] 噪音扰民投诉 · ${no} · 已受理 · 2026-11-23 09:07`,
      `[template] 噪音扰民投诉 · ${no} · 已派单 · 2026-11-23 09:08`,
      `[template] 噪音扰民投诉 · ${no} · 办理中 · 2026-11-23 09:09`,
      `[template] 噪音扰民投诉 · ${no} · 延期办理 · 2026-11-23 09:10`,
      `[template] 噪音扰民投诉 · ${no} · 已答复 · 2026-11-23 09:11`,
      `[template] 噪音扰民投诉 · ${no} · 已办结 · 2026-11-23 09:12`,
      `[template] 噪音扰民投诉 · ${no} · 请您回访 · 2026-11-23 09:12`,
      `[template] 噪音扰民投诉 · ${no} · 重新办理 · 2026-11-23 09:13`,
    ]);
    const no2 = await t.file(report({ openid: 'o_quiet' }));
    await t.reject(no2.id, 'staff:desk', '已有同一问题的工单');
    clock.advance(cst(2026, 11, 23, 14, 0) - clock.now());
    await a.jobs.runDue();
    expect(pushes('o_quiet').slice(-2)).toEqual([`[template] 道路破损求助 · ${no2.ticketNo} · 已提交 · 2026-11-23 14:00`, `[template] 道路破损求助 · ${no2.ticketNo} · 不予受理 · 2026-11-23 14:00`]);
  });

  it('a merged reporter is told of the merge, then hears the other ticket\'s moves as about their problem; a reporter who left does not hold back the rest', async () => {
    const { a, t, hello, pushes } = await app();
    await hello('o_first');
    await hello('o_second');
    await hello('o_left');
    const first = await t.file(report({ openid: 'o_first', category: 'sanitation', description: '垃圾桶满了好几天没人清' }));
    const second = await t.file(report({ openid: 'o_second', category: 'sanitation', description: '这里的垃圾好久没有清运了' }));
    const third = await t.file(report({ openid: 'o_left', category: 'sanitation', description: '垃圾站旁边污水横流' }));
    await a.jobs.runDue();
    await t.merge(second.id, first.id, 'staff:desk');
    await t.merge(third.id, first.id, 'staff:desk');
    await a.emulator!.act('o_left', { type: 'unsubscribe' });
    await t.accept(first.id, 'staff:desk');
    await hello('o_first');
    await hello('o_second');
    await a.jobs.runDue();
    const firstLink = `<a href="${t.page(first)}">查看办理进度</a>`;
    expect(pushes('o_second').slice(1)).toEqual([
      `您反映的问题和其他市民反映的是同一件事，已合并到工单 ${first.ticketNo} 一起办理，办理进展会同样发给您。`,
      `您反映的问题（已合并到 ${first.ticketNo}）已受理，我们会在${t.day(first.dueAt)}前答复您。\n${firstLink}`,
    ]);
    expect(pushes('o_first').slice(1)).toEqual([`您反映的「环境卫生」问题（${first.ticketNo}）已受理，我们会在${t.day(first.dueAt)}前答复您。\n${firstLink}`]);
    // The merge is not told to the reporter of the ticket merged into; every move is marked told.
    expect((await a.db.getRepository(TicketEventEntity).countBy({ pushedAt: IsNull() }))).toBe(0);
  });
});

describe('tickets: merging, duplicates, lookups, lists, masking', () => {
  it('merges a duplicate into an open ticket of its category only; the reports merged into it follow; the clock of the duplicate stops', async () => {
    const { a, t } = await app();
    const sanitation = (o: Partial<TicketInput> = {}) => t.file(report({ category: 'sanitation', description: '垃圾桶满了好几天没人清', ...o }));
    const a1 = await sanitation();
    const b1 = await sanitation();
    const c1 = await sanitation();
    const road = await t.file(report());
    const done = await sanitation();
    await t.reject(done.id, 'staff:desk', '重复反映的问题');
    expect(await caught(t.merge(a1.id, a1.id, 'staff:desk'))).toMatchObject({ code: 'invalid', message: '不能合并到自己。' });
    expect(await caught(t.merge(a1.id, done.id, 'staff:desk'))).toMatchObject({ code: 'invalid', message: '要合并到的工单不存在或已经结束。' });
    expect(await caught(t.merge(a1.id, 999_999, 'staff:desk'))).toMatchObject({ code: 'invalid', message: '要合并到的工单不存在或已经结束。' });
    expect(await caught(t.merge(done.id, a1.id, 'staff:desk'))).toMatchObject({ code: 'wrong_state' });
    expect(await caught(t.merge(road.id, a1.id, 'staff:desk'))).toMatchObject({ code: 'invalid', message: '只能合并同一类别的问题。' });
    await t.merge(c1.id, b1.id, 'staff:desk');
    const merged = await t.merge(b1.id, a1.id, 'staff:desk');
    expect(merged).toMatchObject({ id: b1.id, status: 'merged', mergedInto: a1.id });
    expect(await t.get(c1.id)).toMatchObject({ status: 'merged', mergedInto: a1.id });
    expect(await t.get(a1.id)).toMatchObject({ status: 'submitted', mergedInto: null });
    expect(await caught(t.accept(b1.id, 'staff:desk'))).toMatchObject({ code: 'wrong_state', message: '工单现在是「已合并」，不能这样操作。' });
    expect((await t.timeline(b1.id)).slice(-1).map((e) => [e.kind, e.actor, e.note])).toEqual([['merged', 'staff:desk', a1.ticketNo]]);
    expect((await t.timeline(a1.id)).slice(1).map((e) => [e.kind, e.note])).toEqual([['note', `合并了同一问题的工单 ${b1.ticketNo}`]]);
    const pending = (await a.jobs.list({ name: 'tickets.overdue', status: 'pending' })).map((j) => JSON.parse(j.payload).ticketId);
    expect(pending).toEqual([a1.id, road.id]);
    expect(await caught(t.merge(a1.id, b1.id, 'staff:desk'))).toMatchObject({ message: '要合并到的工单不存在或已经结束。' });
  });

  it('duplicates: same category, open, within the distance and the hours either side', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { t } = await app({ clock });
    const at = (dLat: number, o: Partial<TicketInput> = {}) => t.file(report({ category: 'sanitation', description: '垃圾桶满了好几天没人清', lat: XINHUA.lat + dLat, ...o }));
    const base = await at(0);
    const near = await at(0.0013); // ~145 m north
    await at(0.0014); // ~156 m: too far
    await at(0, { category: 'road' });
    const gone = await at(0);
    await t.reject(gone.id, 'staff:desk', '重复反映的问题');
    clock.advance(72 * 3_600_000);
    const later = await at(0);
    clock.advance(1);
    const tooLate = await at(0);
    expect((await t.duplicatesOf(base)).map((x) => x.id)).toEqual([near.id, later.id]);
    expect((await t.duplicatesOf(tooLate)).map((x) => x.id).includes(base.id)).toBe(false);
    expect((await t.duplicatesOf(tooLate)).map((x) => x.id)).toContain(later.id);
    expect(await t.duplicatesOf({ ...base, lat: null })).toEqual([]);
    expect(await t.duplicatesOf({ ...base, lng: null })).toEqual([]);
    expect(await t.duplicatesOf({ ...base, category: '' })).toEqual([]);
  });

  it('distances in metres on the sphere', () => {
    const degree = (6_371_000 * Math.PI) / 180;
    expect(distanceMeters({ lat: 0, lng: 0 }, { lat: 1, lng: 0 })).toBeCloseTo(degree, 3);
    expect(distanceMeters({ lat: 0, lng: 0 }, { lat: 0, lng: 1 })).toBeCloseTo(degree, 3);
    expect(distanceMeters({ lat: 60, lng: 10 }, { lat: 60, lng: 11 })).toBeCloseTo(55_597.27, 0);
    expect(distanceMeters({ lat: 31.2304, lng: 121.4737 }, { lat: 39.9042, lng: 116.4074 })).toBeCloseTo(1_067_310, -3);
    expect(distanceMeters({ lat: 10, lng: 20 }, { lat: 10, lng: 20 })).toBe(0);
  });

  it('a lookup by number and code, or the reporter\'s own without the code; right answers do not use up tries; any caller over the limit stops all', async () => {
    const { t } = await app();
    const row = await t.file(report({ openid: 'o_mine' }));
    expect((await t.lookup(`  ${row.ticketNo.toLowerCase()} `, ` ${row.queryCode.toLowerCase()} `, ['ip:1']))?.id).toBe(row.id);
    expect(await t.lookup(row.ticketNo, 'WRONG1', ['ip:1'], 'o_mine')).toMatchObject({ id: row.id });
    expect(await t.lookup(row.ticketNo, 'WRONG1', ['ip:1'], 'o_other')).toBeNull();
    expect(await t.lookup(row.ticketNo, 'WRONG1', ['ip:1'], null)).toBeNull();
    expect(await t.lookup(`${row.ticketNo}9`, row.queryCode, ['ip:1'])).toBeNull();
    expect(await t.lookup(`X${row.ticketNo}`, row.queryCode, ['ip:1'])).toBeNull();
    // ip:2 has 9 wrong tries; 20 right ones in between change nothing.
    for (let i = 0; i < 9; i++) expect(await t.lookup(row.ticketNo, 'AAAAAA', ['ip:2'])).toBeNull();
    for (let i = 0; i < 20; i++) expect(await t.lookup(row.ticketNo, row.queryCode, ['ip:2'])).not.toBeNull();
    expect(await t.lookup(row.ticketNo, 'AAAAAA', ['ip:2', 'o_fresh'])).toBeNull();
    // The 11th try from ip:2 is refused even together with a fresh caller, and costs the fresh one nothing.
    expect(await caught(t.lookup(row.ticketNo, row.queryCode, ['o_fresh', 'ip:2']))).toMatchObject({ code: 'too_many', message: '查询码输错的次数太多了，请过一小时再查。' });
    for (let i = 0; i < 9; i++) expect(await t.lookup(row.ticketNo, 'AAAAAA', ['o_fresh'])).toBeNull();
    expect(await caught(t.lookup(row.ticketNo, row.queryCode, ['o_fresh']))).toMatchObject({ code: 'too_many' });
  });

  it('the staff list: a department sees its own and what it helps with; by status, 督办, urgency; urgent first, then soonest due; a limit', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { a, t } = await app({ clock });
    const help = await t.file(report()); // xinhua-street, due in 10 working days
    const consult = await t.file(report({ kind: 'consult' })); // xinhua-street, due in 2
    const urgent = await t.file(report({ kind: 'complaint', urgent: true })); // xinhua-street, due in 15
    const social = await t.file(report({ category: 'social', lat: undefined, lng: undefined })); // social-security, consult
    const cg = await t.file(report({ category: 'noise', lat: undefined, lng: undefined })); // urban-management, complaint
    await t.accept(cg.id, 'staff:desk');
    await t.dispatch(cg.id, 'staff:desk', 'urban-management', ['civil-affairs']);
    const ids = async (f: Parameters<typeof t.list>[0]) => (await t.list(f)).map((x) => x.id);
    expect(await ids({ departments: null })).toEqual([urgent.id, consult.id, social.id, help.id, cg.id]);
    expect(await ids({ departments: [] })).toEqual([]);
    expect(await ids({ departments: ['xinhua-street'] })).toEqual([urgent.id, consult.id, help.id]);
    expect(await ids({ departments: ['civil-affairs'] })).toEqual([cg.id]);
    expect(await ids({ departments: ['civil-affairs', 'social-security'] })).toEqual([social.id, cg.id]);
    expect(await ids({ departments: ['market-regulation'] })).toEqual([]);
    expect(await ids({ departments: null, statuses: ['dispatched'] })).toEqual([cg.id]);
    expect(await ids({ departments: null, statuses: [] })).toHaveLength(5);
    expect(await ids({ departments: null, urgent: true })).toEqual([urgent.id]);
    expect(await ids({ departments: null, urgent: false })).toHaveLength(5);
    expect(await ids({ departments: null, limit: 2 })).toEqual([urgent.id, consult.id]);
    expect(await ids({ departments: null, escalated: true })).toEqual([]);
    clock.advance(cst(2026, 11, 26, 9) - clock.now());
    await a.jobs.runDue();
    expect(await ids({ departments: null, escalated: true })).toEqual([consult.id, social.id]);
    expect(await ids({ departments: null, escalated: false })).toHaveLength(5);
    expect(await ids({ departments: ['xinhua-street'], escalated: true, statuses: ['submitted'] })).toEqual([consult.id]);
  });

  it('public letters: a mailbox\'s answered letters whose writers agreed, newest first; the reporter\'s own list', async () => {
    const clock = new FakeClock(cst(2026, 11, 23, 10));
    const { t } = await app({ clock });
    const letter = async (o: Partial<TicketInput> & { answer?: boolean } = {}) => {
      clock.advance(60_000);
      const r = await t.file(report({ channel: 'mailbox', mailbox: 'mayor', category: undefined, phone: '13812345678', publish: true, openid: 'o_writer', ...o }));
      if (o.answer !== false) {
        await t.accept(r.id, 'staff:desk');
        await t.dispatch(r.id, 'staff:desk', 'civil-affairs');
        await t.answer(r.id, 'staff:mz', '感谢您的来信，已经安排落实。');
      }
      return r;
    };
    const older = await letter();
    const unanswered = await letter({ answer: false });
    const privateOne = await letter({ publish: false });
    const urban = await letter({ mailbox: 'urban' });
    const snap = await t.file(report({ publish: true, openid: 'o_writer' }));
    await t.accept(snap.id, 'staff:desk');
    await t.dispatch(snap.id, 'staff:desk', 'xinhua-street');
    await t.answer(snap.id, 'staff:jd', '已经处理好了。');
    const closed = await letter();
    await t.complete(closed.id, 'staff:mz');
    await t.visit(closed.id, 'citizen', true, null, 'o_writer');
    const reopened = await letter();
    await t.complete(reopened.id, 'staff:mz');
    await t.visit(reopened.id, 'citizen', false, null, 'o_writer');
    const newest = await letter();
    const ids = async (o?: Parameters<typeof t.publicLetters>[0]) => (await t.publicLetters(o)).map((x) => x.id);
    expect(await ids()).toEqual([newest.id, closed.id, urban.id, older.id]);
    expect(await ids({ mailbox: 'mayor' })).toEqual([newest.id, closed.id, older.id]);
    expect(await ids({ mailbox: 'urban' })).toEqual([urban.id]);
    expect(await ids({ limit: 1 })).toEqual([newest.id]);
    const mine = await t.mine('o_writer');
    expect(mine.map((x) => x.id).sort((x, y) => x - y)).toEqual([older.id, unanswered.id, privateOne.id, urban.id, snap.id, closed.id, reopened.id, newest.id].sort((x, y) => x - y));
    expect(mine.map((x) => x.filedAt)).toEqual([...mine.map((x) => x.filedAt)].sort((x, y) => y - x));
    expect(mine[0]!.id).toBe(newest.id);
    expect(await t.mine('o_nobody')).toEqual([]);
    expect(await t.own('o_writer', older.id)).toMatchObject({ id: older.id });
    expect(await t.own('o_writer', 1.5)).toBeNull();
    expect(await t.get(Number.NaN)).toBeNull();
  });

  it('masks the reporter\'s own name wherever it appears, then phones and the like; names, kinds and categories read by their ids', async () => {
    const { t } = await app();
    expect(t.masked(null)).toBe('');
    expect(t.masked('')).toBe('');
    expect(t.masked('李建国说路坏了，李建国的电话 13812345678', { contactName: ' 李建国 ' })).toBe('李**说路坏了，李**的电话 138****5678');
    expect(t.masked('我是李四，路坏了', { contactName: '李四' })).toBe('我是李*，路坏了');
    // A one-character name is not searched for (it would blot out every 李).
    expect(t.masked('李家门口路坏了', { contactName: '李' })).toBe('李家门口路坏了');
    expect(t.masked('路坏了，电话 13812345678', { contactName: null })).toBe('路坏了，电话 138****5678');
    expect(t.masked('路坏了，电话 13812345678')).toBe('路坏了，电话 138****5678');
    expect(t.kindName('consult')).toBe('咨询');
    expect(t.kindName('gossip')).toBe('gossip');
    expect(t.categoryName('road')).toBe('道路破损');
    expect(t.categoryName('ufo')).toBe('ufo');
    expect(t.nearestArea(31.199, 121.348)).toBe('chengjiaqiao');
    expect(t.nearestArea(31.2208, 121.43)).toBe('jiangsu');
    expect(t.guessCategory('楼下广场舞太吵了')).toBe('noise');
    expect(t.guessCategory('反映一个噪音扰民的问题')).toBe('noise');
    expect(t.guessCategory('你好')).toBeNull();
    expect(new TicketError('invalid', 'x').fields).toEqual({});
  });
});

describe('tickets: failures leave nothing behind and push nothing twice', () => {
  it('a report that fails after its photos were stored removes them, and leaves no ticket', async () => {
    const { a, t } = await app();
    const root = (a as unknown as { storage: { root: string } }).storage.root;
    const files = () => (existsSync(root) ? readdirSync(root, { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).length : 0);
    const raise = a.alerts.raise.bind(a.alerts);
    a.alerts.raise = async () => {
      throw new Error('the alerts table is locked');
    };
    await expect(t.file(report({ urgent: true, photos: [{ fileName: 'a.jpg', data: JPEG }, { fileName: 'b.png', data: PNG }] }))).rejects.toThrow('the alerts table is locked');
    expect(files()).toBe(0);
    expect(await a.db.getRepository(TicketEntity).count()).toBe(0);
    expect(await a.db.getRepository(TicketPhotoEntity).count()).toBe(0);
    a.alerts.raise = raise;
    await t.file(report({ urgent: true, photos: [{ fileName: 'a.jpg', data: JPEG }] }));
    expect(files()).toBe(1);
    // A reason that is missing altogether reads as an empty one.
    const row = await t.file(report());
    expect(await caught(t.reject(row.id, 'staff:x', undefined as unknown as string))).toMatchObject({ code: 'invalid', message: '请写明不予受理的理由。' });
  });

  it('while another instance pushes a ticket, this one waits its turn: nothing is sent twice or lost', async () => {
    const { a, t, hello, pushes } = await app();
    await hello('o_lock');
    const row = await t.file(report({ openid: 'o_lock' }));
    const lock = (await tryLock(a.kv, `ticket-push:${row.id}`, 60_000))!;
    await a.jobs.runDue();
    expect(pushes('o_lock')).toEqual([]);
    expect((await t.timeline(row.id)).map((e) => e.pushedAt)).toEqual([null]);
    expect((await a.jobs.list({ name: 'tickets.push' }))[0]!.lastError).toContain('another instance is pushing this ticket');
    await lock.release();
    a.clock.advance(10 * 60_000);
    await a.jobs.runDue();
    expect(pushes('o_lock')).toHaveLength(1);
    expect(pushes('o_lock')[0]).toContain(row.ticketNo);
    expect((await t.timeline(row.id)).map((e) => e.pushedAt)).toEqual([a.clock.now()]);
  });
});
