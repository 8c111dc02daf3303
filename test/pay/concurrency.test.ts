import { describe, expect, it } from 'vitest';
import { BillEventEntity, PayOrderEntity } from '../../src/services/bills/entities.ts';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';

const startApp = appsClosedAfterEach();

describe.each(DB_BACKENDS)('notifications at once, on $label', (backend) => {
  it.skipIf(!available(backend))('100 deliveries of one notification and 10 different ones at once: each bill paid exactly once, one paid order each', async () => {
    const a = await startApp({ db: backend.name });
    const pay = a.emulator!.pay;
    const mchid = a.profile.pay.mchid;
    const made: { billId: number; raw: string }[] = [];
    for (let i = 0; i < 11; i++) {
      const openid = `o_race_payer_${i}`;
      pay.injectNotifyFault('drop');
      a.emulator!.platform.citizen(openid, '市民');
      const bill = await a.bills.issue({ openid, amountFen: 500 + i, description: '罚款', pays: { kind: 'event', ref: `RACE-${i}` } });
      const c = await a.bills.checkout(openid, bill.id);
      pay.confirm(openid, c.params!, 'pay');
      const o = pay.orders.get(`${mchid}:${c.order.outTradeNo}`)!;
      const resource = { appid: o.appid, mchid, out_trade_no: o.out_trade_no, transaction_id: o.transaction_id, trade_type: 'JSAPI', trade_state: 'SUCCESS', success_time: '2026-11-23T10:00:01+08:00', payer: { openid }, amount: { total: o.amount, payer_total: o.amount, currency: 'CNY' } };
      made.push({ billId: bill.id, raw: JSON.stringify({ id: `EV-${i}`, create_time: '2026-11-23T10:00:01+08:00', resource_type: 'encrypt-resource', event_type: 'TRANSACTION.SUCCESS', summary: '支付成功', resource: pay.encryptFor(mchid, resource) }) });
    }
    const send = (raw: string) => fetch(`${a.url}/pay/notify`, { method: 'POST', headers: { 'content-type': 'application/json', ...pay.signAs(mchid, raw) }, body: raw }).then((r) => r.status);
    const statuses = await Promise.all([...Array.from({ length: 100 }, () => send(made[0]!.raw)), ...made.slice(1).map((m) => send(m.raw))]);
    expect(statuses.filter((s) => s !== 204)).toEqual([]);
    for (const m of made) {
      expect((await a.bills.get(m.billId))!.status).toBe('paid');
      expect(await a.db.getRepository(BillEventEntity).countBy({ billId: m.billId, kind: 'paid' })).toBe(1);
      expect(await a.db.getRepository(PayOrderEntity).countBy({ billId: m.billId, status: 'paid' })).toBe(1);
    }
    // One receipt message per bill, however many notifications came.
    const receipts = (await a.jobs.list({ name: 'outbox.send' })).filter((j) => j.uniqueKey?.startsWith('bill-paid:'));
    expect(receipts).toHaveLength(made.length);
  });
});
