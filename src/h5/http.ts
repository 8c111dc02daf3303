import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Kv } from '../platform/kv/index.ts';

/** A form post, url-encoded, at most 64 KiB. */
export async function readForm(ctx: Context): Promise<URLSearchParams> {
  const type = ctx.get('content-type');
  if (!type.startsWith('application/x-www-form-urlencoded')) ctx.throw(415, '请用表单提交');
  const raw = await getRawBody(ctx.req, { limit: 64 * 1024, encoding: 'utf8' }).catch(() => ctx.throw(413, '提交的内容太多了'));
  return new URLSearchParams(raw);
}

const CSRF_COOKIE = 'wb_csrf';

/**
 * CSRF tokens, double-submit style: a random token in an httpOnly SameSite cookie, repeated in
 * every form; a post whose form token does not equal the cookie is refused. Works for pages
 * with and without a signed-in citizen.
 */
export function csrfToken(ctx: Context): string {
  const known = (ctx.state as { csrf?: string }).csrf;
  if (known) return known;
  let t = ctx.cookies.get(CSRF_COOKIE);
  if (!t || !/^[A-Za-z0-9_-]{32}$/.test(t)) {
    t = randomBytes(24).toString('base64url');
    ctx.cookies.set(CSRF_COOKIE, t, { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/' });
  }
  (ctx.state as { csrf?: string }).csrf = t; // one token per response, however many forms
  return t;
}

export function csrfOk(ctx: Context, form: URLSearchParams): boolean {
  const cookie = ctx.cookies.get(CSRF_COOKIE) ?? '';
  const given = form.get('_csrf') ?? '';
  if (cookie.length !== 32 || given.length !== 32) return false;
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(given));
}

const SID_COOKIE = 'wb_sid';
const SESSION_TTL = 7 * 24 * 3_600_000;

/** Citizens' page sessions: a random id in an httpOnly cookie, the openid in the shared kv. */
export class CitizenSessions {
  constructor(private readonly kv: Kv) {}

  async openid(ctx: Context): Promise<string | null> {
    const sid = ctx.cookies.get(SID_COOKIE);
    if (!sid || !/^[A-Za-z0-9_-]{32}$/.test(sid)) return null;
    return this.kv.get(`h5:sid:${sid}`);
  }

  async start(ctx: Context, openid: string): Promise<void> {
    const sid = randomBytes(24).toString('base64url');
    await this.kv.set(`h5:sid:${sid}`, openid, SESSION_TTL);
    ctx.cookies.set(SID_COOKIE, sid, { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: SESSION_TTL });
  }
}

/** Only our own pages are places to go back to after signing in (no open redirect). */
export function safeNext(next: string | null | undefined): string {
  return next && /^\/h5\/[\w\-/?=&%.]*$/.test(next) && !next.startsWith('//') ? next : '/h5/bookings';
}
