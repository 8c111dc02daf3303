import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/platform/log.ts';
import { BillEventEntity } from '../src/services/bills/entities.ts';
import { start, type Instance } from '../src/server.ts';
import { WeChatCrypto } from '../src/wechat/crypto.ts';
import { sha1Signature } from '../src/wechat/signature.ts';

const SAME = Number(process.env.BENCH_PAY_SAME ?? 1000);
const DIFFERENT = Number(process.env.BENCH_PAY_DIFFERENT ?? 200);

/** A fresh safe-mode callback request for the demo account (the baseline: the callback's own path). */
function callback(inst: Instance, n: number): { path: string; body: string } {
  const w = inst.profile.wechat;
  const crypto = new WeChatCrypto(w.token, w.aes_key!, w.appid);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(100000 + n);
  const openid = `o_bench_pay_${n % 500}`;
  const xml = `<xml><ToUserName><![CDATA[${w.original_id}]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[谢谢]]></Content><MsgId>${8000000000000000 + n}</MsgId></xml>`;
  const enc = crypto.encrypt(xml);
  const q = new URLSearchParams({ signature: sha1Signature(w.token, timestamp, nonce), timestamp, nonce, encrypt_type: 'aes', msg_signature: crypto.sign(timestamp, nonce, enc), openid });
  return { path: `/wechat?${q}`, body: `<xml><ToUserName><![CDATA[${w.original_id}]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>` };
}

async function burst(requests: { path: string; body: string; headers: Record<string, string> }[], url: string): Promise<{ perSecond: number; cpuUs: number; statuses: Record<number, number> }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const statuses = await Promise.all(requests.map((r) => fetch(url + r.path, { method: 'POST', headers: r.headers, body: r.body }).then(async (res) => (await res.arrayBuffer(), res.status))));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const count: Record<number, number> = {};
  for (const s of statuses) count[s] = (count[s] ?? 0) + 1;
  return { perSecond: requests.length / seconds, cpuUs: (cpu.user + cpu.system) / requests.length, statuses: count };
}

/**
 * `npm run bench -- pay`: WeChat Pay notifications under load, against the callback's own path in
 * the same run. 1,000 concurrent deliveries of one notification, then 200 different ones at once;
 * every bill must end paid exactly once. Server and client share this process, so the CPU figure
 * counts both sides, for the baseline alike.
 */
export async function benchPay(): Promise<void> {
  const inst = await start({
    env: { DATABASE_URL: process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : join(mkdtempSync(join(tmpdir(), 'weiban-bench-pay-')), 'b.sqlite'), REDIS_URL: process.env.REDIS_URL ?? '' },
    port: 0,
    host: '127.0.0.1',
    runJobs: false,
    log: createLogger({ level: 'silent' }),
    ...(process.env.DATABASE_URL?.startsWith('postgres') ? { dbSchema: `bench_pay_${Date.now().toString(36)}` } : {}),
  });
  try {
    const pay = inst.emulator!.pay;
    const mchid = inst.profile.pay.mchid;
    const notifications: { raw: string; billId: number }[] = [];
    for (let i = 0; i <= DIFFERENT; i++) {
      const openid = `o_bench_payer_${i}`;
      inst.emulator!.platform.citizen(openid, `市民${i}`);
      const bill = await inst.bills.issue({ openid, amountFen: 100 + i, description: '交通违法罚款', pays: { kind: 'event', ref: `BENCH-${Date.now()}-${i}` } });
      const c = await inst.bills.checkout(openid, bill.id);
      pay.injectNotifyFault('drop'); // the bench delivers the notification itself
      pay.confirm(openid, c.params!, 'pay');
      const t = JSON.parse(JSON.stringify(pay.orders.get(`${mchid}:${c.order.outTradeNo}`)));
      const resource = { appid: t.appid, mchid: t.mchid, out_trade_no: t.out_trade_no, transaction_id: t.transaction_id, trade_type: 'JSAPI', trade_state: 'SUCCESS', success_time: new Date().toISOString(), payer: { openid }, amount: { total: t.amount, payer_total: t.amount, currency: 'CNY' } };
      notifications.push({ billId: bill.id, raw: JSON.stringify({ id: `EV-${i}`, create_time: new Date().toISOString(), resource_type: 'encrypt-resource', event_type: 'TRANSACTION.SUCCESS', summary: '支付成功', resource: pay.encryptFor(mchid, resource) }) });
    }
    const headers = (raw: string) => ({ 'content-type': 'application/json', ...pay.signAs(mchid, raw) });
    const baseline = await burst(
      Array.from({ length: SAME }, (_, n) => ({ ...callback(inst, n), headers: { 'content-type': 'text/xml' } })),
      inst.url,
    );
    const [first, ...rest] = notifications;
    const same = await burst(Array.from({ length: SAME }, () => ({ path: '/pay/notify', body: first!.raw, headers: headers(first!.raw) })), inst.url);
    const different = await burst(rest.map((n) => ({ path: '/pay/notify', body: n.raw, headers: headers(n.raw) })), inst.url);
    const paidEvents = await inst.db.getRepository(BillEventEntity).findBy({ kind: 'paid' });
    const perBill = new Map<number, number>();
    for (const e of paidEvents) perBill.set(e.billId, (perBill.get(e.billId) ?? 0) + 1);
    const exactlyOnce = notifications.every((n) => perBill.get(n.billId) === 1);
    const fmt = (s: Record<number, number>) => Object.entries(s).map(([k, v]) => `${k}×${v}`).join(' ');
    console.log(`\n## WeChat Pay notifications (${process.env.DATABASE_URL?.startsWith('postgres') ? 'postgres' : 'sqlite'}), against the callback in the same run\n`);
    console.log('| burst | requests | per second | ratio to callback | CPU µs / request (server + client) | answers |');
    console.log('|---|---:|---:|---:|---:|---|');
    console.log(`| callback, safe mode (baseline) | ${SAME} | ${baseline.perSecond.toFixed(0)} | 1.00× | ${baseline.cpuUs.toFixed(0)} | ${fmt(baseline.statuses)} |`);
    console.log(`| one notification, ${SAME} times at once | ${SAME} | ${same.perSecond.toFixed(0)} | ${(same.perSecond / baseline.perSecond).toFixed(2)}× | ${same.cpuUs.toFixed(0)} | ${fmt(same.statuses)} |`);
    console.log(`| ${DIFFERENT} different notifications at once | ${DIFFERENT} | ${different.perSecond.toFixed(0)} | ${(different.perSecond / baseline.perSecond).toFixed(2)}× | ${different.cpuUs.toFixed(0)} | ${fmt(different.statuses)} |`);
    console.log(`\nEvery bill paid exactly once: ${exactlyOnce ? 'yes' : 'NO'} (${notifications.length} bills, ${paidEvents.length} payments recorded)`);
    if (!exactlyOnce) process.exitCode = 1;
  } finally {
    await inst.close();
  }
}
