import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import { StaffReplyEntity } from '../../src/inbox/entities.ts';
import { makeTeam, PASSWORD, type Team } from '../admin/client.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { axe, describe as describeViolations } from '../helpers/axe.ts';
import { HAVE_CHROMIUM, horizontalOverflow, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { JPEG, validId } from '../helpers/files.ts';

/**
 * Accessibility, measured: axe-core's WCAG 2.1 AA rules on every citizen page (phone, 375 px) in
 * the standard mode and in 长者模式, and on every staff page (desktop, 1366 px). Zero violations.
 * 长者模式 is also held to the national 适老化 norms for websites (text of at least 18 px, no tap
 * target under 44 px, contrast of at least 4.5 : 1 — which axe checks).
 */

const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1366, height: 768 };
const CITIZEN = 'o_a11y_citizen';

describe.skipIf(!HAVE_CHROMIUM)(`accessibility of every page${SKIP_REASON}`, { timeout: 180_000 }, () => {
  let app: TestApp;
  let team: Team;
  let browser: Browser;
  const paths = { citizen: [] as string[], staff: [] as string[] };
  const origin = () => `http://localhost:${app.port}`;

  beforeAll(async () => {
    app = await startTestApp();
    team = await makeTeam(app);
    // A citizen with one of everything: a booking, a case, a conversation answered by staff.
    const act = (a: Parameters<NonNullable<TestApp['emulator']>['act']>[1]) => app.emulator!.act(CITIZEN, a);
    await act({ type: 'subscribe' });
    const day = (await app.appointments.days('residence-permit', 'center')).find((d) => d.free > 0)!;
    const booking = await app.appointments.book({ openid: CITIZEN, serviceId: 'residence-permit', hallId: 'center', start: day.slots.find((s) => s.bookable)!.start, channel: 'h5', notify: false });
    const c = await app.cases.submit(CITIZEN, 'senior-card', { name: '李奶奶', id_card: validId(), phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    await act({ type: 'text', content: '转人工' });
    await act({ type: 'text', content: '我妈的敬老卡办好了怎么领？' });
    const h = (await app.handoffs.openFor(CITIZEN))!;
    await app.inbox.reply(actorOf(team.duty), h.id, { kind: 'text', text: '您好，办好后寄到家里，也可以到受理中心领取。' });
    const token = (await app.db.getRepository(StaffReplyEntity).findOneByOrFail({ handoffId: h.id })).token;
    await app.inbox.escalate(actorOf(team.duty), h.id, '需要负责人确认');
    paths.citizen = [
      '/h5/guides',
      '/h5/guide/residence-permit',
      '/h5/halls',
      '/h5/halls?lat=31.2197&lng=121.4167',
      '/h5/halls/center',
      '/h5/book/residence-permit',
      '/h5/bookings',
      `/h5/bookings/${booking.id}`,
      `/h5/bookings/${booking.id}?done=1`,
      '/h5/apply',
      '/h5/apply/residence-permit',
      '/h5/cases',
      `/h5/cases/${c.id}`,
      `/h5/cases/${c.id}?submitted=1`,
      '/h5/progress',
      `/h5/progress?no=${c.caseNo}&code=${c.queryCode}`,
      `/h5/answer/${token}`,
      '/h5/guide/no-such-guide',
    ];
    paths.staff = [
      '/admin/inbox',
      '/admin/inbox?view=all',
      `/admin/inbox/${h.id}`,
      '/admin/cases',
      `/admin/cases/${c.id}`,
      '/admin/halls',
      '/admin/halls/center',
      '/admin/dashboard',
      '/admin/staff',
      '/admin/audit',
      '/admin/alerts',
      '/admin/account/password',
      '/admin/account/wechat',
    ];
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function citizenPage(care: boolean): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1 });
    await ctx.addCookies([
      { name: 'emu_openid', value: CITIZEN, url: origin() },
      { name: 'wb_care', value: care ? '1' : '0', url: origin() },
    ]);
    return { ctx, page: await ctx.newPage() };
  }

  for (const care of [false, true]) {
    const mode = care ? '长者模式' : 'standard mode';
    it(`every citizen page in ${mode}: no axe violations at 375 px, nothing wider than the phone`, async () => {
      const { ctx, page } = await citizenPage(care);
      const problems: string[] = [];
      for (const path of paths.citizen) {
        await page.goto(origin() + path);
        const found = await axe(page);
        if (found.length) problems.push(describeViolations(found, `${path} (${mode})`));
        if ((await horizontalOverflow(page)) > 0) problems.push(`${path} (${mode}): wider than the phone`);
      }
      await screenshot(page, `a11y-${care ? 'care' : 'standard'}-answer.png`);
      await ctx.close();
      expect(problems, problems.join('\n')).toEqual([]);
    });
  }

  it('长者模式 follows the 适老化 norms: text at least 18 px, tap targets at least 44 px, the switch at the top of every page', async () => {
    const { ctx, page } = await citizenPage(true);
    const problems: string[] = [];
    for (const path of paths.citizen) {
      await page.goto(origin() + path);
      // (A string: the tests are type-checked without the DOM library.)
      const small = (await page.evaluate(`(() => {
        const out = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const el = n.parentElement;
          if (!el || !n.textContent.trim()) continue;
          const cs = getComputedStyle(el);
          if (cs.display === 'none' || cs.visibility === 'hidden' || el.closest('.wb-sr,.wb-default-submit,[hidden]')) continue;
          const r = el.getBoundingClientRect();
          if (r.width <= 1 || r.height <= 1) continue;
          if (parseFloat(cs.fontSize) < 18) out.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + cs.fontSize + ' «' + n.textContent.trim().slice(0, 20) + '»');
        }
        for (const el of document.querySelectorAll('a, button, input:not([type=hidden]), select, textarea, label.wb-slot')) {
          const r = el.getBoundingClientRect();
          // (Links inside a sentence are text, not targets; the visually hidden default button of a form is never tapped.)
          if (r.width <= 1 || r.height <= 1 || el.closest('p, li, dd, .weui-msg__desc, .wb-muted, .wb-warn') && el.tagName === 'A' && !el.className) continue;
          if (r.height < 44 && el.type !== 'radio' && el.type !== 'checkbox') out.push('target ' + el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(r.height) + 'px «' + (el.textContent || el.value || '').trim().slice(0, 20) + '»');
        }
        const sw = document.querySelector('header .wb-care-btn, header .care-form button');
        if (!sw) out.push('no 长者模式 switch in the header');
        return out;
      })()`)) as string[];
      for (const s of small) problems.push(`${path}: ${s}`);
    }
    await page.goto(`${origin()}/h5/guide/residence-permit`);
    await screenshot(page, 'a11y-care-guide.png');
    await page.goto(`${origin()}/h5/halls/center`);
    await screenshot(page, 'a11y-care-hall.png');
    await ctx.close();
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('every staff page: no axe violations at 1366 px', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const page = await ctx.newPage();
    const problems: string[] = [];
    await page.goto(`${origin()}/admin/login`);
    let found = await axe(page);
    if (found.length) problems.push(describeViolations(found, '/admin/login'));
    await page.fill('input[name="username"]', team.admin.username);
    await page.fill('input[name="password"]', PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/admin\/inbox/);
    for (const path of paths.staff) {
      await page.goto(origin() + path);
      found = await axe(page);
      if (found.length) problems.push(describeViolations(found, path));
    }
    await page.goto(`${origin()}/admin/dashboard`);
    await screenshot(page, 'a11y-admin-dashboard.png');
    await ctx.close();
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
