import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlertEntity } from '../../src/alerts/index.ts';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import type { CitizenAction } from '../../src/emulator/citizen.ts';
import type { PhoneReply } from '../../src/emulator/index.ts';
import { loadProfile } from '../../src/profile/load.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { validId } from '../helpers/files.ts';
import { cst } from '../helpers/chat.ts';

/**
 * The research's accounts as example profiles (profiles/): each starts with no code of its own,
 * its signature flow is chatted through the emulator, and nothing of the demo department leaks
 * into what its citizens read — not in chat, not in pushes, not on its pages.
 */

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles');
const startApp = appsClosedAfterEach();

/** What only the demo department says: its place, its centre, its services, its app. */
const DEMO = [/示范区/, /天山路/, /社保/, /行政服务中心/, /随申办/, /021-6000/, /外地来沪/, /居住证/, /敬老卡/];

function textOf(r: PhoneReply | null): string {
  if (!r) return '';
  if (r.type === 'text') return r.content;
  if (r.type === 'news') return `${r.article.title}\n${r.article.description}`;
  return `[${r.type}]`;
}

/** A citizen on the emulator's phone, and everything the account showed them. */
function citizen(a: TestApp, openid: string) {
  let following = false;
  return {
    async act(action: CitizenAction): Promise<string> {
      if (!following && action.type !== 'subscribe') {
        following = true;
        await a.emulator!.act(openid, { type: 'subscribe' });
      }
      if (action.type === 'subscribe') following = true;
      return textOf((await a.emulator!.act(openid, action)).reply);
    },
    say(content: string) {
      return this.act({ type: 'text', content });
    },
    /** Every message the account sent this citizen (passive replies, custom messages, templates). */
    seen(): string {
      return a
        .emulator!.platform.inbox(openid)
        .filter((i) => i.channel !== 'citizen')
        .map((i) => JSON.stringify(i.message))
        .join('\n');
    },
  };
}

async function pages(a: TestApp, paths: string[]): Promise<string> {
  let all = '';
  for (const p of paths) {
    const res = await fetch(`${a.url}${p}`);
    expect(res.status, p).toBe(200);
    all += await res.text();
  }
  return all;
}

function noDemo(text: string, also: RegExp[] = []): void {
  for (const re of [...DEMO, ...also]) expect(text, `leaked ${re}`).not.toMatch(re);
}

async function handoff(a: TestApp, openid: string) {
  // The latest: a report the citizen left (结束人工) unanswered stays open for staff beside it.
  return a.db.getRepository(HandoffEntity).findOneOrFail({ where: { openid, status: 'open' }, order: { id: 'DESC' } });
}

describe('example profiles', () => {
  it('ships the four research accounts, each a valid profile', () => {
    const names = readdirSync(PROFILES).filter((n) => !n.startsWith('.') && n !== 'README.md');
    expect(names.sort()).toEqual(['hospital', 'shanghai-library', 'weiyang-police', 'xiamen-traffic']);
    for (const n of names) expect(loadProfile(join(PROFILES, n, 'profile.yaml'), {}).profile.emulator.enabled).toBe(true);
  });

  it('Xiamen traffic police: reply 1–6, a congestion report by location, a move-car request, an urgent report alerting the duty officers', async () => {
    const a = await startApp({ profileFile: join(PROFILES, 'xiamen-traffic', 'profile.yaml') });
    await a.accounts.create({ username: 'zhiban.lin', name: '林警官', role: 'duty', department: 'command-centre', password: 'a-long-enough-password-1', mustChangePassword: false });
    const lin = citizen(a, 'o_xm_driver_lin');
    const welcome = await lin.act({ type: 'subscribe' });
    const lines = welcome.split('\n').filter((l) => l.startsWith('回复 ')).map((l) => l.replace(/<[^>]+>/g, '').replace(/\s+/g, ' '));
    expect(lines.slice(0, 6)).toEqual(['回复 1 交通拥堵上报', '回复 2 实时路况查询', '回复 3 交通违法查询', '回复 4 自助移车服务', '回复 5 轻微事故处理', '回复 6 预约代驾服务']);
    // 1: the report takes a location, which goes to the command centre (not the nearest halls)
    expect(await lin.say('1')).toContain('哪条路、往哪个方向堵车');
    const reported = await lin.act({ type: 'location', latitude: 24.4798, longitude: 118.0894, label: '湖滨南路与金榜路交叉口' });
    expect(reported).toContain('收到您的拥堵上报');
    expect(reported).toContain('今天 10:30 前'); // 拥堵上报: half an hour, round the clock
    expect(await handoff(a, 'o_xm_driver_lin')).toMatchObject({ category: 'road-report', department: 'command-centre', question: '【位置】湖滨南路与金榜路交叉口（24.47980, 118.08940）' });
    await lin.say('结束人工');
    // 4: move my car, by location too
    expect(await lin.say('4')).toContain('车牌号和所在位置');
    expect(await lin.act({ type: 'location', latitude: 24.49, longitude: 118.12, label: '莲前西路 2 号' })).toContain('正在联系车主');
    expect(await handoff(a, 'o_xm_driver_lin')).toMatchObject({ category: 'move-car', department: 'command-centre' });
    await lin.say('结束人工');
    expect(await lin.say('3')).toContain('交通违法查询和处理');
    expect(await lin.say('5')).toContain('快处快赔');
    expect(await lin.say('6')).toContain('代驾');
    expect(await lin.say('7')).toContain('网上缴纳罚款');
    expect(await lin.say('3')).toContain('暂未开通'); // says plainly what it does not do yet
    // a location outside a report: the nearest traffic police points
    const near = await lin.act({ type: 'location', latitude: 24.478, longitude: 118.094 });
    expect(near.split('\n')[0]).toBe('离您最近的交警服务点：');
    // someone hurt: urgent, to the command centre, its duty officer alerted at once
    const chen = citizen(a, 'o_xm_commuter_chen');
    a.clock.set(cst(2026, 11, 29, 21, 40)); // a Sunday night: the desk is staffed
    const urgent = await chen.say('仙岳路上撞人了，有人受伤躺在地上');
    expect(urgent).toContain('请立即拨打 122 或 120');
    expect(urgent).toContain('今天 21:55 前');
    expect(await handoff(a, 'o_xm_commuter_chen')).toMatchObject({ urgent: true, category: 'urgent', department: 'command-centre' });
    expect(await a.db.getRepository(AlertEntity).countBy({ kind: 'urgent-handoff' })).toBe(1);
    const html = await pages(a, ['/h5/halls', '/h5/halls/dmv-huli', '/h5/guide/traffic-violation', '/h5/guides']);
    expect(html).toContain('附近的交警服务点');
    expect(html).toContain('周一至周六 8:30–12:00、14:30–17:30');
    noDemo(lin.seen() + chen.seen() + html, [/办事大厅/]);
  });

  it('Weiyang police duty desk: every message goes to the duty officers at any hour; a plea for help goes to the command centre as urgent', async () => {
    const a = await startApp({ profileFile: join(PROFILES, 'weiyang-police', 'profile.yaml') });
    const officer = (await a.accounts.create({ username: 'zhihui.zhang', name: '张警官', role: 'duty', department: 'command-centre', password: 'a-long-enough-password-1', mustChangePassword: false })).account;
    a.clock.set(cst(2026, 11, 29, 19, 15)); // Sunday evening
    const wang = citizen(a, 'o_wy_resident_wang');
    await wang.act({ type: 'subscribe' });
    expect(await wang.say('3')).toContain('身份证换领、补领'); // the numbered menu still answers
    expect(await wang.say('身份证')).toContain('居民身份证换领、补领'); // a rule's own word answers
    const msg = await wang.say('楼下的共享单车被人撬了好几辆，晚上还有人在那喝酒闹事');
    expect(msg).toContain('值班民警已收到您的留言，今天 20:15 前回复您'); // not "明天（周一）上午"
    expect(await handoff(a, 'o_wy_resident_wang')).toMatchObject({ department: 'duty-desk', category: 'consultation', urgent: false });
    const du = citizen(a, 'o_wy_student_du');
    const plea = await du.say('我被朋友带去传销了，手机快被收走了，请解救我');
    expect(plea).toContain('请立即拨打 110');
    expect(plea).toContain('今天 19:21 前');
    expect(await handoff(a, 'o_wy_student_du')).toMatchObject({ department: 'command-centre', category: 'urgent', urgent: true, question: '我被朋友带去传销了，手机快被收走了，请解救我' });
    const alerts = await a.db.getRepository(AlertEntity).find();
    expect(alerts.map((x) => [x.staffId, x.urgent])).toEqual([[officer.id, true]]);
    const html = await pages(a, ['/h5/halls', '/h5/guide/id-card']);
    expect(html).toContain('附近的派出所');
    noDemo(wang.seen() + du.seen() + html, [/办事大厅/]);
  });

  it('Shanghai Library: opening hours every day, a visit booked, an event sign-up 确认 and 完成 (not 受理, 办结), a reader card bound on its page and a loan_due push', async () => {
    const a = await startApp({ profileFile: join(PROFILES, 'shanghai-library', 'profile.yaml') });
    a.clock.set(cst(2026, 11, 28, 10)); // a Saturday: the library is open
    const zhou = citizen(a, 'o_lib_reader_zhou');
    await zhou.act({ type: 'subscribe' });
    expect(await zhou.say('开馆时间')).toContain('东馆每天 9:00–20:30');
    expect(await zhou.say('绑定读者证')).toContain('/h5/bindings/new/reader_card');
    expect(await zhou.say('借阅提醒')).toContain('回复「绑定读者证」');
    // book a visit, in chat, by numbers
    // 预约 + what: booking that item at once (its only hall), not the list of everything bookable
    let r = await zhou.say('预约入馆');
    expect(r).toContain('上海图书馆东馆，请选择日期');
    for (let i = 0; i < 4 && !r.includes('确认预约'); i++) r = await zhou.say(r.includes('请选择时间') ? '2' : '1'); // the next hour
    expect(await zhou.say('1')).toContain('预约成功');
    // an event sign-up, as the page submits it; its moves in the library's words
    const c = await a.cases.submit('o_lib_reader_zhou', 'event-signup', { name: '周小雨', phone: '13912345678', card_no: '310000123456789', event: '古籍修复入门' }, []);
    await a.cases.accept(c.id, 'staff:1');
    await a.cases.complete(c.id, 'staff:1');
    await a.jobs.runDue();
    const progress = await zhou.say('我的报名');
    expect(progress).toContain('当前：已完成');
    expect(progress).toContain('已确认');
    expect(progress).not.toMatch(/办件|受理|办结/);
    // a question on a Saturday evening is promised within the library's own hours (4 office hours)
    a.clock.set(cst(2026, 11, 28, 19));
    expect(await zhou.say('人工')).toContain('明天（周日）11:30 前');
    expect(a.cases.maskedForm(c).find((f) => f.label === '读者证号')?.value).toBe('3100*******6789');
    const html = await pages(a, ['/h5/halls', '/h5/halls/east', '/h5/guide/event-signup', '/h5/guides']);
    expect(html).toContain('附近的图书馆');
    expect(html).toContain('法定节假日 9:00–17:00');
    noDemo(zhou.seen() + html, [/办件/, /受理/, /办结/, /办事大厅/]);
  });

  it('a hospital: register, book a clinic, pay its 挂号费 in WeChat, check in for a queue number, follow the herbal delivery', async () => {
    const a = await startApp({ profileFile: join(PROFILES, 'hospital', 'profile.yaml') });
    const he = citizen(a, 'o_hosp_patient_he');
    await he.act({ type: 'subscribe' });
    expect(await he.say('1')).toContain('就诊卡建档');
    const card = await a.cases.submit('o_hosp_patient_he', 'patient-card', { name: '何秀英', id_card: validId(), phone: '13712345678' }, []);
    await a.cases.accept(card.id, 'staff:1');
    // book: 挂号 → clinic → campus → day → time → confirm
    let r = await he.say('挂号');
    expect(r).toContain('中医内科门诊');
    r = await he.say('1');
    for (let i = 0; i < 4 && !r.includes('确认预约'); i++) r = await he.say('1');
    const booked = await he.say('1');
    expect(booked).toContain('预约成功');
    const b = (await a.appointments.mine('o_hosp_patient_he', a.clock.now()))[0]!;
    // the 挂号费: a bill at booking, listed by 缴费, paid on WeChat's pay sheet
    const fee = (await a.bills.byPays('booking', String(b.id)))!;
    expect(fee).toMatchObject({ description: '中医内科门诊挂号费', amountFen: 2000, status: 'unpaid' });
    const unpaid = await he.say('缴费');
    expect(unpaid).toContain(`/h5/pay/bills/${fee.id}`);
    expect(unpaid).toContain('20.00 元');
    const pay = await a.bills.checkout('o_hosp_patient_he', fee.id);
    expect(a.emulator!.pay.confirm('o_hosp_patient_he', pay.params!, 'pay').err_msg).toBe('get_brand_wcpay_request:ok');
    await a.emulator!.pay.flush();
    expect((await a.bills.get(fee.id))!.status).toBe('paid');
    expect(await he.say('缴费')).toContain('没有待缴的费用');
    // on the day, at the clinic: scan its code, get a queue number
    a.clock.set(b.startsAt - 10 * 60_000);
    const queued = await he.act({ type: 'scan', scene: 'checkin:main-campus' });
    expect(queued).toContain('您的排队号：001 号');
    // examination and medicine fees are still paid at the machines, and the account says so
    expect(await he.say('门诊缴费怎么交')).toContain('自助机');
    // the herbal delivery: its status in the hospital's words
    const order = await a.cases.submit('o_hosp_patient_he', 'herbal-delivery', { prescription: 'CF20261123001', card_no: '880012345678', receiver: '何秀英', phone: '13712345678', address: '江滨区杏林路 90 号 3 栋 502 室' }, []);
    await a.cases.accept(order.id, 'staff:1');
    await a.cases.advance(order.id, 'staff:1');
    const status = await he.say('配送');
    expect(status).toContain('配送途中');
    expect(status).not.toContain('配送中中');
    expect(a.cases.maskedForm(order).find((f) => f.label === '收货人')?.value).toBe('何**');
    const html = await pages(a, ['/h5/halls', '/h5/guide/herbal-delivery', '/h5/guides']);
    expect(html).toContain('院区导航');
    noDemo(he.seen() + html, [/办事大厅/, /办件/]);
  });
});
