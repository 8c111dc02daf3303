import { describe, expect, it } from 'vitest';
import { makeTeam, PASSWORD } from '../admin/client.ts';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { axe, describe as describeViolations } from '../helpers/axe.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';

const startApp = appsClosedAfterEach();
/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

describe(`publishing notices and rating bookings in Chromium${SKIP_REASON}`, () => {
  it.skipIf(!HAVE_CHROMIUM)('staff publish and retire a notice at 1366 px; a citizen rates a served booking at 375 px; axe finds nothing', { timeout: 90_000 }, async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    const booking = await app.appointments.book({ openid: 'o_rate_phone', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 24, 10), channel: 'h5', notify: false });
    app.clock.set(cst(2026, 11, 24, 9, 40));
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${app.url}/admin/login`);
      await page.fill('input[name="username"]', team.supervisor.username);
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/admin\//);
      const clean = async (what: string, shot: string) => {
        await screenshot(page, shot);
        expect(await horizontalOverflow(page), what).toBe(0);
        const found = await axe(page);
        expect(found, describeViolations(found, what)).toEqual([]);
      };

      // 内容维护 → 发布新公告或政策解读: fill in, preview at phone width, publish.
      await page.goto(`${app.url}/admin/ops/content?kind=notice`);
      await page.click('a:has-text("发布新公告或政策解读")');
      await page.waitForURL(/\/admin\/ops\/content\/new/);
      await page.selectOption('select[name="list"]', 'policy');
      await page.fill('input[name="title"]', '2027 年城乡居民医保缴费政策解读');
      await page.fill('textarea[name="text"]', '2027 年度城乡居民医保个人缴费标准为每人每年 400 元，12 月 31 日前缴纳，次年 1 月 1 日起享受待遇。低保、特困人员由政府全额资助。');
      await page.fill('input[name="valid_until"]', '2027-06-30');
      await page.check('input[name="audience-resident"]');
      await page.click('button[value="preview"]');
      expect(await page.locator('.phone-preview').textContent()).toContain('每人每年 400 元');
      await page.waitForLoadState('load'); // the stylesheet, before measuring
      expect(await page.locator('.phone-preview').evaluate((e) => (e as unknown as { offsetWidth: number }).offsetWidth)).toBeLessThanOrEqual(375);
      await clean('the new notice form', 'ops-content-new.png');
      await page.click('button[value="save"]');
      await page.waitForURL(/\/admin\/ops\/content\/notice\/new-/);
      expect(await page.locator('.flash').textContent()).toContain('已发布');
      expect(await page.locator('input[name="audience-resident"]').isChecked()).toBe(true);
      await clean('a published notice', 'ops-content-published.png');
      // Retired from its page: the list marks it.
      await page.click('button:has-text("撤下这条")');
      await page.waitForURL(/\/admin\/ops\/content\/notice\/new-/);
      expect(await page.locator('.flash').first().textContent()).toContain('已撤下');
      await clean('a retired notice', 'ops-content-retired.png');
      await page.goto(`${app.url}/admin/ops/content?kind=notice`);
      expect(await page.locator('tr:has-text("2027 年城乡居民医保缴费政策解读")').textContent()).toContain('已撤下');
      await clean('the notice list', 'ops-content-list-published.png');

      // The hall's desk marks the booking served; the citizen rates it on the booking's page.
      await app.appointments.markArrived(booking.id);
      await app.appointments.markServed(booking.id, team.duty.id);
      const ctx = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 1, userAgent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 (emulated)' });
      const origin = `http://localhost:${app.port}`; // the citizen's pages are on the public host
      await ctx.addCookies([{ name: 'emu_openid', value: 'o_rate_phone', url: origin }]);
      const phone = await ctx.newPage();
      phone.on('pageerror', (e) => errors.push(e.message));
      await phone.goto(`${origin}/h5/bookings/${booking.id}`);
      expect(await phone.locator('h2', { hasText: '评价（自愿）' }).count()).toBe(1);
      // Each level is a whole tap target, not a strip of text (they were 22 px tall).
      for (const box of await phone.locator('.wb-rate button').evaluateAll((bs) => bs.map((b) => { const r = b.getBoundingClientRect(); return { width: r.width, height: r.height }; }))) {
        expect(box.height).toBeGreaterThanOrEqual(44);
        expect(box.width).toBeGreaterThanOrEqual(300);
      }
      await screenshot(phone, 'booking-rate-375.png');
      expect(await horizontalOverflow(phone)).toBe(0);
      let found = await axe(phone);
      expect(found, describeViolations(found, 'the booking page with its rating')).toEqual([]);
      // 长者模式: larger targets still, nothing sideways, nothing axe objects to.
      await ctx.addCookies([{ name: 'wb_care', value: '1', url: origin }]);
      await phone.reload();
      for (const h of await phone.locator('.wb-rate button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().height))) expect(h).toBeGreaterThanOrEqual(56);
      await screenshot(phone, 'booking-rate-375-care.png');
      expect(await horizontalOverflow(phone)).toBe(0);
      found = await axe(phone);
      expect(found, describeViolations(found, 'the booking page with its rating, 长者模式')).toEqual([]);
      await ctx.clearCookies({ name: 'wb_care' });
      await phone.reload();
      await phone.click('button[name="level"][value="5"]');
      await phone.waitForLoadState();
      expect(await phone.locator('body').textContent()).toContain('感谢您的评价');
      found = await axe(phone);
      expect(found, describeViolations(found, 'the thanks for rating')).toEqual([]);
      await phone.goto(`${origin}/h5/bookings/${booking.id}`);
      expect(await phone.locator('body').textContent()).toContain('您的评价：非常满意');
      await screenshot(phone, 'booking-rated-375.png');

      // 运营 → 好差评 counts it per item, staff member and channel.
      await page.goto(`${app.url}/admin/ops/satisfaction`);
      const text = await page.locator('body').textContent();
      expect(text).toContain('上海市居住证办理');
      expect(text).toContain(team.duty.name);
      await clean('好差评 with a booking', 'ops-satisfaction-booking.png');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
