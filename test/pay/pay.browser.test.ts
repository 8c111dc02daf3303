import { describe, expect, it } from 'vitest';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { makeTeam, PASSWORD } from '../admin/client.ts';

const app = appsClosedAfterEach();
const PHONE = { width: 375, height: 812 };
const T = { timeout: 15_000 };

describe(`paying on the emulator's phone, in Chromium${SKIP_REASON}`, () => {
  it.skipIf(!HAVE_CHROMIUM)('缴费 in chat → pay page → WeChat pay sheet → receipt; the staff see it paid', async () => {
    const a = await app();
    const openid = 'o_demo_zhang_ayi';
    const bill = await a.bills.issue({ openid, amountFen: 12_000, description: '普通护照办理费', pays: { kind: 'event', ref: 'DEMO-PASSPORT-1' }, dueAt: a.clock.now() + 7 * 86_400_000, department: 'service-centre' });
    await a.emulator!.act(openid, { type: 'subscribe' });
    const browser = await launch();
    try {
      const ctx = await browser.newContext({ viewport: PHONE, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://localhost:${a.port}/emulator/phone`);
      await page.selectOption('#citizen-select', openid);
      await page.evaluate(`window.__phone?.act ? window.__phone.act({ type: 'text', content: '我要缴费' }) : null`);
      if (!(await page.locator('#messages a', { hasText: '普通护照办理费' }).count())) {
        await page.fill('#text-input', '我要缴费').catch(async () => {
          await page.click('#mode-toggle');
          await page.fill('#text-input', '我要缴费');
        });
        await page.press('#text-input', 'Enter');
      }
      const link = page.locator('#messages a', { hasText: '普通护照办理费' });
      await link.first().waitFor(T);
      await screenshot(page, 'pay-phone-chat.png', false);
      if (process.env.PAY_TRACE) console.log('step chat');
      await link.first().click();
      const frame = page.frameLocator('#br-frame');
      await frame.locator('[data-pay-button]').waitFor(T);
      await screenshot(page, 'pay-phone-page.png', false);
      if (process.env.PAY_TRACE) console.log('step page');
      await frame.locator('[data-pay-button]').click();
      await page.locator('.pay-sheet .pay-amount', { hasText: '120.00' }).waitFor(T);
      expect(await page.locator('.pay-sheet .pay-payee').textContent()).toBe('示范区政务服务中心（演示）');
      await screenshot(page, 'pay-phone-sheet.png', false);
      if (process.env.PAY_TRACE) console.log('step sheet');
      await page.locator('.pay-confirm').click();
      await frame.locator('h2', { hasText: '缴费成功' }).waitFor(T);
      await screenshot(page, 'pay-phone-receipt.png', false);
      if (process.env.PAY_TRACE) console.log('step receipt');
      expect((await a.bills.get(bill.id))!.status).toBe('paid');
      // The receipt message reaches the chat (a payment opens the 48-hour window).
      await a.jobs.runDue();
      await page.click('#br-close');
      await page.locator('#messages', { hasText: '缴费成功：普通护照办理费' }).waitFor(T);
      await screenshot(page, 'pay-phone-message.png', false);
      expect(errors).toEqual([]);

      // The pages themselves at 375 px, and in 长者模式.
      const direct = await ctx.newPage();
      const second = await a.bills.issue({ openid, amountFen: 4_000, description: '居民身份证补领工本费', pays: { kind: 'event', ref: 'DEMO-IDCARD-1' }, department: 'service-centre' });
      await direct.goto(`http://localhost:${a.port}/emulator/phone/open?openid=${openid}&url=${encodeURIComponent(`/h5/pay/bills/${second.id}`)}`);
      await direct.locator('[data-pay-button]').waitFor(T);
      expect(await horizontalOverflow(direct)).toBeLessThanOrEqual(0);
      await direct.click('.wb-care-btn');
      await direct.locator('html.care').waitFor(T);
      expect(await horizontalOverflow(direct)).toBeLessThanOrEqual(0);
      await screenshot(direct, 'pay-page-care-375.png');
      // Outside WeChat the page says so and offers the QR code.
      await direct.click('[data-pay-button]');
      await direct.locator('[data-pay-error]:not([hidden])').waitFor(T);
      expect(await direct.locator('[data-pay-error]').textContent()).toContain('扫码支付');
      await direct.click('[data-pay-qr]');
      await direct.locator('.wb-qr svg').waitFor(T);
      expect(await horizontalOverflow(direct)).toBeLessThanOrEqual(0);
      await screenshot(direct, 'pay-qr-375.png');
      // The phone scans the code shown on that screen (扫一扫 lists the codes it could see) and pays.
      await page.click('#plus-btn').catch(async () => {
        await page.click('#mode-toggle');
        await page.click('#plus-btn');
      });
      await page.click('[data-tool="scan"]');
      const code = page.locator('.pay-codes .choice', { hasText: '40.00' });
      await code.waitFor(T);
      await screenshot(page, 'pay-phone-scan.png', false);
      await code.click();
      await page.locator('.pay-sheet .pay-amount', { hasText: '40.00' }).waitFor(T);
      await page.locator('.pay-confirm').click();
      await direct.waitForURL(/\/receipt$/, T);
      await direct.locator('h2', { hasText: '缴费成功' }).waitFor(T);
      expect((await a.bills.get(second.id))!.status).toBe('paid');
      await direct.goto(`http://localhost:${a.port}/h5/pay`);
      await screenshot(direct, 'pay-list-375.png');

      // Staff: 收费 at 1366 px.
      const team = await makeTeam(a);
      const staff = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await staff.goto(`${a.url}/admin/login`);
      await staff.fill('input[name="username"]', team.supervisor.username);
      await staff.fill('input[name="password"]', PASSWORD);
      await staff.click('button[type="submit"]');
      await staff.waitForURL(/\/admin\/inbox/);
      await staff.goto(`${a.url}/admin/bills?status=all`);
      await staff.locator('table.items').waitFor(T);
      await screenshot(staff, 'pay-staff-list-1366.png');
      await staff.goto(`${a.url}/admin/bills/${bill.id}`);
      await staff.locator('h2', { hasText: '微信支付订单' }).waitFor(T);
      await screenshot(staff, 'pay-staff-bill-1366.png');
      await staff.fill('input[name="amount"]', '20');
      await staff.fill('textarea[name="reason"]', '材料不全未能受理，退还部分费用');
      await staff.click('button.danger');
      await staff.locator('.flash', { hasText: '已退款 20.00 元' }).waitFor(T);
      await screenshot(staff, 'pay-staff-refunded-1366.png');
      expect((await a.bills.get(bill.id))!.status).toBe('partially_refunded');
    } finally {
      await browser.close();
    }
  }, 240_000);
});
