import { describe, expect, it } from 'vitest';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { choices, textOf } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();

async function account() {
  const a = await startApp();
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

type WireButton = { name: string; key?: string; sub_button?: WireButton[] };
const synced = (a: TestApp) => a.emulator!.platform.menu as WireButton[];

describe('办政事 › 我的办事 in the custom menu', () => {
  it('takes 进度查询\'s place: five sub-buttons still, and the self-check\'s menu point passes', async () => {
    const { a } = await account();
    const banshi = synced(a).find((b) => b.name === '办政事')!;
    expect(banshi.sub_button!.map((b) => b.name)).toEqual(['办事指南', '预约办事', '网上申请', '我的办事', '附近大厅']);
    expect(banshi.sub_button!.find((b) => b.name === '我的办事')!.key).toBe('mine');
    const ops = a.capabilities.find((c) => c.name === 'ops') as OpsCapability;
    const menu = (await ops.selfCheck()).find((r) => r.id === 'menu')!;
    expect(menu.verdict, menu.details.join('; ')).toBe('pass');
  });

  it('opens 查办件进度 / 我的缴费 / 我的预约, each answered where it always was', async () => {
    const { a, say, tap } = await account();
    const o = 'o_my_matters_01';
    await a.emulator!.act(o, { type: 'subscribe' });
    const bill = await a.bills.issue({ openid: o, amountFen: 20_000, description: '交通违法罚款', pays: { kind: 'event', ref: 'MINE-1' }, department: 'service-centre' });
    const c = await a.cases.submit(o, 'residence-permit', { name: '王秀英', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号', kind: '首次申领' }, [
      { fieldId: 'photo', fileName: 'photo.jpg', data: JPEG },
      { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
    ]);
    const list = await tap(o, 'mine');
    expect(choices(list)).toEqual(['查办件进度', '我的缴费', '我的预约']);
    expect(await say(o, '2')).toContain(`/h5/pay/bills/${bill.id}">交通违法罚款 200.00 元</a>`);
    await tap(o, 'mine');
    expect(await say(o, '1')).toContain(`【上海市居住证办理】${c.caseNo}`);
    await tap(o, 'mine');
    expect(await say(o, '3')).toContain('您现在没有待办的预约');
    // Typed as the button reads, it does what the button does.
    expect(choices(await say(o, '我的办事'))).toEqual(['查办件进度', '我的缴费', '我的预约']);
    // A phone still showing last month's menu: its 进度查询 tap still answers.
    expect(await tap(o, 'progress')).toContain(`【上海市居住证办理】${c.caseNo}`);
  });

  it('every "点菜单…" path in the profile\'s texts names buttons the menu has', async () => {
    const { a } = await account();
    const texts = [...a.profile.faq.map((f) => f.answer), ...a.profile.keywords.flatMap((k) => (k.reply.text ? [k.reply.text] : [])), a.profile.conversation.welcome.text, a.profile.replies.default];
    const paths = texts.flatMap((t) => [...t.matchAll(/菜单[“"「]([^”"」]+)[”"」]\s*→\s*[“"「]([^”"」]+)[”"」](?:\s*→\s*[“"「]([^”"」]+)[”"」])?/g)]);
    expect(paths.length).toBeGreaterThan(0);
    const menu = a.profile.menu!.buttons;
    for (const [said, top, sub, line] of paths) {
      const group = menu.find((b) => b.name === top);
      expect(group && 'sub_button' in group ? group.sub_button.map((s) => s.name) : [], said).toContain(sub);
      if (line) {
        await a.emulator!.act('o_menu_path', { type: 'subscribe' });
        const key = (group as { sub_button: { name: string; key?: string }[] }).sub_button.find((s) => s.name === sub)!.key!;
        a.clock.advance(1_000);
        expect(choices(textOf((await a.emulator!.act('o_menu_path', { type: 'click', key })).reply)), said).toContain(line);
      }
    }
  });
});
