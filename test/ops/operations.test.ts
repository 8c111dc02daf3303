import { describe, expect, it } from 'vitest';
import { unzipSync, strFromU8 } from 'fflate';
import { actorOf } from '../../src/admin/accounts.ts';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { MINUTE } from '../../src/platform/clock.ts';
import type { Upload } from '../../src/services/cases/forms.ts';
import { makeTeam, openHandoff, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { cst } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();
const form = { name: '王小明', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' };
const files: Upload[] = [
  { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
  { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
];

const ops = (app: TestApp) => (app.capabilities.find((c) => c.name === 'ops') as OpsCapability).operations;
const say = (app: TestApp, openid: string, ...texts: string[]) => texts.reduce((p, t) => p.then(() => app.emulator!.act(openid, { type: 'text', content: t })), Promise.resolve() as Promise<unknown>);

for (const backend of DB_BACKENDS) {
  describe.skipIf(!available(backend))(`operations on ${backend.name}`, () => {
    it('use per item comes from the conversation log, bookings and applications, by channel and audience', async () => {
      const app = await startApp({ db: backend.name });
      app.clock.set(cst(2026, 11, 23, 9)); // Monday
      for (const o of ['o_u1', 'o_u2', 'o_u3', 'o_u4']) await app.emulator!.act(o, { type: 'subscribe' });
      // Two elderly-sounding citizens find 社保卡 through the numbers, one of them twice.
      await say(app, 'o_u1', '1', '2', '1');
      await say(app, 'o_u2', '1', '2', '1', '0', '1'); // 0 goes back to the 社保 list, 1 opens 社保卡 again
      // Someone taps 办事指南 in the menu, then picks 护照 through the numbers.
      await app.emulator!.act('o_u3', { type: 'click', key: 'guides' } as never);
      await say(app, 'o_u3', '4', '1');
      // A search, then the first hit opened.
      await say(app, 'o_u4', '我想办个居住证要带啥');
      await say(app, 'o_u4', '1');
      // A booking on a page and an application.
      await app.appointments.book({ openid: 'o_u1', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
      await app.cases.submit('o_u2', 'residence-permit', form, files);
      // The guide read twice on its page (opened from the chat's link, or shared).
      for (let i = 0; i < 2; i++) expect((await fetch(`${app.url}/h5/guide/residence-permit`)).status).toBe(200);
      expect((await fetch(`${app.url}/h5/guide/no-such-guide`)).status).toBe(404);
      await app.conversationLog.flush();

      const v = await ops(app).usage(4);
      const rows = Object.fromEntries(v.ranking.rows.map((r) => [r.key, r]));
      expect(rows['service:social-security-card']).toMatchObject({ uses: 3, users: 2, byChannel: { chat: 3, menu: 0, page: 0 } });
      expect(rows['service:residence-permit']).toMatchObject({ uses: 5, users: 3, byChannel: { chat: 1, menu: 0, page: 4 }, byAction: { search: 1, book: 1, apply: 1, read: 2 } });
      expect(rows['service:passport']).toMatchObject({ uses: 1, byChannel: { chat: 0, menu: 1, page: 0 } }); // the menu opened the list
      expect(v.ranking.total).toBe(9);
      expect(v.ranking.rows[0]!.key).toBe('service:residence-permit');
      expect(v.ranking.rows.at(-1)!.cumulative).toBe(1);
      expect(v.sources).toEqual([
        { name: 'conversation', uses: 5 },
        { name: 'pages', uses: 2 },
        { name: 'bookings', uses: 1 },
        { name: 'cases', uses: 1 },
        { name: 'payments', uses: 0 },
        { name: 'tickets', uses: 0 },
      ]);
      expect(v.menu.find((m) => m.key === 'guides')?.taps).toBe(1);
      expect(v.unused.some((i) => i.key === 'service:marriage-registration')).toBe(true);
      expect(v.unused.some((i) => i.key === 'service:residence-permit')).toBe(false);
      expect(v.trend.get('')!.at(-1)).toBe(9);
      // Last week's page views are not this week's.
      expect((await ops(app).usage(1)).ranking.total).toBe(9);
      app.clock.advance(7 * 86_400_000);
      expect((await ops(app).usage(1)).ranking.total).toBe(0);
    });

    it('reply speed: conversations and cases against the norms, per department and staff member, overdue and nearly due', async () => {
      const app = await startApp({ db: backend.name });
      const team = await makeTeam(app);
      app.clock.set(cst(2026, 11, 23, 9)); // Monday
      const fast = await openHandoff(app, 'o_s1');
      app.clock.advance(5 * MINUTE);
      await app.inbox.reply(actorOf(team.handler), fast, { kind: 'text', text: '您好，已经帮您查到了' });
      const slow = await openHandoff(app, 'o_s2', '我家门口的路灯坏了好几天了晚上黑得很');
      app.clock.set(cst(2026, 11, 24, 15)); // Tuesday 15:00: more than 24 hours
      await app.inbox.reply(actorOf(team.handler2), slow, { kind: 'text', text: '已转给路灯所' });
      const waiting = await openHandoff(app, 'o_s3');
      // An application accepted on the third working day, one not touched.
      app.clock.set(cst(2026, 11, 20, 15)); // the Friday before
      const c1 = await app.cases.submit('o_s4', 'residence-permit', form, files);
      app.clock.set(cst(2026, 11, 25, 11)); // Wednesday: within Mon, Tue, Wed
      await app.cases.accept(c1.id, `staff:${team.handler.username}`);
      const c2 = await app.cases.submit('o_s5', 'residence-permit', form, files);
      app.clock.set(cst(2026, 11, 25, 12)); // Wednesday noon: `waiting` (Tue 15:00 + 24 h) is due in 3 h
      const v = await ops(app).speed({ from: cst(2026, 11, 16), to: app.clock.now() + 1 }, null);
      expect(v.total).toMatchObject({ requests: 5, judged: 3, withinNorm: 2 });
      expect(v.total.speed).toMatchObject({ instant: 1, next_day: 1, none: 2 });
      const staff = Object.fromEntries(v.byStaff.map((r) => [r.label, [r.withinNorm, r.judged]]));
      expect(staff[team.handler.name]).toEqual([2, 2]); // the instant answer and the case accepted in time
      expect(staff[team.handler2.name]).toEqual([0, 1]);
      expect(v.overdue).toEqual([]);
      expect(v.near.map((r) => [r.source, r.id, r.link])).toEqual([['conversation', waiting, `/admin/inbox/${waiting}`]]);
      // Friday: the untouched application is past 3 working days (Wed, Thu, Fri), the question past 24 hours.
      app.clock.set(cst(2026, 11, 30, 18));
      const later = await ops(app).speed({ from: cst(2026, 11, 16), to: app.clock.now() + 1 }, null);
      expect(later.overdue.map((r) => r.link).sort()).toEqual([`/admin/cases/${c2.id}`, `/admin/inbox/${waiting}`].sort());
      // Scoped to a department with none of them.
      expect((await ops(app).speed({ from: cst(2026, 11, 16), to: app.clock.now() + 1 }, ['housing-fund'])).total.requests).toBe(0);
    });
  });
}

describe('satisfaction', () => {
  it('好差评 per item, department and staff member from the conversations\' ratings; the item is what the citizen was reading', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const rate = async (openid: string, words: string[], level: number, staff: typeof team.handler) => {
      await app.emulator!.act(openid, { type: 'subscribe' });
      for (const w of words) await app.emulator!.act(openid, { type: 'text', content: w });
      const id = (await app.handoffs.openFor(openid))!.id;
      await app.inbox.reply(actorOf(staff), id, { kind: 'text', text: '您好，已帮您查询' });
      await app.inbox.close(actorOf(staff), id);
      await app.jobs.runDue();
      await app.emulator!.act(openid, { type: 'text', content: '评价', bizmsgmenuid: `rate-${id}-${level}` });
      return id;
    };
    await rate('o_r1', ['1', '2', '1', '转人工'], 5, team.ssHandler); // read 社保卡, then asked: 社保 answers
    const poor = await rate('o_r2', ['1', '2', '1', '转人工'], 1, team.ssSupervisor);
    await rate('o_r3', ['转人工'], 4, team.handler);
    const v = await ops(app).satisfaction(ops(app).lastDays(30), null);
    expect(v.total).toMatchObject({ count: 3, average: 3.3, good: 2, poor: 1 });
    expect(Object.fromEntries(v.byItem.map((r) => [r.label, r.count]))).toEqual({ 社会保障卡申领和补换: 2, '（未关联事项）': 1 });
    expect(Object.fromEntries(v.byStaff.map((r) => [r.label, [r.count, r.poor]]))).toEqual({ [team.ssHandler.name]: [1, 0], [team.ssSupervisor.name]: [1, 1], [team.handler.name]: [1, 0] });
    expect(Object.fromEntries(v.byDepartment.map((r) => [r.key, r.count]))).toEqual({ 'social-security': 2, 'service-centre': 1 });
    expect(v.poor.map((r) => r.link)).toEqual([`/admin/inbox/${poor}`]);
    expect((await ops(app).satisfaction(ops(app).lastDays(30), ['service-centre'])).total.count).toBe(1);
  });
});

describe('the 运营 pages', () => {
  it('supervisors read them and export CSV and XLSX, masked; handlers may not', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    await openHandoff(app, 'o_p1', '我手机号13812345678，身份证办好了吗');
    const boss = await signedIn(app, team.supervisor);
    for (const path of ['/admin/ops', '/admin/ops/speed', '/admin/ops/satisfaction']) {
      const p = await boss.page(path);
      expect(p.status, path).toBe(200);
    }
    const speed = await boss.page('/admin/ops/speed?days=7');
    expect(speed.html).toContain('答复时效');
    expect(speed.html).not.toContain('13812345678');
    const csv = await boss.get('/admin/ops/overdue.csv');
    expect(csv.status).toBe(200);
    const bytes = Buffer.from(await csv.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]); // Excel reads it as UTF-8
    expect(bytes.subarray(3).toString('utf8').startsWith('状态,类型')).toBe(true);
    const xlsx = await boss.get('/admin/ops/speed.xlsx?days=30');
    expect(xlsx.headers.get('content-type')).toContain('spreadsheetml');
    const sheet = strFromU8(unzipSync(new Uint8Array(await xlsx.arrayBuffer()))['xl/worksheets/sheet1.xml']!);
    expect(sheet).toContain('达标率');
    expect((await boss.get('/admin/ops/speed.exe')).status).toBe(404);
    const handler = await signedIn(app, team.handler);
    expect((await handler.page('/admin/ops')).status).toBe(403);
    expect((await handler.get('/admin/ops/usage.csv')).status).toBe(403);
  });
});
