import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BookingEntity } from '../../src/services/appointments/entities.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { JPEG } from '../helpers/files.ts';

const T = { timeout: 10_000 };

describe.skipIf(!HAVE_CHROMIUM)(`citizen pages in Chromium at phone sizes${SKIP_REASON}`, () => {
  let app: TestApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    app = await startTestApp({ runJobs: true });
    base = `http://localhost:${app.port}`;
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** A phone whose WeChat knows the citizen (the emulator's web authorisation reads this). */
  async function phone(openid: string, width = 375, care = false): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({
      viewport: { width, height: 812 },
      deviceScaleFactor: 1,
      userAgent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 (emulated)',
      // The phone is at 中山公园; the page asks for it only when the citizen taps 离我最近.
      geolocation: { latitude: 31.2197, longitude: 121.4167 },
      permissions: ['geolocation'],
    });
    await ctx.addCookies([{ name: 'emu_openid', value: openid, url: base }, ...(care ? [{ name: 'wb_care', value: '1', url: base }] : [])]);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    (page as Page & { errors: string[] }).errors = errors;
    return { ctx, page };
  }

  for (const care of [false, true]) {
    it(`finds a hall, books, and cancels${care ? ' in 长者模式' : ''}`, async () => {
      const tag = care ? 'care' : 'normal';
      const openid = `o_browser_${tag}`;
      const { ctx, page } = await phone(openid, 375, care);
      await page.goto(`${base}/h5/halls`);
      await page.locator('button', { hasText: '按离我最近排列' }).click();
      await page.waitForURL(/lat=31\.2197/, T);
      await page.locator('.wb-tip', { hasText: '已按离您的远近排列' }).waitFor(T);
      if (care) expect(await page.getAttribute('html', 'class')).toBe('care');
      expect(await page.evaluate<number>('parseFloat(getComputedStyle(document.body).fontSize)')).toBeGreaterThanOrEqual(care ? 18 : 14);
      await screenshot(page, `h5-${tag}-1-halls.png`);
      await page.locator('a.wb-hall').first().click();
      await page.locator('h1', { hasText: '江苏路街道社区事务受理服务中心' }).waitFor(T);
      expect(await page.locator('.wb-card h3').first().textContent()).toMatch(/离您(约 \d+ 米|[\d.]+ 公里)/);
      await screenshot(page, `h5-${tag}-2-hall.png`);
      await page.locator('.weui-cell', { hasText: '老年人优待证' }).click();
      await page.locator('h1', { hasText: '预约' }).waitFor(T);
      // choose a day with free places that is not today, then a time
      await page.locator('.wb-day:not(.is-off)', { hasText: '余' }).nth(1).click();
      await page.locator('.wb-slot').first().waitFor(T);
      await screenshot(page, `h5-${tag}-3-book.png`);
      await page.locator('.wb-slot:has(input:not([disabled]))').nth(2).click();
      await page.locator('button', { hasText: '确认预约' }).click();
      await page.locator('.weui-msg__title', { hasText: '预约成功' }).waitFor(T);
      await screenshot(page, `h5-${tag}-4-booked.png`);
      const [b] = await app.db.getRepository(BookingEntity).findBy({ openid });
      expect(b).toMatchObject({ serviceId: 'senior-card', hallId: 'jiangsu', status: 'booked' });
      expect(await page.locator('.wb-code').textContent()).toBe(b!.code);
      await page.goto(`${base}/h5/bookings`);
      await page.locator('button', { hasText: '取消预约' }).click();
      await page.locator('.weui-msg__title', { hasText: '已取消预约' }).waitFor(T);
      await screenshot(page, `h5-${tag}-5-cancelled.png`);
      expect((await app.db.getRepository(BookingEntity).findOneBy({ id: b!.id }))?.status).toBe('cancelled');
      expect((page as Page & { errors: string[] }).errors).toEqual([]);
      await ctx.close();
    });
  }

  it('no page scrolls sideways at 320, 375 or 414 px, in either mode', async () => {
    await app.appointments.book({ openid: 'o_browser_width', serviceId: 'passport', hallId: 'center', start: Date.UTC(2026, 10, 25, 2), contact: { phone: '13812345678' }, channel: 'h5', notify: false });
    const paths = ['/h5/guides', '/h5/guide/passport', '/h5/halls?lat=31.2197&lng=121.4167', '/h5/halls/center', '/h5/book/passport', '/h5/book/residence-permit?hall=xinhua', '/h5/bookings'];
    const wide: string[] = [];
    for (const width of [320, 375, 414]) {
      for (const care of [false, true]) {
        const { ctx, page } = await phone('o_browser_width', width, care);
        for (const p of paths) {
          await page.goto(base + p);
          const over = await horizontalOverflow(page);
          if (over > 0) wide.push(`${p} at ${width}px${care ? ' (长者模式)' : ''}: ${over}px too wide`);
        }
        if (width === 320) await screenshot(page, `h5-320-${care ? 'care' : 'normal'}-bookings.png`);
        await ctx.close();
      }
    }
    expect(wide).toEqual([]);
  }, 120_000); // 42 page loads: half a minute alone, more on a loaded machine

  it('删除 next to an uploaded draft file works with the form half filled, and fits at 320 px in 长者模式', async () => {
    await app.cases.saveDraft('o_browser_delete', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'a-rather-long-file-name-from-the-phone-camera-20261123.jpg', data: JPEG }]);
    const { ctx, page } = await phone('o_browser_delete', 320, true);
    await page.goto(`${base}/h5/apply/residence-permit`);
    expect(await horizontalOverflow(page)).toBe(0);
    await page.fill('#f-name', '王小明'); // the rest left empty: the page's own checks must not stop 删除
    await page.getByRole('button', { name: /删除已上传的/ }).click();
    await page.locator('.wb-ok', { hasText: '文件已删除' }).waitFor(T);
    expect(await page.inputValue('#f-name')).toBe('王小明');
    expect(await app.cases.draft('o_browser_delete', 'residence-permit').then((d) => d.attachments)).toEqual([]);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await ctx.close();
  });

  it('every link the pages, the chat and the menu carry resolves', async () => {
    const { ctx, page } = await phone('o_browser_links');
    // links the conversation hands out
    await app.emulator!.act('o_browser_links', { type: 'subscribe' });
    const chatLinks = new Set<string>();
    const collect = (text: string) => {
      for (const m of text.matchAll(/href="([^"]+)"/g)) if (m[1]!.startsWith('http')) chatLinks.add(m[1]!);
    };
    for (const say of ['护照', '1', '00', '1', '1', '1']) {
      const r = await app.emulator!.act('o_browser_links', { type: 'text', content: say });
      if (r.reply?.type === 'text') collect(r.reply.content);
    }
    const loc = await app.emulator!.act('o_browser_links', { type: 'location', latitude: 31.21, longitude: 121.42 });
    if (loc.reply?.type === 'text') collect(loc.reply.content);
    const menu = (app.emulator!.platform.menu ?? []) as { url?: string; sub_button?: { url?: string }[] }[];
    for (const b of menu) for (const u of [b.url, ...(b.sub_button ?? []).map((s) => s.url)]) if (u) chatLinks.add(u);
    expect(chatLinks.size).toBeGreaterThan(2);

    const seen = new Map<string, number>();
    const external: string[] = [];
    const queue = [...chatLinks, `${base}/h5/guides`, `${base}/h5/halls`, `${base}/h5/bookings`];
    while (queue.length && seen.size < 400) {
      const url = queue.shift()!;
      const key = url.replace(/#.*$/, '');
      if (seen.has(key)) continue;
      // Variants of one page (another day, another booking to move) and static files (styles,
      // scripts) are checked, not explored: a page load each would only make the crawl slow.
      if (/[?&](day|reschedule)=/.test(key) || new URL(key).pathname.startsWith('/static/')) {
        seen.set(key, (await ctx.request.get(key)).status());
        continue;
      }
      const res = await page.goto(url);
      seen.set(key, res?.status() ?? 0);
      const hrefs = await page.$$eval('a[href], link[href], script[src]', (els) => els.map((e) => (e as unknown as { href?: string }).href || (e as unknown as { src: string }).src));
      for (const h of hrefs) {
        if (h.startsWith('tel:')) continue;
        if (!h.startsWith(base)) {
          external.push(h);
          continue;
        }
        if (!seen.has(h.replace(/#.*$/, ''))) queue.push(h);
      }
    }
    const broken = [...seen].filter(([, status]) => status !== 200);
    expect(broken).toEqual([]);
    expect(seen.size).toBeGreaterThan(40);
    // the only links that leave the account are the map's, with the hall's coordinates
    expect(external.every((u) => u.startsWith('https://uri.amap.com/marker?position='))).toBe(true);
    await ctx.close();
  }, 120_000); // hundreds of page loads: minutes on a loaded machine

  it('a link in the chat opens in the phone\'s WeChat browser, signed in silently', async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/emulator/phone`);
    await page.locator('#cta-follow').click();
    await page.locator('#messages .sys', { hasText: '关注了公众号' }).waitFor(T);
    const openid = (await page.textContent('#openid-view'))!.trim();
    await app.appointments.book({ openid, serviceId: 'residence-permit', hallId: 'center', start: Date.UTC(2026, 10, 26, 2), channel: 'chat', notify: false });
    await app.emulator!.act(openid, { type: 'text', content: '我的预约' });
    await page.locator('#messages a', { hasText: '在页面上查看我的预约' }).first().click();
    const frame = page.frameLocator('#br-frame');
    await frame.locator('h1', { hasText: '我的预约' }).waitFor(T);
    await frame.locator('.wb-booking', { hasText: '上海市居住证办理' }).waitFor(T);
    await screenshot(page, 'phone-opens-h5.png');
    await ctx.close();
  });
});
