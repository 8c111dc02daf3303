import { describe, expect, it } from 'vitest';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { HAVE_CHROMIUM, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { makeTeam, PASSWORD } from '../admin/client.ts';

const app = appsClosedAfterEach();

describe(`staff alerts in the panel, in Chromium${SKIP_REASON}`, () => {
  it.skipIf(!HAVE_CHROMIUM)('an alert raised while the inbox is open lights the 提醒 badge without a reload; the list opens it', async () => {
    const a = await app({ admin: { pulseMs: 100 } });
    const team = await makeTeam(a);
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await page.goto(`${a.url}/admin/login`);
      await page.fill('input[name="username"]', team.supervisor.username);
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/admin\/inbox/);
      await expect.poll(() => page.locator('#nav-alerts .badge').isHidden()).toBe(true);
      await a.alerts.raise({ kind: 'urgent-ticket', department: 'service-centre', to: 'supervisors', title: '紧急工单：天山路 600 号井盖缺失', link: '/admin/inbox', urgent: true });
      await expect.poll(() => page.locator('#nav-alerts .badge').textContent(), { timeout: 5000 }).toBe('1');
      await page.click('#nav-alerts');
      await page.waitForURL(/\/admin\/alerts$/);
      await screenshot(page, 'admin-alerts.png');
      expect(await page.locator('table.list tbody tr').count()).toBe(1);
      await page.click('table.list tbody a');
      await page.waitForURL(/\/admin\/inbox$/);
      expect(await page.locator('#nav-alerts .badge').isHidden()).toBe(true);
      await page.goto(`${a.url}/admin/account/wechat`);
      await page.click('button.primary');
      await page.waitForSelector('figure.qr-bind svg');
      await screenshot(page, 'admin-bind-wechat.png');
    } finally {
      await browser.close();
    }
  });
});
