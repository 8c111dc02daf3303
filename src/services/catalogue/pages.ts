import type { Service } from '../../profile/catalogue.ts';
import { html, type SafeHtml } from '../../web/html.ts';

/** 办事指南: open to anyone, no sign-in (a login wall in front of a guide is over-collection). */
export function guideBody(s: Service): SafeHtml {
  const g = s.guide;
  const list = (items: string[]) => html`<ol class="wb-list">${items.map((i) => html`<li>${i}</li>`)}</ol>`;
  return html`
<section class="wb-card"><h3>${s.name}</h3><p>${g.summary}</p>${s.department ? html`<p class="wb-muted">办理部门：${s.department}</p>` : ''}</section>
${g.conditions.length ? html`<section class="wb-card"><h3>办理条件</h3>${list(g.conditions)}</section>` : ''}
<section class="wb-card"><h3>需要带的材料</h3>${list(g.materials)}</section>
<section class="wb-card">
  <dl class="wb-kv">
    <dt>收费</dt><dd>${g.fee}</dd>
    <dt>地点</dt><dd>${g.where}</dd>
    <dt>时间</dt><dd>${g.when}</dd>
    <dt>时限</dt><dd>${g.time_limit}</dd>
    ${g.phone ? html`<dt>咨询</dt><dd><a href="tel:${g.phone.replace(/[^\d-]/g, '')}">${g.phone}</a></dd>` : ''}
  </dl>
</section>
${g.process.length ? html`<section class="wb-card"><h3>办理流程</h3>${list(g.process)}</section>` : ''}
${g.legal_basis.length ? html`<section class="wb-card"><h3>设定依据</h3>${list(g.legal_basis)}</section>` : ''}
<div class="wb-actions">
  ${s.appointment ? html`<a class="weui-btn weui-btn_primary" href="/h5/book/${s.id}">预约到大厅办理</a>` : ''}
  <a class="weui-btn weui-btn_default" href="/h5/halls?service=${s.id}">哪些大厅能办</a>
</div>`;
}

/** Every item, for anyone looking around. */
export function guidesBody(services: Service[]): SafeHtml {
  return html`<div class="weui-cells">${services.map(
    (s) => html`<a class="weui-cell weui-cell_access" href="/h5/guide/${s.id}"><div class="weui-cell__bd"><p>${s.name}</p></div><div class="weui-cell__ft">${s.appointment ? '可预约' : ''}</div></a>`,
  )}</div>`;
}
