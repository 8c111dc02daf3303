import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Core } from '../capability.ts';
import { html, type SafeHtml } from '../web/html.ts';
import type { CitizenSessions } from './http.ts';
import { careMode, message, page } from './layout.ts';

export interface RenderOptions {
  /** Where "返回" goes. */
  back?: string;
  status?: number;
  /** Data attributes for the page's script (the JS-SDK configuration …). */
  data?: Record<string, string>;
}

/**
 * What every citizen page needs, whichever capability it belongs to: the layout (WeUI, 长者模式),
 * the citizen behind the page (WeChat web authorisation, snsapi_base: only the openid, nothing
 * asked), the JS-SDK configuration, and the common answers (not found, expired).
 */
export interface PageKit {
  render(ctx: Context, title: string, body: SafeHtml, opts?: RenderOptions): void;
  notFound(ctx: Context, what: string): void;
  /** A form whose CSRF token or session has expired: say so, and offer the way back. */
  expired(ctx: Context, detail: string, again: { href: string; label: string }, status?: number): void;
  /** The signed-in citizen, or null after redirecting the browser through web authorisation. */
  citizen(ctx: Context): Promise<string | null>;
  /** The signed-in citizen or null, without redirecting (form posts, optional sign-in). */
  openid(ctx: Context): Promise<string | null>;
  /** wx.config for this page (locate the citizen, open the map, pay); pages work without it. */
  jsSdkFor(ctx: Context): Promise<string | undefined>;
  /**
   * What reaches the citizen in the account's messages, said truthfully: to a follower that it is
   * sent there; to someone who does not follow the account (WeChat refuses to message them,
   * 43004) that it cannot be, with an invitation to follow. `what` names it: 预约详情, 办理进展.
   */
  messagesNote(openid: string, what: string): Promise<{ follows: boolean; text: string }>;
  /** "12月5日 14:30" and "2026年12月5日", China time. */
  when(t: number): string;
  onDay(t: number): string;
}

export function pageKit(core: Core, sessions: CitizenSessions): PageKit {
  const render: PageKit['render'] = (ctx, title, body, opts = {}) => {
    ctx.status = opts.status ?? 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = core.wording(page(ctx, { title, body, care: careMode(ctx), ...(opts.back ? { back: opts.back } : {}), ...(opts.data ? { data: opts.data } : {}) }));
  };
  const local = (t: number) => core.calendar.localParts(t);
  return {
    render,
    notFound: (ctx, what) =>
      render(ctx, '没有找到', message('warn', `没有找到${what}`, '链接可能已经过期了。', html`<a class="weui-btn weui-btn_default" href="/h5/guides">看看办事指南</a>`), { status: 404 }),
    expired: (ctx, detail, again, status = 403) =>
      render(ctx, '请刷新页面', message('warn', '页面已过期', detail, html`<a class="weui-btn weui-btn_primary" href="${again.href}">${again.label}</a>`), { status }),
    async citizen(ctx) {
      const openid = await sessions.openid(ctx);
      if (openid) return openid;
      // Unguessable (CSPRNG): the state is what ties the authorisation's return to this browser.
      const state = randomBytes(16).toString('base64url');
      ctx.cookies.set('wb_oauth', state, { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/h5', maxAge: 10 * 60_000 });
      const back = `${core.publicUrl}/h5/auth?next=${encodeURIComponent(ctx.originalUrl)}`;
      ctx.redirect(core.api.oauth.authorizeUrl(back, state));
      return null;
    },
    openid: (ctx) => sessions.openid(ctx),
    async jsSdkFor(ctx) {
      try {
        return JSON.stringify(await core.api.jssdk.configFor(`${core.publicUrl}${ctx.originalUrl}`));
      } catch (err) {
        core.log.warn({ err }, 'JS-SDK signature unavailable; the page works without it');
        return undefined;
      }
    },
    async messagesNote(openid, what) {
      const follows = (await core.conversationLog.citizen(openid))?.subscribed === true;
      const name = core.profile.account.name;
      return follows
        ? { follows, text: `${what}也会发到公众号「${name}」的消息里。` }
        : { follows, text: `您还没有关注公众号「${name}」，${what}暂时没法发给您。关注后就能在微信里收到提醒：在微信里搜索「${name}」，或扫描大厅里的二维码关注。` };
    },
    when(t) {
      const p = local(t);
      return `${p.month}月${p.day}日 ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
    },
    onDay(t) {
      const p = local(t);
      return `${p.year}年${p.month}月${p.day}日`;
    },
  };
}

/** A positive integer from a path or query parameter, or undefined. */
export function intParam(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) return undefined;
  return Number(v);
}
