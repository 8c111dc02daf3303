import { describe, expect, it } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import { DAY, HOUR, MINUTE } from '../../src/platform/clock.ts';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { makeTeam, openHandoff, PASSWORD } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { cst } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();

/** Four weeks of an account's life: most citizens want 社保卡 and 居住证, a few anything else. */
/** A citizen asks in their own words and then for a person (the bot may have answered the words). */
async function ask(app: TestApp, openid: string, words: string): Promise<number> {
  await app.emulator!.act(openid, { type: 'subscribe' });
  await app.emulator!.act(openid, { type: 'text', content: words });
  return (await app.handoffs.openFor(openid))?.id ?? openHandoff(app, openid);
}

async function seed(app: TestApp): Promise<void> {
  const team = await makeTeam(app);
  const paths: [string[], number][] = [
    [['1', '2', '1'], 6], // 社保卡
    [['1', '1', '1'], 4], // 居住证
    [['1', '4', '1'], 2], // 护照
    [['1', '3', '1'], 1], // 结婚登记
    [['1', '2', '4'], 1], // 异地就医
  ];
  let n = 0;
  for (let week = 0; week < 4; week++) {
    app.clock.set(cst(2026, 11, 2, 9) + week * 7 * DAY);
    for (const [digits, times] of paths) {
      for (let i = 0; i < times + (times > 3 ? week : 0); i++) {
        const o = `o_seed_${n++}`;
        await app.emulator!.act(o, { type: 'subscribe' });
        if (i % 4 === 0) await app.emulator!.act(o, { type: 'click', key: 'guides' } as never);
        for (const d of digits) await app.emulator!.act(o, { type: 'text', content: d });
        app.clock.advance(7 * MINUTE);
      }
    }
    const fast = await ask(app, `o_h_${week}a`, '我的社保卡丢了，在外地能补办吗');
    app.clock.advance(20 * MINUTE);
    await app.inbox.reply(actorOf(team.handler), fast, { kind: 'text', text: '可以在线补办' });
    const slow = await ask(app, `o_h_${week}b`, '小区门口的路灯坏了好几天了，电话13812345678');
    app.clock.advance(30 * HOUR);
    await app.inbox.reply(actorOf(team.handler2), slow, { kind: 'text', text: '已转路灯所' });
    await app.inbox.close(actorOf(team.supervisor), slow);
    await app.jobs.runDue();
    const level = week % 2 ? 2 : 5;
    await app.emulator!.act(`o_h_${week}b`, { type: 'text', content: level === 2 ? '不满意' : '非常满意', bizmsgmenuid: `rate-${slow}-${level}` });
  }
  await ask(app, 'o_h_wait', '老人卡怎么办，我八十多了腿脚不方便');
  // Tickets (诉求) in the last week: two road reports answered, one still waiting; one rated poorly with a comment.
  const XINHUA = { lat: 31.2071, lng: 121.4258 };
  const staff = `staff:${team.supervisor.username}`;
  const t = app.tickets!;
  app.clock.set(cst(2026, 11, 24, 9));
  const road = await t.file({ channel: 'snap', openid: 'o_tk1', category: 'road', description: '楼下路面塌了个大坑，我电话13812345678', ...XINHUA });
  const lamp = await t.file({ channel: 'chat', openid: 'o_tk2', category: 'road', description: '路灯不亮好几天了', ...XINHUA });
  await t.file({ channel: 'snap', openid: 'o_tk3', category: 'sanitation', description: '垃圾堆了三天没人收，臭得很', ...XINHUA });
  for (const r of [road, lamp]) {
    await t.accept(r.id, staff);
    await t.dispatch(r.id, staff, 'xinhua-street');
  }
  app.clock.advance(26 * HOUR);
  for (const r of [road, lamp]) {
    await t.answer(r.id, staff, '已安排修复。');
    await t.complete(r.id, staff);
  }
  await app.ratings.rate('ticket', String(road.id), 'o_tk1', 1, '只填了一半，下雨又塌了，电话13812345678');
  await app.ratings.rate('ticket', String(lamp.id), 'o_tk2', 5);
  // A booking's fee, paid.
  const slot = (await app.appointments.days('id-card', 'center')).filter((d) => d.slots.some((s) => s.bookable))[0]!.slots.find((s) => s.bookable)!;
  const booking = await app.appointments.book({ openid: 'o_fee_payer', serviceId: 'id-card', hallId: 'center', start: slot.start, channel: 'h5', notify: false });
  const bill = (await app.bills.byPays('booking', String(booking.id)))!;
  app.emulator!.platform.citizen('o_fee_payer', '李阿姨');
  const c = await app.bills.checkout('o_fee_payer', bill.id);
  app.emulator!.pay.confirm('o_fee_payer', c.params!, 'pay');
  await app.emulator!.pay.flush();
  app.clock.set(cst(2026, 11, 26, 15));
}

describe(`the 运营 pages in Chromium at 1366 px${SKIP_REASON}`, () => {
  it.skipIf(!HAVE_CHROMIUM)('each view renders without overflow and is screenshotted', { timeout: 90_000 }, async () => {
    const app = await startApp();
    await seed(app);
    await app.conversationLog.flush();
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      await page.goto(`${app.url}/admin/login`);
      await page.fill('input[name="username"]', 'admin');
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/admin\//);
      for (const [path, shot] of [
        ['/admin/ops', 'ops-usage.png'],
        ['/admin/ops/speed', 'ops-speed.png'],
        ['/admin/ops/satisfaction', 'ops-satisfaction.png'],
      ] as const) {
        const res = await page.goto(`${app.url}${path}`);
        expect(res?.status(), path).toBe(200);
        await screenshot(page, shot);
        expect(await horizontalOverflow(page), path).toBe(0);
      }
      expect(await page.locator('body').textContent()).not.toContain('13812345678');

      // 内容维护: change the Saturday notice in the form, preview it, save it.
      await page.goto(`${app.url}/admin/ops/content`);
      await screenshot(page, 'ops-content-list.png');
      await page.goto(`${app.url}/admin/ops/content/notice/notice-saturday-service`);
      await page.fill('textarea[name="text"]', '12 月起示范区行政服务中心每周六全天开放（9:00–17:00），可办理居住证、社保卡、户籍类事项。冬至（12 月 22 日）下午 15:00 提前结束。');
      await page.fill('input[name="valid_until"]', '2027-02-28');
      await page.click('button[value="preview"]');
      expect(await page.locator('.phone-preview').textContent()).toContain('冬至（12 月 22 日）');
      await page.click('button[value="save"]');
      await page.waitForURL(/notice-saturday-service$/);
      expect(await page.locator('.flash').textContent()).toContain('已保存');
      await screenshot(page, 'ops-content-edit.png');
      expect(await horizontalOverflow(page)).toBe(0);

      // 体检: the last result as the panel shows it (the check itself is tested in check.test.ts).
      const ops = app.capabilities.find((c) => c.name === 'ops') as OpsCapability;
      await app.kv.set('ops:check:last', JSON.stringify({ at: app.clock.now(), by: '管理员', results: await ops.selfCheck() }));
      await page.goto(`${app.url}/admin/ops/check`);
      await screenshot(page, 'ops-check.png');
      expect(await horizontalOverflow(page)).toBe(0);

      // The citizen reads the new notice on a 375 px phone: the guide pages keep working too.
      const phone = await browser.newPage({ viewport: { width: 375, height: 740 } });
      await phone.goto(`${app.url}/h5/guide/residence-permit`);
      await screenshot(phone, 'ops-citizen-guide-375.png');
      expect(await horizontalOverflow(phone)).toBe(0);
    } finally {
      await browser.close();
    }
  });
});
