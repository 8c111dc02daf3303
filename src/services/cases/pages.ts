import type { Context } from 'koa';
import type { FormField } from '../../profile/application.ts';
import type { AttachmentRow, CaseEventRow, CaseRow } from './entities.ts';
import { statusName, type ApplicableService, type Cases } from './index.ts';
import type { FieldValue } from './forms.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { csrfField } from '../../h5/layout.ts';

const ACCEPT_EXT: Record<string, string> = { 'image/jpeg': '.jpg,.jpeg', 'image/png': '.png', 'application/pdf': '.pdf' };

function sizeText(kb: number): string {
  return kb >= 1024 ? `${Math.round(kb / 1024)} MB` : `${kb} KB`;
}

function input(f: Exclude<FormField, { type: 'file' }>, value: FieldValue | undefined): SafeHtml {
  const v = value === undefined ? '' : String(value);
  const req = f.required ? html`required` : '';
  switch (f.type) {
    case 'select':
      return html`<select id="f-${f.id}" name="${f.id}" ${req}><option value="">请选择</option>${f.options.map((o) => html`<option value="${o}" ${o === v ? 'selected' : ''}>${o}</option>`)}</select>`;
    case 'number':
      return html`<input id="f-${f.id}" name="${f.id}" type="number" inputmode="numeric" ${f.min !== undefined ? html`min="${f.min}"` : ''} ${f.max !== undefined ? html`max="${f.max}"` : ''} value="${v}" ${req}>`;
    case 'date':
      return html`<input id="f-${f.id}" name="${f.id}" type="date" value="${v}" ${req}>`;
    case 'phone':
      return html`<input id="f-${f.id}" name="${f.id}" type="tel" inputmode="tel" autocomplete="tel" pattern="1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}" value="${v}" ${req}>`;
    case 'id_card':
      return html`<input id="f-${f.id}" name="${f.id}" type="text" autocomplete="off" pattern="[0-9]{17}[0-9Xx]" maxlength="18" data-idcard value="${v}" ${req}>`;
    case 'address':
      return html`<input id="f-${f.id}" name="${f.id}" type="text" autocomplete="street-address" minlength="5" maxlength="100" value="${v}" ${req}>`;
    case 'text':
      return html`<input id="f-${f.id}" name="${f.id}" type="text" maxlength="${f.max}" value="${v}" ${req}>`;
  }
}

/** The application form, rendered from its definition: the same checks run on the page and on the server. */
export function applyBody(ctx: Context, s: ApplicableService, o: { values: Record<string, FieldValue>; kept: AttachmentRow[]; errors: Record<string, string>; message: string | null; saved: boolean; removed?: boolean }): SafeHtml {
  const a = s.application;
  return html`
${o.saved ? html`<p class="wb-card wb-ok" role="status">草稿已保存，下次打开可以接着填。</p>` : ''}
${o.removed ? html`<p class="wb-card wb-ok" role="status">文件已删除，可以重新选一个上传。</p>` : ''}
${o.message ? html`<p class="wb-error" role="alert">${o.message}</p>` : ''}
<section class="wb-card"><h3>${s.name}</h3>
  <dl class="wb-kv">
    <dt>时限</dt><dd>受理后 ${a.time_limit_days} 个工作日内办结</dd>
    <dt>收费</dt><dd>${a.fee_fen ? `${(a.fee_fen / 100).toFixed(2)} 元` : '免费'}</dd>
  </dl>
  ${a.materials.length ? html`<p class="wb-muted">请准备好：${a.materials.join('、')}</p>` : ''}
</section>
<form method="post" action="/h5/apply/${s.id}" enctype="multipart/form-data" class="wb-form" data-draft="/h5/apply/${s.id}/draft" novalidate>
  ${csrfField(ctx)}
  <!-- The form's default button (Enter, the keyboard's 前往) is its first: submit, never a 删除 below. -->
  <button type="submit" name="action" value="submit" class="wb-default-submit" tabindex="-1" aria-hidden="true">提交申请</button>
  ${a.form.map((f) => {
    const err = o.errors[f.id];
    const label = html`<label for="f-${f.id}">${f.label}${f.required ? html`<span class="wb-warn" aria-hidden="true"> *</span>` : html`<span class="wb-muted">（选填）</span>`}</label>`;
    if (f.type === 'file') {
      const kept = o.kept.filter((k) => k.fieldId === f.id);
      return html`<div class="wb-field${err ? ' has-error' : ''}">${label}
        ${kept.map(
          // A button of this form (no nested forms): posts it to the delete address as a plain form, so what was typed is kept too.
          (k) => html`<p class="wb-muted wb-kept">已上传：${k.fileName}（${Math.ceil(k.size / 1024)} KB）<button type="submit" class="wb-kept-del" formaction="/h5/apply/${s.id}/files/${k.id}/delete" formmethod="post" formenctype="application/x-www-form-urlencoded" formnovalidate aria-label="删除已上传的${k.fileName}">删除</button></p>`,
        )}
        <input id="f-${f.id}" name="${f.id}" type="file" accept="${f.accept.map((x) => `${x},${ACCEPT_EXT[x]}`).join(',')}" ${f.max_files > 1 ? 'multiple' : ''} data-max-kb="${f.max_kb}" data-max-files="${f.max_files}" ${f.required && kept.length === 0 ? 'required' : ''}>
        <small class="wb-muted">${f.accept.map((x) => ({ 'image/jpeg': 'JPG', 'image/png': 'PNG', 'application/pdf': 'PDF' })[x]).join(' / ')}，每个不超过 ${sizeText(f.max_kb)}${f.max_files > 1 ? `，最多 ${f.max_files} 个` : ''}${f.hint ? `。${f.hint}` : ''}</small>
        ${err ? html`<p class="wb-field-error" role="alert">${err}</p>` : ''}
      </div>`;
    }
    return html`<div class="wb-field${err ? ' has-error' : ''}">${label}${input(f, o.values[f.id])}${f.hint ? html`<small class="wb-muted">${f.hint}</small>` : ''}${err ? html`<p class="wb-field-error" role="alert">${err}</p>` : ''}</div>`;
  })}
  <p class="wb-muted wb-pad">只填办理这项业务需要的信息；您的证件号码、电话、地址在工作人员列表中会打码显示。</p>
  <div class="wb-actions">
    <button type="submit" name="action" value="submit" class="weui-btn weui-btn_primary">提交申请</button>
    <button type="submit" name="action" value="draft" class="weui-btn weui-btn_default" formnovalidate>保存草稿</button>
  </div>
</form>`;
}

const EVENT_TEXT: Record<CaseEventRow['kind'], string> = {
  submitted: '提交申请',
  accepted: '已受理',
  advanced: '进入下一环节',
  correction_requested: '需要补正材料',
  corrected: '已补正',
  refused: '不予受理',
  completed: '已办结',
  escalated: '已督办',
  renewal_reminded: '到期提醒',
};

/** The case's moves, newest first; `to` says whose page it is (a citizen's own, or anyone's with the query code). */
export function timelineHtml(cases: Cases, c: CaseRow, events: CaseEventRow[], describe: (t: number) => string, opts: { to: 'public' | 'citizen' }): SafeHtml {
  const shown = events.filter((e) => e.kind !== 'escalated');
  const note = (e: CaseEventRow) => cases.noteShown(e, opts.to);
  return html`<ol class="wb-timeline">${shown
    .slice()
    .reverse()
    .map(
      (e) => html`<li><p><strong>${EVENT_TEXT[e.kind]}</strong>${e.kind === 'advanced' || e.kind === 'accepted' ? html` · ${cases.stepName(c.serviceId, e.step ?? '')}` : ''}</p>
      <p class="wb-muted">${describe(e.createdAt)}</p>${note(e) ? html`<p>${note(e)}</p>` : ''}</li>`,
    )}</ol>`;
}

/** The steps as a progress line: done, current, to come. */
export function stepsHtml(cases: Cases, s: ApplicableService | null, c: CaseRow): SafeHtml {
  if (!s) return html``;
  const i = s.application.steps.findIndex((x) => x.id === c.step);
  const done = c.status === 'completed';
  // Not yet accepted (待受理): the first step waits, it is not shown as under way (or done).
  const waiting = c.status === 'submitted';
  return html`<ol class="wb-steps" aria-label="办理环节">${s.application.steps.map((x, j) => {
    if (done || j < i) return html`<li class="is-done"><span aria-hidden="true">✓ </span>${x.name}<span class="wb-sr">（已完成）</span></li>`;
    if (j === i && waiting) return html`<li class="is-waiting" aria-current="step">${x.name}<small>等待受理</small></li>`;
    if (j === i) return html`<li class="is-current" aria-current="step">${x.name}<span class="wb-sr">（进行中）</span></li>`;
    return html`<li>${x.name}</li>`;
  })}</ol>`;
}

export function caseCard(cases: Cases, s: ApplicableService | null, c: CaseRow, describe: (t: number) => string, link: boolean): SafeHtml {
  const body = html`<h3>${s?.name ?? c.serviceId} <span class="wb-status is-${c.status}">${statusName(c.status)}</span></h3>
  <p class="wb-muted">办件编号 ${c.caseNo} · 提交于 ${describe(c.submittedAt)}</p>
  ${stepsHtml(cases, s, c)}
  ${c.status === 'correction' ? html`<p class="wb-warn">需要补正：${c.correctionRequest}</p>` : ''}
  ${c.dueAt && c.status !== 'completed' && c.status !== 'refused' ? html`<p class="wb-muted">承诺 ${describe(c.dueAt)} 前办结${c.pausedAt ? '（补正期间暂停计时）' : ''}</p>` : ''}
  ${c.dueAt && c.status === 'completed' && c.completedAt ? html`<p class="wb-muted">承诺 ${describe(c.dueAt)} 前办结，已于 ${describe(c.completedAt)} 办结${c.completedAt <= c.dueAt ? '（按时）' : ''}</p>` : ''}`;
  return link ? html`<a class="wb-card wb-hall" href="/h5/cases/${c.id}">${body}</a>` : html`<section class="wb-card">${body}</section>`;
}

export function correctionForm(ctx: Context, s: ApplicableService, c: CaseRow, errors: Record<string, string>, current: AttachmentRow[] = []): SafeHtml {
  const files = s.application.form.filter((f): f is Extract<FormField, { type: 'file' }> => f.type === 'file');
  const has = (f: { id: string }) => current.filter((x) => x.fieldId === f.id).length;
  return html`<form method="post" action="/h5/cases/${c.id}/correct" enctype="multipart/form-data" class="wb-section wb-form">
  ${csrfField(ctx)}
  <h2>补充材料</h2>
  ${files.map(
    (f) => html`<div class="wb-field${errors[f.id] ? ' has-error' : ''}"><label for="c-${f.id}">${f.label}</label>
      <input id="c-${f.id}" name="${f.id}" type="file" accept="${f.accept.map((x) => `${x},${ACCEPT_EXT[x]}`).join(',')}" ${f.max_files > 1 ? 'multiple' : ''} data-max-kb="${f.max_kb}" data-max-files="${f.max_files}">
      ${has(f) ? html`<small class="wb-muted">已交 ${has(f)} 个，最多 ${f.max_files} 个${has(f) >= f.max_files ? `；新传的会替换${f.max_files === 1 ? '原来的' : '最早交的'}` : ''}。</small>` : ''}
      ${errors[f.id] ? html`<p class="wb-field-error" role="alert">${errors[f.id]}</p>` : ''}</div>`,
  )}
  <div class="wb-field"><label for="c-note">说明（选填）</label><input id="c-note" name="note" type="text" maxlength="500"></div>
  <div class="wb-actions"><button type="submit" class="weui-btn weui-btn_primary">提交补正材料</button></div>
</form>`;
}
