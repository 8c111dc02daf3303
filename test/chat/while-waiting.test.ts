import { describe, expect, it } from 'vitest';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import { MessageEntity } from '../../src/chat/log.ts';
import { appsClosedAfterEach, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { textOf } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();

async function account(opts: TestAppOptions = {}) {
  const a = await startApp(opts);
  const say = async (openid: string, content: string) => {
    a.clock.advance(1_000);
    return textOf((await a.emulator!.act(openid, { type: 'text', content })).reply);
  };
  const tap = async (openid: string, key: string) => {
    a.clock.advance(1_000); // a tap in another second: a new event, not WeChat's retry
    return textOf((await a.emulator!.act(openid, { type: 'click', key })).reply);
  };
  return { a, say, tap };
}

/** A numbered line the citizen could answer with a digit ("回复 1", "1. …"). */
const NUMBERED = /回复 \d|^\s*\d+[.、．]/m;

async function apply(a: TestApp, openid: string, kind: string) {
  return a.cases.submit(openid, 'residence-permit', { name: '王秀英', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号', kind }, [
    { fieldId: 'photo', fileName: 'photo.jpg', data: JPEG },
    { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
  ]);
}

describe('while staff have the conversation, the citizen\'s own bills and cases are still answered', () => {
  it('缴费 / 我的缴费 / 我要缴费 give the unpaid bills as links to pay, without numbers; a number typed next goes to staff', async () => {
    const { a, say } = await account();
    const o = 'o_waiting_payer_01';
    await a.emulator!.act(o, { type: 'subscribe' });
    const bill = await a.bills.issue({ openid: o, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'WAIT-1' }, department: 'service-centre' });
    const fee = await a.bills.issue({ openid: o, amountFen: 4_000, description: '居民身份证补领工本费', pays: { kind: 'event', ref: 'WAIT-2' }, department: 'service-centre' });
    expect(await say(o, '我要问下罚款的事，转人工')).toContain('已经转给工作人员');
    for (const said of ['缴费', '我的缴费', '我要缴费', '怎么交费啊', '交罚款']) {
      const r = await say(o, said);
      expect(r, said).toContain(`/h5/pay/bills/${bill.id}">交通违法罚款 200.00 元</a>`);
      expect(r, said).toContain(`/h5/pay/bills/${fee.id}">居民身份证补领工本费 40.00 元</a>`);
      expect(r, said).not.toMatch(NUMBERED);
      expect(r, said).not.toContain(a.profile.handoff.texts.found_while_waiting); // not search results
    }
    // The first answer carried the acknowledgement with it; the citizen is still with staff.
    expect(await say(o, '1')).toBe('');
    const h = await a.db.getRepository(HandoffEntity).findOneByOrFail({ openid: o });
    expect(h.status).toBe('open');
    await a.conversationLog.flush();
    expect(await a.db.getRepository(MessageEntity).countBy({ openid: o, direction: 'in', content: '1' })).toBe(1);
    // Nothing left to pay: said so, still without a dialog.
    await a.bills.closeIfUnpaid(bill.id, '已在窗口缴纳');
    await a.bills.closeIfUnpaid(fee.id, '已在窗口缴纳');
    expect(await say(o, '缴费')).toContain('您现在没有待缴的费用');
  });

  it('a menu entry whose answer is the bills list is answered too; one that opens a list is not', async () => {
    const { a, tap, say } = await account({
      profile: (p) => p.keywords.push({ id: 'pay-tap', match: 'exact', patterns: ['在线缴费'], click_keys: ['pay'], reply: { dialog: 'bills' } }),
    });
    const o = 'o_waiting_payer_02';
    await a.emulator!.act(o, { type: 'subscribe' });
    const bill = await a.bills.issue({ openid: o, amountFen: 5_000, description: '护照工本费', pays: { kind: 'event', ref: 'WAIT-3' }, department: 'service-centre' });
    await say(o, '转人工');
    const tapped = await tap(o, 'pay');
    expect(tapped).toContain(`/h5/pay/bills/${bill.id}">护照工本费 50.00 元</a>`);
    expect(tapped).not.toMatch(NUMBERED);
    expect(await say(o, '在线缴费')).toContain(`/h5/pay/bills/${bill.id}`);
    // 我的办事 is a numbered list: its numbers would go to staff.
    expect(await tap(o, 'mine')).toBe(a.profile.handoff.texts.menu_while_human);
    expect(await say(o, '1')).toBe('');
  });

  it('进度 gives the citizen\'s cases as links (several) or in full (one), with no numbered list and no dialog', async () => {
    const { a, say, tap } = await account();
    const o = 'o_waiting_applicant_01';
    await a.emulator!.act(o, { type: 'subscribe' });
    const first = await apply(a, o, '首次申领');
    await say(o, '转人工');
    const one = await say(o, '我那个居住证办到哪了');
    expect(one).toContain(`【上海市居住证办理】${first.caseNo}`);
    expect(one).toContain(`/h5/cases/${first.id}`);
    const second = await apply(a, o, '年度签注');
    for (const r of [await say(o, '查进度'), await tap(o, 'progress')]) {
      expect(r).toContain(`/h5/cases/${first.id}">`);
      expect(r).toContain(`/h5/cases/${second.id}">`);
      expect(r).toContain(second.caseNo);
      expect(r).not.toMatch(NUMBERED);
    }
    // No dialog was started: "2" is a message to staff, not a choice of case.
    expect(await say(o, '2')).toBe('');
    // A case number (a family member's, with its query code) is information too.
    const byNumber = await say(o, `进度 ${second.caseNo}`);
    expect(byNumber).toContain(`【上海市居住证办理】${second.caseNo}`);
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: o, status: 'open' })).toBe(1);
  });
});
