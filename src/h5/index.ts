import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { DataSource } from 'typeorm';
import { CitizenEntity } from '../chat/log.ts';
import { SOURCE_DIR } from '../paths.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Service } from '../profile/catalogue.ts';
import { isValidAt } from '../profile/validity.ts';
import type { Appointments } from '../services/appointments/index.ts';
import { BookingError } from '../services/appointments/index.ts';
import { CaseError, type Cases } from '../services/cases/index.ts';
import type { CaseRow } from '../services/cases/entities.ts';
import type { Upload } from '../services/cases/forms.ts';
import { applyBody, caseCard, correctionForm, timelineHtml } from './pages/cases.ts';
import type { Halls } from '../services/halls/index.ts';
import { describeOpenings } from '../services/halls/index.ts';
import type { WeChatApi } from '../wechat/api/index.ts';
import { html } from '../web/html.ts';
import { CitizenSessions, csrfOk, readForm, readMultipart, safeNext } from './http.ts';
import { careMode, message, page } from './layout.ts';
import { bookBody, bookingCard } from './pages/booking.ts';
import { guideBody, guidesBody } from './pages/guide.ts';
import { hallBody, hallsBody, type Here } from './pages/halls.ts';

export interface H5Deps {
  services: Service[];
  halls: Halls;
  appointments: Appointments;
  cases: Cases;
  calendar: WorkingCalendar;
  api: WeChatApi;
  kv: Kv;
  db: DataSource;
  clock: Clock;
  publicUrl: string;
  log: Logger;
}

const require = createRequire(import.meta.url);

/** Static files for the pages: WeUI and the JS-SDK from their packages, ours from src/h5/assets. */
function staticFiles(): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  files.set('weui.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(require.resolve('weui/package.json'), '..', 'dist', 'style', 'weui.min.css')) });
  // The JS-SDK package is CommonJS; give it a module object so it runs as a plain script.
  const sdk = readFileSync(require.resolve('weixin-js-sdk'), 'utf8');
  files.set('jweixin.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(`(function(){var module={exports:{}};${sdk}\n;window.wx=window.wx||module.exports;})();`) });
  for (const f of ['h5.css', 'h5.js']) files.set(f, { type: f.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', body: readFileSync(join(SOURCE_DIR, 'h5', 'assets', f)) });
  return files;
}

/**
 * The citizen pages. Guides and halls are open to anyone; booking and 我的预约 know the citizen
 * through WeChat web authorisation with snsapi_base (silent: only the openid, no login, nothing
 * asked). Every form carries a CSRF token; a citizen sees and changes only their own bookings.
 */
export function h5Routes(d: H5Deps): Router {
  const r = new Router();
  const sessions = new CitizenSessions(d.kv);
  const files = staticFiles();
  const byId = new Map(d.services.map((s) => [s.id, s]));

  r.get('/favicon.ico', async (ctx) => {
    ctx.status = 204;
    ctx.set('Cache-Control', 'public, max-age=86400');
  });

  r.get('/static/:file', async (ctx) => {
    const f = files.get(ctx.params.file ?? '');
    if (!f) return ctx.throw(404);
    ctx.type = f.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = f.body;
  });

  // Pages: no third-party resources, no inline script, framed only by ourselves (the emulator).
  r.use('/h5', async (ctx, next) => {
    ctx.set('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'self'; form-action 'self'");
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'same-origin');
    await next();
  });

  const render = (ctx: Context, title: string, body: ReturnType<typeof html>, opts: { back?: string; status?: number; data?: Record<string, string> } = {}) => {
    ctx.status = opts.status ?? 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page(ctx, { title, body, care: careMode(ctx), ...(opts.back ? { back: opts.back } : {}), ...(opts.data ? { data: opts.data } : {}) });
  };
  const notFound = (ctx: Context, what: string) => render(ctx, '没有找到', message('warn', `没有找到${what}`, '链接可能已经过期了。', html`<a class="weui-btn weui-btn_default" href="/h5/guides">看看办事指南</a>`), { status: 404 });
  const live = (s: Service | undefined): s is Service => !!s && isValidAt(s, d.clock.now());

  /** The signed-in citizen, or a redirect through web authorisation (snsapi_base). */
  async function citizen(ctx: Context): Promise<string | null> {
    const openid = await sessions.openid(ctx);
    if (openid) return openid;
    // Unguessable (CSPRNG): the state is what ties the authorisation's return to this browser.
    const state = randomBytes(16).toString('base64url');
    ctx.cookies.set('wb_oauth', state, { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/h5', maxAge: 10 * 60_000 });
    const back = `${d.publicUrl}/h5/auth?next=${encodeURIComponent(ctx.originalUrl)}`;
    ctx.redirect(d.api.oauth.authorizeUrl(back, state));
    return null;
  }

  r.get('/h5/auth', async (ctx) => {
    const { code, state, next } = ctx.query as Record<string, string | undefined>;
    if (!code || !state || state !== ctx.cookies.get('wb_oauth')) {
      return render(ctx, '请在微信中打开', message('warn', '请在微信中打开', '这个页面需要在微信里打开，我们只读取您的微信身份标识，不需要注册或登录。', html``), { status: 400 });
    }
    let openid: string;
    try {
      openid = (await d.api.oauth.exchange(code)).openid;
    } catch (err) {
      d.log.warn({ err }, 'web authorisation failed');
      return render(ctx, '请稍后再试', message('warn', '身份确认没有成功', '请返回公众号重新打开这个页面。', html``), { status: 502 });
    }
    await sessions.start(ctx, openid);
    const c = await d.db.getRepository(CitizenEntity).findOneBy({ openid });
    if (c?.careMode) ctx.cookies.set('wb_care', '1', { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: 365 * 86_400_000 });
    ctx.redirect(safeNext(next));
  });

  r.post('/h5/care', async (ctx) => {
    const form = await readForm(ctx);
    if (!csrfOk(ctx, form)) return render(ctx, '请刷新页面', message('warn', '页面已过期', '请返回刷新后再试。', html``), { status: 403 });
    const on = form.get('on') === '1';
    ctx.cookies.set('wb_care', on ? '1' : '0', { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: 365 * 86_400_000 });
    const openid = await sessions.openid(ctx);
    if (openid) {
      const now = d.clock.now();
      const res = await d.db.getRepository(CitizenEntity).update({ openid }, { careMode: on, updatedAt: now });
      if (!res.affected) {
        await d.db.createQueryBuilder().insert().into(CitizenEntity).values({ openid, subscribed: false, firstSeenAt: now, updatedAt: now, careMode: on }).orIgnore().execute();
      }
    }
    ctx.redirect(safeNext(form.get('next')));
  });

  // ---- open to anyone ------------------------------------------------------------------------

  r.get('/h5/guides', async (ctx) => render(ctx, '办事指南', guidesBody(d.services.filter(live))));

  r.get('/h5/guide/:id', async (ctx) => {
    const s = byId.get(ctx.params.id ?? '');
    if (!live(s)) return notFound(ctx, '这项服务');
    render(ctx, s.name, guideBody(s), { back: '/h5/guides' });
  });

  r.get('/h5/halls', async (ctx) => {
    const now = d.clock.now();
    const here = hereFrom(ctx.query);
    const serviceId = typeof ctx.query.service === 'string' ? ctx.query.service : null;
    const service = serviceId ? byId.get(serviceId) : undefined;
    let halls = d.halls.list;
    if (service) halls = halls.filter((h) => h.windows.some((w) => w.services.includes(service.id)));
    const ordered = here ? d.halls.nearest(here, d.halls.list.length).filter((x) => halls.includes(x.hall)) : halls.map((hall) => ({ hall, meters: null }));
    const lines = [];
    for (const { hall, meters } of ordered) {
      lines.push({ hall, meters, status: statusLine(hall.id, now), remaining: await d.appointments.remainingToday(hall.id, now) });
    }
    const jssdk = await jsSdkFor(ctx);
    render(ctx, '附近的办事大厅', hallsBody(lines, service?.name ?? null, here), jssdk ? { data: { jssdk } } : {});
  });

  /** wx.config for this page (locate the citizen, open the map); the pages work without it. */
  const jsSdkFor = async (ctx: Context): Promise<string | undefined> => {
    try {
      return JSON.stringify(await d.api.jssdk.configFor(`${d.publicUrl}${ctx.originalUrl}`));
    } catch (err) {
      d.log.warn({ err }, 'JS-SDK signature unavailable; the page works without it');
      return undefined;
    }
  };

  const statusLine = (hallId: string, now: number): string => {
    const hall = d.halls.get(hallId)!;
    const s = d.halls.status(hall, now);
    if (s.open) return `正在开放，今天 ${describeOpenings(d.halls.openings(hall, now), d.calendar)}`;
    if (s.nextOpen === null) return `暂停开放${s.closedBecause ? `（${s.closedBecause}）` : ''}`;
    const p = d.calendar.localParts(s.nextOpen);
    const same = d.halls.dayStart(s.nextOpen) === d.halls.dayStart(now);
    return `${s.closedBecause ? `${s.closedBecause}，` : '现在不开放，'}${same ? '今天' : `${p.month}月${p.day}日`} ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')} 开门`;
  };

  r.get('/h5/halls/:id', async (ctx) => {
    const hall = d.halls.get(ctx.params.id ?? '');
    if (!hall) return notFound(ctx, '这个大厅');
    const now = d.clock.now();
    const handled = [...new Set(hall.windows.flatMap((w) => w.services))].map((id) => byId.get(id)).filter(live);
    const closures = hall.closures.filter((c) => c.until >= d.halls.dayKey(now)).map((c) => `${c.from === c.until ? c.from : `${c.from} 至 ${c.until}`} ${c.reason}`);
    const here = hereFrom(ctx.query);
    const meters = here ? (d.halls.nearest(here, d.halls.list.length).find((x) => x.hall.id === hall.id)?.meters ?? null) : null;
    const jssdk = await jsSdkFor(ctx);
    render(
      ctx,
      hall.name,
      hallBody({ hall, status: statusLine(hall.id, now), meters, remaining: await d.appointments.remainingToday(hall.id, now), closures, calendar: d.calendar, services: handled.map((s) => ({ id: s.id, name: s.name, bookable: !!s.appointment?.halls.includes(hall.id) })) }),
      { back: `/h5/halls${here ? `?lat=${here.latitude}&lng=${here.longitude}` : ''}`, ...(jssdk ? { data: { jssdk } } : {}) },
    );
  });

  // ---- the citizen's own -----------------------------------------------------------------------

  const bookPage = async (ctx: Context, openid: string, serviceId: string, q: { hall?: string; day?: number; start?: number; contact?: Record<string, string>; reschedule?: number; error?: string }) => {
    const service = d.appointments.service(serviceId);
    if (!service) return notFound(ctx, '可以预约的这项服务');
    const halls = d.appointments.hallsFor(serviceId);
    const hall = halls.find((h) => h.id === q.hall) ?? halls[0]!;
    const replacing = q.reschedule ? await d.appointments.own(openid, q.reschedule).catch(() => null) : null;
    const days = await d.appointments.days(serviceId, hall.id);
    const day = days.find((x) => x.day === q.day) ?? days.find((x) => x.free > 0) ?? days[0] ?? null;
    render(ctx, `预约 · ${service.name}`, bookBody(ctx, d.appointments, { service, halls, hall, days, day, chosen: q.start ?? null, contact: q.contact ?? {}, replacing, error: q.error ?? null }), {
      back: `/h5/guide/${serviceId}`,
      ...(q.error ? { status: 409 } : {}),
    });
  };

  const intParam = (v: unknown): number | undefined => {
    if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) return undefined;
    return Number(v);
  };

  r.get('/h5/book/:service', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const q = ctx.query as Record<string, string | undefined>;
    await bookPage(ctx, openid, ctx.params.service ?? '', {
      ...(q.hall ? { hall: q.hall } : {}),
      ...(intParam(q.day) !== undefined ? { day: intParam(q.day)! } : {}),
      ...(intParam(q.reschedule) !== undefined ? { reschedule: intParam(q.reschedule)! } : {}),
    });
  });

  r.post('/h5/book/:service', async (ctx) => {
    const openid = await sessions.openid(ctx);
    if (!openid) return render(ctx, '请在微信中打开', message('warn', '请重新打开预约页面', '身份信息已过期。', html`<a class="weui-btn weui-btn_primary" href="/h5/book/${ctx.params.service ?? ''}">重新打开</a>`), { status: 401 });
    const form = await readForm(ctx);
    const serviceId = ctx.params.service ?? '';
    if (!csrfOk(ctx, form)) return render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/book/${serviceId}">刷新</a>`), { status: 403 });
    const hall = form.get('hall') ?? '';
    const start = intParam(form.get('start') ?? undefined);
    const reschedule = intParam(form.get('reschedule') ?? undefined);
    const contact: Record<string, string> = {};
    for (const k of ['name', 'phone', 'id_card']) {
      const v = form.get(k);
      if (v !== null) contact[k] = v.slice(0, 40);
    }
    const again = (error: string, status = 409) =>
      bookPage(ctx, openid, serviceId, { hall, contact, error, ...(start !== undefined ? { start, day: d.halls.dayStart(start) } : {}), ...(reschedule !== undefined ? { reschedule } : {}) }).then(() => {
        ctx.status = status;
      });
    if (!/^[a-z0-9-]{1,48}$/.test(hall)) return again('请选择大厅。', 400);
    if (start === undefined) return again('请选择一个时间。', 400);
    try {
      const b =
        reschedule !== undefined
          ? await d.appointments.reschedule(openid, reschedule, { hallId: hall, start, channel: 'h5', notify: true })
          : await d.appointments.book({ openid, serviceId, hallId: hall, start, contact, channel: 'h5', notify: true });
      ctx.redirect(`/h5/bookings/${b.id}?done=1`);
    } catch (err) {
      if (err instanceof BookingError) return again(err.message, err.code === 'not_found' ? 404 : 409);
      throw err;
    }
  });

  r.get('/h5/bookings', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const now = d.clock.now();
    const mine = await d.appointments.mine(openid, now);
    const body = mine.length
      ? html`${mine.map((b) => bookingCard(ctx, d.appointments, b, d.halls.get(b.hallId), now))}`
      : message('info', '还没有预约', '可以先看看办事指南，再预约到大厅办理的时间。', html`<a class="weui-btn weui-btn_primary" href="/h5/guides">办事指南</a>`);
    render(ctx, '我的预约', body);
  });

  r.get('/h5/bookings/:id', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const id = intParam(ctx.params.id);
    const b = id === undefined ? null : await d.appointments.own(openid, id).catch(() => null);
    if (!b) return notFound(ctx, '这条预约');
    const card = bookingCard(ctx, d.appointments, b, d.halls.get(b.hallId), d.clock.now());
    const done = ctx.query.done === '1';
    render(ctx, done ? '预约成功' : '预约详情', done ? html`${message('success', '预约成功', '详情也已经发到公众号消息里，到大厅后扫码签到取号。', html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`)}${card}` : card, { back: '/h5/bookings' });
  });

  r.post('/h5/bookings/:id/cancel', async (ctx) => {
    const openid = await sessions.openid(ctx);
    const form = await readForm(ctx);
    if (!openid || !csrfOk(ctx, form)) return render(ctx, '请刷新页面', message('warn', '页面已过期', '请回到我的预约，刷新后再试。', html`<a class="weui-btn weui-btn_primary" href="/h5/bookings">我的预约</a>`), { status: 403 });
    const id = intParam(ctx.params.id);
    try {
      if (id === undefined) throw new BookingError('not_found', '没有找到这条预约。');
      await d.appointments.cancel(openid, id);
      render(ctx, '已取消', message('success', '已取消预约', '名额已经让给其他人了。需要的话可以重新预约。', html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`));
    } catch (err) {
      if (!(err instanceof BookingError)) throw err;
      render(ctx, '不能取消', message('warn', '不能取消', err.message, html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`), { status: err.code === 'not_found' ? 404 : 409 });
    }
  });

  // ---- applications and cases ----------------------------------------------------------------

  const when = (t: number) => {
    const p = d.calendar.localParts(t);
    return `${p.month}月${p.day}日 ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
  };
  const onDay = (t: number) => {
    const p = d.calendar.localParts(t);
    return `${p.year}年${p.month}月${p.day}日`;
  };
  const uploadLimits = (s: NonNullable<ReturnType<Cases['service']>>) => {
    const files = s.application.form.filter((f) => f.type === 'file') as { max_kb: number; max_files: number }[];
    const maxKb = Math.max(10, ...files.map((f) => f.max_kb));
    return { maxFileBytes: maxKb * 1024 + 1, maxFiles: files.reduce((n, f) => n + f.max_files, 0) + 2, maxTotalBytes: files.reduce((n, f) => n + f.max_kb * 1024 * f.max_files, 0) + 256 * 1024 };
  };
  const uploadsOf = (files: { field: string; fileName: string; data: Buffer; truncated: boolean }[]): Upload[] =>
    files.map((f) => ({ fieldId: f.field, fileName: f.fileName, data: f.data, truncated: f.truncated }));

  r.get('/h5/apply', async (ctx) => {
    const items = d.cases.applicable();
    render(ctx, '网上申请', html`<div class="weui-cells">${items.map((s) => html`<a class="weui-cell weui-cell_access" href="/h5/apply/${s.id}"><div class="weui-cell__bd"><p>${s.name}</p></div><div class="weui-cell__ft">${s.application.time_limit_days} 个工作日</div></a>`)}</div>`);
  });

  const applyPage = async (ctx: Context, openid: string, serviceId: string, o: { values?: Record<string, string>; errors?: Record<string, string>; message?: string; saved?: boolean; removed?: boolean; status?: number } = {}) => {
    const s = d.cases.service(serviceId);
    if (!s) return notFound(ctx, '可以网上申请的这项服务');
    const draft = await d.cases.draft(openid, serviceId);
    render(ctx, `申请 · ${s.name}`, applyBody(ctx, s, { values: { ...draft.values, ...(o.values ?? {}) }, kept: draft.attachments, errors: o.errors ?? {}, message: o.message ?? null, saved: o.saved ?? false, removed: o.removed ?? false }), {
      back: `/h5/guide/${s.id}`,
      ...(o.status ? { status: o.status } : {}),
    });
  };

  r.get('/h5/apply/:service', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    await applyPage(ctx, openid, ctx.params.service ?? '', { saved: ctx.query.saved === '1', removed: ctx.query.removed === '1' });
  });

  /** 删除 next to a file already in the draft (a wrong photo): only the citizen's own draft file. */
  r.post('/h5/apply/:service/files/:id/delete', async (ctx) => {
    const serviceId = ctx.params.service ?? '';
    const s = d.cases.service(serviceId);
    if (!s) return notFound(ctx, '可以网上申请的这项服务');
    const openid = await sessions.openid(ctx);
    const form = await readForm(ctx);
    if (!openid || !csrfOk(ctx, form)) return render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后再删除。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">刷新</a>`), { status: 403 });
    const id = intParam(ctx.params.id);
    if (id === undefined || !(await d.cases.removeDraftFile(openid, id, serviceId))) return notFound(ctx, '这个文件');
    // The button posts the whole form: what was typed so far is kept, as 保存草稿 would.
    const files = new Set(s.application.form.filter((f) => f.type === 'file').map((f) => f.id));
    await d.cases.saveDraft(openid, serviceId, Object.fromEntries([...form].filter(([k]) => k !== '_csrf' && k !== 'action' && !files.has(k))), []);
    ctx.redirect(`/h5/apply/${serviceId}?removed=1`);
  });

  r.post('/h5/apply/:service', async (ctx) => {
    const serviceId = ctx.params.service ?? '';
    const s = d.cases.service(serviceId);
    if (!s) return notFound(ctx, '可以网上申请的这项服务');
    const openid = await sessions.openid(ctx);
    if (!openid) return render(ctx, '请重新打开', message('warn', '请重新打开申请页面', '身份信息已过期，已填的内容保存在草稿里。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">重新打开</a>`), { status: 401 });
    const { fields, files } = await readMultipart(ctx, uploadLimits(s));
    if (!csrfOk(ctx, new URLSearchParams({ _csrf: fields._csrf ?? '' }))) return render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">刷新</a>`), { status: 403 });
    const uploads = uploadsOf(files);
    try {
      if (fields.action === 'draft') {
        const errors = await d.cases.saveDraft(openid, serviceId, fields, uploads);
        if (Object.keys(errors).length) return applyPage(ctx, openid, serviceId, { values: fields, errors, message: '草稿已保存，有几项需要改一下。', status: 400 });
        return ctx.redirect(`/h5/apply/${serviceId}?saved=1`);
      }
      const c = await d.cases.submit(openid, serviceId, fields, uploads);
      ctx.redirect(`/h5/cases/${c.id}?submitted=1`);
    } catch (err) {
      if (!(err instanceof CaseError)) throw err;
      const reselect = uploads.length ? '（上传的文件没有保存，请重新选择）' : '';
      return applyPage(ctx, openid, serviceId, { values: fields, errors: err.fields, message: err.message + reselect, status: 400 });
    }
  });

  r.post('/h5/apply/:service/draft', async (ctx) => {
    const openid = await sessions.openid(ctx);
    const form = await readForm(ctx);
    if (!openid || !csrfOk(ctx, form)) ctx.throw(403);
    const fields = Object.fromEntries([...form].filter(([k]) => k !== '_csrf' && k !== 'action'));
    const errors = await d.cases.saveDraft(openid!, ctx.params.service ?? '', fields, []).catch((err) => {
      if (err instanceof CaseError) ctx.throw(404);
      throw err;
    });
    ctx.body = { saved: true, errors };
  });

  r.get('/h5/cases', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const mine = await d.cases.mine(openid);
    const body = mine.length
      ? html`${mine.map((c) => caseCard(d.cases, d.cases.service(c.serviceId), c, onDay, true))}`
      : message('info', '还没有办件', '在网上申请后，办理进度会显示在这里。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply">网上申请</a>`);
    render(ctx, '我的办件', body);
  });

  const casePage = async (ctx: Context, openid: string, id: number, o: { errors?: Record<string, string>; note?: string; error?: string; status?: number } = {}) => {
    const errors = o.errors ?? {};
    const c = await d.cases.own(openid, id).catch(() => null);
    if (!c) return notFound(ctx, '这个办件');
    const s = d.cases.service(c.serviceId);
    const events = await d.cases.timeline(c.id);
    const files = await d.cases.attachments(c.id, { current: true });
    const body = html`
${ctx.query.submitted === '1' ? message('success', '申请已提交', html`办件编号 <strong>${c.caseNo}</strong>，查询码 <strong>${c.queryCode}</strong>。办理进展会发到公众号消息里。`, html``) : ''}
${o.note ? html`<p class="wb-card wb-ok" role="status">${o.note}</p>` : ''}
${o.error ? html`<p class="wb-error" role="alert">${o.error}</p>` : ''}
${caseCard(d.cases, s, c, onDay, false)}
${c.status === 'correction' && s ? correctionForm(ctx, s, c, errors, files) : ''}
<section class="wb-section"><h2>办理经过</h2>${timelineHtml(d.cases, c, events, when)}</section>
<section class="wb-section"><h2>申请内容</h2><div class="wb-card"><dl class="wb-kv">${d.cases.maskedForm(c).map((x) => html`<dt>${x.label}</dt><dd>${x.value}</dd>`)}</dl>
  ${files.length ? html`<p class="wb-muted">附件：${files.map((f, i) => html`${i ? '、' : ''}<a href="/h5/files/${f.id}">${f.fileName}</a>`)}</p>` : ''}
  <p class="wb-muted">查询码 ${c.queryCode}（家人帮您查询进度时使用）</p></div></section>`;
    render(ctx, `办件 ${c.caseNo}`, body, { back: '/h5/cases', status: o.status ?? 200 });
  };

  r.get('/h5/cases/:id', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const id = intParam(ctx.params.id);
    if (id === undefined) return notFound(ctx, '这个办件');
    await casePage(ctx, openid, id);
  });

  r.post('/h5/cases/:id/correct', async (ctx) => {
    const openid = await sessions.openid(ctx);
    const id = intParam(ctx.params.id);
    const c = openid && id !== undefined ? await d.cases.own(openid, id).catch(() => null) : null;
    if (!openid || !c) return notFound(ctx, '这个办件');
    const s = d.cases.service(c.serviceId);
    if (!s) return notFound(ctx, '这个办件');
    const { fields, files } = await readMultipart(ctx, uploadLimits(s));
    if (!csrfOk(ctx, new URLSearchParams({ _csrf: fields._csrf ?? '' }))) return render(ctx, '请刷新页面', message('warn', '页面已过期', '请刷新后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/cases/${c.id}">刷新</a>`), { status: 403 });
    try {
      await d.cases.correct(openid, c.id, fields, uploadsOf(files));
      await casePage(ctx, openid, c.id, { note: '补正材料已提交，我们会继续办理。' });
    } catch (err) {
      if (!(err instanceof CaseError)) throw err;
      await casePage(ctx, openid, c.id, { errors: err.fields, error: err.message, status: 400 });
    }
  });

  /** Anyone with the number and the query code (a family member) sees the progress: no personal data. */
  r.get('/h5/progress', async (ctx) => {
    const no = typeof ctx.query.no === 'string' ? ctx.query.no.slice(0, 20) : '';
    const code = typeof ctx.query.code === 'string' ? ctx.query.code.slice(0, 8) : '';
    const form = html`<form method="get" action="/h5/progress" class="wb-section"><div class="wb-field"><label for="q-no">办件编号</label><input id="q-no" name="no" value="${no}" placeholder="如 WB20261124-0007" required></div><div class="wb-field"><label for="q-code">查询码</label><input id="q-code" name="code" value="${code}" maxlength="6" required></div><div class="wb-actions"><button class="weui-btn weui-btn_primary" type="submit">查询进度</button></div></form>`;
    if (!no) return render(ctx, '查询办理进度', form);
    // Guessing query codes is limited per citizen (WeChat's openid) and, more loosely, per address:
    // many citizens may share one (a family's router, an office); TRUST_PROXY=1 behind a proxy.
    const openid = await sessions.openid(ctx);
    let c: CaseRow | null;
    try {
      c = await d.cases.lookupLimited(no, { queryCode: code }, [{ key: `ip:${ctx.ip}`, tries: 60 }, ...(openid ? [`openid:${openid}`] : [])]);
    } catch (err) {
      if (!(err instanceof CaseError) || err.code !== 'too_many') throw err;
      return render(ctx, '查询办理进度', html`<p class="wb-error" role="alert">${err.message}申请人本人可以在公众号里发送「进度」，或打开「我的办件」查看。</p>`, { status: 429 });
    }
    if (!c) return render(ctx, '查询办理进度', html`<p class="wb-error" role="alert">没有查到：请核对办件编号和查询码。</p>${form}`, { status: 404 });
    render(ctx, '办理进度', html`${caseCard(d.cases, d.cases.service(c.serviceId), c, onDay, false)}<section class="wb-section"><h2>办理经过</h2>${timelineHtml(d.cases, c, await d.cases.timeline(c.id), when)}</section>`);
  });

  r.get('/h5/files/:id', async (ctx) => {
    const openid = await citizen(ctx);
    if (!openid) return;
    const id = intParam(ctx.params.id);
    const f = id === undefined ? null : await d.cases.file(id, openid);
    if (!f) return notFound(ctx, '这个文件');
    ctx.type = f.row.mime;
    ctx.set('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(f.row.fileName)}`);
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = f.data;
  });

  return r;
}

/** `?lat=…&lng=…` as a point, when both are there and make sense. */
function hereFrom(q: Record<string, unknown>): Here {
  if (typeof q.lat !== 'string' || typeof q.lng !== 'string' || q.lat === '' || q.lng === '') return null;
  const latitude = Number(q.lat);
  const longitude = Number(q.lng);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}
