import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/log.ts';
import { SOURCE_DIR } from '../paths.ts';
import { citizenActionSchema, CitizenWire, NotFollowingError, type AccountWire, type CitizenAction } from './citizen.ts';
import { EmulatedPay, type EmulatedMerchant } from './pay.ts';
import { EmulatedPlatform, PlatformError, type EmulatedTemplate } from './platform.ts';

export { EmulatedPlatform } from './platform.ts';
export { CitizenWire } from './citizen.ts';
export { EmulatedPay } from './pay.ts';
export type { CitizenAction, PhoneReply } from './citizen.ts';

export interface EmulatorOptions {
  account: AccountWire;
  secret: string;
  clock: Clock;
  log: Logger;
  templates?: EmulatedTemplate[];
  citizens?: { openid: string; nickname: string }[];
  /** Where the emulator is mounted (default /emulator). */
  prefix?: string;
  /** Shown in the phone's title bar. */
  accountName?: string;
  /** The address citizens' phones use (H5 links, web authorisation); the phone's identity cookie is set there. */
  publicUrl?: string;
  /**
   * The account's web-authorisation domain (网页授权域名): WeChat sends codes only to a redirect_uri
   * on it, and so does the emulator. Default: the host of `publicUrl`.
   */
  oauthDomain?: string;
  /**
   * Post TEMPLATESENDJOBFINISH by itself a moment after template messages, as WeChat does (the demo);
   * tests leave it off and call `reportDeliveries()` when they want the reports.
   */
  reportDeliveries?: boolean;
  /** The demo merchant the emulated WeChat Pay knows (when the profile pays through the emulator). */
  payMerchant?: EmulatedMerchant;
}

const ASSETS: Record<string, string> = { 'phone.html': 'text/html; charset=utf-8', 'phone.js': 'text/javascript; charset=utf-8', 'phone.css': 'text/css; charset=utf-8' };

/**
 * The WeChat emulator: platform API, a citizen phone, web authorisation. Mounted only when the
 * profile enables it; the demo and the tests run against it.
 */
export class Emulator {
  readonly platform: EmulatedPlatform;
  readonly wire: CitizenWire;
  /** WeChat Pay API v3, emulated (mounted under <prefix>/pay). */
  readonly pay: EmulatedPay;
  readonly prefix: string;
  /** Changes when the emulator restarts, so an open phone page knows to reload its inbox. */
  readonly boot = randomUUID();
  private reporting = false;

  constructor(private readonly o: EmulatorOptions) {
    this.prefix = o.prefix ?? '/emulator';
    this.platform = new EmulatedPlatform({ appid: o.account.appid, secret: o.secret, clock: o.clock, ...(o.templates ? { templates: o.templates } : {}) });
    this.wire = new CitizenWire(o.account, this.platform, o.clock);
    for (const c of o.citizens ?? []) this.platform.citizen(c.openid, c.nickname);
    // Notifications go to the account's notify_url; one on its public address is delivered to
    // where this process listens (the callback's origin), as a reverse proxy would.
    const local = new URL(o.account.callbackUrl).origin;
    const pub = o.publicUrl ? new URL(o.publicUrl).origin : null;
    this.pay = new EmulatedPay({
      clock: o.clock,
      log: o.log,
      route: (url) => (pub && url.startsWith(pub + '/') ? local + url.slice(pub.length) : url),
      paid: (openid) => this.platform.interacted(openid, 'payment'),
    });
    if (o.payMerchant) this.pay.addMerchant(o.payMerchant);
  }

  /** The account's web-authorisation domain: as configured, else where citizens' phones reach it. */
  private oauthDomain(ctx: Context): string {
    return this.o.oauthDomain ?? (this.o.publicUrl ? hostOf(this.o.publicUrl) : null) ?? ctx.host;
  }

  /** Act as a citizen (tests and the phone page). */
  act(openid: string, action: CitizenAction) {
    return this.wire.act(openid, action);
  }

  /**
   * Post the TEMPLATESENDJOBFINISH events WeChat sends after template messages (success, or
   * failed:user block for a citizen who refuses them), for every template sent since the last call.
   */
  async reportDeliveries(): Promise<number> {
    const reports = this.platform.takeDeliveryReports();
    for (const r of reports) await this.wire.act(r.openid, { type: 'template_send_finish', msgId: r.msgid, status: r.status });
    return reports.length;
  }

  routes(): Router {
    const r = new Router({ prefix: this.prefix });
    const p = this.platform;
    const api = (method: 'get' | 'post', path: string, fn: (ctx: Context, body: any) => unknown, opts: { auth?: boolean } = {}) => {
      r[method](path, async (ctx) => {
        let errcode = 0;
        try {
          p.takeFault(path);
          if (opts.auth !== false) p.authorize(typeof ctx.query.access_token === 'string' ? ctx.query.access_token : undefined);
          const body = method === 'post' ? await readJson(ctx) : undefined;
          const out = (await fn(ctx, body)) ?? {};
          ctx.body = { errcode: 0, errmsg: 'ok', ...(out as object) };
        } catch (err) {
          if (!(err instanceof PlatformError)) throw err;
          errcode = err.errcode;
          ctx.body = { errcode: err.errcode, errmsg: err.errmsg };
        } finally {
          p.calls.push({ path, at: this.o.clock.now(), errcode });
        }
      });
    };
    const q = (ctx: Context) => ctx.query as Record<string, string>;

    api('get', '/cgi-bin/token', (ctx) => stripOk(p.token(q(ctx))), { auth: false });
    api('post', '/cgi-bin/stable_token', (_ctx, b) => stripOk(p.stableToken(b ?? {})), { auth: false });
    api('post', '/cgi-bin/message/custom/send', (_ctx, b) => p.customSend(b ?? {}));
    api('post', '/cgi-bin/message/template/send', (_ctx, b) => {
      const res = p.templateSend(b ?? {});
      if (this.o.reportDeliveries && !this.reporting) {
        this.reporting = true;
        setTimeout(() => {
          this.reporting = false;
          this.reportDeliveries().catch((err: unknown) => this.o.log.warn({ err }, 'delivery reports not posted'));
        }, 1000).unref();
      }
      return res;
    });
    api('post', '/cgi-bin/message/subscribe/bizsend', (_ctx, b) => p.subscribeSend(b ?? {}));
    api('post', '/cgi-bin/menu/create', (_ctx, b) => p.menuCreate(b ?? {}));
    api('get', '/cgi-bin/menu/get', () => p.menuGet());
    api('get', '/cgi-bin/menu/delete', () => p.menuDelete());
    api('post', '/cgi-bin/qrcode/create', (_ctx, b) => p.qrcodeCreate(b ?? {}));
    api('get', '/cgi-bin/user/info', (ctx) => p.userInfo(q(ctx).openid ?? ''));
    api('get', '/cgi-bin/ticket/getticket', () => p.jsapiTicket());
    api('get', '/sns/oauth2/access_token', (ctx) => p.oauthExchange(q(ctx)), { auth: false });

    // Web authorisation: WeChat's browser knows the citizen and redirects back with a code.
    r.get('/connect/oauth2/authorize', async (ctx) => {
      const { appid, redirect_uri: redirect, scope, state, response_type: rt } = q(ctx);
      if (appid !== p.appid || rt !== 'code' || !redirect || !/^https?:\/\//.test(redirect)) {
        ctx.status = 400;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = '授权参数错误 (emulator: appid, response_type=code and an absolute redirect_uri are required)';
        return;
      }
      // WeChat redirects only to the account's registered web-authorisation domain (10003 otherwise).
      const domain = this.oauthDomain(ctx);
      if (hostOf(redirect) !== domain) {
        ctx.status = 400;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = `redirect_uri 参数错误 (emulator: 10003, the redirect_uri must be on the account's web-authorisation domain ${domain})`;
        return;
      }
      if (scope !== 'snsapi_base' && scope !== 'snsapi_userinfo') {
        ctx.status = 400;
        ctx.body = 'scope 参数错误或没有 scope 权限';
        return;
      }
      const openid = ctx.cookies.get('emu_openid');
      if (!openid || !/^[A-Za-z0-9_-]{6,64}$/.test(openid)) {
        ctx.status = 403;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = '请在模拟器的手机页面中打开此链接 (emulator: no citizen is signed in to this browser; open the link from the phone page)';
        return;
      }
      const target = new URL(redirect);
      target.searchParams.set('code', p.issueOAuthCode(openid));
      if (state !== undefined) target.searchParams.set('state', state);
      ctx.redirect(target.toString());
    });

    const pay = this.pay.routes('/pay');
    r.use(pay.routes(), pay.allowedMethods());

    // ---- the phone page -----------------------------------------------------------------------
    r.get('/phone', async (ctx) => serveAsset(ctx, 'phone.html'));
    r.get('/phone/assets/:file', async (ctx) => serveAsset(ctx, ctx.params.file ?? ''));

    r.get('/phone/api/state', async (ctx) => {
      const openid = q(ctx).openid ?? '';
      const after = Number(q(ctx).after ?? 0) || 0;
      const citizen = openid ? (p.findCitizen(openid) ?? null) : null;
      ctx.body = {
        boot: this.boot,
        publicUrl: this.o.publicUrl ?? null,
        account: { name: this.o.accountName ?? '公众号' },
        citizens: p.listCitizens().map((c) => ({ openid: c.openid, nickname: c.nickname, subscribed: c.subscribed })),
        citizen,
        menu: p.menu,
        qrcodes: p.liveQrCodes().map((x) => ({ scene: x.scene, permanent: x.permanent, ticket: x.ticket, url: x.url })),
        inbox: openid ? p.inbox(openid, after) : [],
        now: this.o.clock.now(),
      };
    });

    r.post('/phone/api/citizens', async (ctx) => {
      const b = (await readJson(ctx).catch(() => undefined)) ?? {};
      const nickname = typeof b.nickname === 'string' && b.nickname.trim() ? b.nickname.trim().slice(0, 20) : '新市民';
      const openid = `o_emu_${Math.random().toString(36).slice(2, 12)}`;
      p.citizen(openid, nickname);
      ctx.body = { openid, nickname };
    });

    r.post('/phone/api/act', async (ctx) => {
      const b = (await readJson(ctx).catch(() => undefined)) ?? {};
      const openid = typeof b.openid === 'string' && /^[A-Za-z0-9_-]{6,64}$/.test(b.openid) ? b.openid : null;
      const action = citizenActionSchema.safeParse(b.action);
      if (!openid || !action.success) {
        ctx.status = 400;
        ctx.body = { error: openid ? `action: ${action.error?.issues[0]?.message ?? 'invalid'}` : 'openid is required' };
        return;
      }
      try {
        const res = await this.wire.act(openid, action.data);
        ctx.body = { status: res.status, reply: res.reply, error: res.status === 200 ? undefined : res.raw.slice(0, 200) };
      } catch (err) {
        if (err instanceof NotFollowingError) {
          ctx.status = 409;
          ctx.body = { error: '请先关注公众号' };
          return;
        }
        this.o.log.warn({ err }, 'emulator: the callback could not be reached or answered badly');
        ctx.status = 502;
        ctx.body = { error: (err as Error).message };
      }
    });

    // Open an H5 link as this citizen: WeChat's browser would know who they are. Only a page of
    // this account, never another site (no open redirect from the origin the panel lives on).
    r.get('/phone/open', async (ctx) => {
      const { openid, url } = q(ctx);
      const here = `${ctx.protocol}://${ctx.host}`;
      const target = url ? ourUrl(url, here, this.o.publicUrl) : null;
      if (!openid || !/^[A-Za-z0-9_-]{6,64}$/.test(openid) || !target) {
        ctx.status = 400;
        ctx.body = 'openid and a URL of this account are required';
        return;
      }
      // The identity cookie must be set where the pages and web authorisation live.
      if (this.o.publicUrl && !sameOrigin(this.o.publicUrl, here)) {
        ctx.redirect(`${this.o.publicUrl.replace(/\/$/, '')}${ctx.path}?${ctx.querystring}`);
        return;
      }
      ctx.cookies.set('emu_openid', openid, { httpOnly: true, sameSite: 'lax', overwrite: true });
      ctx.redirect(target);
    });

    return r;
  }
}

/** The host (and port) of a URL, or null when it is not one. */
function hostOf(u: string): string | null {
  try {
    return new URL(u).host;
  } catch {
    return null;
  }
}

/**
 * `u` as a URL of this account — a path of ours (`/h5/…`, not `//host` nor `/\host`, which browsers
 * read as another host) or an absolute URL on our own origin — or null. Tabs and line breaks are
 * dropped first, as browsers drop them.
 */
export function ourUrl(u: string, here: string, publicUrl?: string): string | null {
  const s = u.replace(/[\t\n\r]/g, '');
  if (s.startsWith('/')) {
    if (/^\/[\/\\]/.test(s)) return null;
    const r = new URL(s, here);
    // Resolved, /.//host has become //host: a path that starts so would leave again.
    return sameOrigin(r.href, here) && !r.pathname.startsWith('//') ? r.pathname + r.search + r.hash : null;
  }
  if (!/^https?:\/\//i.test(s)) return null;
  return sameOrigin(s, here) || (!!publicUrl && sameOrigin(s, publicUrl)) ? new URL(s).href : null;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function stripOk<T extends object>(o: T): T {
  return o;
}

async function readJson(ctx: Context): Promise<any> {
  const raw = await getRawBody(ctx.req, { limit: 1024 * 1024, encoding: 'utf8' });
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new PlatformError(47001, 'data format error: body is not JSON');
  }
}

async function serveAsset(ctx: Context, file: string): Promise<void> {
  const type = ASSETS[file];
  if (!type) {
    ctx.status = 404;
    return;
  }
  ctx.type = type;
  ctx.set('Cache-Control', 'no-cache');
  ctx.body = await readFile(join(SOURCE_DIR, 'emulator', 'phone', file));
}
