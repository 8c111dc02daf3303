import { describe, expect, it } from 'vitest';
import type { PhoneReply } from '../../src/emulator/index.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { makeTeam, signedIn } from '../admin/client.ts';

const startApp = appsClosedAfterEach();
const textOf = (r: PhoneReply | null) => (r?.type === 'text' ? r.content : '');

async function paid(a: TestApp, openid: string, ref: string, department: string) {
  a.emulator!.platform.citizen(openid, '市民');
  const bill = await a.bills.issue({ openid, amountFen: 4_000, description: '居民身份证补领工本费 粤B12345', pays: { kind: 'event', ref }, department });
  const c = await a.bills.checkout(openid, bill.id);
  a.emulator!.pay.confirm(openid, c.params!, 'pay');
  await a.emulator!.pay.flush();
  return bill;
}

describe('缴费 in the chat', () => {
  it('lists the unpaid bills with their links, however the citizen asks', async () => {
    const a = await startApp();
    const openid = 'o_chat_payer_01';
    await a.emulator!.act(openid, { type: 'subscribe' });
    expect(textOf((await a.emulator!.act(openid, { type: 'text', content: '缴费' })).reply)).toContain('没有待缴的费用');
    const bill = await a.bills.issue({ openid, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'CHAT-1' }, department: 'service-centre' });
    for (const said of ['缴费', '我要交费', '怎么缴费啊', '交罚款', '我的缴费', ' 缴费！', '有没有要交的钱', '请问在哪缴费呢']) {
      const reply = textOf((await a.emulator!.act(openid, { type: 'text', content: said })).reply);
      expect(reply, said).toContain(`/h5/pay/bills/${bill.id}`);
      expect(reply, said).toContain('交通违法罚款 200.00 元');
    }
    // 社保缴费 is a question about social insurance, not a bill: search answers it.
    expect(textOf((await a.emulator!.act(openid, { type: 'text', content: '社保缴费' })).reply)).not.toContain('/h5/pay/bills/');
  });

  it('a number typed after the list opens that bill, as the list says; 0 leaves it; another number is asked again', async () => {
    const a = await startApp();
    const openid = 'o_chat_payer_02';
    await a.emulator!.act(openid, { type: 'subscribe' });
    const fine = await a.bills.issue({ openid, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'CHAT-2' }, department: 'service-centre' });
    const fee = await a.bills.issue({ openid, amountFen: 4_000, description: '居民身份证补领工本费', pays: { kind: 'event', ref: 'CHAT-3' }, department: 'service-centre' });
    const say = async (content: string) => textOf((await a.emulator!.act(openid, { type: 'text', content })).reply);
    const list = await say('我要缴费');
    expect(list).toContain('回复前面的数字');
    const second = list.split('\n').find((l) => l.startsWith('2. '))!;
    const chosen = second.includes('身份证') ? fee : fine;
    const one = await say('2');
    expect(one).toContain(`/h5/pay/bills/${chosen.id}`);
    expect(one).not.toContain(`/h5/pay/bills/${(chosen === fee ? fine : fee).id}`);
    // The list again, then a number it does not have: the list is shown again, nothing else happens.
    await say('缴费');
    expect(await say('7')).toContain('待缴费用');
    // 0 leaves the list for the home list.
    expect(await say('0')).not.toContain('/h5/pay/bills/');
    // A bill paid meanwhile is not offered by its old number.
    const again = await say('缴费');
    const fineNo = again.split('\n').find((l) => l.includes(`/h5/pay/bills/${fine.id}`))!.slice(0, 1);
    const c = await a.bills.checkout(openid, fine.id);
    a.emulator!.pay.confirm(openid, c.params!, 'pay');
    await a.emulator!.pay.flush();
    const after = await say(fineNo);
    expect(after).not.toContain(`/h5/pay/bills/${fine.id}`);
    expect(after).toContain(`/h5/pay/bills/${fee.id}`); // the list as it is now
  });
});

describe('收费 in the staff panel', () => {
  it('a handler sees the department\'s bills but cannot refund; another department\'s bill does not exist for them; a supervisor refunds; the export masks', async () => {
    const a = await startApp();
    const team = await makeTeam(a);
    const ours = await paid(a, 'o_staff_payer_01', 'STAFF-1', 'service-centre');
    const theirs = await paid(a, 'o_staff_payer_02', 'STAFF-2', 'social-security');

    const handler = await signedIn(a, team.handler);
    const list = await handler.page('/admin/bills?status=paid');
    expect(list.status).toBe(200);
    expect(list.html).toContain(ours.billNo);
    expect(list.html).not.toContain(theirs.billNo);
    expect(list.html).not.toContain('粤B12345'); // the plate in a description is masked
    expect((await handler.page(`/admin/bills/${theirs.id}`)).status).toBe(404);
    const detail = await handler.page(`/admin/bills/${ours.id}`);
    expect(detail.html).not.toContain('原路退款');
    const refused = await handler.post(`/admin/bills/${ours.id}/refund`, { amount: '40', reason: '想退' });
    expect(refused.status).toBe(302);
    expect((await a.bills.get(ours.id))!.status).toBe('paid');
    expect((await handler.get('/admin/bills/export.csv')).status).toBe(403);

    const supervisor = await signedIn(a, team.supervisor);
    await supervisor.page(`/admin/bills/${ours.id}`);
    const tooMuch = await supervisor.post(`/admin/bills/${ours.id}/refund`, { amount: '40.01', reason: '多退一分' });
    expect(tooMuch.status).toBe(302);
    expect((await a.bills.get(ours.id))!.status).toBe('paid');
    await supervisor.post(`/admin/bills/${ours.id}/refund`, { amount: '15.5', reason: '补领改为换领，退差价' });
    expect((await a.bills.get(ours.id))!).toMatchObject({ status: 'partially_refunded', refundedFen: 1_550 });
    const audit = (await a.db.query(`SELECT action, detail FROM audit_log WHERE action = 'bill-refund'`)) as { detail: string }[];
    expect(audit).toHaveLength(1);
    expect(audit[0]!.detail).toContain('15.50');

    const csv = await (await supervisor.get('/admin/bills/export.csv?status=all')).text();
    expect(csv).toContain(ours.billNo);
    expect(csv).not.toContain('o_staff_payer_01');
    expect(csv).not.toContain('粤B12345');
    expect(csv).not.toContain(theirs.billNo);
    const rec = await supervisor.page('/admin/bills/reconcile?date=2026-11-23');
    expect(rec.status).toBe(200);
    expect(rec.html).toContain('2026-11-23 的账目一致');
  });
});
