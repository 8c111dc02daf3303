import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.ts';
import { PayClient } from '../../src/pay/client.ts';
import { DEMO_MERCHANT, paySchema, resolvePay, PayConfigError } from '../../src/pay/config.ts';
import { nonce, requestMessage, rsaSign } from '../../src/pay/crypto.ts';
import { createLogger } from '../../src/platform/log.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const startApp = appsClosedAfterEach();
const log = createLogger({ level: 'silent' });
const outside = () => mkdtempSync(join(tmpdir(), 'weiban-pay-'));
const base = { appid: 'wxd0e0000000000001', publicUrl: 'https://gov.example.cn', emulatorUrl: 'http://127.0.0.1:1/emulator/pay', repoRoot: PROJECT_ROOT };

async function paidBill(a: TestApp, openid: string, ref: string, amountFen = 12_000) {
  a.emulator!.platform.citizen(openid, '市民');
  const bill = await a.bills.issue({ openid, amountFen, description: '普通护照办理费', pays: { kind: 'event', ref }, department: 'service-centre' });
  const c = await a.bills.checkout(openid, bill.id, 'JSAPI');
  expect(a.emulator!.pay.confirm(openid, c.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
  await a.emulator!.pay.flush();
  return (await a.bills.get(bill.id))!;
}

describe('the merchant settings', () => {
  it('a key that cannot sign, a short APIv3 key and a missing public key stop the start, each named by its field', () => {
    const dir = outside();
    writeFileSync(join(dir, 'bad.pem'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    const p = paySchema.parse({ enabled: true, base_url: 'https://api.mch.weixin.qq.com', mchid: '1230000109', merchant_serial: 'ABCDEF0123456789', verify: { mode: 'public_key', public_key_id: 'PUB_KEY_ID_0112345678901234' } });
    let err: unknown;
    try {
      resolvePay(p, { ...base, env: { WECHATPAY_PRIVATE_KEY_FILE: join(dir, 'bad.pem'), WECHATPAY_APIV3_KEY: 'too-short' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PayConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/pay\.private_key: expected a PEM RSA private key that can sign/);
    expect(msg).toMatch(/pay\.apiv3_key: expected 32 characters/);
    expect(msg).toMatch(/pay\.verify\.public_key: expected the WeChat Pay public key/);
  });

  it("the emulator's demo keys with a live base URL are refused; a key file inside the repository too", () => {
    const p = paySchema.parse({ enabled: true, base_url: 'https://api.mch.weixin.qq.com', mchid: '1230000109', merchant_serial: 'ABCDEF0123456789' });
    expect(() => resolvePay(p, { ...base, env: { WECHATPAY_PRIVATE_KEY: DEMO_MERCHANT.privateKeyPem(), WECHATPAY_APIV3_KEY: DEMO_MERCHANT.apiV3Key } })).toThrow(/pay\.base_url: the emulator's demo merchant key cannot be used with a live base URL/);
    expect(() => resolvePay(p, { ...base, env: { WECHATPAY_PRIVATE_KEY_FILE: join(PROJECT_ROOT, 'src/emulator/pay-demo/merchant-key.pem') } })).toThrow(/pay\.private_key \(WECHATPAY_PRIVATE_KEY_FILE\): expected a file outside the repository/);
  });

  it("an emulator in another process on this machine: its loopback URL with the demo merchant only; anything else is still a live URL", () => {
    const at = (base_url: string) => paySchema.parse({ enabled: true, base_url });
    const s = resolvePay(at('http://127.0.0.1:4100/emulator/pay'), { ...base, env: {} });
    expect(s).toMatchObject({ baseUrl: 'http://127.0.0.1:4100/emulator/pay', emulated: true, serial: DEMO_MERCHANT.serial, apiV3Key: DEMO_MERCHANT.apiV3Key, verify: { mode: 'public_key', fromEmulator: true } });
    expect(resolvePay(at('http://localhost:4100/emulator/pay/'), { ...base, env: {} }).baseUrl).toBe('http://localhost:4100/emulator/pay');
    // A real merchant's keys never go with an emulator's URL.
    const mine = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => resolvePay(at('http://127.0.0.1:4100/emulator/pay'), { ...base, env: { WECHATPAY_PRIVATE_KEY: mine } })).toThrow(/pay\.base_url: an emulator's URL \(http:\/\/127\.0\.0\.1:4100\/emulator\/pay\) takes only the emulator's demo merchant key/);
    expect(() => resolvePay(at('http://127.0.0.1:4100/emulator/pay'), { ...base, env: { WECHATPAY_APIV3_KEY: 'B'.repeat(32) } })).toThrow(/takes only the emulator's demo APIv3 key/);
    expect(() => resolvePay(paySchema.parse({ enabled: true, base_url: 'http://127.0.0.1:4100/emulator/pay', merchant_serial: 'ABCDEF0123456789' }), { ...base, env: {} })).toThrow(/pay\.merchant_serial: an emulator's URL/);
    // Not on this machine, or not the emulator's path: a live URL, so the demo keys are refused (and http too).
    for (const url of ['http://gov.example.cn/emulator/pay', 'https://api.mch.weixin.qq.com/emulator/pay', 'http://127.0.0.1:4100/v3', 'http://127.0.0.1.example.cn/emulator/pay']) {
      expect(() => resolvePay(at(url), { ...base, env: { WECHATPAY_PRIVATE_KEY: DEMO_MERCHANT.privateKeyPem(), WECHATPAY_APIV3_KEY: DEMO_MERCHANT.apiV3Key } }), url).toThrow(/the emulator's demo merchant key cannot be used with a live base URL/);
    }
  });

  it('a live merchant with its own keys from files outside the repository is accepted', () => {
    const dir = outside();
    const mine = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const wx = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'apiclient_key.pem'), mine.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'pub_key.pem'), wx.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'apiv3.txt'), 'A'.repeat(32) + '\n');
    const p = paySchema.parse({ enabled: true, mchid: '1230000109', merchant_serial: 'abcdef0123456789', verify: { mode: 'public_key', public_key_id: 'PUB_KEY_ID_0112345678901234' } });
    const s = resolvePay(p, { ...base, env: { WECHATPAY_PRIVATE_KEY_FILE: join(dir, 'apiclient_key.pem'), WECHATPAY_APIV3_KEY_FILE: join(dir, 'apiv3.txt'), WECHATPAY_PUBLIC_KEY_FILE: join(dir, 'pub_key.pem') } });
    expect(s.baseUrl).toBe('https://api.mch.weixin.qq.com');
    expect(s.serial).toBe('ABCDEF0123456789');
    expect(s.notifyUrl).toBe('https://gov.example.cn/pay/notify');
    expect(s.verify.mode).toBe('public_key');
  });

  it('a live pay profile without merchant keys in the environment does not start, naming the field', async () => {
    await expect(startApp({ profile: (p) => (p.pay.base_url = 'https://api.mch.weixin.qq.com') })).rejects.toThrow(/pay\.private_key: expected the merchant private key/);
  });

  it('the profile refuses pay.base_url: emulator without the emulator', async () => {
    await expect(startApp({ profile: (p) => { p.emulator.enabled = false; p.wechat.api_base_url = 'https://api.weixin.qq.com'; p.wechat.oauth_base_url = 'https://open.weixin.qq.com'; } })).rejects.toThrow(/pay\.base_url/);
  });
});

describe('the emulated WeChat Pay', () => {
  it('answers 401 SIGN_ERROR to a request signed with another key, a stale timestamp or another serial', async () => {
    const a = await startApp();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const path = '/v3/pay/transactions/out-trade-no/JF1N1?mchid=1900000109';
    const call = async (key: typeof other | string, o: { ts?: number; serial?: string } = {}) => {
      const ts = String(Math.floor((o.ts ?? a.clock.now()) / 1000));
      const n = nonce();
      const sig = rsaSign(requestMessage('GET', path, ts, n, ''), key);
      const res = await fetch(`${a.url}/emulator/pay${path}`, { headers: { Authorization: `WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="${n}",signature="${sig}",timestamp="${ts}",serial_no="${o.serial ?? DEMO_MERCHANT.serial}"` } });
      return { status: res.status, body: (await res.json()) as { code: string } };
    };
    expect(await call(other)).toEqual({ status: 401, body: expect.objectContaining({ code: 'SIGN_ERROR' }) });
    expect((await call(DEMO_MERCHANT.privateKeyPem(), { ts: a.clock.now() - 10 * 60_000 })).status).toBe(401);
    expect((await call(DEMO_MERCHANT.privateKeyPem(), { serial: 'DEADBEEF' })).status).toBe(401);
    expect(await call(DEMO_MERCHANT.privateKeyPem())).toEqual({ status: 404, body: expect.objectContaining({ code: 'ORDER_NOT_EXIST' }) });
    const unsigned = await fetch(`${a.url}/emulator/pay/v3/pay/transactions/jsapi`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(401);
  });

  it('refuses a paySign made with another key, and a payer who is not the order’s', async () => {
    const a = await startApp();
    a.emulator!.platform.citizen('o_paysign_01', '市民');
    const bill = await a.bills.issue({ openid: 'o_paysign_01', amountFen: 100, description: '测试', pays: { kind: 'event', ref: 'PAYSIGN-1' } });
    const c = await a.bills.checkout('o_paysign_01', bill.id);
    const forged = { ...c.params!, paySign: rsaSign('x', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey) };
    expect(a.emulator!.pay.confirm('o_paysign_01', forged, 'pay').detail).toContain('签名');
    expect(a.emulator!.pay.confirm('o_someone_else', c.params!, 'pay').detail).toContain('不一致');
    expect((await a.bills.get(bill.id))!.status).toBe('paying');
  });

  it('platform-certificate mode: the client downloads and decrypts the certificate, and every answer and notification verifies', async () => {
    const a = await startApp({ profile: (p) => (p.pay.verify = { mode: 'certificates' }) });
    const bill = await paidBill(a, 'o_cert_mode_01', 'CERT-1');
    expect(bill.status).toBe('paid');
    const d = a.emulator!.pay.deliveries.at(-1)!;
    expect(d.answers).toEqual([204]);
    expect(a.emulator!.pay.certificatePem).toMatch(/BEGIN CERTIFICATE/);
  });

  it('a response not signed by WeChat Pay is not believed', async () => {
    const a = await startApp();
    const s = resolvePay(a.profile.pay, { env: {}, appid: a.profile.wechat.appid, publicUrl: a.url, emulatorUrl: `${a.url}/emulator/pay`, repoRoot: PROJECT_ROOT });
    // Aim the client at a server that answers like WeChat Pay but without its key.
    const fake = await import('node:http').then(({ createServer }) => createServer((_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json', 'Wechatpay-Timestamp': String(Math.floor(a.clock.now() / 1000)), 'Wechatpay-Nonce': 'N', 'Wechatpay-Signature': 'AAAA', 'Wechatpay-Serial': a.emulator!.pay.publicKeyId });
      r.end('{"trade_state":"SUCCESS"}');
    }));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (fake.address() as { port: number }).port;
      const client = new PayClient({ ...s, baseUrl: `http://127.0.0.1:${port}` }, a.clock, log);
      // The emulator's public key is what the fake does not have.
      (client as any).emulatorKey = { id: a.emulator!.pay.publicKeyId, key: a.emulator!.pay.publicKey };
      await expect(client.query('JF20261123000001N1')).rejects.toThrow(/not signed by WeChat Pay/);
    } finally {
      fake.close();
    }
  });
});

describe('refunds and reconciliation', () => {
  it('refunds in parts up to what was paid, never more; the trade bill matches the local orders', async () => {
    const a = await startApp();
    const bill = await paidBill(a, 'o_refund_01', 'REFUND-1');
    const r1 = await a.bills.refund({ billId: bill.id, amountFen: 2_000, reason: '材料不全，退部分费用', staff: null });
    expect(r1.status).toBe('success');
    expect((await a.bills.get(bill.id))!).toMatchObject({ status: 'partially_refunded', refundedFen: 2_000 });
    await expect(a.bills.refund({ billId: bill.id, amountFen: 10_001, reason: '多退', staff: null })).rejects.toThrow(/最多还能退 100.00 元/);
    await expect(a.bills.refund({ billId: bill.id, amountFen: 100, reason: '', staff: null })).rejects.toThrow(/原因/);
    await a.emulator!.pay.flush(); // the refund's own notification: applied already, changes nothing
    const r2 = await a.bills.refund({ billId: bill.id, amountFen: 10_000, reason: '不予受理，全部退还', staff: null });
    expect(r2.status).toBe('success');
    expect((await a.bills.get(bill.id))!).toMatchObject({ status: 'refunded', refundedFen: 12_000 });
    await expect(a.bills.refund({ billId: bill.id, amountFen: 1, reason: '再退', staff: null })).rejects.toThrow();

    const other = await paidBill(a, 'o_refund_02', 'REFUND-2', 4_000);
    void other;
    const rec = await a.bills.reconcile('2026-11-23');
    expect(rec.remote).toEqual({ payments: 2, refunds: 2, paidFen: 16_000, refundedFen: 12_000 });
    expect(rec.local).toEqual(rec.remote);
    expect(rec.differences).toEqual([]);

    // A payment WeChat Pay has and we do not (a lost row): listed.
    await a.db.query(`UPDATE pay_orders SET status = 'closed' WHERE bill_id = ${other.id}`);
    const rec2 = await a.bills.reconcile('2026-11-23');
    expect(rec2.differences).toEqual([expect.objectContaining({ kind: '微信有、本地无' })]);
  });
});

describe('the daily reconciliation', () => {
  it('runs at 10:05 China time for the day before and alerts the administrators when WeChat Pay and the orders differ', async () => {
    const a = await startApp();
    await a.accounts.create({ username: 'admin', name: '管理员', role: 'admin', department: null, password: 'correct horse battery staple 2026', mustChangePassword: false });
    const bill = await paidBill(a, 'o_recon_01', 'RECON-1');
    // A payment WeChat Pay has and we lost.
    await a.db.query(`UPDATE pay_orders SET status = 'closed' WHERE bill_id = ${bill.id}`);
    a.clock.set(Date.UTC(2026, 10, 24, 2, 6)); // the 24th, 10:06 China time
    await a.jobs.runDue();
    const alerts = (await a.db.query(`SELECT title, link FROM staff_alerts`)) as { title: string; link: string }[];
    // The 22nd (nothing paid: no differences, no alert) and the 23rd, no day skipped.
    expect((await a.jobs.list({ name: 'bills.reconcile', status: 'done' })).map((j) => j.uniqueKey)).toEqual(['bills-reconcile:2026-11-22', 'bills-reconcile:2026-11-23']);
    expect(alerts).toEqual([expect.objectContaining({ title: '对账：2026-11-23 微信支付账单与本地记录有 1 处差异', link: '/admin/bills/reconcile?date=2026-11-23' })]);
    expect((await a.jobs.list({ name: 'bills.reconcile', status: 'pending' })).map((j) => j.uniqueKey)).toEqual(['bills-reconcile:2026-11-24']);
  });
});
