import type { Context } from 'koa';
import { intOf } from '../../admin/body.ts';
import { csrfField, page } from '../../admin/pages/layout.ts';
import type { Capability, Core } from '../../capability.ts';
import { mayBindings } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import { NoticeError, Notices, type NoticeRow } from './index.ts';

const STATUS: Record<NoticeRow['status'], [string, string]> = {
  draft: ['草稿', 'pill-muted'],
  sending: ['发送中', 'pill-near'],
  paused: ['已暂停', 'pill-overdue'],
  done: ['已发完', 'pill-closed'],
};

export interface NoticesCapability extends Capability {
  notices: Notices;
}

/**
 * 群发通知 in the staff panel: compose a template message to a segment, preview it with the
 * number of recipients, send it as a resumable job (progress, pause, resume), and read the
 * delivery report WeChat sends back (TEMPLATESENDJOBFINISH).
 */
export function noticesCapability(core: Core, opts: { batchSize?: number; batchIntervalMs?: number } = {}): NoticesCapability {
  // NOTICES_PER_SECOND: the sending rate (default 100 a second, in batches of up to 100).
  const rateText = core.env.NOTICES_PER_SECOND;
  if (rateText !== undefined && rateText !== '' && !/^[1-9]\d{0,4}$/.test(rateText)) throw new Error(`NOTICES_PER_SECOND: expected a whole number from 1 to 99999 (messages a second); got "${rateText}"`);
  const rate = rateText ? Number(rateText) : 100;
  const batchSize = opts.batchSize ?? Math.min(500, rate);
  const notices = new Notices({
    batchSize,
    batchIntervalMs: opts.batchIntervalMs ?? Math.round((batchSize / rate) * 1000), db: core.db, clock: core.clock, jobs: core.jobs, api: core.api, log: core.log.child({ component: 'notices' }), profile: core.profile, publicUrl: core.publicUrl });
  const templates = () => Object.entries(core.profile.templates).filter(([purpose]) => purpose !== 'staff_alert');

  return {
    name: 'notices',
    notices,
    chat: {
      early: [
        {
          name: 'TEMPLATESENDJOBFINISH: a notice reached its recipient, or did not',
          when: (m) => m.kind === 'template_send_finish',
          handle: async (m) => {
            const r = m as unknown as { msgId: string; status: string };
            await notices.delivered(String(r.msgId), String(r.status));
            return { reply: null, ref: 'notice:delivery' };
          },
        },
      ],
    },
    nav: [{ section: 'notices', label: '群发通知', href: '/admin/notices', visible: (a) => mayBindings(a, 'notices.compose', null) }],
    panel(r, kit) {
      const guard = (ctx: Context) => {
        if (!mayBindings(kit.actor(ctx), 'notices.compose', null)) {
          kit.fail(ctx, 403, '只有负责人和管理员可以群发通知');
          return false;
        }
        return true;
      };

      const composePage = async (ctx: Context, o: { purpose?: string; values?: Record<string, string>; segment?: string; url?: string; error?: string } = {}) => {
        const pc = await kit.pageContext(ctx);
        const purpose = o.purpose ?? templates()[0]?.[0] ?? '';
        const t = notices.template(purpose);
        const body = html`
<h1>新建群发通知</h1>
${o.error ? html`<p class="flash flash-error" role="alert">${o.error}</p>` : null}
<form method="get" action="/admin/notices/new" class="card">
  <label>模板 <select name="template">${templates().map(([p, tt]) => html`<option value="${p}" ${p === purpose ? html`selected` : null}>${tt.title}</option>`)}</select></label>
  <button type="submit">换模板</button>
</form>
${t
  ? html`<form method="post" action="/admin/notices" class="card">${csrfField(pc)}<input type="hidden" name="template" value="${purpose}">
  <h2>${t.title}</h2>
  ${Object.keys(t.fields).map((k) => html`<p><label>${t.labels[k] ?? k}<br><input name="f_${k}" value="${o.values?.[k] ?? ''}" required></label></p>`)}
  <p><label>点开后打开的页面（可不填）<br><input name="url" value="${o.url ?? ''}" placeholder="/h5/guides 或 https://…"></label></p>
  <p><label>发送对象<br><select name="segment">${notices.segments().map((s) => html`<option value="${s.id}" ${s.id === o.segment ? html`selected` : null}>${s.label}</option>`)}</select></label></p>
  <p class="muted">下一步预览，确认后才发送。每个字段的字数按微信的限制检查，超出的会提示，不会被截断。</p>
  <button type="submit" class="primary">预览</button>
</form>`
  : html`<p class="muted">配置里还没有模板消息。</p>`}`;
        kit.send(ctx, page(pc, { title: '新建群发通知', section: 'notices', body }), o.error ? 422 : 200);
      };

      r.get('/notices', kit.signedIn, async (ctx) => {
        if (!guard(ctx)) return;
        const pc = await kit.pageContext(ctx);
        const f = kit.fmt();
        const rows = await notices.list();
        const body = html`
<h1>群发通知</h1>
<p><a href="/admin/notices/new">＋ 新建群发通知</a></p>
${rows.length
  ? html`<table class="list"><thead><tr><th scope="col">创建</th><th scope="col">模板</th><th scope="col">发送对象</th><th scope="col">进度</th><th scope="col">状态</th></tr></thead><tbody>
${rows.map((n) => {
  const [label, cls] = STATUS[n.status];
  return html`<tr><td>${f.short(n.createdAt)}</td><td><a href="/admin/notices/${n.id}">${notices.template(n.template)?.title ?? n.template}</a></td><td>${notices.segmentLabel(n.segment)}</td><td><progress max="${Math.max(1, n.total)}" value="${n.sent + n.failed}"></progress> ${n.sent + n.failed} / ${n.total}</td><td><span class="pill ${cls}">${label}</span></td></tr>`;
})}</tbody></table>`
  : html`<p class="muted">还没有群发过通知。</p>`}`;
        kit.send(ctx, page(pc, { title: '群发通知', section: 'notices', body }));
      });

      r.get('/notices/new', kit.signedIn, async (ctx) => {
        if (!guard(ctx)) return;
        await composePage(ctx, { ...(typeof ctx.query.template === 'string' ? { purpose: ctx.query.template } : {}) });
      });

      r.post('/notices', kit.signedIn, async (ctx) => {
        if (!guard(ctx)) return;
        const form = await kit.checkedForm(ctx);
        const purpose = form.template ?? '';
        const values = Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith('f_')).map(([k, v]) => [k.slice(2), v]));
        try {
          const n = await notices.create(kit.actor(ctx).id, purpose, values, form.segment ?? '', form.url?.trim() || null);
          ctx.redirect(`/admin/notices/${n.id}`);
        } catch (err) {
          if (!(err instanceof NoticeError)) throw err;
          await composePage(ctx, { purpose, values, segment: form.segment ?? '', url: form.url ?? '', error: err.message });
        }
      });

      r.get('/notices/:id', kit.signedIn, async (ctx) => {
        if (!guard(ctx)) return;
        const id = intOf(ctx.params.id ?? null);
        const n = id === null ? null : await notices.get(id);
        if (!n) return kit.fail(ctx, 404, '没有这条通知');
        const t = notices.template(n.template);
        const data = JSON.parse(n.data) as Record<string, string>;
        const pc = await kit.pageContext(ctx);
        const f = kit.fmt();
        const count = n.status === 'draft' ? (await notices.audience(n.segment)).length : n.total;
        const report = n.status === 'draft' ? {} : await notices.report(n.id);
        const [label, cls] = STATUS[n.status];
        const act = (path: string, text: string, primary = false) => html`<form method="post" action="/admin/notices/${n.id}/${path}" class="inline">${csrfField(pc)}<button type="submit" class="${primary ? 'primary' : ''}">${text}</button></form>`;
        const body = html`
<h1>群发通知 <span class="pill ${cls}">${label}</span></h1>
<section class="card notice-preview"><h2>${t?.title ?? n.template}</h2>
<dl>${Object.entries(data).map(([k, v]) => html`<dt>${t?.labels[k] ?? k}</dt><dd>${v}</dd>`)}</dl>
${n.url ? html`<p class="muted">点开：${n.url}</p>` : null}</section>
<section class="card"><p>发送对象：${notices.segmentLabel(n.segment)}，共 <strong>${count}</strong> 人（仅限仍在关注的）。</p>
${n.status !== 'draft'
  ? html`<p><progress max="${Math.max(1, n.total)}" value="${n.sent + n.failed}"></progress> 已发 ${n.sent}，失败 ${n.failed}，共 ${n.total}${n.startedAt ? html` · ${f.short(n.startedAt)} 开始` : null}${n.finishedAt ? html` · ${f.short(n.finishedAt)} 发完` : null}</p>
<p>送达回执：成功 ${report.success ?? 0}，用户拒收 ${report['failed:user block'] ?? 0}，系统失败 ${report['failed:system failed'] ?? 0}，未回执 ${report.unreported ?? 0}</p>`
  : null}
${n.status === 'draft' ? act('send', `确认发送给 ${count} 人`, true) : null}
${n.status === 'sending' ? act('pause', '暂停') : null}
${n.status === 'paused' ? act('resume', '继续发送', true) : null}
<a href="/admin/notices/${n.id}">刷新进度</a></section>`;
        kit.send(ctx, page(pc, { title: '群发通知', section: 'notices', body }));
      });

      const action = (path: string, run: (id: number) => Promise<unknown>, done: string, audit: 'notice-send' | 'notice-pause' | 'notice-resume') =>
        r.post(`/notices/:id/${path}`, kit.signedIn, async (ctx) => {
          if (!guard(ctx)) return;
          await kit.checkedForm(ctx);
          const id = intOf(ctx.params.id ?? null);
          if (id === null) return kit.fail(ctx, 404, '没有这条通知');
          try {
            const ok = await run(id);
            await kit.flash(ctx, ok === false ? 'error' : 'ok', ok === false ? '状态已经变了，请刷新看看。' : done);
            if (ok !== false) await kit.audit.record({ actor: kit.actor(ctx), action: audit, target: `notice:${id}`, ip: ctx.ip });
          } catch (err) {
            if (!(err instanceof NoticeError)) throw err;
            await kit.flash(ctx, 'error', err.message);
          }
          ctx.redirect(`/admin/notices/${id}`);
        });
      action('send', (id) => notices.start(id), '开始发送，按微信的速率分批发出。', 'notice-send');
      action('pause', (id) => notices.pause(id), '已暂停，可以随时继续。', 'notice-pause');
      action('resume', (id) => notices.resume(id), '继续发送。', 'notice-resume');
    },
  };
}
