import type Router from '@koa/router';
import type { PanelKit } from '../../admin/routes.ts';
import { page } from '../../admin/pages/layout.ts';
import type { Core } from '../../capability.ts';
import { mayBindings } from '../../policies/index.ts';
import { intOf } from '../../admin/body.ts';
import { csrfField } from '../../admin/pages/layout.ts';
import { html } from '../../web/html.ts';
import { BindingEntity } from './entities.ts';
import type { Events } from './events.ts';
import type { Bindings } from './index.ts';

const EVENT_STATUS: Record<string, [string, string]> = {
  queued: ['待发送', 'pill-near'],
  sent: ['已推送', 'pill-closed'],
  no_binding: ['无人绑定', 'pill-muted'],
  opted_out: ['已退订', 'pill-muted'],
  failed: ['失败', 'pill-overdue'],
};

/** What an event's detail (recorded in English for the API and the log) says, in the panel's words. */
function detailText(d: string | null): string {
  if (!d) return '';
  const m = /^bill (\S+)$/.exec(d);
  if (m) return `已生成缴费单 ${m[1]}`;
  if (d.startsWith('bill waiting')) return '待生成缴费单（缴费功能尚未开通）';
  const paid = /^paid, department notified \(bill (\S+)\)$/.exec(d);
  if (paid) return `已缴费，已通知部门系统（缴费单 ${paid[1]}）`;
  if (d.startsWith('nobody has bound')) return '没有市民绑定这个号码，未推送';
  if (d.startsWith('unbound before')) return '发送前市民已解绑，未推送';
  if (d.startsWith('the citizen switched')) return '市民已退订这类提醒';
  if (d.startsWith('WeChat refused')) return `微信拒发（${d.replace(/^WeChat refused: /, '')}）`;
  if (d.startsWith('kind no longer')) return '配置里已没有这类事件';
  return d;
}

/** The staff's view: bindings by kind (masked), and what the departments' systems sent. */
export function bindingsPanel(r: Router, kit: PanelKit, d: { core: Core; bindings: Bindings; events: Events }): void {
  const { core, bindings, events } = d;

  r.get('/bindings', kit.signedIn, async (ctx) => {
    const me = kit.actor(ctx);
    const kinds = bindings.kinds.filter((k) => mayBindings(me, 'view', k.department ?? null));
    if (!kinds.length) return kit.fail(ctx, 404, '没有可查看的绑定');
    const repo = core.db.getRepository(BindingEntity);
    const f = kit.fmt();
    const counts = await Promise.all(kinds.map((k) => repo.count({ where: { kind: k.id, status: 'bound' } })));
    const recent = await repo.find({ where: kinds.map((k) => ({ kind: k.id })), order: { boundAt: 'DESC', id: 'DESC' }, take: 50 });
    const kindName = (id: string) => bindings.kind(id)?.name ?? id;
    const shownKinds = new Set(kinds.map((k) => k.id));
    const evs = (await events.recent(100)).filter((e) => {
      const ek = events.kind(e.kind);
      return ek && shownKinds.has(ek.binding);
    });
    const pc = await kit.pageContext(ctx);
    const body = html`
<h1>绑定与推送</h1>
<section class="card"><h2>已绑定</h2>
<table class="list"><thead><tr><th scope="col">类型</th><th scope="col">核验方式</th><th scope="col">在绑数</th><th scope="col">每人上限</th></tr></thead><tbody>
${kinds.map((k, i) => html`<tr><td>${k.name}</td><td>${k.verify.by === 'records' ? '导入的记录' : '部门系统实时核验'}</td><td>${counts[i]}</td><td>${k.max_per_citizen}</td></tr>`)}
</tbody></table></section>
<section class="card"><h2>最近的绑定</h2>
${recent.length
  ? html`<p class="muted">市民说卡或车被别人绑定时，核验其证件后可以在这里解绑（记入审计日志）。</p>
<table class="list"><thead><tr><th scope="col">时间</th><th scope="col">类型</th><th scope="col">号码（已脱敏）</th><th scope="col">状态</th><th scope="col"></th></tr></thead><tbody>
${recent.map((b) => html`<tr><td>${f.short(b.boundAt)}</td><td>${kindName(b.kind)}</td><td><code>${b.display}</code></td><td>${b.status === 'bound' ? html`<span class="pill pill-closed">在绑</span>` : html`<span class="pill pill-muted">已解绑 ${f.short(b.unboundAt ?? 0)}</span>`}</td><td>${b.status === 'bound' && mayBindings(me, 'unbind', bindings.kind(b.kind)?.department ?? null) ? html`<form method="post" action="/admin/bindings/${b.id}/unbind" class="inline">${csrfField(pc)}<button type="submit">解绑</button></form>` : null}</td></tr>`)}
</tbody></table>`
  : html`<p class="muted">还没有人绑定。</p>`}</section>
<section class="card"><h2>部门系统推来的事件</h2>
<p class="muted">部门系统用 <code>POST /api/events</code>（签名见 README）推送；同一幂等键只处理一次，夜间免打扰时段的推送顺延到早上。</p>
${evs.length
  ? html`<table class="list"><thead><tr><th scope="col">收到</th><th scope="col">系统</th><th scope="col">事件</th><th scope="col">对象（已脱敏）</th><th scope="col">内容</th><th scope="col">状态</th><th scope="col">发送时间</th></tr></thead><tbody>
${evs.map((e) => {
  const [label, cls] = EVENT_STATUS[e.status] ?? [e.status, 'pill-muted'];
  const values = Object.entries(events.labelled({ ...e, payload: JSON.stringify(events.shownValues(e)) })).map(([k, v]) => `${k}：${v}`).join(' · ');
  return html`<tr><td>${f.short(e.receivedAt)}</td><td>${events.system(e.system)?.name ?? e.system}</td><td>${events.kind(e.kind)?.name ?? e.kind}</td><td><code>${e.targetDisplay}</code></td><td class="small">${values}${e.detail ? html`<br><span class="muted">${detailText(e.detail)}</span>` : ''}</td><td><span class="pill ${cls}">${label}</span></td><td>${e.sentAt ? f.short(e.sentAt) : e.sendAt ? html`预计 ${f.short(e.sendAt)}` : '—'}</td></tr>`;
})}
</tbody></table>`
  : html`<p class="muted">还没有收到事件。</p>`}</section>`;
    kit.send(ctx, page(pc, { title: '绑定与推送', section: 'bindings', body }));
  });

  r.post('/bindings/:id/unbind', kit.signedIn, async (ctx) => {
    await kit.checkedForm(ctx);
    const me = kit.actor(ctx);
    const id = intOf(ctx.params.id ?? null);
    const row = id === null ? null : await core.db.getRepository(BindingEntity).findOneBy({ id, status: 'bound' });
    const kind = row ? bindings.kind(row.kind) : undefined;
    if (!row || !kind || !mayBindings(me, 'view', kind.department ?? null)) return kit.fail(ctx, 404, '没有这个绑定');
    if (!mayBindings(me, 'unbind', kind.department ?? null)) return kit.fail(ctx, 403, '值班员不能解绑，请找经办人或负责人');
    const done = await bindings.unbind(null, row.id);
    if (done) await kit.audit.record({ actor: me, action: 'binding-unbind', target: `binding:${row.id}`, department: kind.department ?? null, detail: `${kind.name} ${row.display}`, ip: ctx.ip });
    await kit.flash(ctx, done ? 'ok' : 'error', done ? `已解绑 ${kind.name} ${row.display}` : '这个绑定已经解除了');
    ctx.redirect('/admin/bindings');
  });
}
