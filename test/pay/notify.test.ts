import { describe, expect, it } from 'vitest';
import WxPay from 'wechatpay-node-v3';
import { DEMO_MERCHANT } from '../../src/pay/config.ts';
import { decryptResource, encryptResource, requestMessage, rsaSign } from '../../src/pay/crypto.ts';
import { loadPrivateKey } from '../../src/pay/crypto.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();
const MCHID = '1900000109';

async function paying(a: TestApp, openid: string, ref: string) {
  a.emulator!.platform.citizen(openid, '市民');
  const bill = await a.bills.issue({ openid, amountFen: 4_000, description: '居民身份证补领工本费', pays: { kind: 'event', ref }, department: 'service-centre' });
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  const page = await v.get(`/h5/pay/bills/${bill.id}`);
  const r = await v.post(`/h5/pay/bills/${bill.id}/checkout`, { _csrf: v.csrf(page.text) }, { accept: 'application/json' });
  expect(r.status).toBe(200);
  const order = (await a.bills.orders(bill.id))[0]!;
  return { bill, order };
}

/** A notification body as WeChat Pay sends one, its resource encrypted with the demo APIv3 key. */
function body(a: TestApp, resource: object, o: { eventType?: string } = {}) {
  return JSON.stringify({ id: 'EV-2018-06-08', create_time: '2026-11-23T10:00:00+08:00', resource_type: 'encrypt-resource', event_type: o.eventType ?? 'TRANSACTION.SUCCESS', summary: '支付成功', resource: a.emulator!.pay.encryptFor(MCHID, resource) });
}

function success(a: TestApp, outTradeNo: string, amount = 4_000, mchid = MCHID) {
  return { appid: a.profile.wechat.appid, mchid, out_trade_no: outTradeNo, transaction_id: '4200000000202611230000000001', trade_type: 'JSAPI', trade_state: 'SUCCESS', success_time: '2026-11-23T10:00:05+08:00', payer: { openid: 'o_notify_payer' }, amount: { total: amount, payer_total: amount, currency: 'CNY' } };
}

async function post(a: TestApp, raw: string, headers: Record<string, string>) {
  const res = await fetch(`${a.url}/pay/notify`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  return res.status;
}

describe('forged and broken notifications change nothing', () => {
  it('refuses a bad signature, an unknown serial, a stale timestamp and the sign-test probe; applies only the genuine one', async () => {
    const a = await startApp();
    const { bill, order } = await paying(a, 'o_notify_payer', 'NOTIFY-1');
    const raw = body(a, success(a, order.outTradeNo));
    const good = a.emulator!.pay.signAs(MCHID, raw);

    expect(await post(a, raw, { ...good, 'Wechatpay-Signature': good['Wechatpay-Signature']!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) })).toBe(401);
    expect(await post(a, raw.replace('"summary":"支付成功"', '"summary": "支付成功"'), good)).toBe(401); // the raw bytes are what was signed: re-serialised JSON fails
    expect(await post(a, raw, { ...good, 'Wechatpay-Serial': 'PUB_KEY_ID_0000000000FORGED' })).toBe(500); // a retry could succeed once the key is known
    expect(await post(a, raw, { ...good, 'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${good['Wechatpay-Signature']}` })).toBe(401);
    const { 'Wechatpay-Nonce': _n, ...noNonce } = good;
    expect(await post(a, raw, noNonce)).toBe(401);
    a.clock.advance(6 * 60_000);
    expect(await post(a, raw, good)).toBe(401); // more than 5 minutes off
    expect((await a.bills.get(bill.id))!.status).toBe('paying');

    const fresh = a.emulator!.pay.signAs(MCHID, raw);
    expect(await post(a, raw, fresh)).toBe(204);
    expect((await a.bills.get(bill.id))!.status).toBe('paid');
    expect(await post(a, raw, fresh)).toBe(204); // a repeat: answered, applied once
    expect((await a.bills.timeline(bill.id)).filter((e) => e.kind === 'paid')).toHaveLength(1);
  });

  it('a tampered ciphertext fails the GCM tag even when the body is signed; wrong amounts, unknown orders and other merchants are not applied', async () => {
    const a = await startApp();
    const { bill, order } = await paying(a, 'o_notify_payer', 'NOTIFY-2');
    const parsed = JSON.parse(body(a, success(a, order.outTradeNo)));
    const ct = Buffer.from(parsed.resource.ciphertext, 'base64');
    ct[10] = ct[10]! ^ 0x01;
    parsed.resource.ciphertext = ct.toString('base64');
    const tampered = JSON.stringify(parsed);
    expect(await post(a, tampered, a.emulator!.pay.signAs(MCHID, tampered))).toBe(500);

    const wrongAmount = body(a, success(a, order.outTradeNo, 1));
    expect(await post(a, wrongAmount, a.emulator!.pay.signAs(MCHID, wrongAmount))).toBe(204); // a retry could not help: staff are alerted
    const unknown = body(a, success(a, 'JF20261123999999N1'));
    expect(await post(a, unknown, a.emulator!.pay.signAs(MCHID, unknown))).toBe(204);
    const otherMerchant = body(a, success(a, order.outTradeNo, 4_000, '1900000999'));
    expect(await post(a, otherMerchant, a.emulator!.pay.signAs(MCHID, otherMerchant))).toBe(204);
    const notJson = '{"resource": ';
    expect(await post(a, notJson, a.emulator!.pay.signAs(MCHID, notJson))).toBe(400);
    expect(await post(a, 'x'.repeat(70_000), {})).toBe(413);

    expect((await a.bills.get(bill.id))!.status).toBe('paying');
    expect((await a.bills.orders(bill.id))[0]!.status).toBe('open');
  });
});

describe('the crypto', () => {
  it('GCM: a changed byte, nonce or associated data never decrypts; the round trip holds', () => {
    const key = DEMO_MERCHANT.apiV3Key;
    const r = encryptResource('{"amount":{"total":4000}}', key, 'transaction', 'abcdef123456');
    expect(decryptResource(r, key)).toBe('{"amount":{"total":4000}}');
    const flip = Buffer.from(r.ciphertext, 'base64');
    flip[3] = flip[3]! ^ 0x80;
    expect(() => decryptResource({ ...r, ciphertext: flip.toString('base64') }, key)).toThrow(/tag/);
    expect(() => decryptResource({ ...r, nonce: 'abcdef123457' }, key)).toThrow(/tag/);
    expect(() => decryptResource({ ...r, associated_data: 'refund' }, key)).toThrow(/tag/);
    expect(() => decryptResource({ ...r, ciphertext: r.ciphertext.slice(0, 8) }, key)).toThrow();
    expect(() => decryptResource(r, 'short')).toThrow(/32/);
  });

  it("wechatpay-node-v3's decrypt accepts the same tampered ciphertext (why weiban decrypts itself)", () => {
    const key = DEMO_MERCHANT.apiV3Key;
    const r = encryptResource('{"amount":{"total":4000}}', key, 'transaction', 'abcdef123456');
    const flip = Buffer.from(r.ciphertext, 'base64');
    flip[20] = flip[20]! ^ 0x01; // "4000" → another digit
    const lib = new WxPay({ appid: 'wxd0e0000000000001', mchid: MCHID, serial_no: DEMO_MERCHANT.serial, publicKey: Buffer.from('x'), privateKey: Buffer.from(DEMO_MERCHANT.privateKeyPem()) });
    let libResult: unknown = null;
    try {
      libResult = lib.decipher_gcm(flip.toString('base64'), 'transaction', 'abcdef123456', key);
    } catch (err) {
      libResult = err;
    }
    expect(libResult).not.toBeInstanceOf(Error);
    expect(() => decryptResource({ ...r, ciphertext: flip.toString('base64') }, key)).toThrow(/tag/);
  });

  it("the request signature is the library's, byte for byte, over METHOD\\nPATH\\nTS\\nNONCE\\nBODY\\n", () => {
    const pem = DEMO_MERCHANT.privateKeyPem();
    const lib = new WxPay({ appid: 'wxd0e0000000000001', mchid: MCHID, serial_no: DEMO_MERCHANT.serial, publicKey: Buffer.from('x'), privateKey: Buffer.from(pem) });
    const bodyText = JSON.stringify({ mchid: MCHID });
    expect(lib.getSignature('POST', 'NONCE1', '1763863200', '/v3/pay/transactions/out-trade-no/X1/close', bodyText)).toBe(rsaSign(requestMessage('POST', '/v3/pay/transactions/out-trade-no/X1/close', '1763863200', 'NONCE1', bodyText), loadPrivateKey(pem)));
    expect(lib.getSignature('GET', 'NONCE2', '1763863200', '/v3/certificates')).toBe(rsaSign(requestMessage('GET', '/v3/certificates', '1763863200', 'NONCE2', ''), loadPrivateKey(pem)));
  });
});
