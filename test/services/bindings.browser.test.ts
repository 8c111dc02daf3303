import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { signBody } from '../../src/services/bindings/verify.ts';

const T = { timeout: 10_000 };
const TRAFFIC = join(import.meta.dirname, '..', '..', 'profiles', 'xiamen-traffic', 'profile.yaml');
const KEY = 'demo-only-xiamen-tms-hmac-key-2026-please-replace';

describe.skipIf(!HAVE_CHROMIUM)(`binding pages in Chromium at 375 px${SKIP_REASON}`, () => {
  let app: TestApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    app = await startTestApp({ profileFile: TRAFFIC });
    base = `http://localhost:${app.port}`;
    browser = await launch();
    await app.emulator!.act('o_elder_driver_huang', { type: 'subscribe' });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function phone(care: boolean): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 375, height: 812 }, userAgent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 (emulated)' });
    await ctx.addCookies([{ name: 'emu_openid', value: 'o_elder_driver_huang', url: base }, ...(care ? [{ name: 'wb_care', value: '1', url: base }] : [])]);
    return ctx.newPage();
  }

  it('an elderly driver binds a vehicle in 长者模式, reads the pushed notice and the list, with nothing sideways and the plate masked', async () => {
    const page = await phone(true);
    await page.goto(`${base}/h5/bindings/new/vehicle`);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await page.fill('#f-plate', '闽d 12345');
    await page.fill('#f-engine_last6', 'A1B2C3');
    await page.click('form[action^="/h5/bindings/new"] button[type=submit]'); // consent not ticked: the browser asks first
    expect(await page.locator('.weui-msg__title').count()).toBe(0);
    await page.check('input[name=consent]');
    await page.click('form[action^="/h5/bindings/new"] button[type=submit]');
    await page.locator('.weui-msg__title', { hasText: '绑定成功' }).waitFor(T);
    expect(await page.content()).not.toContain('12345');
    await screenshot(page, 'bindings-vehicle-bound-care-375.png');

    const body = JSON.stringify({ kind: 'inspection_due', idempotency_key: 'INSP-1', target: '闽D12345', values: { due: '2026-12-31' } });
    const ts = String(Math.floor(app.clock.now() / 1000));
    const res = await fetch(`${base}/api/events`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-weiban-system': 'tms', 'x-weiban-timestamp': ts, 'x-weiban-signature': signBody(KEY, ts, body) } });
    expect(res.status).toBe(202);
    await app.jobs.runDue();
    const msg = app.emulator!.platform.inbox('o_elder_driver_huang').filter((i) => i.channel === 'template').at(-1)!;
    await page.goto(String(msg.message.url).replace(/^https?:\/\/[^/]+/, base));
    await page.locator('.wb-kvlist').waitFor(T);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    expect(await page.locator('.wb-kvlist').innerText()).toContain('闽D***45');
    await screenshot(page, 'bindings-notice-care-375.png');

    await page.goto(`${base}/h5/bindings`);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'bindings-mine-care-375.png');
    await page.click('button:has-text("解除绑定")');
    await page.locator('.wb-ok', { hasText: '已解除绑定' }).waitFor(T);
  });
});
