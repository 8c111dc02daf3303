import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaffInfo } from '../../src/admin/accounts.ts';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import { DAY, HOUR, MINUTE } from '../../src/platform/clock.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { makeTeam, PASSWORD, type Team } from './client.ts';

/**
 * The staff panel in a real (headless) Chromium at a desktop size, beside the emulator's phone
 * page: a citizen asks for a human on the phone, the duty officer's inbox shows it without a
 * reload, the handler claims and answers it, the phone receives the answer; a conversation left
 * unanswered past its due time on the simulated clock is escalated and shows as 督办. Screenshots
 * of every page go to test-results/ for a person to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`[panel.browser.test] SKIPPED: ${CHROMIUM} does not exist (apt-get install -y chromium).`);

const OUT = join(import.meta.dirname, '..', '..', 'test-results');
const DESKTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };
const T = { timeout: 15_000 };
const CITIZEN = 'o_demo_zhang_ayi';

describe.skipIf(!haveChromium)('the staff panel in a browser', { timeout: 60_000 }, () => {
  let app: TestApp;
  let team: Team;
  let browser: Browser;
  let staffCtx: BrowserContext;
  let staff: Page;
  let phoneCtx: BrowserContext;
  let phone: Page;
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  let handoffId = 0;

  const origin = () => `http://localhost:${app.port}`;
  /** Pages of other contexts are in the background: bring one forward before clicking or taking its picture (animation frames). */
  const front = (p: Page) => p.bringToFront();
  const shot = async (p: Page, name: string, fullPage = false) => {
    await front(p);
    await p.screenshot({ path: join(OUT, name), fullPage });
  };

  function watch(p: Page) {
    p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
    p.on('dialog', (d) => {
      dialogs.push(d.message());
      // Confirmations of our own (办结) are accepted; anything else would be an injected alert.
      void (d.type() === 'confirm' ? d.accept() : d.dismiss());
    });
  }

  async function signIn(p: Page, who: StaffInfo) {
    await p.goto(`${origin()}/admin/login`);
    await p.fill('input[name="username"]', who.username);
    await p.fill('input[name="password"]', PASSWORD);
    await p.click('button[type="submit"]');
    await p.waitForURL(/\/admin\/inbox/, T);
  }

  async function phoneSay(text: string) {
    await front(phone);
    await phone.fill("#text-input", text);
    await phone.press('#text-input', 'Enter');
    await phone.locator('#messages .row.me .bubble', { hasText: text }).last().waitFor(T);
  }

  /** Nothing of a payload may run: no handlers, no javascript: links, no scripts but ours. */
  async function assertInert(p: Page) {
    // (A string: the tests are type-checked without the DOM library.)
    const bad = await p.evaluate(`(() => {
      const out = [];
      for (const el of document.querySelectorAll('*')) {
        for (const a of el.attributes) {
          if (/^on/i.test(a.name)) out.push(el.tagName + ' ' + a.name);
          if (/^(href|src|action|formaction)$/i.test(a.name) && /^\\s*javascript:/i.test(a.value)) out.push(el.tagName + ' ' + a.name + '=' + a.value);
        }
        if (el.tagName === 'SCRIPT' && el.getAttribute('src') !== '/admin/assets/admin.js') out.push('SCRIPT');
        if (['IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) out.push(el.tagName);
      }
      return out;
    })()`);
    expect(bad).toEqual([]);
  }

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    // Days pass on the simulated clock in a few seconds: sessions are kept for the whole run.
    app = await startTestApp({ runJobs: true, admin: { pulseMs: 250, sessions: { idleMs: 30 * DAY, absoluteMs: 30 * DAY } } });
    team = await makeTeam(app);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    staffCtx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    staff = await staffCtx.newPage();
    watch(staff);
    phoneCtx = await browser.newContext({ viewport: PHONE, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    phone = await phoneCtx.newPage();
    watch(phone);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('signs in', async () => {
    await staff.goto(`${origin()}/admin/inbox`);
    await staff.waitForURL(/\/admin\/login\?next=/, T);
    await staff.fill('input[name="username"]', team.handler.username);
    await staff.fill('input[name="password"]', 'wrong-password-1');
    await staff.click('button[type="submit"]');
    await staff.locator('.error', { hasText: '用户名或密码不正确' }).waitFor(T);
    await shot(staff, 'admin-login.png');
    await signIn(staff, team.handler);
    await staff.locator('.empty', { hasText: '没有待领取的会话' }).waitFor(T);
    expect(await staff.locator('.top .who').textContent()).toContain('钱经办');
  });

  it('a citizen asks for a human on the phone; the waiting list shows it without a reload', async () => {
    await front(phone);
    await phone.goto(`${origin()}/emulator/phone`);
    await phone.selectOption('#citizen-select', CITIZEN);
    await phone.click('#cta-follow');
    await phone.locator('#messages .sys', { hasText: '关注了公众号' }).waitFor(T);
    await phone.click('#mode-toggle');
    const marker = await staff.evaluate('window.marker = Math.random()');
    await phoneSay('转人工');
    await phone.locator('#messages .row[data-channel="passive"] .bubble', { hasText: '已为您转接工作人员' }).waitFor(T);
    await phoneSay('我手机13812345678，社保卡丢了，补办要带什么？能寄到家吗？');
    const row = staff.locator('#live tr[data-id]', { hasText: '138****5678' });
    await row.first().waitFor(T);
    expect(await staff.evaluate('window.marker')).toBe(marker); // the same page: no reload
    handoffId = Number(await row.first().getAttribute('data-id'));
    expect(await row.first().textContent()).toContain('138****5678');
    expect(await row.first().textContent()).not.toContain('13812345678');
    await staff.locator('#nav-waiting', { hasText: '1' }).waitFor(T);
    await shot(staff, 'admin-inbox.png');
  });

  it('claims, answers with a canned reply, and sees the delivery; the phone receives the answer', async () => {
    await front(staff);
    await staff.click(`#live a[href="/admin/inbox/${handoffId}"]`);
    await staff.waitForURL(new RegExp(`/admin/inbox/${handoffId}$`), T);
    await staff.locator('.history .msg.in .bubble', { hasText: '138****5678' }).waitFor(T);
    await shot(staff, 'admin-conversation.png', true);
    // On a 1366×768 laptop the reply box is in sight without scrolling.
    await staff.setViewportSize({ width: 1366, height: 768 });
    const box = (await staff.locator('form[data-composer] textarea').boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(768);
    expect((await staff.locator('form[data-composer] button[type="submit"]').boundingBox())!.y).toBeLessThan(768);
    await shot(staff, 'admin-conversation-1366x768.png');
    await staff.setViewportSize(DESKTOP);
    await staff.click('button:has-text("领取这个会话")');
    await staff.locator('.flash-ok', { hasText: '已领取' }).waitFor(T);
    await staff.click('.canned .chip:has-text("已收到")');
    expect(await staff.inputValue('textarea[name="text"]')).toBe('您好，您的问题已收到，我们正在核实，会尽快回复您。');
    const answer = '您好，补办社保卡请带身份证到任一社保网点，当场制卡；也可以在网上申请邮寄到家。';
    await staff.fill('textarea[name="text"]', answer);
    await staff.click('form[data-composer] button[type="submit"]');
    await staff.locator('.flash-ok', { hasText: '回复已提交' }).waitFor(T);
    // Delivered by the job worker; the page learns it live.
    await staff.locator('.deliveries .pill-d-sent', { hasText: '已送达' }).waitFor(T);
    await phone.locator('#messages .row[data-channel="custom"] .bubble', { hasText: answer }).waitFor(T);
    await shot(phone, 'phone-staff-reply.png');
    await shot(staff, 'admin-conversation-replied.png', true);
    const h = await app.db.getRepository(HandoffEntity).findOneByOrFail({ id: handoffId });
    expect(h).toMatchObject({ assigneeId: team.handler.id, firstRepliedAt: app.clock.now() });
  });

  it('the citizen writes again: the conversation page shows it live; 显示完整 reveals it and is audited', async () => {
    await phoneSay('好的，我住长宁路1234弄5号，寄到这里可以吗？');
    const bubble = staff.locator('.history .msg.in .bubble', { hasText: '长宁路****' });
    await bubble.waitFor(T);
    const li = staff.locator('.history .msg.in', { has: staff.locator('.bubble', { hasText: '长宁路****' }) });
    await front(staff);
    await li.locator('button:has-text("显示完整")').click();
    await staff.locator('.history .bubble.revealed', { hasText: '长宁路1234弄5号' }).waitFor(T);
    await shot(staff, 'admin-conversation-revealed.png');
    expect((await app.audit.list({ action: 'unmask' })).map((a) => a.actor)).toEqual([team.handler.username]);
  });

  it('sends a link and an image; closing asks the phone for a rating that comes back to the page', async () => {
    await front(staff);
    await staff.check('input[name="kind"][value="link"]');
    await staff.fill('textarea[name="text"]', '邮寄申请在这里办理：');
    await staff.fill('input[name="link_url"]', 'https://zwdt.sh.gov.cn/govPortals/');
    await staff.fill('input[name="link_title"]', '一网通办 · 社保卡邮寄');
    await staff.click('form[data-composer] button[type="submit"]');
    await staff.locator('.flash-ok', { hasText: '回复已提交' }).waitFor(T);
    await staff.check('input[name="kind"][value="image"]');
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    await staff.setInputFiles('input[type="file"][data-image-into]', { name: 'map.png', mimeType: 'image/png', buffer: png });
    await staff.locator('img.preview:not([hidden])').waitFor(T);
    await staff.fill('textarea[name="text"]', '网点位置示意图');
    await staff.click('form[data-composer] button[type="submit"]');
    await staff.locator('.flash-ok', { hasText: '回复已提交' }).waitFor(T);
    await phone.locator('#messages .row[data-channel="custom"] .inline-link, #messages .row[data-channel="custom"] a', { hasText: '一网通办 · 社保卡邮寄' }).first().waitFor(T);
    await phone.locator('#messages .row[data-channel="custom"][data-type="news"] .news-title', { hasText: '工作人员给您发来一张图片' }).waitFor(T);
    await shot(phone, 'phone-link-and-image.png');

    await front(staff);
    await staff.click('button:has-text("办结并邀请评价")');
    await staff.locator('.flash-ok', { hasText: '已办结' }).waitFor(T);
    await phone.locator('#messages .row[data-channel="custom"][data-type="msgmenu"] .msgmenu-item', { hasText: '非常满意' }).waitFor(T);
    await shot(phone, 'phone-rating.png');
    await front(phone);
    await phone.locator('#messages .row[data-channel="custom"][data-type="msgmenu"] .msgmenu-item', { hasText: /^满意$/ }).click();
    await phone.locator('#messages .row[data-channel="passive"] .bubble', { hasText: '感谢您的评价' }).waitFor(T);
    await staff.locator('.facts .rating', { hasText: '满意' }).waitFor(T); // live, without a reload
    await shot(staff, 'admin-conversation-closed.png', true);
    expect((await app.db.getRepository(HandoffEntity).findOneByOrFail({ id: handoffId })).rating).toBe(4);
  });

  it('an overdue conversation is escalated on the simulated clock and shows as 督办 for the supervisor', async () => {
    const supCtx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    const sup = await supCtx.newPage();
    watch(sup);
    try {
      await app.emulator!.act('o_overdue', { type: 'subscribe' });
      await app.emulator!.act('o_overdue', { type: 'text', content: '我家楼下的路灯坏了三天了，一直没人修' });
      const late = (await app.handoffs.openFor('o_overdue'))!;
      await signIn(sup, team.supervisor);
      await sup.goto(`${origin()}/admin/inbox?view=department`);
      const row = sup.locator(`#live tr[data-id="${late.id}"]`);
      await row.waitFor(T);
      expect(await row.getAttribute('class')).toBe('u-normal');
      // 21 hours on: 3 hours left, highlighted as near (the page redraws on its own each minute; reload here).
      app.clock.advance(21 * HOUR);
      await sup.reload();
      await sup.locator(`#live tr[data-id="${late.id}"].u-near .pill-near`, { hasText: '还剩 3 小时' }).waitFor(T);
      await shot(sup, 'admin-inbox-near.png');
      // Past due: the deadline job runs in the background worker and the page shows it without a reload.
      app.clock.advance(3 * HOUR + MINUTE);
      await sup.locator(`#live tr[data-id="${late.id}"].esc .pill-esc`, { hasText: '督办' }).waitFor(T);
      await sup.locator('#nav-escalated .badge', { hasText: '1' }).waitFor(T);
      await sup.goto(`${origin()}/admin/inbox?view=escalated`);
      await sup.locator(`#live tr[data-id="${late.id}"].u-overdue`).waitFor(T);
      await shot(sup, 'admin-inbox-escalated.png');
      await sup.click(`#live a[href="/admin/inbox/${late.id}"]`);
      await sup.locator('.conv-head .pill-esc', { hasText: '督办 · 王主任' }).waitFor(T);
      await sup.locator('.timeline li', { hasText: '首次答复超时' }).waitFor(T);
      await shot(sup, 'admin-conversation-escalated.png', true);
      const h = await app.db.getRepository(HandoffEntity).findOneByOrFail({ id: late.id });
      expect(h).toMatchObject({ escalatedTo: team.supervisor.id });
    } finally {
      await supCtx.close();
    }
  });

  it('past the 48-hour window the answer goes as a template message that opens the answer page on the phone', async () => {
    const late = (await app.handoffs.openFor('o_overdue'))!;
    app.clock.advance(49 * HOUR);
    const admin = await staffCtx.newPage();
    watch(admin);
    await staffCtx.clearCookies();
    await signIn(admin, team.admin);
    await admin.goto(`${origin()}/admin/inbox/${late.id}`);
    await admin.locator('.facts', { hasText: '已关闭' }).waitFor(T);
    await admin.fill('textarea[name="text"]', '您好，路灯已报修，维修队明天上午到场。感谢您的反映！');
    await admin.click('form[data-composer] button[type="submit"]');
    await admin.locator('.deliveries .pill-d-sent + .muted', { hasText: '模板消息' }).waitFor(T);
    await shot(admin, 'admin-conversation-template.png', true);
    await phone.selectOption('#citizen-select', 'o_overdue').catch(() => undefined);
    const url = (app.emulator!.platform.inbox('o_overdue').find((i) => i.channel === 'template')!.message as { url: string }).url;
    await phone.goto(url);
    await phone.locator('.reply p', { hasText: '路灯已报修' }).waitFor(T);
    await shot(phone, 'h5-answer.png');
    // Closing past the window asks for the rating by template; the answer page takes it.
    await admin.click('button:has-text("办结并邀请评价")');
    await admin.locator('.facts', { hasText: '办结' }).waitFor(T);
    const invite = app.emulator!.platform.inbox('o_overdue').filter((i) => i.channel === 'template').at(-1)!;
    expect(String(invite.message.url)).toMatch(/\/h5\/answer\/[A-Za-z0-9_-]{32}#rate$/);
    await phone.goto('about:blank'); // the invite links the same page (with #rate): open it afresh, as WeChat does
    await phone.goto(String(invite.message.url));
    await phone.locator('#rate button', { hasText: '非常满意' }).waitFor(T);
    await shot(phone, 'h5-answer-rate.png');
    await phone.click('#rate button:has-text("满意") >> nth=1');
    await phone.locator('#rate .done', { hasText: '感谢您的评价' }).waitFor(T);
    await shot(phone, 'h5-answer-rated.png');
    expect((await app.db.getRepository(HandoffEntity).findOneByOrFail({ id: late.id })).rating).toBe(4);
    await admin.close();
  });

  it('the dashboard, accounts, audit log and password pages', async () => {
    const admin = await staffCtx.newPage();
    watch(admin);
    await admin.goto(`${origin()}/admin/dashboard`);
    await admin.locator('svg.chart').first().waitFor(T);
    await shot(admin, 'admin-dashboard.png', true);
    await admin.goto(`${origin()}/admin/staff`);
    await admin.fill('input[name="username"]', 'li.jingban');
    await admin.fill('input[name="name"]', '李经办');
    await admin.selectOption('select[name="role"]', 'handler');
    await admin.selectOption('select[name="department"]', 'civil-affairs');
    await admin.click('form[action="/admin/staff"] button[type="submit"]');
    await admin.locator('.flash-ok', { hasText: '临时密码' }).waitFor(T);
    await shot(admin, 'admin-staff.png', true);
    await admin.goto(`${origin()}/admin/audit`);
    await admin.locator('table.audit tbody tr').first().waitFor(T);
    await shot(admin, 'admin-audit.png', true);
    await admin.goto(`${origin()}/admin/account/password`);
    await shot(admin, 'admin-password.png');
    await admin.close();
  });

  it('stored XSS from citizens renders inert in the browser', async () => {
    const payloads = ['<script>alert("x1")</script>', '<img src=x onerror=alert("x2")>', '<a href="javascript:alert(\'x3\')">点我</a>', '"><svg onload=alert("x4")>'];
    for (const [i, p] of payloads.entries()) {
      await app.emulator!.act(`o_xss${i}`, { type: 'subscribe' });
      await app.emulator!.act(`o_xss${i}`, { type: 'text', content: p });
    }
    const admin = await staffCtx.newPage();
    watch(admin);
    const ids = (await app.db.getRepository(HandoffEntity).find({ where: { status: 'open' } })).filter((h) => h.openid.startsWith('o_xss')).map((h) => h.id);
    expect(ids).toHaveLength(payloads.length);
    for (const path of ['/admin/inbox?view=all', '/admin/dashboard', '/admin/audit', ...ids.map((id) => `/admin/inbox/${id}`)]) {
      await admin.goto(`${origin()}${path}`);
      await admin.waitForLoadState('load');
      await assertInert(admin);
    }
    await admin.goto(`${origin()}/admin/inbox/${ids[0]}`);
    expect(await admin.locator('.conv-head .q').textContent()).toBe(payloads[0]);
    await shot(admin, 'admin-xss-inert.png');
    await admin.close();
  });

  it('raised no page errors and no dialogs but our own confirmation', () => {
    expect(pageErrors).toEqual([]);
    expect(dialogs).toEqual(['办结后，会话交还机器人，并邀请市民评价。确定办结？', '办结后，会话交还机器人，并邀请市民评价。确定办结？']);
  });
});
