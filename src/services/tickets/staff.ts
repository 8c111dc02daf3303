import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Core } from '../../capability.ts';
import { intOf } from '../../admin/body.ts';
import type { Fmt } from '../../admin/pages/inbox.ts';
import { csrfField, page, type PageContext } from '../../admin/pages/layout.ts';
import type { PanelKit } from '../../admin/routes.ts';
import { maskPhone, maskText } from '../../platform/pii.ts';
import { mayManageApiKeys, mayTicket, seesTicket, ticketDepartmentsOf, type StaffActor, type TicketAction, type TicketScope } from '../../policies/index.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { Ratings } from '../ratings/index.ts';
import { LEVEL_NAMES } from '../ratings/index.ts';
import type { TicketEventRow, TicketRow, TicketStatus } from './entities.ts';
import { STATUS_NAMES, TicketError, type Tickets } from './index.ts';
import { ApiKeys } from './open311.ts';
import { clip } from '../../platform/text.ts';

const VIEWS = {
  submitted: { label: '待受理', statuses: ['submitted'] },
  accepted: { label: '待派单', statuses: ['accepted'] },
  working: { label: '办理中', statuses: ['dispatched', 'handling'] },
  replied: { label: '已答复', statuses: ['replied'] },
  escalated: { label: '督办', statuses: ['submitted', 'accepted', 'dispatched', 'handling'] },
  urgent: { label: '紧急', statuses: ['submitted', 'accepted', 'dispatched', 'handling', 'replied'] },
  done: { label: '已办结', statuses: ['completed', 'closed'] },
  other: { label: '不予受理/合并', statuses: ['rejected', 'merged'] },
  all: { label: '全部', statuses: [] },
} as const satisfies Record<string, { label: string; statuses: TicketStatus[] }>;
type View = keyof typeof VIEWS;

export const EVENT_NAMES: Record<TicketEventRow['kind'], string> = {
  filed: '提交',
  accepted: '受理',
  rejected: '不予受理',
  dispatched: '派单',
  returned: '退单',
  handling: '开始办理',
  answered: '答复',
  extension_requested: '申请延期',
  extension_approved: '批准延期',
  extension_refused: '不批准延期',
  escalated: '超期督办',
  completed: '办结',
  visit_asked: '请市民回访',
  solved: '回访：已解决',
  reopened: '回访：未解决，重新办理',
  merged: '合并',
  note: '备注',
};

const scope = (t: TicketRow, tickets: Tickets): TicketScope => ({ department: t.department, coDepartments: tickets.coDepartments(t), status: t.status });
const OPEN = new Set<TicketStatus>(['submitted', 'accepted', 'dispatched', 'handling']);

function dueCell(t: TicketRow, f: Fmt): SafeHtml {
  if (!OPEN.has(t.status)) return html`<span class="muted">—</span>`;
  if (t.dueAt < f.now) return html`<span class="pill pill-overdue">已超期 ${f.span(f.now - t.dueAt)}</span><div class="muted small">${f.short(t.dueAt)}</div>`;
  if (t.dueAt - f.now < 2 * 86_400_000) return html`<span class="pill pill-near">还剩 ${f.span(t.dueAt - f.now)}</span><div class="muted small">${f.short(t.dueAt)}</div>`;
  return html`${f.short(t.dueAt)}`;
}

/** One row of the exports: personal data masked. */
function exportRow(tickets: Tickets, t: TicketRow, at: (ms: number) => string): string[] {
  return [
    t.ticketNo,
    tickets.kindName(t.kind),
    tickets.categoryName(t.category),
    tickets.mailboxName(t.mailbox) ?? '',
    STATUS_NAMES[t.status],
    t.urgent ? '是' : '',
    tickets.departmentName(t.department),
    at(t.filedAt),
    at(t.dueAt),
    t.answeredAt ? at(t.answeredAt) : '',
    t.escalatedAt ? '是' : '',
    tickets.masked(t.description, t),
    t.address ? tickets.masked(t.address, t) : '',
    t.phone ? maskPhone(t.phone) : '',
  ];
}
const EXPORT_HEAD = ['工单编号', '类型', '类别', '信箱', '状态', '紧急', '承办部门', '提交时间', '办理时限', '答复时间', '督办', '内容（已脱敏）', '地点（已脱敏）', '电话（已脱敏）'];

const csvCell = (s: string) => {
  // A cell starting with = + - @ is text, not a formula, when opened in a spreadsheet.
  const v = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
};

/**
 * 工单: views by state and department for the dispatch desk and the departments; every move of the
 * loop as a form over one Tickets command (who may is asked of src/policies); the location,
 * photos, deadline and 督办 marks, duplicates to merge; CSV and XLSX exports, masked; Open311 keys.
 */
export function ticketSection(tickets: Tickets, ratings: Ratings, core: Core) {
  const dispatch = tickets.settings.dispatch_department;
  const keys = new ApiKeys(core.db, core.clock);
  return (r: Router, kit: PanelKit) => {
    const load = async (ctx: Context): Promise<TicketRow> => {
      const id = intOf(ctx.params.id);
      const t = id === null ? null : await tickets.get(id);
      if (!t || !seesTicket(kit.actor(ctx), { department: t.department, coDepartments: tickets.coDepartments(t) }, dispatch)) throw new TicketError('not_found', '没有这个工单，或不属于您的部门');
      return t;
    };
    const guard = async (ctx: Context, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof TicketError) {
          if (err.code === 'not_found') return kit.fail(ctx, 404, err.message);
          await kit.flash(ctx, 'error', err.message);
          return ctx.redirect(`/admin/tickets/${ctx.params.id}`);
        }
        throw err;
      }
    };
    const listed = async (a: StaffActor, view: View, dept: string | null) => {
      const depts = ticketDepartmentsOf(a, dispatch);
      const v = VIEWS[view];
      return tickets.list({ departments: dept && (depts === null || depts.includes(dept)) ? [dept] : depts, statuses: [...v.statuses], escalated: view === 'escalated', urgent: view === 'urgent', limit: 2000 });
    };
    const queryOf = (ctx: Context) => ({
      view: (typeof ctx.query.view === 'string' && ctx.query.view in VIEWS ? ctx.query.view : 'submitted') as View,
      dept: typeof ctx.query.dept === 'string' && core.profile.departments.some((d) => d.id === ctx.query.dept) ? ctx.query.dept : null,
    });

    r.get('/tickets', kit.signedIn, async (ctx) => {
      const a = kit.actor(ctx);
      const { view, dept } = queryOf(ctx);
      const rows = await listed(a, view, dept);
      const f = kit.fmt();
      const all = ticketDepartmentsOf(a, dispatch) === null;
      const q = (o: { view?: string; dept?: string | null }) => `/admin/tickets?view=${o.view ?? view}${(o.dept === undefined ? dept : o.dept) ? `&dept=${o.dept === undefined ? dept : o.dept}` : ''}`;
      const body = html`<div class="inbox">
  <nav class="tabs" aria-label="工单分类">${(Object.keys(VIEWS) as View[]).map((k) => html`<a href="${q({ view: k })}" class="${k === view ? 'on' : ''}">${VIEWS[k].label}</a>`)}</nav>
  <section class="list card">
  <div class="toolbar ticket-toolbar">
    ${all ? html`<form method="get" action="/admin/tickets" class="inline"><input type="hidden" name="view" value="${view}"><label>部门 <select name="dept"><option value="">全部部门</option>${core.profile.departments.map((d) => html`<option value="${d.id}" ${dept === d.id ? 'selected' : ''}>${d.name}</option>`)}</select></label> <button type="submit">筛选</button></form>` : null}
    <a href="/admin/tickets/export.csv?view=${view}${dept ? `&dept=${dept}` : ''}">导出 CSV</a> · <a href="/admin/tickets/export.xlsx?view=${view}${dept ? `&dept=${dept}` : ''}">导出 Excel</a>
    · <a href="/admin/rectifications">差评整改</a>${mayManageApiKeys(a) ? html` · <a href="/admin/open311-keys">Open311 密钥</a>` : null}
  </div>
  ${rows.length === 0
    ? html`<p class="empty">这里没有工单。</p>`
    : html`<table class="items"><thead><tr><th>状态</th><th>工单</th><th>承办部门</th><th>提交</th><th>办理时限</th></tr></thead><tbody>${rows.map(
        (t) => html`<tr class="${t.escalatedAt && OPEN.has(t.status) ? 'esc' : ''}">
      <td class="st"><span class="pill">${STATUS_NAMES[t.status]}</span>${t.urgent ? html`<span class="pill pill-overdue">紧急</span>` : null}${t.escalatedAt && OPEN.has(t.status) ? html`<span class="pill pill-esc">督办</span>` : null}</td>
      <td class="q"><a href="/admin/tickets/${t.id}"><span class="num">${t.ticketNo}</span> ${tickets.mailboxName(t.mailbox) ?? tickets.categoryName(t.category)} · ${tickets.kindName(t.kind)}</a><div class="last">${[...tickets.masked(t.description, t)].slice(0, 60).join('')}</div></td>
      <td>${tickets.departmentName(t.department)}</td>
      <td>${f.short(t.filedAt)}</td>
      <td>${dueCell(t, f)}</td>
    </tr>`,
      )}</tbody></table>`}</section>
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: '工单', section: 'tickets', body }));
    });

    const exportRows = async (ctx: Context) => {
      const a = kit.actor(ctx);
      if (!mayTicket(a, 'export', { department: a.department ?? '', coDepartments: [], status: 'submitted' }, dispatch) && a.role !== 'admin') {
        kit.fail(ctx, 403, '您不能导出工单');
        return null;
      }
      const { view, dept } = queryOf(ctx);
      const rows = await listed(a, view, dept);
      await kit.audit.record({ actor: a, action: 'ticket-export', target: 'tickets', department: dept, detail: `${VIEWS[view].label}，${rows.length} 条`, ip: ctx.ip });
      const f = kit.fmt();
      return rows.map((t) => exportRow(tickets, t, f.at));
    };
    r.get('/tickets/export.csv', kit.signedIn, async (ctx) => {
      const rows = await exportRows(ctx);
      if (!rows) return;
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="tickets.csv"`);
      ctx.body = '\uFEFF' + [EXPORT_HEAD, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
    });
    r.get('/tickets/export.xlsx', kit.signedIn, async (ctx) => {
      const rows = await exportRows(ctx);
      if (!rows) return;
      const { default: ExcelJS } = await import('exceljs');
      const wb = new ExcelJS.Workbook();
      const ws = wb.addWorksheet('工单');
      ws.addRow(EXPORT_HEAD).font = { bold: true };
      for (const row of rows) ws.addRow(row);
      ws.columns.forEach((c, i) => (c.width = i === 11 ? 60 : 16));
      ctx.type = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
      ctx.set('Content-Disposition', `attachment; filename="tickets.xlsx"`);
      ctx.body = Buffer.from(await wb.xlsx.writeBuffer());
    });

    const detail = async (ctx: Context, t: TicketRow, revealed = false) => {
      const a = kit.actor(ctx);
      const pc = await kit.pageContext(ctx);
      const f = kit.fmt();
      const can = (x: TicketAction) => mayTicket(a, x, scope(t, tickets), dispatch);
      const events = await tickets.timeline(t.id);
      const photos = await tickets.photos(t.id);
      const dups = OPEN.has(t.status) && can('merge') ? await tickets.duplicatesOf(t) : [];
      const pending = await tickets.pendingExtension(core.db, t.id);
      const rating = await ratings.ratingOf('ticket', String(t.id));
      const co = tickets.coDepartments(t);
      const shown = (s: string | null) => (s ? (revealed ? s : tickets.masked(s, t)) : null);
      const body = html`<div class="conv">
  <div class="conv-main card">
    <div class="conv-head">
      <h1><span class="num">${t.ticketNo}</span> ${tickets.mailboxName(t.mailbox) ?? tickets.categoryName(t.category)} · ${tickets.kindName(t.kind)}</h1>
      <div class="pills"><span class="pill">${STATUS_NAMES[t.status]}</span>${t.urgent ? html`<span class="pill pill-overdue">紧急</span>` : null}${t.escalatedAt && OPEN.has(t.status) ? html`<span class="pill pill-esc">督办</span>` : null}<span class="pill">${tickets.departmentName(t.department)}</span>${co.map((d) => html`<span class="pill">协办 · ${tickets.departmentName(d)}</span>`)}</div>
      <dl class="facts">
        <div><dt>来源</dt><dd>${{ chat: '公众号对话', snap: '随手拍', mailbox: '领导信箱', open311: 'Open311 接口' }[t.channel]}</dd></div>
        <div><dt>提交</dt><dd>${f.at(t.filedAt)}</dd></div>
        <div><dt>办理时限</dt><dd>${dueCell(t, f)} <span class="muted">（${tickets.kindName(t.kind)} ${tickets.kinds.get(t.kind)?.due_working_days ?? '?'} 个工作日）</span></dd></div>
        <div><dt>位置</dt><dd>${t.lat !== null && t.lng !== null ? html`${t.lat.toFixed(5)}, ${t.lng.toFixed(5)}${t.area ? html` · ${tickets.settings.areas.find((x) => x.id === t.area)?.name ?? t.area}` : null} <a href="https://uri.amap.com/marker?position=${t.lng},${t.lat}" target="_blank" rel="noopener noreferrer">在地图上看</a>` : html`<span class="muted">未提供</span>`}${t.address ? html`<div>${shown(t.address)}</div>` : null}</dd></div>
        <div><dt>联系人</dt><dd>${t.anonymous && !t.phone ? html`<span class="muted">匿名</span>` : html`${t.contactName ? (revealed ? t.contactName : tickets.masked(t.contactName, t)) : ''} ${t.phone ? (revealed ? t.phone : maskPhone(t.phone)) : ''}`}${t.mailbox ? html` · ${t.publish ? '同意公开' : '不公开'}` : null}</dd></div>
        ${rating ? html`<div><dt>评价</dt><dd>${LEVEL_NAMES[rating.level]}${rating.level <= 2 ? html` · <a href="/admin/rectifications">差评整改</a>` : null}</dd></div>` : null}
      </dl>
    </div>
    <section><h2>反映内容</h2><p class="prewrap">${shown(t.description)}</p>
      ${!revealed && can('unmask') ? html`<form method="post" action="/admin/tickets/${t.id}/reveal" class="inline">${csrfField(pc)}<button class="link small" type="submit" title="显示完整内容（将记入审计日志）">显示完整</button></form>` : null}
      ${photos.length ? html`<h3>照片</h3><div class="ticket-photos">${photos.map((p) => (p.source === 'upload' ? html`<a href="/admin/tickets/${t.id}/photos/${p.id}" target="_blank" rel="noopener"><img src="/admin/tickets/${t.id}/photos/${p.id}" alt="现场照片" class="ticket-photo"></a>` : html`<a href="${p.url ?? '#'}" target="_blank" rel="noopener noreferrer">对话中的照片</a>`))}</div>` : null}
      ${t.answer ? html`<h3>答复</h3><p class="prewrap">${t.answer}</p>` : null}
    </section>
    ${dups.length ? html`<section><h2>可能是同一问题（${dups.length}）</h2><ul>${dups.map((d) => html`<li><a href="/admin/tickets/${d.id}">${d.ticketNo}</a> ${f.short(d.filedAt)} · ${[...maskText(d.description)].slice(0, 40).join('')} <form method="post" action="/admin/tickets/${t.id}/merge" class="inline">${csrfField(pc)}<input type="hidden" name="into" value="${d.id}"><button type="submit" class="small">把本单合并到 ${d.ticketNo}</button></form></li>`)}</ul></section>` : null}
    ${moves(pc, t, tickets, core, can, pending)}
  </div>
  <aside class="conv-side">
    <section class="card timeline"><h2>办理经过</h2><ol>${events
      .slice()
      .reverse()
      .map((e) => html`<li><b>${EVENT_NAMES[e.kind]}</b>${e.department ? html` · ${tickets.departmentName(e.department)}` : null}${e.days ? html` · ${e.days} 个工作日` : null} · ${e.actor === 'citizen' ? '市民' : e.actor === 'system' ? '系统' : e.actor.replace(/^staff:/, '')}<div class="muted small">${f.short(e.createdAt)}${e.pushedAt && e.kind !== 'note' ? ' · 已通知市民' : ''}</div>${e.note ? html`<div class="detail">${e.actor === 'citizen' ? shown(e.note) : e.note}</div>` : null}</li>`)}</ol></section>
  </aside>
</div>`;
      kit.send(ctx, page(pc, { title: `工单 ${t.ticketNo}`, section: 'tickets', body }));
    };

    r.get('/tickets/:id', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const t = await load(ctx);
        await kit.audit.record({ actor: kit.actor(ctx), action: 'view', target: `ticket:${t.id}`, department: t.department, ip: ctx.ip });
        await detail(ctx, t);
      }),
    );
    r.post('/tickets/:id/reveal', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        await kit.checkedForm(ctx);
        const t = await load(ctx);
        if (!mayTicket(kit.actor(ctx), 'unmask', scope(t, tickets), dispatch)) return kit.fail(ctx, 403, '您不能查看完整信息');
        await kit.audit.record({ actor: kit.actor(ctx), action: 'unmask', target: `ticket:${t.id}`, department: t.department, detail: '工单内容、地点和联系人', ip: ctx.ip });
        await detail(ctx, t, true);
      }),
    );
    r.get('/tickets/:id/photos/:photo', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const t = await load(ctx);
        const pid = intOf(ctx.params.photo);
        const p = pid === null ? null : await tickets.photo(t.id, pid);
        if (!p) return kit.fail(ctx, 404, '没有这张照片');
        await kit.audit.record({ actor: kit.actor(ctx), action: 'ticket-photo', target: `ticket:${t.id}`, department: t.department, detail: `照片 ${p.row.id}`, ip: ctx.ip });
        ctx.type = p.row.mime ?? 'application/octet-stream';
        ctx.body = p.data;
      }),
    );

    const move = (path: string, action: TicketAction, run: (t: TicketRow, form: Record<string, string>, who: string) => Promise<unknown>, done: string) =>
      r.post(`/tickets/:id/${path}`, kit.signedIn, async (ctx) =>
        guard(ctx, async () => {
          const form = await kit.checkedForm(ctx);
          const t = await load(ctx);
          const a = kit.actor(ctx);
          if (!mayTicket(a, action, scope(t, tickets), dispatch)) {
            await kit.flash(ctx, 'error', '您不能这样操作这个工单');
            return ctx.redirect(`/admin/tickets/${t.id}`);
          }
          await run(t, form, `staff:${a.username}`);
          await kit.audit.record({ actor: a, action: 'ticket-move', target: `ticket:${t.id}`, department: t.department, detail: `${path}${form.note ? `：${form.note.slice(0, 100)}` : ''}`, ip: ctx.ip });
          await kit.flash(ctx, 'ok', done);
          ctx.redirect(`/admin/tickets/${t.id}`);
        }),
      );
    move('accept', 'accept', (t, f, who) => tickets.accept(t.id, who, f.note), '已受理，已通知市民。');
    move('reject', 'reject', (t, f, who) => tickets.reject(t.id, who, f.note ?? ''), '已不予受理，已告诉市民理由。');
    move('dispatch', 'dispatch', (t, f, who) => tickets.dispatch(t.id, who, f.department ?? '', (f.co ?? '').split(',').filter(Boolean), f.note), '已派单，已通知市民。');
    move('give-back', 'give_back', (t, f, who) => tickets.giveBack(t.id, who, f.note ?? ''), '已退单给调度。');
    move('handle', 'handle', (t, f, who) => tickets.startHandling(t.id, who, f.note), '已开始办理，已通知市民。');
    move('answer', 'answer', (t, f, who) => tickets.answer(t.id, who, f.note ?? ''), '答复已发给市民。');
    move('extend', 'extend', (t, f, who) => tickets.requestExtension(t.id, who, Number(f.days), f.note ?? ''), '延期申请已提交，等待审批。');
    move('decide-extension', 'decide_extension', (t, f, who) => tickets.decideExtension(t.id, who, f.approve === '1', f.note), '已处理延期申请。');
    move('complete', 'complete', (t, f, who) => tickets.complete(t.id, who, f.note), '已办结，已请市民回访。');
    move('visit', 'visit', (t, f, who) => tickets.visit(t.id, who, f.solved === '1', f.note), '回访结果已记录。');
    move('merge', 'merge', (t, f, who) => tickets.merge(t.id, Number(f.into), who), '已合并，市民会收到同一个答复。');

    // ---- Open311 keys: issued and revoked by an administrator ---------------------------------------
    const keysPage = async (ctx: Context, fresh?: string) => {
      const a = kit.actor(ctx);
      if (!mayManageApiKeys(a)) return kit.fail(ctx, 403, '只有管理员能管理 Open311 密钥');
      const pc = await kit.pageContext(ctx);
      const f = kit.fmt();
      const list = await keys.list();
      const body = html`<div class="card">
  <h1>Open311 接口密钥</h1>
  <p class="muted">其他系统（如 12345 平台、第三方 311 应用）通过 <code>POST /open311/v2/requests.json</code> 提交工单时需要密钥。密钥只显示一次，请妥善保存。</p>
  ${fresh ? html`<p class="notice ok" role="status">新密钥：<code>${fresh}</code>（只显示这一次）</p>` : null}
  <form method="post" action="/admin/open311-keys" class="inline">${csrfField(pc)}<input name="name" required maxlength="60" placeholder="给谁用，如：市 12345 平台"><button type="submit" class="primary">发放新密钥</button></form>
  <table class="items"><thead><tr><th>名称</th><th>发放</th><th>状态</th><th></th></tr></thead><tbody>${list.map((k) => html`<tr><td>${k.name}</td><td>${f.at(k.createdAt)}</td><td>${k.revokedAt ? html`已吊销 ${f.short(k.revokedAt)}` : '有效'}</td><td>${k.revokedAt ? null : html`<form method="post" action="/admin/open311-keys/${k.id}/revoke" class="inline">${csrfField(pc)}<button type="submit" class="danger small">吊销</button></form>`}</td></tr>`)}</tbody></table>
</div>`;
      kit.send(ctx, page(pc, { title: 'Open311 密钥', section: 'tickets', body }));
    };
    r.get('/open311-keys', kit.signedIn, async (ctx) => keysPage(ctx));
    r.post('/open311-keys', kit.signedIn, async (ctx) => {
      const form = await kit.checkedForm(ctx);
      const a = kit.actor(ctx);
      if (!mayManageApiKeys(a)) return kit.fail(ctx, 403, '只有管理员能管理 Open311 密钥');
      const name = clip((form.name ?? '').trim(), 60);
      if (!name) {
        await kit.flash(ctx, 'error', '请写明密钥给谁用');
        return ctx.redirect('/admin/open311-keys');
      }
      const { id, key } = await keys.issue(name, a.id);
      await kit.audit.record({ actor: a, action: 'open311-key-issue', target: `open311-key:${id}`, department: null, detail: name, ip: ctx.ip });
      await keysPage(ctx, key);
    });
    r.post('/open311-keys/:id/revoke', kit.signedIn, async (ctx) => {
      await kit.checkedForm(ctx);
      const a = kit.actor(ctx);
      if (!mayManageApiKeys(a)) return kit.fail(ctx, 403, '只有管理员能管理 Open311 密钥');
      const id = intOf(ctx.params.id);
      if (id === null || !(await keys.revoke(id))) return kit.fail(ctx, 404, '没有这个密钥');
      await kit.audit.record({ actor: a, action: 'open311-key-revoke', target: `open311-key:${id}`, department: null, ip: ctx.ip });
      await kit.flash(ctx, 'ok', '密钥已吊销，之后用它提交会被拒绝。');
      ctx.redirect('/admin/open311-keys');
    });
  };
}

function moves(pc: PageContext, t: TicketRow, tickets: Tickets, core: Core, can: (a: TicketAction) => boolean, pending: TicketEventRow | null): SafeHtml {
  const form = (path: string, label: string, fields: SafeHtml, cls = '') =>
    html`<form method="post" action="/admin/tickets/${t.id}/${path}" class="case-action ${cls}">${csrfField(pc)}${fields}<button type="submit" class="${cls === 'danger' ? 'danger' : 'primary'}">${label}</button></form>`;
  const note = (placeholder: string, required = false) => html`<textarea name="note" rows="2" maxlength="2000" placeholder="${placeholder}"${required ? html` required minlength="4"` : null}></textarea>`;
  const deps = core.profile.departments;
  const status = t.status;
  const items: SafeHtml[] = [];
  if (can('accept') && status === 'submitted') items.push(form('accept', '受理', note('受理说明（选填）')));
  if (can('reject') && status === 'submitted') items.push(form('reject', '不予受理', note('理由，市民会看到这段话', true), 'danger'));
  if (can('dispatch') && status === 'accepted')
    items.push(
      form(
        'dispatch',
        '派单',
        html`<label>承办部门 <select name="department" required>${deps.map((d) => html`<option value="${d.id}" ${d.id === t.department ? 'selected' : ''}>${d.name}</option>`)}</select></label>
        <label>协办部门（可多选，用逗号分隔的编号） <input name="co" placeholder="${deps.map((d) => d.id).slice(0, 2).join(',')}"></label>${note('派单说明（选填）')}`,
      ),
    );
  if (can('handle') && status === 'dispatched') items.push(form('handle', '开始办理', note('告诉市民正在做什么（选填）')));
  if (can('give_back') && status === 'dispatched') items.push(form('give-back', '退单', note('退回调度的理由（不属于本部门职责等）', true), 'danger'));
  if (can('answer') && ['dispatched', 'handling', 'replied'].includes(status)) items.push(form('answer', status === 'replied' ? '补充答复' : '答复市民', note('答复内容，会发给市民', true)));
  if (can('complete') && status === 'replied') items.push(form('complete', '办结', note('办结说明（选填）')));
  if (can('extend') && OPEN.has(status) && !pending) items.push(form('extend', '申请延期', html`<label>延期 <input name="days" type="number" min="1" max="30" value="5" required> 个工作日</label>${note('延期理由', true)}`));
  if (pending && can('decide_extension'))
    items.push(html`<div class="case-action"><p>待审批：延期 ${pending.days} 个工作日 · ${pending.note}</p>${form('decide-extension', '批准延期', html`<input type="hidden" name="approve" value="1">`)}${form('decide-extension', '不批准', html`<input type="hidden" name="approve" value="0">`, 'danger')}</div>`);
  else if (pending) items.push(html`<p class="muted">延期申请（${pending.days} 个工作日）等待审批。</p>`);
  if (can('visit') && status === 'completed')
    items.push(html`<div class="case-action"><p>电话回访：</p>${form('visit', '已解决', html`<input type="hidden" name="solved" value="1">${note('回访记录（选填）')}`)}${form('visit', '未解决，重新办理', html`<input type="hidden" name="solved" value="0">`, 'danger')}</div>`);
  return items.length ? html`<section class="case-actions"><h2>办理</h2>${items}</section>` : html``;
}
