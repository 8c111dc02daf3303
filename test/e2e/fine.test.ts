import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BillEntity, PayOrderEntity } from '../../src/services/bills/entities.ts';
import { DeptEventEntity } from '../../src/services/bindings/entities.ts';
import { signBody, signatureMatches } from '../../src/services/bindings/verify.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { Visitor } from '../helpers/visitor.ts';

/**
 * Issue 16's "fine paid in 30 seconds", end to end on the Xiamen traffic profile with the emulator's
 * pay platform: bind → the traffic-management system posts a violation → push with a pay link →
 * tap → 去支付 → pay sheet → receipt → the system is told, signed, until it acknowledges.
 */
const TRAFFIC = join(import.meta.dirname, '..', '..', 'profiles', 'xiamen-traffic', 'profile.yaml');
const TMS_KEY = 'demo-only-xiamen-tms-hmac-key-2026-please-replace';
const startApp = appsClosedAfterEach();

/** The traffic-management system's own callback endpoint: answers what it is told to, records what it got. */
async function departmentServer() {
  const got: { body: string; headers: IncomingHttpHeaders }[] = [];
  const answers: number[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ body, headers: req.headers });
      res.statusCode = answers.shift() ?? 200;
      res.end(res.statusCode < 300 ? '{"ok":true}' : '{"error":"database busy"}');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { got, answers, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/tms/fines/paid`, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

async function signedPost(a: TestApp, path: string, body: string, ts = Math.floor(a.clock.now() / 1000), type = 'application/json') {
  const t = String(ts);
  const res = await fetch(`${a.url}${path}`, { method: 'POST', body, headers: { 'content-type': type, 'x-weiban-system': 'tms', 'x-weiban-timestamp': t, 'x-weiban-signature': signBody(TMS_KEY, t, body) } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
const postEvent = (a: TestApp, body: string, ts?: number) => signedPost(a, '/api/events', body, ts);

const violation = (idem: string, plate: string) =>
  JSON.stringify({ kind: 'violation_fine', idempotency_key: idem, target: plate, values: { violation_no: '350203202611220417', place: '仙岳路往机场方向高架', happened: '2026-11-22 07:58', fine_fen: '15000' } });

async function boundDriver(a: TestApp, openid: string, plate: string, engine: string) {
  await a.emulator!.act(openid, { type: 'subscribe' });
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  const form = await v.get('/h5/bindings/new/vehicle');
  const bound = await v.post('/h5/bindings/new/vehicle', { _csrf: v.csrf(form.text), plate, engine_last6: engine, consent: '1' });
  expect(bound.text).toContain('绑定成功');
  return v;
}

const pushes = (a: TestApp, openid: string) => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template');

describe('a traffic fine paid from the pushed message', () => {
  it('event → push → one tap → 去支付 → pay sheet → paid once → the department hears it once, retried after a 500; a replay makes no second bill', async () => {
    const dept = await departmentServer();
    try {
      const a = await startApp({ profileFile: TRAFFIC, profile: (p) => void (p.bindings.systems[0].callback_url = dept.url) });
      const openid = 'o_xm_truck_zheng';
      // The vehicle office's records include this driver's van (imported by its system, signed).
      const imported = await signedPost(a, '/api/records?kind=vehicle', 'plate,engine_last6\n闽D7K2Q9,B7731X\n', Math.floor(a.clock.now() / 1000) - 30, 'text/csv');
      expect(imported.body.imported).toBe(1);
      // An older driver types the plate as printed, with the dot and a lower-case letter.
      const v = await boundDriver(a, openid, '闽d·7k2q9', 'b7731x');
      const t0 = a.clock.now();

      // The traffic-management system records the violation with its fine.
      const body = violation('TMS-VIO-2026-0417', '闽D7K2Q9');
      const accepted = await postEvent(a, body);
      expect(accepted.status).toBe(202);
      const bills = () => a.db.getRepository(BillEntity).findBy({ paysKind: 'event', paysRef: `event-${accepted.body.id}` });
      expect(await bills()).toHaveLength(1);
      // Replays: the same bytes (refused as a replay) and the system's own retry signed anew (a duplicate).
      expect((await postEvent(a, body)).status).toBe(409);
      expect((await postEvent(a, body, Math.floor(a.clock.now() / 1000) + 2)).body.status).toBe('duplicate');
      expect(await a.db.getRepository(BillEntity).count()).toBe(1);

      // The push arrives at once (10:00 on a Monday is not quiet hours), carrying the pay link.
      await a.jobs.runDue();
      const [msg, ...more] = pushes(a, openid);
      expect(more).toEqual([]);
      const [bill] = await bills();
      expect(msg!.message).toMatchObject({ title: '交通违法缴款通知', data: { thing1: '闽D***Q9', thing2: '仙岳路往机场方向高架', amount4: '150.00元', character_string5: '350203202611220417' } });
      const url = new URL(String(msg!.message.url));
      expect(url.pathname).toBe(`/h5/pay/bills/${bill!.id}`);
      expect(bill).toMatchObject({ openid, amountFen: 15000, status: 'unpaid', description: '闽D***Q9 交通违法罚款（决定书 350203202611220417）' });

      // Tap 1: open the message. The pay page shows what, how much, to whom.
      let taps = 1;
      const page = await v.get(url.pathname);
      expect(page.status).toBe(200);
      expect(page.text).toContain('150.00');
      expect(page.text).toContain('厦门市公安局交通警察支队（演示）');
      expect(page.text).toContain('交通违法罚款');
      expect(page.text).not.toContain('7K2Q9'); // the plate stays masked on the page

      // Tap 2: 去支付 (the JSON the page's script asks for).
      taps++;
      const checkout = await v.post(`${url.pathname}/checkout`, { _csrf: v.csrf(page.text) }, { accept: 'application/json' });
      expect(checkout.status).toBe(200);
      const params = (JSON.parse(checkout.text) as { params: Record<string, string> }).params;
      expect(params.package).toMatch(/^prepay_id=wx/);

      // Tap 3: confirm on WeChat's pay sheet. WeChat Pay delivers its notification twice.
      taps++;
      a.emulator!.pay.injectNotifyFault('duplicate');
      expect(a.emulator!.pay.confirm(openid, params, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
      await a.emulator!.pay.flush();
      expect(taps).toBeLessThanOrEqual(3);

      // Paid exactly once.
      const [paid] = await bills();
      expect(paid!.status).toBe('paid');
      expect(await a.db.getRepository(PayOrderEntity).countBy({ billId: paid!.id })).toBe(1);
      // Both copies of the notification were acknowledged (neither is sent again); only one applied.
      expect(a.emulator!.pay.deliveries.map((d) => d.answers)).toEqual([[204], [204]]);
      const receipt = await v.get(`${url.pathname}/receipt`);
      expect(receipt.text).toContain('缴费成功');

      // The department's system: first busy (500), then acknowledges; exactly one acknowledged, signed bill.paid.
      dept.answers.push(500);
      await a.jobs.runDue();
      expect(dept.got).toHaveLength(1);
      a.clock.advance(15_000);
      await a.jobs.runDue();
      expect(dept.got).toHaveLength(2);
      for (const r of dept.got) {
        expect(r.headers['x-weiban-system']).toBe('tms');
        expect(signatureMatches(TMS_KEY, String(r.headers['x-weiban-timestamp']), r.body, String(r.headers['x-weiban-signature']))).toBe(true);
        expect(JSON.parse(r.body)).toMatchObject({ type: 'bill.paid', idempotency_key: 'TMS-VIO-2026-0417', reference: '350203202611220417', bill_id: String(paid!.id), amount_fen: 15000 });
      }
      // Nothing more, ever: not after an hour, not after a second notification or a replayed event.
      a.clock.advance(3_600_000);
      await a.emulator!.pay.flush();
      expect((await postEvent(a, body, Math.floor(a.clock.now() / 1000))).body.status).toBe('duplicate');
      await a.jobs.runDue();
      expect(dept.got).toHaveLength(2);
      expect(await a.db.getRepository(BillEntity).count()).toBe(1);
      expect(pushes(a, openid)).toHaveLength(1);
      const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: accepted.body.id });
      expect(row.detail).toBe(`paid, department notified (bill ${paid!.id})`);
      // Simulated time from the event to the department's acknowledgement: the one 15 s retry, nothing else.
      expect(a.clock.now() - t0 - 3_600_000).toBe(15_000);
      // The citizen also got the receipt message in chat.
      expect(a.emulator!.platform.inbox(openid).some((i) => JSON.stringify(i).includes('缴费成功'))).toBe(true);
    } finally {
      await dept.close();
    }
  });

  it.skipIf(!HAVE_CHROMIUM)(`the pushed fine's pay page at 375 px in Chromium${SKIP_REASON}`, async () => {
    const a = await startApp({ profileFile: TRAFFIC });
    const openid = 'o_xm_driver_lin';
    await boundDriver(a, openid, '闽D12345', 'A1B2C3');
    expect((await postEvent(a, violation('TMS-VIO-SHOT-1', '闽D12345'))).status).toBe(202);
    await a.jobs.runDue();
    const url = new URL(String(pushes(a, openid)[0]!.message.url));
    const browser = await launch();
    try {
      const ctx = await browser.newContext({ viewport: { width: 375, height: 812 }, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
      await ctx.addCookies([{ name: 'emu_openid', value: openid, url: `http://localhost:${a.port}` }]);
      const page = await ctx.newPage();
      await page.goto(`http://localhost:${a.port}${url.pathname}`);
      await page.locator('[data-pay-button]').waitFor({ timeout: 15_000 });
      expect(await page.locator('body').textContent()).toContain('150.00');
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, 'fine-pay-page-375.png');
    } finally {
      await browser.close();
    }
  }, 30_000);
});
