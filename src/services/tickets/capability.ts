import type { Context } from 'koa';
import type { Capability, Core } from '../../capability.ts';
import { csrfOk, readForm, readMultipart } from '../../h5/http.ts';
import { csrfField, message } from '../../h5/layout.ts';
import { intParam } from '../../h5/kit.ts';
import { allowed } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import type { Ratings } from '../ratings/index.ts';
import { LEVEL_NAMES, RatingError } from '../ratings/index.ts';
import { ticketDialog, visitRoute } from './chat.ts';
import type { TicketRow } from './entities.ts';
import { TicketError, Tickets, type TicketInput } from './index.ts';
import { letterList, mailboxForm, snapForm, ticketCard, ticketTimeline } from './pages.ts';
import { ticketSection } from './staff.ts';
import { open311Routes } from './open311.ts';

export interface TicketsCapability extends Capability {
  tickets: Tickets | null;
}

const num = (s: string | undefined) => (s === undefined || s.trim() === '' ? undefined : Number(s));

/**
 * Complaints, help, suggestions and the leader mailbox (the 12345 loop): a chat dialog, the 随手拍
 * page and the mailbox page file reports with one command; staff move them in the 工单 section;
 * the reporter follows them on a progress page and is asked 回访 and 好差评; an Open311 API
 * (GeoReport v2) is a thin adapter over the same commands. Off when the profile has no tickets.
 */
export function ticketsCapability(core: Core, needs: { ratings: Ratings; departmentName(id: string | null): string }): TicketsCapability {
  const settings = core.profile.tickets;
  if (!settings) return { name: 'tickets', tickets: null };
  const { ratings } = needs;
  const tickets = new Tickets({
    ds: core.db,
    clock: core.clock,
    calendar: core.calendar,
    jobs: core.jobs,
    outbox: core.outbox,
    kv: core.kv,
    storage: core.storage,
    alerts: core.alerts,
    settings,
    templates: core.profile.templates,
    publicUrl: core.publicUrl,
    log: core.log.child({ component: 'tickets' }),
    departments: core.profile.departments.map((d) => d.id),
    departmentName: needs.departmentName,
    wording: core.wording,
    ratingMenu: (t) => ratings.menu('ticket', t.id, core.wording(`请您为${needs.departmentName(t.department)}的办理打个分（自愿评价）：`)),
  });
  ratings.register('ticket', async (id) => {
    const t = await tickets.get(Number(id));
    if (!t || !t.openid) return null;
    // The staff member rated is whoever answered (答复) or closed (办结) it last in its timeline.
    const moved = (await tickets.timeline(t.id)).filter((e) => (e.kind === 'answered' || e.kind === 'completed') && e.actor.startsWith('staff:')).at(-1);
    const staffId = moved ? ((await core.accounts.byUsername(moved.actor.slice('staff:'.length)))?.id ?? null) : null;
    return { openid: t.openid, department: t.department, staffId, finished: t.status === 'closed' || t.status === 'completed', label: `工单 ${t.ticketNo}` };
  });
  const log = core.log.child({ component: 'tickets' });
  const limits = { maxFileBytes: settings.max_photo_kb * 1024 + 1, maxFiles: settings.max_photos + 1, maxTotalBytes: settings.max_photo_kb * 1024 * (settings.max_photos + 1) + 64 * 1024 };

  return {
    name: 'tickets',
    tickets,
    chat: { dialogs: { ticket: ticketDialog(tickets) }, early: [visitRoute(tickets)] },
    nav: [{ section: 'tickets', label: '工单', href: '/admin/tickets', visible: (a) => allowed(a, 'tickets') }],
    panel: ticketSection(tickets, ratings, core),
    routes: () => open311Routes(core, tickets),
    pages(r, kit) {
      const refused = (ctx: Context, err: TicketError) => {
        // Logged without personal data: which fields were wrong, not what was in them.
        log.info({ path: ctx.path, fields: Object.keys(err.fields), code: err.code }, 'ticket refused');
      };

      // ---- 随手拍 ------------------------------------------------------------------------------------
      const snapPage = async (ctx: Context, o: { values?: Record<string, string>; errors?: Record<string, string>; message?: string; status?: number } = {}) => {
        const jssdk = await kit.jsSdkFor(ctx);
        kit.render(ctx, '随手拍', snapForm(ctx, tickets, { values: o.values ?? {}, errors: o.errors ?? {}, message: o.message ?? null }), { ...(jssdk ? { data: { jssdk } } : {}), ...(o.status ? { status: o.status } : {}) });
      };
      r.get('/h5/snap', async (ctx) => {
        if (!(await kit.citizen(ctx))) return;
        await snapPage(ctx, { values: typeof ctx.query.category === 'string' ? { category: ctx.query.category } : {} });
      });
      r.post('/h5/snap', async (ctx) => {
        const openid = await kit.openid(ctx);
        if (!openid) return kit.expired(ctx, '身份信息已过期，请重新打开随手拍。', { href: '/h5/snap', label: '重新打开' }, 401);
        const { fields, files } = await readMultipart(ctx, limits);
        if (!csrfOk(ctx, new URLSearchParams({ _csrf: fields._csrf ?? '' }))) return kit.expired(ctx, '为了您的安全，请刷新页面后重新提交。', { href: '/h5/snap', label: '刷新' });
        const input: TicketInput = {
          channel: 'snap',
          openid,
          category: fields.category || undefined,
          description: fields.description ?? '',
          lat: num(fields.lat),
          lng: num(fields.lng),
          address: fields.address || undefined,
          phone: fields.phone || undefined,
          photos: files.filter((f) => f.field === 'photos').map((f) => ({ fileName: f.fileName, data: f.data, truncated: f.truncated })),
        };
        try {
          const t = await tickets.file(input);
          ctx.redirect(`/h5/tickets/${t.id}?filed=1`);
        } catch (err) {
          if (!(err instanceof TicketError)) throw err;
          refused(ctx, err);
          const { _csrf: _c, ...values } = fields;
          await snapPage(ctx, { values, errors: err.fields, message: err.message + (input.photos?.length ? '（照片需要重新选择）' : ''), status: 400 });
        }
      });

      // ---- leader mailbox ---------------------------------------------------------------------------
      const mailboxPage = (ctx: Context, o: { values?: Record<string, string>; errors?: Record<string, string>; message?: string; status?: number } = {}) =>
        kit.render(ctx, '领导信箱', mailboxForm(ctx, tickets, { values: o.values ?? {}, errors: o.errors ?? {}, message: o.message ?? null }), o.status ? { status: o.status } : {});
      r.get('/h5/mailbox', async (ctx) => {
        if (!(await kit.citizen(ctx))) return;
        mailboxPage(ctx, { values: typeof ctx.query.to === 'string' ? { mailbox: ctx.query.to } : {} });
      });
      r.post('/h5/mailbox', async (ctx) => {
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        if (!openid) return kit.expired(ctx, '身份信息已过期，请重新打开信箱。', { href: '/h5/mailbox', label: '重新打开' }, 401);
        if (!csrfOk(ctx, form)) return kit.expired(ctx, '为了您的安全，请刷新页面后重新提交。', { href: '/h5/mailbox', label: '刷新' });
        const f = Object.fromEntries([...form].filter(([k]) => k !== '_csrf'));
        try {
          if (!f.mailbox) throw new TicketError('invalid', '请选择写给哪个信箱。', { mailbox: '请选择信箱' });
          const t = await tickets.file({ channel: 'mailbox', openid, mailbox: f.mailbox, kind: f.kind || undefined, category: f.category || undefined, description: f.description ?? '', contactName: f.contactName || undefined, phone: f.phone || undefined, publish: f.publish === '1' });
          ctx.redirect(`/h5/tickets/${t.id}?filed=1`);
        } catch (err) {
          if (!(err instanceof TicketError)) throw err;
          refused(ctx, err);
          mailboxPage(ctx, { values: f, errors: err.fields, message: err.message, status: 400 });
        }
      });
      /** Public, no login: letters whose writers agreed, masked, with how long each answer took. */
      r.get('/h5/mailbox/letters', async (ctx) => {
        const box = typeof ctx.query.box === 'string' && settings.mailboxes.some((m) => m.id === ctx.query.box) ? ctx.query.box : undefined;
        const rows = await tickets.publicLetters({ mailbox: box });
        const tabs = html`<div class="wb-tabs"><a href="/h5/mailbox/letters" class="${box ? '' : 'on'}">全部</a>${settings.mailboxes.map((m) => html`<a href="/h5/mailbox/letters?box=${m.id}" class="${box === m.id ? 'on' : ''}">${m.name}</a>`)}</div>`;
        kit.render(ctx, '来信公开', html`${tabs}${letterList(tickets, rows, kit.onDay, (a, b) => core.calendar.workingDaysBetween(a, b))}<p class="wb-pad"><a class="weui-btn weui-btn_default" href="/h5/mailbox">我要写信</a></p>`, { back: '/h5/mailbox' });
      });

      // ---- the reporter's own tickets ---------------------------------------------------------------
      r.get('/h5/tickets', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const mine = await tickets.mine(openid);
        kit.render(ctx, '我的反映', mine.length ? html`${mine.map((t) => ticketCard(tickets, t, kit.onDay, true))}` : message('info', '还没有反映过问题', '遇到问题可以随手拍，或者在公众号里发「我要投诉」。', html`<a class="weui-btn weui-btn_primary" href="/h5/snap">随手拍</a>`));
      });

      const ticketPage = async (ctx: Context, t: TicketRow, o: { note?: string; error?: string; status?: number } = {}) => {
        const events = await tickets.timeline(t.id);
        const photos = await tickets.photos(t.id);
        const rating = await ratings.ratingOf('ticket', String(t.id));
        const body = html`
${ctx.query.filed === '1' ? message('success', '已提交', html`编号 <strong>${t.ticketNo}</strong>，查询码 <strong>${t.queryCode}</strong>。我们会在${kit.onDay(t.dueAt)}前答复您，进展会发到公众号消息里。`, html``) : ''}
${o.note ? html`<p class="wb-card wb-ok" role="status">${o.note}</p>` : ''}
${o.error ? html`<p class="wb-error" role="alert">${o.error}</p>` : ''}
${ticketCard(tickets, t, kit.onDay, false)}
${t.answer ? html`<section class="wb-section"><h2>答复</h2><div class="wb-card">${t.answer}</div></section>` : ''}
${t.status === 'completed' ? html`<section class="wb-section"><h2>问题解决了吗？</h2><form method="post" action="/h5/tickets/${t.id}/visit" class="wb-actions">${csrfField(ctx)}<button class="weui-btn weui-btn_primary" name="solved" value="1">已解决</button><button class="weui-btn weui-btn_default" name="solved" value="0">没有解决</button></form></section>` : ''}
${t.status === 'closed' && !rating ? html`<section class="wb-section"><h2>评价（自愿）</h2><form method="post" action="/h5/tickets/${t.id}/rate" class="wb-rate">${csrfField(ctx)}${[5, 4, 3, 2, 1].map((l) => html`<button class="weui-btn weui-btn_default" name="level" value="${l}">${LEVEL_NAMES[l]}</button>`)}</form></section>` : ''}
${rating ? html`<p class="wb-muted wb-pad">您的评价：${LEVEL_NAMES[rating.level]}。感谢！</p>` : ''}
<section class="wb-section"><h2>办理经过</h2>${ticketTimeline(tickets, events, kit.when, 'citizen')}</section>
<section class="wb-section"><h2>反映内容</h2><div class="wb-card"><p>${tickets.masked(t.description, t)}</p>${t.address ? html`<p class="wb-muted">地点：${t.address}</p>` : ''}
${photos.filter((p) => p.source === 'upload').map((p) => html`<img class="wb-photo" src="/h5/tickets/${t.id}/photos/${p.id}" alt="现场照片">`)}
${photos.some((p) => p.source === 'wechat') ? html`<p class="wb-muted">在对话里发送的照片 ${photos.filter((p) => p.source === 'wechat').length} 张</p>` : ''}
<p class="wb-muted">查询码 ${t.queryCode}（家人帮您查询进度时使用）</p></div></section>`;
        kit.render(ctx, `反映 ${t.ticketNo}`, body, { back: '/h5/tickets', ...(o.status ? { status: o.status } : {}) });
      };
      r.get('/h5/tickets/:id', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const id = intParam(ctx.params.id);
        const t = id === undefined ? null : await tickets.own(openid, id);
        if (!t) return kit.notFound(ctx, '这个反映');
        await ticketPage(ctx, t);
      });
      r.get('/h5/tickets/:id/photos/:photo', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const id = intParam(ctx.params.id);
        const pid = intParam(ctx.params.photo);
        const t = id === undefined ? null : await tickets.own(openid, id);
        const p = t && pid !== undefined ? await tickets.photo(t.id, pid) : null;
        if (!p) return kit.notFound(ctx, '这张照片');
        ctx.type = p.row.mime ?? 'application/octet-stream';
        ctx.set('Cache-Control', 'private, no-store');
        ctx.body = p.data;
      });
      const own = async (ctx: Context) => {
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        const id = intParam(ctx.params.id);
        const t = openid && id !== undefined ? await tickets.own(openid, id) : null;
        if (!t || !openid) {
          kit.notFound(ctx, '这个反映');
          return null;
        }
        if (!csrfOk(ctx, form)) {
          kit.expired(ctx, '请刷新后再试。', { href: `/h5/tickets/${t.id}`, label: '刷新' });
          return null;
        }
        return { t, openid, form };
      };
      r.post('/h5/tickets/:id/visit', async (ctx) => {
        const o = await own(ctx);
        if (!o) return;
        try {
          const after = await tickets.visit(o.t.id, 'citizen', o.form.get('solved') === '1', null, o.openid);
          await ticketPage(ctx, after, { note: after.status === 'closed' ? '感谢您的反馈！' : '收到，已重新交给部门办理。' });
        } catch (err) {
          if (!(err instanceof TicketError)) throw err;
          await ticketPage(ctx, o.t, { error: err.message, status: 409 });
        }
      });
      r.post('/h5/tickets/:id/rate', async (ctx) => {
        const o = await own(ctx);
        if (!o) return;
        try {
          const { said } = await ratings.rate('ticket', String(o.t.id), o.openid, Number(o.form.get('level')));
          await ticketPage(ctx, o.t, { note: said });
        } catch (err) {
          if (!(err instanceof RatingError)) throw err;
          await ticketPage(ctx, o.t, { error: err.message, status: 400 });
        }
      });

      /** A family member with the number and the query code: the progress, nothing personal. */
      r.get('/h5/ticket-progress', async (ctx) => {
        const no = typeof ctx.query.no === 'string' ? ctx.query.no.slice(0, 20) : '';
        const code = typeof ctx.query.code === 'string' ? ctx.query.code.slice(0, 8) : '';
        const form = html`<form method="get" action="/h5/ticket-progress" class="wb-section"><div class="wb-field"><label for="q-no">工单编号</label><input id="q-no" name="no" value="${no}" placeholder="如 GD20261124-0007" required></div><div class="wb-field"><label for="q-code">查询码</label><input id="q-code" name="code" value="${code}" maxlength="6" required></div><div class="wb-actions"><button class="weui-btn weui-btn_primary" type="submit">查询</button></div></form>`;
        if (!no) return kit.render(ctx, '查询反映进度', form);
        const openid = await kit.openid(ctx);
        let t: TicketRow | null;
        try {
          t = await tickets.lookup(no, code, [`ip:${ctx.ip}`, ...(openid ? [`openid:${openid}`] : [])], openid);
        } catch (err) {
          if (!(err instanceof TicketError)) throw err;
          return kit.render(ctx, '查询反映进度', html`<p class="wb-error" role="alert">${err.message}</p>`, { status: 429 });
        }
        if (!t) return kit.render(ctx, '查询反映进度', html`<p class="wb-error" role="alert">没有查到：请核对编号和查询码。</p>${form}`, { status: 404 });
        kit.render(ctx, '反映进度', html`${ticketCard(tickets, t, kit.onDay, false)}<section class="wb-section"><h2>办理经过</h2>${ticketTimeline(tickets, await tickets.timeline(t.id), kit.when, 'public')}</section>`);
      });
    },
  };
}
