import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Kv } from '../platform/kv/index.ts';

/**
 * Every response under /h5 carries these, a 404 included (the app sets them: see app.ts): no
 * third-party resources, no inline script, no <base> to re-point relative links, framed only by
 * ourselves (the emulator's phone); and never kept in a cache — pages show a citizen's bookings,
 * drafts with their ID number, their cases (a shared phone's history must not replay them).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

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

/**
 * Citizens' page sessions: a random id in an httpOnly cookie, the openid in the shared kv under
 * the id's hash — like staff sessions, a copy of the store (a Redis dump) holds no usable cookie.
 */
export class CitizenSessions {
  constructor(private readonly kv: Kv) {}

  static key(sid: string): string {
    return `h5:sid:${createHash('sha256').update(sid).digest('base64url')}`;
  }

  async openid(ctx: Context): Promise<string | null> {
    const sid = ctx.cookies.get(SID_COOKIE);
    if (!sid || !/^[A-Za-z0-9_-]{32}$/.test(sid)) return null;
    return this.kv.get(CitizenSessions.key(sid));
  }

  async start(ctx: Context, openid: string): Promise<void> {
    const sid = randomBytes(24).toString('base64url');
    await this.kv.set(CitizenSessions.key(sid), openid, SESSION_TTL);
    ctx.cookies.set(SID_COOKIE, sid, { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: SESSION_TTL });
  }
}

/** Only our own pages are places to go back to after signing in (no open redirect). */
export function safeNext(next: string | null | undefined): string {
  return next && /^\/h5\/[\w\-/?=&%.]*$/.test(next) && !next.startsWith('//') ? next : '/h5/bookings';
}

export interface MultipartFile {
  field: string;
  fileName: string;
  data: Buffer;
  truncated: boolean;
}

/**
 * A multipart form (file uploads), read with limits: files larger than `maxFileBytes` are cut and
 * flagged (the caller reports them), too many parts or too much in all is refused with 413.
 */
export async function readMultipart(ctx: Context, limits: { maxFileBytes: number; maxFiles: number; maxTotalBytes: number }): Promise<{ fields: Record<string, string>; files: MultipartFile[] }> {
  const type = ctx.get('content-type');
  if (!type.startsWith('multipart/form-data')) ctx.throw(415, '请用表单提交');
  const declared = Number(ctx.get('content-length') || NaN);
  if (Number.isFinite(declared) && declared > limits.maxTotalBytes) ctx.throw(413, '上传的内容太多了，请分几次上传或换小一点的文件');
  const { default: busboy } = await import('busboy');
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: MultipartFile[] = [];
    let total = 0;
    let failed = false;
    const fail = (status: number, message: string) => {
      if (failed) return;
      failed = true;
      ctx.req.unpipe();
      ctx.req.resume();
      reject(Object.assign(new Error(message), { status, expose: true }));
    };
    let bb: ReturnType<typeof busboy>;
    try {
      bb = busboy({ headers: ctx.req.headers, limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: 60, fieldSize: 8 * 1024, parts: limits.maxFiles + 60 }, defParamCharset: 'utf8' });
    } catch {
      // A multipart type without a boundary (or one busboy cannot read): the client's mistake.
      return fail(400, '表单格式不对，请返回重新提交');
    }
    bb.on('field', (name, value) => {
      if (typeof name === 'string' && name.length <= 40) fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      let truncated = false;
      stream.on('data', (c: Buffer) => {
        total += c.length;
        if (total > limits.maxTotalBytes) fail(413, '上传的内容太多了，请分几次上传或换小一点的文件');
        else chunks.push(c);
      });
      stream.on('limit', () => (truncated = true));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        if (data.length > 0 || info.filename) files.push({ field: name, fileName: info.filename || 'file', data, truncated });
      });
    });
    bb.on('filesLimit', () => fail(413, '一次上传的文件太多了'));
    bb.on('partsLimit', () => fail(413, '表单内容太多了'));
    bb.on('error', () => fail(400, '表单没有传完整，请重新提交'));
    bb.on('close', () => {
      if (!failed) resolve({ fields, files });
    });
    ctx.req.pipe(bb);
  });
}
