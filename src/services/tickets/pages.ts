import type { Context } from 'koa';
import { csrfField } from '../../h5/layout.ts';
import { maskText } from '../../platform/pii.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { TicketEventRow, TicketRow } from './entities.ts';
import { STATUS_NAMES, type Tickets } from './index.ts';

const EVENT_TEXT: Partial<Record<TicketEventRow['kind'], string>> = {
  filed: '提交',
  accepted: '受理',
  rejected: '不予受理',
  dispatched: '派单',
  handling: '办理中',
  answered: '答复',
  extension_approved: '延期办理',
  escalated: '督办',
  completed: '办结',
  solved: '回访：已解决',
  reopened: '回访：未解决，重新办理',
  merged: '合并到同一问题的工单',
};

/** What the citizen (or, publicly, the holder of the query code) sees happen; internal moves are left out. */
export function ticketTimeline(tickets: Tickets, events: TicketEventRow[], when: (t: number) => string, to: 'citizen' | 'public'): SafeHtml {
  const shown = events.filter((e) => EVENT_TEXT[e.kind] && !(to === 'public' && e.kind === 'escalated'));
  return html`<ol class="wb-timeline">${shown.map((e) => {
    const note = e.kind === 'answered' || e.kind === 'rejected' ? (to === 'public' ? maskText(e.note ?? '') : e.note) : e.kind === 'dispatched' ? tickets.departmentName(e.department) : e.kind === 'merged' ? e.note : null;
    return html`<li><b>${EVENT_TEXT[e.kind]}</b> <span class="wb-muted">${when(e.createdAt)}</span>${note ? html`<div>${note}</div>` : ''}</li>`;
  })}</ol>`;
}

export function ticketCard(tickets: Tickets, t: TicketRow, onDay: (t: number) => string, link: boolean): SafeHtml {
  const title = html`${tickets.mailboxName(t.mailbox) ?? tickets.categoryName(t.category)} · ${tickets.kindName(t.kind)}`;
  return html`<div class="wb-card">
  <h3>${link ? html`<a href="/h5/tickets/${t.id}">${title}</a>` : title}</h3>
  <dl class="wb-kv">
    <dt>编号</dt><dd>${t.ticketNo}</dd>
    <dt>状态</dt><dd>${STATUS_NAMES[t.status]}</dd>
    <dt>承办</dt><dd>${tickets.departmentName(t.department)}</dd>
    <dt>提交</dt><dd>${onDay(t.filedAt)}</dd>
    ${['completed', 'closed', 'rejected', 'merged'].includes(t.status) ? '' : html`<dt>答复期限</dt><dd>${onDay(t.dueAt)}前</dd>`}
  </dl></div>`;
}

const fieldError = (errors: Record<string, string>, k: string) => (errors[k] ? html`<p class="wb-field-error" role="alert">${errors[k]}</p>` : '');

/** 随手拍: photos, the location (located, then a pin to nudge), category, words, an optional phone. */
export function snapForm(ctx: Context, tickets: Tickets, o: { values: Record<string, string>; errors: Record<string, string>; message: string | null }): SafeHtml {
  const v = o.values;
  const s = tickets.settings;
  const cats = s.categories.filter((c) => c.snap);
  return html`
${o.message ? html`<p class="wb-error" role="alert">${o.message}</p>` : ''}
<form method="post" action="/h5/snap" enctype="multipart/form-data" class="wb-form" novalidate>
  ${csrfField(ctx)}
  <div class="wb-field${o.errors.photos ? ' has-error' : ''}"><label for="f-photos">照片<span class="wb-muted">（最多 ${s.max_photos} 张，可拍照或从相册选）</span></label>
    <input id="f-photos" name="photos" type="file" accept="image/jpeg,image/png,.jpg,.jpeg,.png" multiple data-max-files="${s.max_photos}" data-max-kb="${s.max_photo_kb}">
    ${fieldError(o.errors, 'photos')}</div>
  <div class="wb-field${o.errors.location ? ' has-error' : ''}"><label>位置</label>
    <input type="hidden" name="lat" value="${v.lat ?? ''}" data-pin-lat><input type="hidden" name="lng" value="${v.lng ?? ''}" data-pin-lng>
    <button type="button" class="weui-btn weui-btn_default weui-btn_mini" data-pin-locate>定位到我现在的位置</button>
    <div class="wb-pin" data-pin hidden role="application" aria-label="拖动图钉到问题所在的地方"><span class="wb-pin-here" aria-hidden="true"></span><span class="wb-pin-mark" aria-hidden="true"></span></div>
    <p class="wb-muted wb-pin-tip" data-pin-tip>${v.lat ? `已选位置：${v.lat}, ${v.lng}` : '定位后可以拖动图钉，放到问题所在的地方。'}</p>
    <input name="address" type="text" maxlength="200" placeholder="或者写下地点，如：天山路 600 弄门口" value="${v.address ?? ''}" aria-label="地点">
    ${fieldError(o.errors, 'location')}</div>
  <div class="wb-field${o.errors.category ? ' has-error' : ''}"><label for="f-category">问题类别</label>
    <select id="f-category" name="category" required><option value="">请选择</option>${cats.map((c) => html`<option value="${c.id}" ${v.category === c.id ? 'selected' : ''}>${c.name}</option>`)}</select>
    ${fieldError(o.errors, 'category')}</div>
  <div class="wb-field${o.errors.description ? ' has-error' : ''}"><label for="f-description">情况说明</label>
    <textarea id="f-description" name="description" rows="4" maxlength="4000" required placeholder="发生了什么？持续多久了？">${v.description ?? ''}</textarea>
    ${fieldError(o.errors, 'description')}</div>
  <div class="wb-field${o.errors.phone ? ' has-error' : ''}"><label for="f-phone">联系电话<span class="wb-muted">（选填，需要回电时联系您）</span></label>
    <input id="f-phone" name="phone" type="tel" inputmode="tel" maxlength="20" value="${v.phone ?? ''}">
    ${fieldError(o.errors, 'phone')}</div>
  <p class="wb-muted wb-pad">不用登录、不用注册。您的电话只给办理部门看，列表里会打码。紧急情况请直接拨打 110 / 119 / 120。</p>
  <div class="wb-actions"><button type="submit" class="weui-btn weui-btn_primary">提交</button></div>
</form>`;
}

/** The leader mailbox: every mailbox of the profile, one form that routes the letter. */
export function mailboxForm(ctx: Context, tickets: Tickets, o: { values: Record<string, string>; errors: Record<string, string>; message: string | null }): SafeHtml {
  const v = o.values;
  const s = tickets.settings;
  return html`
${o.message ? html`<p class="wb-error" role="alert">${o.message}</p>` : ''}
<div class="weui-cells">${s.mailboxes.map((m) => html`<div class="weui-cell"><div class="weui-cell__bd"><p>${m.name}</p>${m.description ? html`<p class="wb-muted">${m.description}</p>` : ''}</div><div class="weui-cell__ft">${tickets.departmentName(m.department)}</div></div>`)}</div>
<p class="wb-pad"><a href="/h5/mailbox/letters">看看公开的来信和答复 ›</a></p>
<form method="post" action="/h5/mailbox" class="wb-form" novalidate>
  ${csrfField(ctx)}
  <div class="wb-field${o.errors.mailbox ? ' has-error' : ''}"><label for="f-mailbox">写给</label>
    <select id="f-mailbox" name="mailbox" required><option value="">请选择信箱</option>${s.mailboxes.map((m) => html`<option value="${m.id}" ${v.mailbox === m.id ? 'selected' : ''}>${m.name}</option>`)}</select>${fieldError(o.errors, 'mailbox')}</div>
  <div class="wb-field${o.errors.kind ? ' has-error' : ''}"><label for="f-kind">来信类型</label>
    <select id="f-kind" name="kind">${s.kinds.map((k) => html`<option value="${k.id}" ${v.kind === k.id ? 'selected' : ''}>${k.name}（${k.due_working_days} 个工作日内答复）</option>`)}</select>${fieldError(o.errors, 'kind')}</div>
  <div class="wb-field${o.errors.category ? ' has-error' : ''}"><label for="f-category">涉及问题<span class="wb-muted">（选填）</span></label>
    <select id="f-category" name="category"><option value="">其他</option>${s.categories.map((c) => html`<option value="${c.id}" ${v.category === c.id ? 'selected' : ''}>${c.name}</option>`)}</select>${fieldError(o.errors, 'category')}</div>
  <div class="wb-field${o.errors.description ? ' has-error' : ''}"><label for="f-description">来信内容</label>
    <textarea id="f-description" name="description" rows="6" maxlength="4000" required>${v.description ?? ''}</textarea>${fieldError(o.errors, 'description')}</div>
  <div class="wb-field${o.errors.contactName ? ' has-error' : ''}"><label for="f-name">姓名<span class="wb-muted">（选填）</span></label><input id="f-name" name="contactName" maxlength="40" value="${v.contactName ?? ''}">${fieldError(o.errors, 'contactName')}</div>
  <div class="wb-field${o.errors.phone ? ' has-error' : ''}"><label for="f-phone">联系电话<span class="wb-muted">（投诉、举报请填写）</span></label><input id="f-phone" name="phone" type="tel" inputmode="tel" maxlength="20" value="${v.phone ?? ''}">${fieldError(o.errors, 'phone')}</div>
  <label class="wb-check"><input type="checkbox" name="publish" value="1" ${v.publish === '1' ? 'checked' : ''}> 同意公开这封信和答复（姓名、电话、证件号、地址都会打码）</label>
  <div class="wb-actions"><button type="submit" class="weui-btn weui-btn_primary">寄出</button></div>
</form>`;
}

/** The public list: answered letters whose writers agreed, personal data masked, with the reply time. */
export function letterList(tickets: Tickets, rows: TicketRow[], onDay: (t: number) => string, workingDays: (a: number, b: number) => number): SafeHtml {
  if (!rows.length) return html`<p class="wb-muted wb-pad">还没有公开的来信。</p>`;
  return html`${rows.map(
    (t) => html`<article class="wb-card wb-letter">
  <h3>${tickets.mailboxName(t.mailbox)} · ${tickets.categoryName(t.category)}</h3>
  <p class="wb-muted">来信 ${onDay(t.filedAt)} · ${tickets.departmentName(t.department)}答复 ${onDay(t.answeredAt!)}（用时 ${workingDays(t.filedAt, t.answeredAt!)} 个工作日）</p>
  <p><b>来信：</b>${tickets.masked(t.description, t)}</p>
  <p><b>答复：</b>${tickets.masked(t.answer, t)}</p>
</article>`,
  )}`;
}
