import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/log.ts';
import { start, type Instance } from '../../src/server.ts';

/**
 * The emulator's phone page in a real (headless) Chromium: a citizen follows the demo account,
 * talks, uses the menu, sends a location, and receives every message kind the page renders.
 * Screenshots go to test-results/ for a human to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`[phone.browser.test] SKIPPED: ${CHROMIUM} does not exist. Install it with \`apt-get install -y chromium\` to run the phone page's browser test.`);
}

const OUT = join(import.meta.dirname, '..', '..', 'test-results');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const CITIZEN = 'o_demo_li_xiansheng';
const T = { timeout: 10_000 };

describe.skipIf(!haveChromium)('the emulator phone page in a browser', () => {
  let inst: Instance;
  /** The phone page is opened where citizens' pages live (PUBLIC_URL), as the start-up banner prints it. */
  const phoneOrigin = () => `http://localhost:${inst.port}`;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    inst = await start({
      port: 0,
      host: '127.0.0.1',
      env: { ...process.env, DATABASE_URL: 'sqlite::memory:', REDIS_URL: '' },
      runJobs: false,
      log: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    ctx = await browser.newContext({ viewport: PHONE, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    page = await ctx.newPage();
    watch(page);
  });

  afterAll(async () => {
    await browser?.close();
    await inst?.close();
  });

  function watch(p: Page) {
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }

  const shot = (p: Page, name: string) => p.screenshot({ path: join(OUT, name) });
  const count = (sel: string) => page.locator(sel).count();
  /** Wait until at least n elements match. */
  const atLeast = (sel: string, n: number) => page.waitForFunction(`document.querySelectorAll(${JSON.stringify(sel)}).length >= ${n}`, undefined, T);
  const passiveReplies = '#messages .row[data-channel="passive"]';

  async function platformCall(path: string, body: unknown): Promise<any> {
    const { appid, appsecret } = inst.profile.wechat;
    const tok = await fetch(`${inst.url}/emulator/cgi-bin/stable_token`, {
      method: 'POST',
      body: JSON.stringify({ grant_type: 'client_credential', appid, secret: appsecret }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const res = await fetch(`${inst.url}/emulator${path}?access_token=${tok.access_token}`, { method: 'POST', body: JSON.stringify(body) });
    const out = (await res.json()) as { errcode: number };
    expect(out.errcode, JSON.stringify(out)).toBe(0);
    return out;
  }

  it('shows the account, the citizens, and a follow call to action for a non-follower', async () => {
    await page.goto(`${phoneOrigin()}/emulator/phone`);
    await page.locator('#account-name', { hasText: inst.profile.account.name }).waitFor(T);
    expect(await page.locator('#citizen-select option').allTextContents()).toEqual(['张阿姨（未关注）', '李先生（未关注）', '陈老板（企业）（未关注）']);
    await page.selectOption('#citizen-select', CITIZEN);
    await page.locator('#cta-follow').waitFor({ state: 'visible', ...T });
    expect(await page.locator('#inputbar').isVisible()).toBe(false);
    await shot(page, 'phone-not-following.png');
  });

  it('follows: the subscribe line and the welcome appear', async () => {
    await page.click('#cta-follow');
    await page.locator('#messages .sys', { hasText: '关注了公众号' }).waitFor(T);
    await page.locator(`${passiveReplies} .bubble`, { hasText: inst.profile.conversation.welcome.text }).first().waitFor(T);
    expect(await page.locator('#inputbar').isVisible()).toBe(true);
    expect(await page.locator('#follow-btn').isDisabled()).toBe(true);
    expect(await page.evaluate('localStorage.getItem("weiban.emulator.phone.openid")')).toBe(CITIZEN);
  });

  it('menu: a button with sub-buttons pops up its sub-menu; a click sub-button sends the event', async () => {
    const before = await count(passiveReplies);
    await page.locator('.menu-btn', { hasText: '办政事' }).click();
    const pop = page.locator('.submenu:not([hidden])');
    await pop.waitFor(T);
    const group = inst.profile.menu!.buttons.find((b) => b.name === '办政事')!;
    expect(await pop.locator('button').allTextContents()).toEqual('sub_button' in group ? group.sub_button.map((b) => b.name) : []);
    await shot(page, 'phone-menu.png');
    await pop.locator('button', { hasText: '办事指南' }).click();
    await page.locator('#messages .sys', { hasText: '点击菜单「办事指南」' }).waitFor(T);
    await atLeast(passiveReplies, before + 1);
    expect(await pop.isVisible()).toBe(false);
  });

  it('keyboard: typing a text and pressing Enter sends it and shows the reply', async () => {
    const before = await count(passiveReplies);
    await page.click('#mode-toggle');
    await page.fill('#text-input', '社保卡怎么补办？');
    await page.press('#text-input', 'Enter');
    await page.locator('#messages .row.me .bubble', { hasText: '社保卡怎么补办？' }).waitFor(T);
    await atLeast(passiveReplies, before + 1);
    expect(await page.inputValue('#text-input')).toBe('');
  });

  it('shows a refused callback (non-200) as a grey line after the citizen’s message', async () => {
    const wire = inst.emulator!.wire;
    wire.post = async () => ({ status: 500, body: 'callback exploded', encrypted: true });
    try {
      await page.fill('#text-input', '在吗');
      await page.press('#text-input', 'Enter');
      const line = page.locator('#messages .sys-error', { hasText: '公众号服务器返回 500：callback exploded' });
      await line.waitFor(T);
      // The error follows the citizen's own bubble, which came from the inbox.
      expect(await page.locator('#messages > *').last().textContent()).toContain('callback exploded');
      expect(await page.locator('#messages .row.me .bubble').last().textContent()).toBe('在吗');
    } finally {
      delete (wire as { post?: unknown }).post; // back to the prototype's method
    }
  });

  it('sends a location from the + panel', async () => {
    await page.click('#plus-btn');
    await page.locator('#plus-panel').waitFor({ state: 'visible', ...T });
    await shot(page, 'phone-plus-panel.png');
    await page.locator('.tile', { hasText: '位置' }).click();
    await page.locator('.sheet').waitFor(T);
    await shot(page, 'phone-location-sheet.png');
    await page.locator('.sheet .choice', { hasText: '天山路街道' }).click();
    await page.locator('#messages .row.me .loc', { hasText: '长宁区天山路' }).waitFor(T);
    const last = inst.emulator!.platform.inbox(CITIZEN).filter((i) => i.channel === 'citizen').at(-1);
    expect(last?.message).toMatchObject({ type: 'location', latitude: 31.2135, longitude: 121.4019 });
  });

  it('a location_select menu button opens the picker and sends the event', async () => {
    await page.click('#mode-toggle'); // back to the menu
    await page.locator('.menu-btn', { hasText: '办政事' }).click();
    await page.locator('.submenu:not([hidden]) button', { hasText: '附近大厅' }).click();
    await page.locator('.sheet .choice', { hasText: '中山公园' }).click();
    await page.locator('#messages .sys', { hasText: '点击菜单「附近大厅」，发送了位置：中山公园' }).waitFor(T);
    const last = inst.emulator!.platform.inbox(CITIZEN).filter((i) => i.channel === 'citizen').at(-1);
    expect(last?.message).toMatchObject({ type: 'location_select', key: 'nearby-halls', latitude: 31.2197, longitude: 121.4167, poiname: '中山公园' });
  });

  it('shows a citizen text with markup as literal text', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await page.click('#mode-toggle'); // keyboard
    await page.fill('#text-input', evil);
    await page.click('#send-btn');
    const bubble = page.locator('#messages .row.me .bubble', { hasText: evil });
    await bubble.waitFor(T);
    expect(await bubble.textContent()).toBe(evil);
    expect(await count('#messages img')).toBe(0);
  });

  it('renders customer-service text (links, bizmsgmenu), news and msgmenu, tagged 客服消息', async () => {
    const text =
      '您好，办理进度请<a href="/healthz">点此查看</a>。\n' +
      '或者回复：<a href="weixin://bizmsgmenu?msgmenucontent=查进度&msgmenuid=101">查进度</a>\n' +
      '<a href="javascript:alert(1)">坏链接</a> <img src=x onerror=alert(2)>';
    await platformCall('/cgi-bin/message/custom/send', { touser: CITIZEN, msgtype: 'text', text: { content: text } });
    await platformCall('/cgi-bin/message/custom/send', {
      touser: CITIZEN,
      msgtype: 'news',
      news: { articles: [{ title: '社保卡补办指南（2026版）', description: '线上线下两种方式，材料清单与办理时限一次看全。', url: '/healthz' }] },
    });
    await platformCall('/cgi-bin/message/custom/send', {
      touser: CITIZEN,
      msgtype: 'msgmenu',
      msgmenu: { head_content: '您对本次服务是否满意？', list: [{ id: '201', content: '满意' }, { id: '202', content: '不满意' }], tail_content: '欢迎再次咨询' },
    });
    const custom = '#messages .row[data-channel="custom"]';
    await atLeast(custom, 3);
    expect(await page.locator(`${custom} .tag`).allTextContents()).toEqual(['客服消息', '客服消息', '客服消息']);

    const textBubble = page.locator(`${custom}[data-type="text"] .bubble`);
    expect(await textBubble.locator('a[href="/healthz"]').textContent()).toBe('点此查看');
    expect(await textBubble.locator('a').count()).toBe(1); // the javascript: link is plain text
    expect(await textBubble.textContent()).toContain('坏链接 <img src=x onerror=alert(2)>');
    expect(await count('#messages img')).toBe(0);
    expect(await page.locator(`${custom}[data-type="news"] .news-title`).textContent()).toBe('社保卡补办指南（2026版）');
    expect(await page.locator(`${custom}[data-type="msgmenu"] .msgmenu-item`).allTextContents()).toEqual(['满意', '不满意']);
    await shot(page, 'phone-custom-messages.png');

    // Tapping a bizmsgmenu link and a msgmenu item sends text with bizmsgmenuid.
    await textBubble.locator('.inline-link', { hasText: '查进度' }).click();
    await page.locator('#messages .row.me .bubble', { hasText: /^查进度$/ }).waitFor(T);
    await page.locator(`${custom}[data-type="msgmenu"] .msgmenu-item`, { hasText: '不满意' }).click();
    await page.locator('#messages .row.me .bubble', { hasText: /^不满意$/ }).waitFor(T);
    const sent = inst.emulator!.platform.inbox(CITIZEN).filter((i) => i.channel === 'citizen').slice(-2).map((i) => i.message);
    expect(sent).toEqual([
      { type: 'text', content: '查进度', bizmsgmenuid: '101' },
      { type: 'text', content: '不满意', bizmsgmenuid: '202' },
    ]);
  });

  it('sends voice, an image and a QR scan; renders image, voice and video placeholders', async () => {
    await platformCall('/cgi-bin/qrcode/create', { action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 'hall_changning' } } });
    await page.click('#plus-btn');
    await page.locator('.tile', { hasText: '语音' }).click();
    await page.fill('.sheet textarea', '我想预约办理居住证');
    await page.locator('.sheet button[type="submit"]').click();
    await page.locator('#messages .row.me .voice-note', { hasText: '我想预约办理居住证' }).waitFor(T);
    await page.click('#plus-btn');
    await page.locator('.tile', { hasText: '图片' }).click();
    await page.locator('#messages .row.me[data-type="image"] .media').waitFor(T);

    for (const [msgtype, body] of [
      ['image', { media_id: 'MEDIA_IMG_1' }],
      ['voice', { media_id: 'MEDIA_VOICE_1' }],
      ['video', { media_id: 'MEDIA_VIDEO_1', title: '办事视频指引' }],
    ] as const) {
      await platformCall('/cgi-bin/message/custom/send', { touser: CITIZEN, msgtype, [msgtype]: body });
    }
    await page.locator('#messages .row[data-channel="custom"][data-type="video"] .media-video', { hasText: '办事视频指引' }).waitFor(T);
    expect(await count('#messages .row[data-channel="custom"][data-type="image"] .media')).toBe(1);
    expect(await count('#messages .row[data-channel="custom"][data-type="voice"] .voice')).toBe(1);

    await page.click('#plus-btn');
    await page.locator('.tile', { hasText: '扫一扫' }).click();
    await page.locator('.sheet .choice', { hasText: '场景 hall_changning' }).click();
    await page.locator('#messages .sys', { hasText: '扫描二维码（场景 hall_changning）' }).waitFor(T);
    await shot(page, 'phone-media.png');
  });

  it('renders template messages and subscription notices as cards, and opens 详情 in the in-phone browser', async () => {
    const p = inst.emulator!.platform;
    p.registerTemplate({ id: 'TPL_BOOKED', title: '预约成功通知', fields: ['thing1', 'time2', 'character_string3'] });
    const data = { thing1: { value: '社保卡补办' }, time2: { value: '2026年11月25日 09:30' }, character_string3: { value: 'YY20261125001' } };
    await platformCall('/cgi-bin/message/template/send', { touser: CITIZEN, template_id: 'TPL_BOOKED', url: '/healthz', data });
    await platformCall('/cgi-bin/message/subscribe/bizsend', { touser: CITIZEN, template_id: 'TPL_BOOKED', page: 'pages/booking/detail', data });
    await atLeast('#messages .row[data-channel="template"] .tpl', 1);
    await atLeast('#messages .row[data-channel="subscribe"] .tpl', 1);
    const card = page.locator('#messages .row[data-channel="template"]');
    expect(await card.locator('.tag').textContent()).toBe('模板消息');
    expect(await card.locator('.tpl-title').textContent()).toBe('预约成功通知');
    expect(await card.locator('dd').allTextContents()).toEqual(['社保卡补办', '2026年11月25日 09:30', 'YY20261125001']);
    expect(await page.locator('#messages .row[data-channel="subscribe"] .tag').textContent()).toBe('订阅通知');
    await shot(page, 'phone-template.png');

    await card.locator('.tpl-more').click();
    await page.locator('#browser').waitFor({ state: 'visible', ...T });
    const src = await page.getAttribute('#br-frame', 'src');
    expect(src).toBe(`/emulator/phone/open?openid=${CITIZEN}&url=${encodeURIComponent('/healthz')}`);
    const frame = page.frameLocator('#br-frame');
    await frame.locator('body', { hasText: '"status"' }).waitFor(T);
    await page.locator('#br-title', { hasText: new URL(phoneOrigin()).host }).waitFor(T);
    await shot(page, 'phone-browser.png');
    await page.click('#br-close');
    await page.locator('#browser').waitFor({ state: 'hidden', ...T });
  });

  it('remembers the selected citizen across reloads', async () => {
    await page.reload();
    await page.locator(`${passiveReplies}`).first().waitFor(T);
    expect(await page.inputValue('#citizen-select')).toBe(CITIZEN);
    await shot(page, 'phone-chat.png');
  });

  it('shows the act API refusal for a non-follower as a grey line, and the call to action after unfollowing', async () => {
    await page.click('#unfollow-btn');
    await page.locator('#cta-follow').waitFor({ state: 'visible', ...T });
    expect(await page.locator('#inputbar').isVisible()).toBe(false);
    await page.evaluate(`window.__phone.act({ type: 'text', content: '还在吗' })`);
    await page.locator('#messages .sys-error', { hasText: '请先关注公众号' }).waitFor({ state: 'attached', ...T });
    await page.click('#cta-follow');
    await page.locator('#inputbar').waitFor({ state: 'visible', ...T });
  });

  it('looks right on a desktop screen (phone frame beside the controls)', async () => {
    const desk = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    await desk.addInitScript(`localStorage.setItem('weiban.emulator.phone.openid', '${CITIZEN}')`);
    const d = await desk.newPage();
    watch(d);
    await d.goto(`${phoneOrigin()}/emulator/phone`);
    await d.locator(`${passiveReplies}`).first().waitFor(T);
    const box = await d.locator('.phone').boundingBox();
    expect(box!.width).toBeGreaterThan(370);
    expect(box!.width).toBeLessThan(420);
    expect(box!.height).toBeLessThanOrEqual(DESKTOP.height);
    expect(await d.locator('.devbar').isVisible()).toBe(true);
    await shot(d, 'desktop.png');
    await d.locator('.menu-btn', { hasText: '听民声' }).click();
    await d.locator('.submenu:not([hidden])').waitFor(T);
    await shot(d, 'desktop-menu.png');
    await desk.close();
  });

  it('raised no page errors and no dialogs', () => {
    expect(pageErrors).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});
