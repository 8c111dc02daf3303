import { maskText } from '../platform/pii.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { FUNCTIONS } from '../profile/catalogue.ts';
import type { NavNode, ReplySpec } from '../profile/conversation.ts';
import type { Profile } from '../profile/schema.ts';
import { isValidAt } from '../profile/validity.ts';
import { pct } from './figures.ts';
import type { Table } from './export.ts';
import type { Operations } from './index.ts';

/**
 * The self-check (体检) against the 2025 survey's rubric: each point passes or says what it found.
 * Run by `npm run check` before going live and every week, and from the panel. Points marked
 * `veto` are the survey's 一票否决 items (leaks, stale content, unanswered citizens).
 */

export type Verdict = 'pass' | 'finding' | 'skipped';

export interface CheckResult {
  id: string;
  title: string;
  veto: boolean;
  verdict: Verdict;
  summary: string;
  details: string[];
}

/** A browser page the check can drive (playwright's Page, or anything with these). */
export interface CheckPage {
  setViewportSize(s: { width: number; height: number }): Promise<void>;
  goto(url: string): Promise<{ status(): number } | null>;
  evaluate<T>(js: string): Promise<T>;
  close(): Promise<void>;
}
export interface CheckBrowser {
  newPage(): Promise<CheckPage>;
  close(): Promise<void>;
  /** Set a cookie on the site (长者模式 is a cookie). */
  setCookie(url: string, name: string, value: string): Promise<void>;
  clearCookies(): Promise<void>;
}

export interface CheckDeps {
  profile: Profile;
  calendar: WorkingCalendar;
  now: number;
  /** Where the check reaches this instance (loopback). */
  localUrl: string;
  /** The address in links citizens get; links under it are followed at `localUrl`. */
  publicUrl: string;
  operations: Operations;
  /** The exports to scan for personal data shown in full. */
  exports(): Promise<Table[]>;
  /** A browser for the phone-width check; null when none is installed. */
  browser?: (() => Promise<CheckBrowser | null>) | undefined;
  /** Follow links with this (tests and the script pass the global fetch). */
  fetch?: typeof fetch;
  /** Per link, in milliseconds. */
  timeoutMs?: number;
}

const FN_BY_PATH: [RegExp, string][] = [[/^\/h5\/(guides?|apply|book|bookings|cases|progress|halls)(\/|$|\?)/, '办事服务']];

function walkNav(nodes: NavNode[], fn: string | undefined, path: string[], out: { node: NavNode; fn: string | undefined; path: string[] }[]) {
  for (const n of nodes) {
    const f = n.function ?? fn;
    out.push({ node: n, fn: f, path: [...path, n.title] });
    if (n.children) walkNav(n.children, f, [...path, n.title], out);
  }
}

/** Every run of checks, in the rubric's order. */
export async function runCheck(d: CheckDeps): Promise<CheckResult[]> {
  const nav: { node: NavNode; fn: string | undefined; path: string[] }[] = [];
  walkNav(d.profile.navigation, undefined, [], nav);
  const navById = new Map(nav.map((x) => [x.node.id, x]));
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);
  add(menuFunctions(d, navById));
  add(await links(d, nav));
  add(expiredReachable(d, nav, navById));
  add(await phonePages(d));
  add(await readOnlyPages(d));
  add(await personalData(d));
  add(await norms(d));
  add(calendarNextYear(d));
  add(templates(d));
  return results;
}

// ---- the menu's three functions -------------------------------------------------------------------

function targetFunction(d: CheckDeps, key: string, navById: Map<string, { node: NavNode; fn: string | undefined; path: string[] }>): { fn: string; what: string } | null {
  const rule = d.profile.keywords.find((r) => r.click_keys.includes(key));
  const reply = rule?.reply;
  const viaReply = (r: ReplySpec | undefined): { fn: string; what: string } | null => {
    if (!r) return null;
    if (r.nav && navById.get(r.nav)?.fn) return { fn: navById.get(r.nav)!.fn!, what: navById.get(r.nav)!.node.title };
    if (r.service) return { fn: '办事服务', what: d.profile.services.find((s) => s.id === r.service)?.name ?? r.service };
    const services: Partial<Record<string, string>> = { book: '预约', progress: '进度查询', bills: '我的缴费', 'my-bookings': '我的预约' };
    if (r.dialog && services[r.dialog]) return { fn: '办事服务', what: services[r.dialog]! };
    if (r.handoff || r.dialog === 'ask') return { fn: '互动交流', what: r.handoff ? '转人工' : '咨询' };
    return null;
  };
  if (reply) return viaReply(reply);
  const node = navById.get(key);
  if (node?.fn) return { fn: node.fn, what: node.node.title };
  if (d.profile.services.some((s) => s.id === key)) return { fn: '办事服务', what: key };
  return null;
}

function menuFunctions(d: CheckDeps, navById: Map<string, { node: NavNode; fn: string | undefined; path: string[] }>): CheckResult {
  const details: string[] = [];
  const buttons = d.profile.menu?.buttons ?? [];
  const covered = new Set(buttons.map((b) => b.function).filter(Boolean));
  const missing = FUNCTIONS.filter((f) => !covered.has(f));
  if (!buttons.length) details.push('没有自定义菜单。');
  else if (missing.length) details.push(`菜单没有覆盖：${missing.join('、')}（要求政务公开、办事服务、互动交流三项都有）。`);
  for (const b of buttons) {
    if (!('sub_button' in b)) continue;
    for (const s of b.sub_button) {
      const declared = s.function;
      let target: { fn: string; what: string } | null = null;
      if (declared) target = { fn: declared, what: s.name };
      else if (s.type === 'click') target = targetFunction(d, s.key, navById);
      else if (s.type === 'view') {
        const path = s.url.startsWith(d.publicUrl) ? s.url.slice(d.publicUrl.length) : s.url;
        const known = FN_BY_PATH.find(([re]) => re.test(path));
        if (known) target = { fn: known[1], what: s.url };
      }
      if (target && b.function && target.fn !== b.function) details.push(`「${b.name} › ${s.name}」打开的是「${target.what}」（${target.fn}），却放在「${b.function}」菜单下。`);
    }
  }
  return { id: 'menu', title: '菜单设置：政务公开、办事服务、互动交流三项功能，子菜单归属正确', veto: false, verdict: details.length ? 'finding' : 'pass', summary: details.length ? `${details.length} 处问题` : `三项功能齐全，${buttons.length} 个一级菜单的子菜单归属正确`, details };
}

// ---- links ----------------------------------------------------------------------------------------

function linksIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/href\s*=\s*["']([^"']+)["']/g)) out.add(m[1]!);
  for (const m of text.matchAll(/https?:\/\/[^\s"'<>，。、）)]+/g)) out.add(m[0]);
  return [...out];
}

function replyLinks(r: ReplySpec | undefined): string[] {
  if (!r) return [];
  return [...(r.text ? linksIn(r.text) : []), ...(r.link ? [r.link.url] : []), ...(r.news ? [r.news.url] : [])];
}

async function follow(d: CheckDeps, url: string): Promise<{ ok: boolean; status: string }> {
  const f = d.fetch ?? fetch;
  let target = url.startsWith('/') ? `${d.localUrl}${url}` : url.startsWith(d.publicUrl) ? `${d.localUrl}${url.slice(d.publicUrl.length)}` : url;
  for (let hop = 0; hop < 5; hop++) {
    let res: Response;
    try {
      res = await f(target, { redirect: 'manual', signal: AbortSignal.timeout(d.timeoutMs ?? 5000), headers: { 'User-Agent': 'weiban-check' } });
    } catch (err) {
      return { ok: false, status: `打不开（${(err as Error).name === 'TimeoutError' ? '超时' : (err as Error).message.slice(0, 60)}）` };
    }
    await res.body?.cancel();
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      if (!loc) return { ok: false, status: `${res.status}，没有跳转地址` };
      // A page that asks for WeChat sign-in answers: the sign-in is WeChat's to do.
      if (/\/h5\/auth|\/connect\/oauth2\/authorize/.test(loc)) return { ok: true, status: `${res.status} → 微信授权` };
      target = new URL(loc, target).toString();
      if (target.startsWith(d.publicUrl)) target = `${d.localUrl}${target.slice(d.publicUrl.length)}`;
      continue;
    }
    return { ok: res.status >= 200 && res.status < 300, status: String(res.status) };
  }
  return { ok: false, status: '跳转太多次' };
}

async function links(d: CheckDeps, nav: { node: NavNode; path: string[] }[]): Promise<CheckResult> {
  const found = new Map<string, string[]>();
  const note = (url: string, where: string) => {
    if (url.startsWith('weixin:') || url.startsWith('tel:') || url.startsWith('mailto:')) return;
    found.set(url, [...(found.get(url) ?? []), where]);
  };
  for (const b of d.profile.menu?.buttons ?? []) for (const s of 'sub_button' in b ? b.sub_button : [b]) if ('url' in s && typeof s.url === 'string') note(s.url, `菜单「${s.name}」`);
  for (const x of nav) for (const u of replyLinks(x.node.reply)) note(u, `导航「${x.path.join(' › ')}」`);
  for (const r of d.profile.keywords) for (const u of replyLinks(r.reply)) note(u, `关键词回复「${r.id}」`);
  for (const f of d.profile.faq) for (const u of linksIn(f.answer)) note(u, `问答「${f.question}」`);
  for (const s of d.profile.services) {
    for (const u of linksIn(JSON.stringify(s.guide))) note(u, `办事指南「${s.name}」`);
    if (isValidAt(s, d.now)) note(`/h5/guide/${s.id}`, `办事指南页「${s.name}」`);
  }
  for (const p of ['/h5/guides', '/h5/halls', '/h5/apply', '/h5/progress']) note(p, '市民页面');
  const details: string[] = [];
  let ok = 0;
  const entries = [...found];
  // A few at a time: a slow site does not hold up the rest.
  for (let i = 0; i < entries.length; i += 6) {
    const batch = entries.slice(i, i + 6);
    const res = await Promise.all(batch.map(([url]) => follow(d, url)));
    batch.forEach(([url, where], j) => {
      if (res[j]!.ok) ok++;
      else details.push(`${url}：${res[j]!.status}（${where.slice(0, 3).join('、')}${where.length > 3 ? ` 等 ${where.length} 处` : ''}）`);
    });
  }
  return { id: 'links', title: '日常运维：菜单、回复、指南和页面里的链接都能打开', veto: false, verdict: details.length ? 'finding' : 'pass', summary: `检查了 ${entries.length} 个链接，${ok} 个正常${details.length ? `，${details.length} 个打不开` : ''}`, details };
}

// ---- stale content ---------------------------------------------------------------------------------

function expiredReachable(d: CheckDeps, nav: { node: NavNode; path: string[] }[], navById: Map<string, { node: NavNode; path: string[] }>): CheckResult {
  const details: string[] = [];
  const live = (v: { valid_from?: string | undefined; valid_until?: string | undefined }) => isValidAt(v, d.now);
  const navLive = (id: string): boolean => {
    const x = navById.get(id);
    if (!x) return true;
    // A node is reachable only if every node above it is.
    const chain = nav.filter((y) => x.path.length >= y.path.length && x.path.slice(0, y.path.length).join('\u0000') === y.path.join('\u0000'));
    return chain.every((y) => live(y.node));
  };
  const expiredTarget = (r: ReplySpec | undefined): string | null => {
    if (!r) return null;
    if (r.service) {
      const s = d.profile.services.find((x) => x.id === r.service);
      if (s && !live(s)) return `事项「${s.name}」（${s.valid_until ? `${s.valid_until} 已到期` : `${s.valid_from} 才生效`}）`;
    }
    if (r.faq) {
      const f = d.profile.faq.find((x) => x.id === r.faq);
      if (f && !live(f)) return `问答「${f.question}」（${f.valid_until ? `${f.valid_until} 已到期` : `${f.valid_from} 才生效`}）`;
    }
    if (r.nav && !navLive(r.nav)) return `导航「${navById.get(r.nav)?.node.title ?? r.nav}」（已过期）`;
    return null;
  };
  for (const b of d.profile.menu?.buttons ?? []) {
    if (!live(b)) continue;
    for (const s of 'sub_button' in b ? b.sub_button : [b]) {
      if (!live(s) || !('key' in s) || typeof s.key !== 'string' || s.type !== 'click') continue;
      const node = navById.get(s.key);
      const rule = d.profile.keywords.find((r) => r.click_keys.includes(s.key));
      const what = rule ? expiredTarget(rule.reply) : node && !navLive(s.key) ? `「${node.node.title}」（${node.node.valid_until ? `${node.node.valid_until} 已到期` : '未生效'}）` : node ? expiredTarget(node.node.reply) : expiredTarget({ service: s.key, faq: s.key } as ReplySpec);
      if (what) details.push(`菜单「${'sub_button' in b ? `${b.name} › ` : ''}${s.name}」仍在菜单里，点开是过期的${what}。`);
    }
  }
  for (const x of nav) {
    if (!navLive(x.node.id)) continue;
    const what = expiredTarget(x.node.reply);
    if (what) details.push(`导航「${x.path.join(' › ')}」仍可选，打开的是过期的${what}。`);
  }
  for (const r of d.profile.keywords) {
    if (!live(r as never)) continue;
    const what = expiredTarget(r.reply);
    if (what) details.push(`关键词回复「${r.id}」（${r.patterns.slice(0, 3).join('、')}）仍会回复过期的${what}。`);
  }
  return { id: 'expired', title: '内容时效：过期的事项、公告和问答不再出现在任何入口', veto: true, verdict: details.length ? 'finding' : 'pass', summary: details.length ? `${details.length} 处还能打开过期内容` : '没有入口指向过期内容', details };
}

// ---- pages at phone width and in 长者模式 ----------------------------------------------------------------

function citizenPages(d: CheckDeps): string[] {
  return ['/h5/guides', '/h5/halls', ...d.profile.services.filter((s) => isValidAt(s, d.now)).map((s) => `/h5/guide/${s.id}`), ...d.profile.halls.map((h) => `/h5/halls/${h.id}`)];
}

async function phonePages(d: CheckDeps): Promise<CheckResult> {
  const title = '手机适配：每个页面在 375 px 手机宽度和长者模式下都不用左右滑动';
  const browser = d.browser ? await d.browser() : null;
  if (!browser) return { id: 'phone', title, veto: false, verdict: 'skipped', summary: '没有可用的浏览器（Chromium），这一项没有检查', details: ['安装 Chromium 后再运行；或设置 CHROMIUM 指向浏览器。'] };
  const details: string[] = [];
  const pages = citizenPages(d);
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    for (const care of [false, true]) {
      await browser.clearCookies();
      if (care) await browser.setCookie(d.localUrl, 'wb_care', '1');
      for (const p of pages) {
        const res = await page.goto(`${d.localUrl}${p}`);
        const status = res?.status() ?? 0;
        if (status !== 200) {
          details.push(`${p}${care ? '（长者模式）' : ''}：打开是 ${status}`);
          continue;
        }
        const over = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
        if (over > 0) details.push(`${p}${care ? '（长者模式）' : ''}：比手机屏幕宽 ${over} px，要左右滑动`);
      }
    }
    await page.close();
  } finally {
    await browser.close();
  }
  return { id: 'phone', title, veto: false, verdict: details.length ? 'finding' : 'pass', summary: `${pages.length} 个页面 × 普通和长者模式，${details.length ? `${details.length} 处问题` : '都正常'}`, details };
}

async function readOnlyPages(d: CheckDeps): Promise<CheckResult> {
  const details: string[] = [];
  const pages = citizenPages(d);
  const f = d.fetch ?? fetch;
  for (const p of pages) {
    const res = await f(`${d.localUrl}${p}`, { redirect: 'manual', signal: AbortSignal.timeout(d.timeoutMs ?? 5000) });
    await res.body?.cancel();
    const loc = res.headers.get('location') ?? '';
    if (res.status >= 300 && res.status < 400 && /auth|oauth2/.test(loc)) details.push(`${p}：只是看内容，却要求微信授权登录`);
    else if (res.status !== 200) details.push(`${p}：打开是 ${res.status}`);
  }
  return { id: 'signin', title: '互动体验：只读的页面（指南、大厅）不要求登录', veto: false, verdict: details.length ? 'finding' : 'pass', summary: `${pages.length} 个只读页面${details.length ? `，${details.length} 个有问题` : '都不用登录'}`, details };
}

// ---- personal data ---------------------------------------------------------------------------------

async function personalData(d: CheckDeps): Promise<CheckResult> {
  const details: string[] = [];
  const tables = await d.exports();
  let cells = 0;
  for (const t of tables) {
    t.rows.forEach((row, i) => {
      row.forEach((cell, j) => {
        if (typeof cell !== 'string') return;
        cells++;
        if (maskText(cell) !== cell) details.push(`「${t.title}」第 ${i + 2} 行「${t.header[j]}」列有完整的个人信息（已在此处隐去）`);
      });
    });
  }
  return { id: 'pii', title: '信息安全：列表和导出里的个人信息（电话、身份证号、地址、车牌）都已遮挡', veto: true, verdict: details.length ? 'finding' : 'pass', summary: `检查了 ${tables.length} 份导出、${cells} 个单元格${details.length ? `，${details.length} 处未遮挡` : '，都已遮挡'}`, details: details.slice(0, 30) };
}

// ---- response norms --------------------------------------------------------------------------------

async function norms(d: CheckDeps): Promise<CheckResult> {
  const v = await d.operations.speed(d.operations.lastDays(30), null);
  const t = v.total;
  const details: string[] = [];
  if (v.overdue.length) details.push(`现在有 ${v.overdue.length} 个请求超过时限仍未答复，最早的是${v.overdue[0]!.sourceName} #${v.overdue[0]!.id}（${v.overdue[0]!.link}）。`);
  if (t.share !== null && t.share < 0.95) details.push(`近 30 天按时答复 ${pct(t.share)}（${t.withinNorm}/${t.judged}），低于 95%。`);
  return {
    id: 'norms',
    title: '互动交流：近 30 天按规范时限答复（简单咨询 24 小时、复杂事项 3 个工作日），没有无人答复的留言',
    veto: true,
    verdict: details.length ? 'finding' : 'pass',
    summary: `近 30 天 ${t.requests} 个人工请求，按时答复 ${t.share === null ? '—' : pct(t.share)}，超时未答复 ${v.overdue.length} 个`,
    details,
  };
}

// ---- calendar and templates -------------------------------------------------------------------------

function calendarNextYear(d: CheckDeps): CheckResult {
  const year = d.calendar.localParts(d.now).year;
  const missing = [year, year + 1].filter((y) => !d.calendar.covers(y));
  return {
    id: 'calendar',
    title: '节假日日历包含今年和明年（时限按工作日计算）',
    veto: false,
    verdict: missing.length ? 'finding' : 'pass',
    summary: missing.length ? `缺少 ${missing.join('、')} 年的节假日和调休安排` : `已包含 ${year} 和 ${year + 1} 年`,
    details: missing.map((y) => `${y} 年：国务院办公厅公布节假日安排（通常在前一年 11 月）后，加到 calendar.yaml；在此之前，节假日会被当作工作日计算时限。`),
  };
}

const TEMPLATE_LIMITS: [RegExp, string, number][] = [
  [/^thing\d*$/, '事物', 20],
  [/^character_string\d*$/, '字符串', 32],
  [/^phrase\d*$/, '短语', 5],
  [/^name\d*$/, '姓名', 10],
  [/^(time|date)\d*$/, '时间', 32],
  [/^(number|amount)\d*$/, '数字/金额', 32],
  [/^(car_number|phone_number|letter|symbol|const)\d*$/, '其他', 32],
];

function templates(d: CheckDeps): CheckResult {
  const details: string[] = [];
  const entries = Object.entries(d.profile.templates);
  for (const [name, t] of entries) {
    const keys = Object.keys(t.fields);
    if (keys.length > 5) details.push(`模板「${t.title}」（${name}）有 ${keys.length} 个字段，微信类目模板最多 5 个。`);
    if ([...t.title].length > 20) details.push(`模板「${t.title}」（${name}）标题超过 20 字。`);
    for (const [key, pattern] of Object.entries(t.fields)) {
      const limit = TEMPLATE_LIMITS.find(([re]) => re.test(key));
      if (!limit) {
        details.push(`模板「${t.title}」的字段 ${key} 不是微信的字段类型（thing、time、character_string、phrase …）。`);
        continue;
      }
      const literal = [...pattern.replace(/\{\w+\}/g, '')].length;
      if (literal > limit[2]) details.push(`模板「${t.title}」的字段 ${key}（${limit[1]}）固定文字就有 ${literal} 字，超过 ${limit[2]} 字的上限。`);
      if (/^phrase/.test(key) && /[^\u4e00-\u9fa5{}\w]/.test(pattern)) details.push(`模板「${t.title}」的字段 ${key}（短语）只能是汉字。`);
    }
  }
  return { id: 'templates', title: '模板消息符合微信的字段类型和长度限制', veto: false, verdict: details.length ? 'finding' : 'pass', summary: `${entries.length} 个模板${details.length ? `，${details.length} 处超出限制` : '都符合'}`, details };
}

export const VERDICT_NAMES: Record<Verdict, string> = { pass: '通过', finding: '发现问题', skipped: '未检查' };
