import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { HandoffRow } from '../chat/handoff.ts';
import type { ConversationLog } from '../chat/log.ts';
import { serviceWindowLeft } from '../chat/log.ts';
import { SOURCE_DIR } from '../paths.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { MINUTE, type Clock } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Profile } from '../profile/schema.ts';
import { html, type SafeHtml } from '../web/html.ts';
import { localTime, shortTime, span } from '../inbox/format.ts';
import { fromDataUrl } from '../inbox/images.ts';
import { InboxError, type Inbox, type ReplyInput } from '../inbox/inbox.ts';
import type { InboxReader } from '../inbox/queries.ts';
import type { Stats } from '../inbox/stats.ts';
import type { CitizenFacts } from '../capability.ts';
import { refWords, type RefNames } from '../inbox/refs.ts';
import { actorOf, AccountError, type Accounts, type StaffInfo } from './accounts.ts';
import { AUDIT_ACTIONS, type Audit, type AuditAction } from './audit.ts';
import { intOf, readForm } from './body.ts';
import { dashboardPage } from './pages/dashboard.ts';
import { conversationPage, conversationParts, inboxList, inboxPage, type ConversationModel, type Fmt, type ListModel } from './pages/inbox.ts';
import { bare, type PageContext, type PanelNav } from './pages/layout.ts';
import { passwordPage, signInPage } from './pages/signin.ts';
import { auditPage, staffPage } from './pages/staff.ts';
import { allowed, departmentsOf, ROLES, views, VIEWS, type InboxView, type PanelAction, type Role, type StaffActor } from '../policies/index.ts';
import { randomToken, sameToken, SESSION_COOKIE, type AttemptThrottle, type SessionData, type StaffSessions } from './sessions.ts';
import { clip } from '../platform/text.ts';

export interface AdminDeps {
  profile: Profile;
  clock: Clock;
  calendar: WorkingCalendar;
  kv: Kv;
  logger: Logger;
  accounts: Accounts;
  audit: Audit;
  inbox: Inbox;
  reader: InboxReader;
  stats: Stats;
  conversationLog: ConversationLog;
  sessions: StaffSessions;
  /** Sign-in attempts, per username and per address. */
  throttle: AttemptThrottle;
  /** Current-password attempts when changing one's password, per account. */
  passwordThrottle: AttemptThrottle;
  /** How often a live page's server-sent events check for changes (default 2 s). */
  pulseMs?: number;
  /** Further sections of the panel (cases …), registered with the panel's own guards. */
  extend?: ((r: Router, kit: PanelKit) => void)[];
  /** Their places in the top bar. */
  nav?: PanelNav[];
  /** Unread staff alerts (the 提醒 badge). */
  unreadAlerts?(staffId: number): Promise<number>;
  /** What the capabilities know of a citizen (a name they gave, their bookings and cases). */
  citizenFacts?(openid: string): Promise<CitizenFacts>;
}

/** What a section of the panel needs to be part of it: the same sign-in, CSRF, pages and notices. */
export interface PanelKit {
  signedIn: (ctx: Context, next: Next) => Promise<unknown>;
  actor(ctx: Context): StaffActor;
  /** A state-changing form: same-site and carrying the session's CSRF token. */
  checkedForm(ctx: Context, limit?: number): Promise<Record<string, string>>;
  pageContext(ctx: Context): Promise<PageContext>;
  send(ctx: Context, page: SafeHtml, status?: number): void;
  fail(ctx: Context, status: number, message: string): void;
  flash(ctx: Context, kind: 'ok' | 'error', text: string): Promise<void>;
  fmt(): Fmt;
  audit: Audit;
}

interface State {
  actor: StaffActor;
  staff: StaffInfo;
  session: SessionData;
  sessionId: string;
}

const LOGIN_COOKIE = 'weiban_login';
const ASSETS: Record<string, string> = { 'admin.css': 'text/css; charset=utf-8', 'admin.js': 'text/javascript; charset=utf-8' };
/** The panel loads nothing from elsewhere and runs no inline script or style. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/** Every response under /admin carries these, a 404 included (the app sets them: see app.ts). */
export const PANEL_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/**
 * The staff panel's HTTP side: sign-in, sessions, CSRF, pages and live updates. Every decision
 * about who may do what is asked of src/policies; every change goes through a command (Inbox,
 * Accounts), the same ones the tests call.
 */
export function adminRoutes(d: AdminDeps): Router {
  const r = new Router({ prefix: '/admin' });
  const accountName = d.profile.account.name;
  const departmentName = (id: string | null) => d.inbox.departmentName(id);
  const services = new Map(d.profile.services.map((x) => [x.id, x.name]));
  const faqs = new Map(d.profile.faq.map((x) => [x.id, x.question]));
  const buttons = new Map<string, string>();
  for (const b of d.profile.menu?.buttons ?? []) for (const leaf of 'sub_button' in b ? b.sub_button : [b]) if ('key' in leaf && leaf.key) buttons.set(leaf.key, leaf.name);
  const refNames: RefNames = { service: (id) => services.get(id), faq: (id) => faqs.get(id), button: (key) => buttons.get(key) };
  const fmt = (): Fmt => {
    const now = d.clock.now();
    return { now, at: (ms) => localTime(d.calendar, ms), short: (ms) => shortTime(d.calendar, ms, now), span };
  };

  // ---- every /admin response (its headers: PANEL_HEADERS, set by the app) -------------------------
  r.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof InboxError && (err.code === 'not_found' || err.code === 'forbidden')) {
        const status = err.code === 'not_found' ? 404 : 403;
        return fail(ctx, status, err.message);
      }
      const e = err as { status?: number; expose?: boolean; message?: string };
      if (e.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) return fail(ctx, e.status, e.message ?? '请求不正确');
      throw err;
    }
  });

  const fail = (ctx: Context, status: number, message: string) => {
    ctx.status = status;
    if (wantsJson(ctx)) {
      ctx.body = { error: message };
      return;
    }
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = bare(String(status), accountName, htmlError(status, message)).value;
  };

  // ---- assets -------------------------------------------------------------------------------
  r.get('/assets/:file', async (ctx) => {
    const type = ASSETS[ctx.params.file ?? ''];
    if (!type) return fail(ctx, 404, '没有这个文件');
    ctx.type = type;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = await readFile(join(SOURCE_DIR, 'admin', 'assets', ctx.params.file!));
  });

  // ---- sign-in ------------------------------------------------------------------------------
  /** Where to go after signing in: only a path of the panel itself (no other host, no ../ out of it). */
  const safeNext = (v: unknown): string => {
    if (typeof v !== 'string' || !v.startsWith('/admin') || v.includes('\\') || v.includes('..') || v.startsWith('//')) return '/admin/inbox';
    const u = new URL(v, 'http://panel.invalid');
    if (u.origin !== 'http://panel.invalid' || !(u.pathname === '/admin' || u.pathname.startsWith('/admin/'))) return '/admin/inbox';
    return u.pathname + u.search;
  };

  const showSignIn = (ctx: Context, o: { username?: string; error?: string; next?: string; status?: number }) => {
    const csrf = randomToken();
    ctx.cookies.set(LOGIN_COOKIE, csrf, { httpOnly: true, sameSite: 'strict', path: '/admin/login', secure: ctx.secure, overwrite: true });
    ctx.status = o.status ?? 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = signInPage({ accountName, csrf, ...o }).value;
  };

  r.get('/login', async (ctx) => {
    const next = typeof ctx.query.next === 'string' ? safeNext(ctx.query.next) : undefined;
    showSignIn(ctx, next && next !== '/admin/inbox' ? { next } : {});
  });

  r.post('/login', async (ctx) => {
    const form = await readForm(ctx, 8 * 1024);
    if (!crossSiteOk(ctx) || !sameToken(form._csrf, ctx.cookies.get(LOGIN_COOKIE))) {
      return showSignIn(ctx, { username: form.username ?? '', error: '页面已过期，请重新登录。', status: 403 });
    }
    const username = (form.username ?? '').trim().toLowerCase().slice(0, 64);
    const password = form.password ?? '';
    const ip = ctx.ip;
    const next = form.next ? safeNext(form.next) : '/admin/inbox';
    // Counted before the password is checked, so attempts sent at once cannot all slip under the limit.
    const gate = await d.throttle.begin(username, ip);
    if (!gate.ok) {
      if (gate.audit) await d.audit.record({ actor: { kind: 'anonymous', username }, action: 'sign-in-locked', detail: '锁定期间尝试登录（本次锁定期内只记录一次）', ip });
      return showSignIn(ctx, { username, error: lockMessage(gate.retryMs), status: 429 });
    }
    const staff = await d.accounts.authenticate(username, password);
    if (!staff) {
      const { locked, retryMs, audit } = await d.throttle.failed(gate.attempt);
      // Every password checked and wrong is a row; the lock it brings about is one more (once per lock).
      await d.audit.record({ actor: { kind: 'anonymous', username }, action: 'sign-in-failed', ip });
      if (audit) await d.audit.record({ actor: { kind: 'anonymous', username }, action: 'sign-in-locked', detail: `连续失败，已临时锁定 ${Math.ceil(retryMs / MINUTE)} 分钟`, ip });
      return showSignIn(ctx, { username, error: locked ? lockMessage(retryMs) : '用户名或密码不正确。', status: locked ? 429 : 401 });
    }
    await d.throttle.succeeded(gate.attempt);
    // A fresh session id at every sign-in (no fixation); an old session in this browser ends.
    const old = ctx.cookies.get(SESSION_COOKIE);
    if (old) await d.sessions.destroy(old);
    const { id } = await d.sessions.create(staff.id, staff.passwordChangedAt);
    ctx.cookies.set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/admin', secure: ctx.secure, overwrite: true });
    ctx.cookies.set(LOGIN_COOKIE, '', { path: '/admin/login', maxAge: 0, overwrite: true });
    await d.audit.record({ actor: actorOf(staff), action: 'sign-in', ip });
    ctx.redirect(staff.mustChangePassword ? '/admin/account/password' : next);
  });

  // ---- everything below needs a signed-in, active account --------------------------------------
  const signedIn = async (ctx: Context, next: Next) => {
    const sessionId = ctx.cookies.get(SESSION_COOKIE);
    const session = await d.sessions.load(sessionId);
    const staff = session ? await d.accounts.get(session.staffId) : null;
    if (!session || !staff || !staff.active || staff.passwordChangedAt !== session.passwordAt) {
      if (session && sessionId) await d.sessions.destroy(sessionId);
      if (ctx.method === 'GET' && !wantsJson(ctx) && !ctx.path.endsWith('/events') && !ctx.path.endsWith('/fragment')) {
        return ctx.redirect(`/admin/login?next=${encodeURIComponent(ctx.originalUrl)}`);
      }
      return fail(ctx, 401, '登录已失效，请重新登录');
    }
    // What its user did restarts the idle timeout; a live page refreshing itself does not.
    if (!isBackground(ctx)) await d.sessions.touch(sessionId!, session);
    const state: State = { actor: actorOf(staff), staff, session, sessionId: sessionId! };
    ctx.state.admin = state;
    if (staff.mustChangePassword && !ctx.path.startsWith('/admin/account/password') && ctx.path !== '/admin/logout') {
      if (ctx.method === 'GET') return ctx.redirect('/admin/account/password');
      return fail(ctx, 403, '请先修改临时密码');
    }
    await next();
  };
  const st = (ctx: Context) => ctx.state.admin as State;

  /** A state-changing request: same-site, and carrying the session's CSRF token (form field or header). */
  const checkedForm = async (ctx: Context, limit?: number): Promise<Record<string, string>> => {
    const form = await readForm(ctx, limit);
    const token = form._csrf ?? ctx.get('x-csrf-token');
    if (!crossSiteOk(ctx) || !sameToken(token, st(ctx).session.csrf)) ctx.throw(403, '请求已过期或来源不明（CSRF），请刷新页面后重试');
    return form;
  };

  const need = (action: PanelAction) => async (ctx: Context, next: Next) => {
    if (!allowed(st(ctx).actor, action)) return fail(ctx, 403, '您没有权限访问这个页面');
    await next();
  };

  const pageContext = async (ctx: Context): Promise<PageContext> => {
    const s = st(ctx);
    const [counts, alerts] = await Promise.all([d.reader.counts(s.actor), d.unreadAlerts?.(s.actor.id) ?? 0]);
    const flash = s.session.flash;
    if (flash) {
      delete s.session.flash;
      await d.sessions.save(s.sessionId, s.session);
    }
    const nav = (d.nav ?? []).filter((n) => n.visible(s.actor));
    return { actor: s.actor, session: s.session, accountName, departmentName, waiting: counts.waiting ?? 0, escalated: counts.escalated ?? 0, alerts, nav, ...(flash ? { flash } : {}) };
  };

  /** What a live page watches: its conversations, and the actor's unread alerts. */
  const livePulse = async (actor: StaffActor, handoff: number | null) => {
    const [v, alerts] = await Promise.all([d.reader.pulse(actor, handoff), d.unreadAlerts?.(actor.id) ?? 0]);
    return `${v}.${alerts}`;
  };
  const alertsHeader = async (ctx: Context) => ctx.set('X-Alerts', String((await d.unreadAlerts?.(st(ctx).actor.id)) ?? 0));

  const flash = async (ctx: Context, kind: 'ok' | 'error', text: string) => {
    const s = st(ctx);
    s.session.flash = { kind, text };
    await d.sessions.save(s.sessionId, s.session);
  };

  const send = (ctx: Context, page: SafeHtml, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page.value;
  };

  r.get('/', signedIn, async (ctx) => ctx.redirect('/admin/inbox'));

  r.post('/logout', signedIn, async (ctx) => {
    await checkedForm(ctx);
    const s = st(ctx);
    await d.sessions.destroy(s.sessionId);
    ctx.cookies.set(SESSION_COOKIE, '', { path: '/admin', maxAge: 0, overwrite: true });
    await d.audit.record({ actor: s.actor, action: 'sign-out', ip: ctx.ip });
    ctx.redirect('/admin/login');
  });

  // ---- own password --------------------------------------------------------------------------
  r.get('/account/password', signedIn, async (ctx) => {
    send(ctx, passwordPage(await pageContext(ctx), { forced: st(ctx).staff.mustChangePassword }));
  });

  r.post('/account/password', signedIn, async (ctx) => {
    const form = await checkedForm(ctx);
    const s = st(ctx);
    const again = async (error: string, status = 400) => send(ctx, passwordPage(await pageContext(ctx), { error, forced: s.staff.mustChangePassword }), status);
    if ((form.next ?? '') !== (form.repeat ?? '')) return again('两次输入的新密码不一致');
    // The current password is a password to guess like any other (with a session left open on a
    // shared computer): the same limit as signing in, per account, counted before it is checked.
    const target = `staff:${s.staff.id}`;
    const gate = await d.passwordThrottle.begin(target, null);
    if (!gate.ok) {
      if (gate.audit) await d.audit.record({ actor: s.actor, action: 'password-change-locked', target, detail: '锁定期间尝试修改密码（本次锁定期内只记录一次）', ip: ctx.ip });
      return again(passwordLockMessage(gate.retryMs), 429);
    }
    try {
      await d.accounts.changePassword(s.staff.id, form.current ?? '', form.next ?? '');
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      if (err.code !== 'wrong_password') {
        // The current password was right; only the new one was refused.
        await d.passwordThrottle.succeeded(gate.attempt);
        return again(err.message);
      }
      const { locked, retryMs, audit } = await d.passwordThrottle.failed(gate.attempt);
      await d.audit.record({ actor: s.actor, action: 'password-change-failed', target, detail: '当前密码不正确', ip: ctx.ip });
      if (audit) await d.audit.record({ actor: s.actor, action: 'password-change-locked', target, detail: '连续输错当前密码，已暂停修改密码', ip: ctx.ip });
      return locked ? again(passwordLockMessage(retryMs), 429) : again(err.message);
    }
    await d.passwordThrottle.succeeded(gate.attempt);
    await d.audit.record({ actor: s.actor, action: 'password-change', target: `staff:${s.staff.id}`, ip: ctx.ip });
    // Every other session of this account has ended; this one continues under a new id.
    const fresh = await d.accounts.get(s.staff.id);
    await d.sessions.destroy(s.sessionId);
    const { id, data } = await d.sessions.create(s.staff.id, fresh!.passwordChangedAt);
    data.flash = { kind: 'ok', text: '密码已修改。其他设备上的登录已失效。' };
    await d.sessions.save(id, data);
    ctx.cookies.set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/admin', secure: ctx.secure, overwrite: true });
    ctx.redirect('/admin/inbox');
  });

  // ---- the inbox ----------------------------------------------------------------------------
  const viewOf = (ctx: Context): InboxView => {
    const v = ctx.query.view;
    const mine = views(st(ctx).actor);
    if (typeof v === 'string' && (VIEWS as readonly string[]).includes(v) && mine.includes(v as InboxView)) return v as InboxView;
    return mine[0]!;
  };

  const listModel = async (ctx: Context): Promise<ListModel> => {
    const actor = st(ctx).actor;
    const view = viewOf(ctx);
    const before = intOf(typeof ctx.query.before === 'string' ? ctx.query.before : null);
    const [list, counts] = await Promise.all([d.reader.list(actor, view, before ? { before } : {}), d.reader.counts(actor)]);
    return { view, views: views(actor), counts, ...list, departmentName, categoryName: (id) => d.inbox.categoryName(id) };
  };

  r.get('/inbox', signedIn, async (ctx) => {
    const actor = st(ctx).actor;
    send(ctx, inboxPage(await pageContext(ctx), await listModel(ctx), fmt(), await livePulse(actor, null)));
  });

  r.get('/inbox/fragment', signedIn, async (ctx) => {
    const m = await listModel(ctx);
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('X-Pulse', await livePulse(st(ctx).actor, null));
    ctx.set('X-Counts', JSON.stringify(m.counts));
    await alertsHeader(ctx);
    ctx.body = inboxList(m, fmt()).value;
  });

  /** Record a view once per session and conversation in ten minutes (live refreshes are not new views). */
  const viewed = async (ctx: Context, h: HandoffRow) => {
    const s = st(ctx);
    const key = `admin:viewed:${createHash('sha256').update(s.sessionId).digest('base64url')}:${h.id}`;
    if (await d.kv.setIfAbsent(key, '1', 10 * MINUTE)) await d.inbox.recordView(s.actor, h, { ip: ctx.ip });
  };

  const conversationModel = async (ctx: Context, id: number, revealed = new Map<number | 'question', string>()): Promise<ConversationModel> => {
    const actor = st(ctx).actor;
    const h = await d.inbox.load(actor, id);
    await viewed(ctx, h);
    const [conv, timeline, citizen, facts] = await Promise.all([
      d.reader.conversation(actor, h),
      d.audit.list({ target: `handoff:${h.id}`, limit: 60 }),
      d.conversationLog.citizen(h.openid),
      d.citizenFacts ? d.citizenFacts(h.openid) : Promise.resolve<CitizenFacts>({ items: [] }),
    ]);
    // The audit log names staff by username: staff read their colleagues' names.
    const usernames = [...new Set(timeline.map((e) => e.actor).filter((u) => u !== 'system' && u !== 'citizen'))];
    const people = new Map<string, string>();
    for (const u of usernames) {
      const s = await d.accounts.byUsername(u);
      if (s) people.set(u, s.name);
    }
    const now = d.clock.now();
    const windowLeft = citizen?.subscribed ? serviceWindowLeft(citizen, now) : null;
    const dept = h.department ? d.inbox.departments.get(h.department) : undefined;
    const audience = d.profile.audiences?.options.find((a) => a.id === (citizen?.audience ?? h.audience))?.name ?? null;
    return {
      conv,
      departments: d.profile.departments,
      categories: d.profile.inbox.categories,
      departmentName,
      categoryName: (x) => d.inbox.categoryName(x),
      timeline: timeline.filter((e) => e.action !== 'view' && e.action !== 'unmask'),
      revealed,
      windowLeft,
      audience,
      ratingLabel: (level) => d.profile.inbox.rating.levels.find((l) => l.level === level)?.label ?? String(level),
      canned: dept?.canned_replies ?? [],
      nonce: randomBytes(12).toString('base64url'),
      fmt: fmt(),
      citizen: facts,
      staffName: (username) => people.get(username) ?? username,
      refWords: (ref) => refWords(ref, refNames),
      buttonName: (key) => refNames.button(key),
    };
  };

  const idParam = (ctx: Context): number => {
    const id = intOf(ctx.params.id);
    if (id === null) throw new InboxError('not_found', '没有这个会话');
    return id;
  };

  r.get('/inbox/:id', signedIn, async (ctx) => {
    const id = idParam(ctx);
    const model = await conversationModel(ctx, id);
    send(ctx, conversationPage(await pageContext(ctx), model, await livePulse(st(ctx).actor, id)));
  });

  r.get('/inbox/:id/fragment', signedIn, async (ctx) => {
    const id = idParam(ctx);
    const parts = conversationParts(await pageContext(ctx), await conversationModel(ctx, id));
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('X-Pulse', await livePulse(st(ctx).actor, id));
    await alertsHeader(ctx);
    ctx.body = `<div data-part="main">${parts.main.value}</div><div data-part="side">${parts.side.value}</div>`;
  });

  r.get('/inbox/:id/images/:image', signedIn, async (ctx) => {
    const h = await d.inbox.load(st(ctx).actor, idParam(ctx));
    const imageId = intOf(ctx.params.image);
    const image = imageId ? await d.inbox.image(imageId) : null;
    if (!image || image.handoffId !== h.id) return fail(ctx, 404, '没有这张图片');
    ctx.set({ 'Content-Security-Policy': "default-src 'none'; sandbox", 'Content-Disposition': 'inline' });
    ctx.type = image.mime;
    ctx.body = Buffer.from(image.data, 'base64');
  });

  /** Run a command from a form and come back to the conversation with a notice (or the error). */
  const act = (name: string, run: (ctx: Context, id: number, form: Record<string, string>) => Promise<string>, o: { limit?: number; back?: (id: number) => string } = {}) =>
    r.post(`/inbox/:id/${name}`, signedIn, async (ctx) => {
      const form = await checkedForm(ctx, o.limit);
      const id = idParam(ctx);
      const back = o.back?.(id) ?? `/admin/inbox/${id}`;
      try {
        const done = await run(ctx, id, form);
        if (wantsJson(ctx)) {
          ctx.body = { ok: true, message: done };
          return;
        }
        await flash(ctx, 'ok', done);
        ctx.redirect(back);
      } catch (err) {
        if (!(err instanceof InboxError) || err.code === 'not_found') throw err;
        if (wantsJson(ctx)) {
          ctx.status = err.code === 'forbidden' ? 403 : err.code === 'conflict' ? 409 : 400;
          ctx.body = { error: err.message };
          return;
        }
        if (err.code === 'forbidden') return fail(ctx, 403, err.message);
        await flash(ctx, 'error', err.message);
        ctx.redirect(`/admin/inbox/${id}`);
      }
    });
  const who = (ctx: Context) => ({ ip: ctx.ip });

  act('claim', async (ctx, id) => {
    await d.inbox.claim(st(ctx).actor, id, who(ctx));
    return '已领取，请尽快答复。';
  });
  act('assign', async (ctx, id, f) => {
    const to = intOf(f.staff);
    if (to === null) throw new InboxError('invalid', '请选择同事');
    await d.inbox.assign(st(ctx).actor, id, to, who(ctx));
    return '已指派。';
  });
  act(
    'transfer',
    async (ctx, id, f) => {
      await d.inbox.transfer(st(ctx).actor, id, f.department ?? '', f.note ?? '', who(ctx));
      return `会话 #${id} 已转办到${departmentName(f.department ?? null)}。`;
    },
    { back: () => '/admin/inbox' },
  );
  act('classify', async (ctx, id, f) => {
    await d.inbox.classify(st(ctx).actor, id, f.category ?? '', who(ctx));
    return `已分类为「${d.inbox.categoryName(f.category ?? null)}」，答复时限已按分类重新计算。`;
  });
  act(
    'reply',
    async (ctx, id, f) => {
      let input: ReplyInput;
      if (f.kind === 'link') input = { kind: 'link', url: f.link_url ?? '', title: f.link_title ?? '', text: f.text ?? '' };
      else if (f.kind === 'image') {
        const image = fromDataUrl(f.image_data ?? '');
        if (!image) throw new InboxError('invalid', '请选择要发送的图片');
        input = { kind: 'image', image, text: f.text ?? '' };
      } else input = { kind: 'text', text: f.text ?? '' };
      await d.inbox.reply(st(ctx).actor, id, input, { ...who(ctx), ...(f.nonce ? { nonce: f.nonce } : {}) });
      return '回复已提交，正在发送。';
    },
    { limit: 4 * 1024 * 1024 },
  );
  act('close', async (ctx, id) => {
    await d.inbox.close(st(ctx).actor, id, who(ctx));
    return '已办结，会话交还机器人。';
  });
  act('escalate', async (ctx, id, f) => {
    await d.inbox.escalate(st(ctx).actor, id, `上报：${clip((f.note ?? '').trim(), 300) || '请负责人督办'}`, who(ctx));
    return '已上报负责人督办。';
  });
  act('retry', async (ctx, id, f) => {
    const reply = intOf(f.reply);
    if (reply === null) throw new InboxError('invalid', '没有这条回复');
    await d.inbox.retryDelivery(st(ctx).actor, id, reply, who(ctx));
    return '已重新排队发送。';
  });

  r.post('/inbox/:id/reveal', signedIn, async (ctx) => {
    const form = await checkedForm(ctx);
    const id = idParam(ctx);
    const what = form.what === 'question' ? 'question' : intOf(form.what);
    if (what === null) throw new InboxError('not_found', '没有这条消息');
    const text = await d.inbox.reveal(st(ctx).actor, id, what === 'question' ? 'question' : { messageId: what }, who(ctx));
    if (wantsJson(ctx)) {
      ctx.body = { text };
      return;
    }
    const model = await conversationModel(ctx, id, new Map([[what, text]]));
    send(ctx, conversationPage(await pageContext(ctx), model, await livePulse(st(ctx).actor, id)));
  });

  // ---- live updates: server-sent events --------------------------------------------------------
  r.get('/events', signedIn, async (ctx) => {
    const s = st(ctx);
    const handoff = intOf(typeof ctx.query.handoff === 'string' ? ctx.query.handoff : null);
    if (handoff !== null) await d.inbox.load(s.actor, handoff); // 404 outside the actor's scope
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setKeepAlive(true);
    ctx.set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
    const stream = new PassThrough();
    ctx.status = 200;
    ctx.body = stream;
    let last = typeof ctx.query.since === 'string' ? ctx.query.since : '';
    let ticks = 0;
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        // The session may have ended (sign-out, password change, deactivation).
        const session = await d.sessions.load(s.sessionId);
        const staff = session ? await d.accounts.get(session.staffId) : null;
        if (!session || !staff?.active || staff.passwordChangedAt !== session.passwordAt) {
          stream.write('event: signed-out\ndata: {}\n\n');
          return stop();
        }
        const v = await livePulse(actorOf(staff), handoff);
        if (v !== last) {
          last = v;
          stream.write(`event: pulse\ndata: ${JSON.stringify({ v })}\n\n`);
        } else if (++ticks % 10 === 0) {
          stream.write(': keep-alive\n\n');
        }
      } catch (err) {
        d.logger.warn({ err }, 'live update check failed');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), d.pulseMs ?? 2000);
    const stop = () => {
      clearInterval(timer);
      stream.end();
    };
    ctx.req.on('close', stop);
    stream.write(`retry: 3000\n\n`);
    void tick();
  });

  // ---- dashboard ----------------------------------------------------------------------------
  r.get('/dashboard', signedIn, need('dashboard'), async (ctx) => {
    const actor = st(ctx).actor;
    const scope = departmentsOf(actor);
    const names = scope === null ? '全部部门' : scope.map(departmentName).join('、');
    send(ctx, dashboardPage(await pageContext(ctx), await d.stats.dashboard(scope), `转人工数据：${names}；消息、服务使用和答不上的问题：全账号`));
  });

  // ---- accounts (administrators) -------------------------------------------------------------
  const staffList = async () => d.accounts.list();

  r.get('/staff', signedIn, need('staff.manage'), async (ctx) => {
    send(ctx, staffPage(await pageContext(ctx), { staff: await staffList(), departments: d.profile.departments, fmt: fmt() }));
  });

  r.post('/staff', signedIn, need('staff.manage'), async (ctx) => {
    const f = await checkedForm(ctx);
    const s = st(ctx);
    const role = (ROLES as readonly string[]).includes(f.role ?? '') ? (f.role as Role) : null;
    try {
      if (!role) throw new AccountError('请选择角色');
      const { account, password } = await d.accounts.create({ username: (f.username ?? '').trim(), name: f.name ?? '', role, department: f.department || null });
      await d.audit.record({ actor: s.actor, action: 'staff-create', target: `staff:${account.id}`, department: account.department, detail: `${account.username}（${account.name}）`, ip: ctx.ip });
      await flash(ctx, 'ok', `已创建 ${account.name}（${account.username}），临时密码：${password}（只显示这一次，请当面或通过安全渠道告知本人）`);
      ctx.redirect('/admin/staff');
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      send(ctx, staffPage(await pageContext(ctx), { staff: await staffList(), departments: d.profile.departments, fmt: fmt(), error: err.message, form: f }), 400);
    }
  });

  const staffAction = (name: 'reset' | 'deactivate' | 'activate', action: AuditAction) =>
    r.post(`/staff/:id/${name}`, signedIn, need('staff.manage'), async (ctx) => {
      await checkedForm(ctx);
      const s = st(ctx);
      const id = intOf(ctx.params.id);
      const target = id ? await d.accounts.get(id) : null;
      if (!target) return fail(ctx, 404, '没有这个账号');
      if (target.id === s.staff.id) return fail(ctx, 400, '不能对自己的账号这样操作');
      let text: string;
      if (name === 'reset') {
        const password = await d.accounts.resetPassword(target.id);
        text = `已重置 ${target.name} 的密码，临时密码：${password}（只显示这一次）`;
      } else {
        await d.accounts.setActive(target.id, name === 'activate');
        text = name === 'activate' ? `已启用 ${target.name}` : `已停用 ${target.name}，其登录已失效`;
      }
      await d.audit.record({ actor: s.actor, action, target: `staff:${target.id}`, department: target.department, detail: target.username, ip: ctx.ip });
      await flash(ctx, 'ok', text);
      ctx.redirect('/admin/staff');
    });
  staffAction('reset', 'staff-reset');
  staffAction('deactivate', 'staff-deactivate');
  staffAction('activate', 'staff-activate');

  // ---- audit log (administrators) ------------------------------------------------------------
  r.get('/audit', signedIn, need('audit.read'), async (ctx) => {
    const action = typeof ctx.query.action === 'string' && ctx.query.action in AUDIT_ACTIONS ? (ctx.query.action as AuditAction) : '';
    const before = intOf(typeof ctx.query.before === 'string' ? ctx.query.before : null);
    const rows = await d.audit.list({ ...(action ? { action } : {}), ...(before ? { before } : {}), limit: 101 });
    send(ctx, auditPage(await pageContext(ctx), { rows: rows.slice(0, 100), fmt: fmt(), action, more: rows.length > 100 }));
  });

  const kit: PanelKit = { signedIn, actor: (ctx) => st(ctx).actor, checkedForm, pageContext, send, fail, flash, fmt, audit: d.audit };
  for (const extend of d.extend ?? []) extend(r, kit);
  return r;
}

/** A request a page makes by itself (live updates), not one its user made. */
function isBackground(ctx: Context): boolean {
  return ctx.method === 'GET' && (ctx.path === '/admin/events' || ctx.path.endsWith('/fragment'));
}

function wantsJson(ctx: Context): boolean {
  return ctx.get('x-requested-with') === 'fetch';
}

/**
 * Refuse requests a browser says come from another site (Sec-Fetch-Site) or whose Origin is not
 * ours. SameSite=Strict cookies already keep the session off such requests; this is the second
 * lock, and the CSRF token the third.
 */
function crossSiteOk(ctx: Context): boolean {
  const site = ctx.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  // (Koa 3's ctx.origin is the request's Origin header, not our own origin.)
  const origin = ctx.get('origin');
  if (origin === 'null') return false;
  if (origin && origin !== `${ctx.protocol}://${ctx.host}`) return false;
  return true;
}

function lockMessage(ms: number): string {
  return `登录失败次数过多，已临时锁定，请 ${Math.max(1, Math.ceil(ms / MINUTE))} 分钟后再试。`;
}

function passwordLockMessage(ms: number): string {
  return `当前密码输错次数过多，已暂停修改密码，请 ${Math.max(1, Math.ceil(ms / MINUTE))} 分钟后再试。`;
}

function htmlError(status: number, message: string): SafeHtml {
  const title = status === 404 ? '找不到' : status === 403 ? '不能这样做' : status === 401 ? '请重新登录' : '出错了';
  return bareBody(title, message);
}

function bareBody(title: string, message: string): SafeHtml {
  return html`<div class="card narrow"><h1>${title}</h1><p>${message}</p><p><a href="/admin/inbox">回到收件箱</a></p></div>`;
}
