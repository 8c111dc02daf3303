import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CaseEntity } from '../../src/services/cases/entities.ts';
import { makeTeam, PASSWORD, type Team } from '../admin/client.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { HAVE_CHROMIUM, launch, screenshot, SKIP_REASON } from '../helpers/browser.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';

const T = { timeout: 15_000 };
const CITIZEN = 'o_journey_citizen';

/**
 * The whole of an application, as the people involved see it: the citizen applies with an
 * attachment on a phone, a handler asks for more material in the panel, the citizen uploads it
 * from the same case, the handler accepts and completes it. The phone gets every move once; the
 * last one, past the 48-hour window, as a template message.
 */
describe.skipIf(!HAVE_CHROMIUM)(`an application from the phone to the handler and back${SKIP_REASON}`, { timeout: 90_000 }, () => {
  let app: TestApp;
  let team: Team;
  let browser: Browser;
  let phoneCtx: BrowserContext;
  let deskCtx: BrowserContext;
  let phone: Page;
  let desk: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    team = await makeTeam(app);
    browser = await launch();
    const origin = `http://localhost:${app.port}`;
    phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, userAgent: 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 (emulated)' });
    await phoneCtx.addCookies([{ name: 'emu_openid', value: CITIZEN, url: origin }]);
    deskCtx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    phone = await phoneCtx.newPage();
    desk = await deskCtx.newPage();
    for (const p of [phone, desk]) p.on('pageerror', (e) => errors.push(e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** What reached the phone after it applied: each push, with how it arrived. */
  const pushes = () =>
    app.emulator!.platform
      .inbox(CITIZEN)
      .filter((i) => i.channel === 'custom' || i.channel === 'template')
      .map((i) => (i.channel === 'template' ? `template: ${(i.message.data as Record<string, string>).phrase3}` : `custom: ${String(i.message.content).split('\n')[0]}`));

  it('goes all the way', async () => {
    const origin = `http://localhost:${app.port}`;
    // The citizen follows and says something: the 48-hour customer-service window opens.
    await app.emulator!.act(CITIZEN, { type: 'subscribe' });
    await app.emulator!.act(CITIZEN, { type: 'text', content: '我想申请居住证' });

    // 1. Apply on the phone, with a photo and a contract.
    await phone.goto(`${origin}/h5/apply/residence-permit`);
    await phone.fill('#f-name', '王小明');
    await phone.fill('#f-id_card', validId());
    await phone.fill('#f-phone', '13812345678');
    await phone.fill('#f-address', '示范区天山路 600 弄 2 号 301 室');
    await phone.selectOption('#f-kind', '首次申领');
    await phone.setInputFiles('#f-photo', { name: 'me.jpg', mimeType: 'image/jpeg', buffer: JPEG });
    await phone.setInputFiles('#f-proof', { name: 'contract.pdf', mimeType: 'application/pdf', buffer: PDF });
    await screenshot(phone, 'journey-1-apply.png');
    await phone.click('.wb-actions button[value="submit"]');
    await phone.locator('.weui-msg__title', { hasText: '申请已提交' }).waitFor(T);
    await screenshot(phone, 'journey-2-submitted.png');
    const [c] = await app.db.getRepository(CaseEntity).find();
    expect(c).toMatchObject({ openid: CITIZEN, serviceId: 'residence-permit', status: 'submitted', department: 'service-centre' });
    await app.jobs.runDue();

    // 2. A handler asks for more material.
    const signIn = async () => {
      await desk.goto(`${origin}/admin/login`);
      await desk.fill('input[name="username"]', team.handler.username);
      await desk.fill('input[name="password"]', PASSWORD);
      await desk.click('button[type="submit"]');
      await desk.waitForURL(/\/admin\/inbox/, T);
    };
    await signIn();
    await desk.goto(`${origin}/admin/cases`);
    await screenshot(desk, 'journey-3-cases.png');
    await desk.click(`a:has-text("${c!.caseNo}")`);
    await desk.locator('h1', { hasText: c!.caseNo }).waitFor(T);
    await desk.fill('form[action$="/correct"] textarea', '租房合同缺少第 2 页（出租人签字页），请补拍上传。');
    await desk.click('form[action$="/correct"] button');
    await desk.locator('.flash', { hasText: '已要求补正' }).waitFor(T);
    await screenshot(desk, 'journey-4-correction-asked.png', false);
    await app.jobs.runDue();

    // 3. The citizen uploads it from the same case.
    await phone.goto(`${origin}/h5/cases/${c!.id}`);
    await phone.locator('.wb-warn', { hasText: '需要补正：租房合同缺少第 2 页' }).waitFor(T);
    await phone.setInputFiles('#c-proof', { name: 'page2.jpg', mimeType: 'image/jpeg', buffer: JPEG });
    await phone.fill('#c-note', '已补拍签字页');
    await screenshot(phone, 'journey-5-correct.png');
    await phone.click('button:has-text("提交补正材料")');
    await phone.locator('.wb-ok', { hasText: '补正材料已提交' }).waitFor(T);

    // 4. Accepted, then 审核 → 制证 ...
    await desk.reload();
    await desk.click('form[action$="/accept"] button');
    await desk.locator('.flash', { hasText: '已受理' }).waitFor(T);
    await app.jobs.runDue();
    await desk.click('form[action$="/advance"] button');
    await desk.locator('.flash', { hasText: '已进入下一环节' }).waitFor(T);
    await app.jobs.runDue();

    // 5. ... and, two days later (past the 48-hour window), completed.
    app.clock.advance(49 * 3_600_000);
    await signIn(); // the panel's session idled out meanwhile
    await desk.goto(`${origin}/admin/cases/${c!.id}`);
    await desk.fill('form[action$="/advance"] textarea', '证件已制好，请带身份证到受理点领取。');
    await desk.click('form[action$="/advance"] button');
    await desk.locator('.flash', { hasText: '已办结' }).waitFor(T);
    await screenshot(desk, 'journey-6-completed.png', true);
    await app.jobs.runDue();
    await app.jobs.runDue();

    expect(pushes()).toEqual([
      'custom: 已收到您的「上海市居住证办理」申请。',
      'custom: 您的「上海市居住证办理」（WB20261123-0001）需要补充材料：',
      expect.stringMatching(/^custom: 您的「上海市居住证办理」申请已受理（WB20261123-0001）。承诺2026年12月\d+日前办结。$/),
      'custom: 您的「上海市居住证办理」（WB20261123-0001）已进入「制证」环节。',
      'template: 已办结',
    ]);
    // the phone's own view of it
    await phone.goto(`${origin}/h5/cases/${c!.id}`);
    await phone.locator('.wb-status', { hasText: '已办结' }).waitFor(T);
    await screenshot(phone, 'journey-7-done.png');
    const emu = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const ph = await emu.newPage();
    await ph.goto(`${origin}/emulator/phone`);
    await ph.selectOption('#citizen-select', CITIZEN).catch(() => undefined);
    await ph.locator('.tpl-title', { hasText: '办件进度通知' }).first().waitFor(T).catch(() => undefined);
    await screenshot(ph, 'journey-8-phone-pushes.png');
    await emu.close();
    expect(errors).toEqual([]);
  });

  it('Enter in a field of a draft with a file submits the form; it never presses a file\'s 删除', async () => {
    const origin = `http://localhost:${app.port}`;
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    await ctx.addCookies([{ name: 'emu_openid', value: 'o_enter', url: origin }]);
    const page = await ctx.newPage();
    await page.goto(`${origin}/h5/apply/residence-permit`);
    await page.setInputFiles('#f-photo', { name: 'me.jpg', mimeType: 'image/jpeg', buffer: JPEG });
    await page.locator('button', { hasText: '保存草稿' }).click();
    await page.locator('.wb-kept', { hasText: 'me.jpg' }).waitFor(T);
    await page.fill('#f-name', '王小明');
    await page.press('#f-name', 'Enter');
    // The form's own checks speak (the other required fields are empty); nothing was deleted.
    await page.locator('.wb-field-error').first().waitFor(T);
    expect(page.url()).not.toContain('removed');
    expect(await page.locator('.wb-kept', { hasText: 'me.jpg' }).count()).toBe(1);
    await ctx.close();
  });
});
