import type Router from '@koa/router';
import type { Context } from 'koa';
import { csrfOk, readForm } from '../../h5/http.ts';
import { intParam, type PageKit } from '../../h5/kit.ts';
import { csrfField, message } from '../../h5/layout.ts';
import type { BindingKind, BindingsConfig } from '../../profile/bindings.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { Events } from './events.ts';
import { BindingError, type Bindings } from './index.ts';

const STATUS_TEXT: Record<string, string> = { queued: '待发送', sent: '已发送', no_binding: '未发送', opted_out: '已退订', failed: '发送失败' };

/** The citizen's pages: my bindings, bind a kind, switch pushes off, an event's own page. */
export function bindingPages(r: Router, kit: PageKit, d: { bindings: Bindings; events: Events; config: BindingsConfig }): void {
  const { bindings, events, config } = d;

  const listBody = async (ctx: Context, openid: string, notice?: SafeHtml): Promise<SafeHtml> => {
    const mine = await bindings.list(openid);
    const off = await events.optOuts(openid);
    const kindName = (id: string) => bindings.kind(id)?.name ?? id;
    const pushKinds = config.events.filter((e) => e.can_opt_out && mine.some((b) => b.kind === e.binding));
    return html`${notice ?? ''}
<section class="wb-section"><h2>已绑定</h2>
${mine.length
  ? mine.map(
      (b) => html`<article class="wb-card wb-binding" id="b${b.id}">
  <h3>${kindName(b.kind)} <span class="wb-masked">${b.display}</span></h3>
  <p class="wb-muted">${kit.onDay(b.boundAt)} 绑定</p>
  <form method="post" action="/h5/bindings/${b.id}/unbind" class="wb-inline-form">${csrfField(ctx)}<button type="submit" class="weui-btn weui-btn_default weui-btn_mini">解除绑定</button></form>
</article>`,
    )
  : html`<p class="wb-card">还没有绑定。绑定后，到期、年检、罚单等提醒会自动发给您。</p>`}
</section>
<section class="wb-section"><h2>添加绑定</h2>
<div class="wb-actions">${bindings.kinds.map((k) => html`<a class="weui-btn weui-btn_primary" href="/h5/bindings/new/${k.id}">绑定${k.name}</a>`)}</div>
</section>
${pushKinds.length
  ? html`<section class="wb-section"><h2>提醒设置</h2>
${pushKinds.map(
  (e) => html`<form method="post" action="/h5/pushes" class="wb-card wb-push">${csrfField(ctx)}<input type="hidden" name="kind" value="${e.id}"><input type="hidden" name="off" value="${off.has(e.id) ? '0' : '1'}">
  <span>${e.name}：${off.has(e.id) ? '已关闭' : '接收中'}</span>
  <button type="submit" class="weui-btn weui-btn_default weui-btn_mini">${off.has(e.id) ? '重新接收' : '不再接收'}</button></form>`,
)}</section>`
  : ''}`;
  };

  r.get('/h5/bindings', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    kit.render(ctx, '我的绑定', await listBody(ctx, openid));
  });

  const form = (ctx: Context, kind: BindingKind, o: { values?: Record<string, string>; error?: BindingError | null; consent?: boolean }): SafeHtml => html`
<form method="post" action="/h5/bindings/new/${kind.id}" class="wb-section" novalidate>
  ${csrfField(ctx)}
  ${o.error ? html`<p class="wb-error" role="alert">${o.error.message}</p>` : ''}
  ${kind.fields.map(
    (f) => html`<div class="wb-field"><label for="f-${f.id}">${f.label}</label>
    <input id="f-${f.id}" name="${f.id}" type="${f.secret ? 'password' : f.input === 'number' ? 'text' : f.input}" ${f.input === 'number' ? html`inputmode="numeric"` : ''} autocomplete="off" placeholder="${f.hint}" value="${f.secret ? '' : (o.values?.[f.id] ?? '')}" ${o.error?.field === f.id ? html`aria-invalid="true"` : ''} required></div>`,
  )}
  <div class="wb-card wb-consent"><p>${kind.consent}</p>
  <label><input type="checkbox" name="consent" value="1" ${o.consent ? html`checked` : ''} required> 我已阅读并同意</label></div>
  <div class="wb-actions"><button type="submit" class="weui-btn weui-btn_primary">确认绑定</button></div>
</form>`;

  r.get('/h5/bindings/new/:kind', async (ctx) => {
    const kind = bindings.kind(ctx.params.kind ?? '');
    if (!kind) return kit.notFound(ctx, '这种绑定');
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    kit.render(ctx, `绑定${kind.name}`, form(ctx, kind, {}), { back: '/h5/bindings' });
  });

  r.post('/h5/bindings/new/:kind', async (ctx) => {
    const kind = bindings.kind(ctx.params.kind ?? '');
    if (!kind) return kit.notFound(ctx, '这种绑定');
    const f = await readForm(ctx);
    const openid = await kit.openid(ctx);
    if (!openid || !csrfOk(ctx, f)) return kit.expired(ctx, '请返回重新打开绑定页面。', { href: `/h5/bindings/new/${kind.id}`, label: '重新绑定' });
    const input = Object.fromEntries(kind.fields.map((x) => [x.id, f.get(x.id) ?? '']));
    try {
      const res = await bindings.bind(openid, kind.id, input, f.get('consent') === '1');
      kit.render(
        ctx,
        '绑定成功',
        message('success', res.already ? '已经绑定过了' : '绑定成功', `${kind.name} ${res.binding.display} 已绑定到您的微信，有提醒会第一时间发给您。`, html`<a class="weui-btn weui-btn_primary" href="/h5/bindings">查看我的绑定</a>`),
      );
    } catch (err) {
      if (!(err instanceof BindingError)) throw err;
      const status = err.code === 'locked' ? 429 : err.code === 'unavailable' ? 503 : err.code === 'taken' ? 409 : 422;
      kit.render(ctx, `绑定${kind.name}`, form(ctx, kind, { values: input, error: err, consent: f.get('consent') === '1' }), { back: '/h5/bindings', status });
    }
  });

  r.post('/h5/bindings/:id/unbind', async (ctx) => {
    const f = await readForm(ctx);
    const openid = await kit.openid(ctx);
    if (!openid || !csrfOk(ctx, f)) return kit.expired(ctx, '请返回刷新后再试。', { href: '/h5/bindings', label: '我的绑定' });
    const id = intParam(ctx.params.id);
    const done = id === undefined ? null : await bindings.unbind(openid, id);
    const notice = done
      ? html`<p class="wb-card wb-ok" role="status">已解除绑定：${bindings.kind(done.kind)?.name ?? ''} ${done.display}。相关提醒不会再发给您。</p>`
      : html`<p class="wb-error" role="alert">没有找到这个绑定，可能已经解除了。</p>`;
    kit.render(ctx, '我的绑定', await listBody(ctx, openid, notice), { status: done ? 200 : 404 });
  });

  r.post('/h5/pushes', async (ctx) => {
    const f = await readForm(ctx);
    const openid = await kit.openid(ctx);
    if (!openid || !csrfOk(ctx, f)) return kit.expired(ctx, '请返回刷新后再试。', { href: '/h5/bindings', label: '我的绑定' });
    const kind = events.kind(f.get('kind') ?? '');
    if (!kind || !kind.can_opt_out) return kit.notFound(ctx, '这类提醒');
    const off = f.get('off') === '1';
    await events.setOptOut(openid, kind.id, off);
    const back = f.get('back');
    const notice = html`<p class="wb-card wb-ok" role="status">${off ? `已关闭「${kind.name}」，以后不再发送。需要时可以在这里重新打开。` : `已重新接收「${kind.name}」。`}</p>`;
    if (back && /^\/h5\/notices\/\d+$/.test(back)) return ctx.redirect(back);
    kit.render(ctx, '我的绑定', await listBody(ctx, openid, notice));
  });

  r.get('/h5/notices/:id', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    const id = intParam(ctx.params.id);
    const e = id === undefined ? null : await events.forCitizen(openid, id);
    if (!e) return kit.notFound(ctx, '这条提醒');
    const kind = events.kind(e.kind);
    const m = events.message(e);
    const tpl = kind ? m : null;
    const off = (await events.optOuts(openid)).has(e.kind);
    kit.render(
      ctx,
      kind?.name ?? '提醒',
      html`<article class="wb-card">
  <h3>${kind?.name ?? ''} <span class="wb-status">${STATUS_TEXT[e.status] ?? e.status}</span></h3>
  ${tpl ? html`<ul class="wb-kvlist">${Object.entries(events.labelled(e)).map(([k, v]) => html`<li><span>${k}</span><span class="wb-masked">${v}</span></li>`)}</ul>` : ''}
  <p class="wb-muted">${kit.when(e.receivedAt)} 收到</p>
</article>
${kind?.can_opt_out
  ? html`<form method="post" action="/h5/pushes" class="wb-card">${csrfField(ctx)}<input type="hidden" name="kind" value="${e.kind}"><input type="hidden" name="off" value="${off ? '0' : '1'}"><input type="hidden" name="back" value="/h5/notices/${e.id}">
  <p class="wb-muted">${off ? '您已关闭这类提醒。' : '不想再收到这类提醒？'}</p>
  <button type="submit" class="weui-btn weui-btn_default">${off ? '重新接收这类提醒' : '退订这类提醒'}</button></form>`
  : ''}`,
      { back: '/h5/bindings' },
    );
  });
}
