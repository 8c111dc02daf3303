import { crc32, deflateSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RectificationEntity } from '../../src/services/ratings/entities.ts';
import { TicketEntity, TicketPhotoEntity } from '../../src/services/tickets/entities.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { makeTeam, PASSWORD, type Team } from '../admin/client.ts';

const T = { timeout: 15_000 };

/** A real PNG (a road-grey picture with a dark patch), so pages show a photo rather than a broken image. */
function photoPng(w = 160, h = 120): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const hole = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 4) ** 2;
      rows.set(hole ? [60, 55, 50] : [150, 150, 145], y * (w * 3 + 1) + 1 + x * 3);
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1366, height: 900 };

/**
 * Tickets as their users meet them: a complaint with a photo and a location through the emulator's
 * phone page; the citizen pages at 375 px (and in 长者模式); the staff pages at 1366 px.
 */
describe.skipIf(!HAVE_CHROMIUM)(`tickets in a browser${SKIP_REASON}`, { timeout: 120_000 }, () => {
  let a: TestApp;
  let team: Team;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    a = await startTestApp();
    team = await makeTeam(a);
    await a.accounts.create({ username: 'desk.li', name: '李调度', role: 'supervisor', department: 'hotline', password: PASSWORD, mustChangePassword: false });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await a?.close();
  });

  const watch = (p: Page) => {
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('dialog', (d) => void d.dismiss());
    return p;
  };

  it('a citizen files a complaint with a photo and a location on the phone page, and is answered with a number and a query code', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const page = watch(await ctx.newPage());
    await page.goto(`${a.url}/emulator/phone`);
    await page.selectOption('#citizen-select', 'o_demo_zhang_ayi');
    await page.click('#cta-follow');
    await page.locator('#messages .sys', { hasText: '关注了公众号' }).waitFor(T);
    await page.locator('.menu-btn', { hasText: '听民声' }).click();
    await page.locator('.submenu:not([hidden]) button', { hasText: '投诉建议' }).click();
    await page.locator('#messages .bubble', { hasText: '说完后回复「好了」' }).waitFor(T);
    await page.click('#mode-toggle');
    const say = async (text: string, expect: string) => {
      await page.fill('#text-input', text);
      await page.press('#text-input', 'Enter');
      await page.locator('#messages .bubble', { hasText: expect }).last().waitFor(T);
    };
    await say('天山路上那家饭店每天把泔水桶放在人行道上，臭得不行，老人走路都得绕开', '已记下');
    await page.click('#plus-btn');
    await page.locator('.tile', { hasText: '图片' }).click();
    await page.locator('#messages .bubble', { hasText: '照片收到了' }).waitFor(T);
    await page.click('#plus-btn');
    await page.locator('.tile', { hasText: '位置' }).click();
    await page.locator('.sheet .choice', { hasText: '天山路街道' }).click();
    await page.locator('#messages .bubble', { hasText: '位置收到了' }).waitFor(T);
    await say('好了', '回复「1」提交');
    await say('1', '查询码');
    await screenshot(page, 'tickets-phone-filed.png', false);
    const t = await a.db.getRepository(TicketEntity).findOneByOrFail({ openid: 'o_demo_zhang_ayi' });
    expect(t).toMatchObject({ category: 'sanitation', area: 'centre', department: 'urban-management', lat: 31.2135, lng: 121.4019 });
    expect(await a.db.getRepository(TicketPhotoEntity).countBy({ ticketId: t.id })).toBe(1);
    await ctx.close();
  });

  for (const care of [false, true]) {
    it(`the citizen pages fit a 375 px phone${care ? ' in 长者模式' : ''}`, async () => {
      const ctx = await browser.newContext({ viewport: PHONE, hasTouch: true, geolocation: { latitude: 31.2071, longitude: 121.4258 }, permissions: ['geolocation'] });
      // Pages are reached at PUBLIC_URL (localhost), where the emulator's web authorisation sends the browser back.
      const base = `http://localhost:${a.port}`;
      await ctx.addCookies([{ name: 'emu_openid', value: 'o_demo_li_xiansheng', url: base }, ...(care ? [{ name: 'wb_care', value: '1', url: base }] : [])]);
      const page = watch(await ctx.newPage());
      const sfx = care ? '-care' : '';
      await page.goto(`${base}/h5/snap`);
      await page.click('[data-pin-locate]');
      await page.locator('[data-pin]:not([hidden])').waitFor(T);
      const box = (await page.locator('[data-pin]').boundingBox())!;
      await page.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.3);
      expect(await page.locator('[data-pin-tip]').textContent()).toMatch(/图钉离您约 \d+ 米/);
      const lat = Number(await page.locator('[data-pin-lat]').inputValue());
      expect(lat).toBeGreaterThan(31.2071);
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, `tickets-snap${sfx}.png`);
      await page.selectOption('#f-category', 'road');
      await page.fill('#f-description', '公交站旁边人行道的地砖松了好几块，下雨踩上去溅一身水');
      await page.setInputFiles('#f-photos', { name: 'IMG_0412.png', mimeType: 'image/png', buffer: photoPng() });
      await page.click('form.wb-form button[type="submit"]');
      await page.waitForURL(/\/h5\/tickets\/\d+\?filed=1/, T);
      expect(await page.locator('.weui-msg__title').textContent()).toBe('已提交');
      expect(await horizontalOverflow(page)).toBe(0);
      expect(await page.locator('img.wb-photo').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(160);
      await screenshot(page, `tickets-filed${sfx}.png`);
      await page.goto(`${base}/h5/mailbox`);
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, `tickets-mailbox${sfx}.png`);
      await page.goto(`${base}/h5/mailbox/letters`);
      expect(await horizontalOverflow(page)).toBe(0);
      await screenshot(page, `tickets-letters${sfx}.png`);
      await page.goto(`${base}/h5/tickets`);
      expect(await horizontalOverflow(page)).toBe(0);
      await ctx.close();
    });
  }

  it('the staff pages at 1366 px: the list, a ticket with its photo, location, duplicates and moves, a rectification', async () => {
    const mk = (o: Record<string, unknown>) => a.tickets!.file({ channel: 'snap', openid: 'o_desk', category: 'road', description: '路口的井盖松动，车压过去哐当响，晚上特别吵', lat: 31.2072, lng: 121.4259, phone: '13912345678', photos: [{ fileName: 'a.png', data: photoPng() }], ...o });
    const first = await mk({});
    await mk({ urgent: true, description: '同一个路口井盖翘起来了，差点把电动车绊倒' });
    // A closed, poorly rated one for the rectification page.
    const rated = await mk({ openid: 'o_rater', category: 'sanitation', lat: 31.2135, lng: 121.4019 });
    await a.tickets!.accept(rated.id, 'staff:desk');
    await a.tickets!.dispatch(rated.id, 'staff:desk', 'urban-management');
    await a.tickets!.answer(rated.id, 'staff:cg', '已清理。');
    await a.tickets!.complete(rated.id, 'staff:cg');
    await a.tickets!.visit(rated.id, 'citizen', true, null, 'o_rater');
    await a.ratings.rate('ticket', String(rated.id), 'o_rater', 1);
    const rect = await a.db.getRepository(RectificationEntity).findOneByOrFail({});

    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    const page = watch(await ctx.newPage());
    await page.goto(`${a.url}/admin/login`);
    await page.fill('input[name="username"]', 'desk.li');
    await page.fill('input[name="password"]', PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/admin\/inbox/, T);
    await page.locator('nav a', { hasText: '工单' }).first().click();
    await page.waitForURL(/\/admin\/tickets/, T);
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'tickets-admin-list.png');
    await page.goto(`${a.url}/admin/tickets/${first.id}`);
    await page.locator('h2', { hasText: '可能是同一问题' }).waitFor(T);
    expect(await page.locator('img.ticket-photo').count()).toBe(1);
    expect(await page.locator('img.ticket-photo').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(160);
    expect(await horizontalOverflow(page)).toBe(0);
    await screenshot(page, 'tickets-admin-detail.png');
    await page.locator('form[action$="/accept"] button').click();
    await page.waitForURL(new RegExp(`/admin/tickets/${first.id}$`), T);
    await page.locator('form[action$="/dispatch"] select[name="department"]').selectOption('xinhua-street');
    await page.locator('form[action$="/dispatch"] button').click();
    await page.waitForURL(new RegExp(`/admin/tickets/${first.id}$`), T);
    expect((await a.tickets!.get(first.id))?.status).toBe('dispatched');
    await screenshot(page, 'tickets-admin-dispatched.png');
    await ctx.close();

    const sup = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    const sp = watch(await sup.newPage());
    await a.accounts.create({ username: 'cg.zhuren', name: '城管主任', role: 'supervisor', department: 'urban-management', password: PASSWORD, mustChangePassword: false });
    await sp.goto(`${a.url}/admin/login`);
    await sp.fill('input[name="username"]', 'cg.zhuren');
    await sp.fill('input[name="password"]', PASSWORD);
    await sp.click('button[type="submit"]');
    await sp.waitForURL(/\/admin\/inbox/, T);
    await sp.goto(`${a.url}/admin/rectifications/${rect.id}`);
    expect(await sp.locator('dd', { hasText: '不显示' }).count()).toBe(1);
    expect(await horizontalOverflow(sp)).toBe(0);
    await screenshot(sp, 'tickets-admin-rectification.png');
    await sup.close();
    void team;
  });

  it('raised no page errors', () => {
    expect(errors).toEqual([]);
  });
});
