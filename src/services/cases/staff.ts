import { PERSONAL_KIND_NAMES } from '../../platform/pii.ts';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { CaseEventRow, CaseRow } from './entities.ts';
import { CaseError, statusName, type Cases } from './index.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { intOf } from '../../admin/body.ts';
import { csrfField, page, type PageContext } from '../../admin/pages/layout.ts';
import type { Fmt } from '../../admin/pages/inbox.ts';
import { canSee, departmentsOf, mayCase, type CaseAction, type StaffActor } from '../../policies/index.ts';
import type { PanelKit } from '../../admin/routes.ts';

const FILTERS = { open: '办理中（全部）', escalated: '督办', submitted: '待受理', in_progress: '办理中', correction: '待补正', completed: '已办结', refused: '不予受理', all: '全部' } as const;
type Filter = keyof typeof FILTERS;
const STATUSES: Record<Filter, CaseRow['status'][] | undefined> = {
  open: ['submitted', 'in_progress', 'correction'],
  escalated: ['submitted', 'in_progress', 'correction'],
  submitted: ['submitted'],
  in_progress: ['in_progress'],
  correction: ['correction'],
  completed: ['completed'],
  refused: ['refused'],
  all: undefined,
};
const EVENTS: Record<CaseEventRow['kind'], string> = {
  submitted: '市民提交申请',
  accepted: '受理',
  advanced: '推进',
  correction_requested: '要求补正',
  corrected: '市民已补正',
  refused: '不予受理',
  completed: '办结',
  escalated: '超期督办',
  renewal_reminded: '到期提醒',
};
const NEAR_MS = 2 * 86_400_000;

function dueCell(c: CaseRow, f: Fmt): SafeHtml {
  if (!c.dueAt || c.status === 'completed' || c.status === 'refused') return html`<span class="muted">—</span>`;
  if (c.pausedAt) return html`${f.short(c.dueAt)}<div class="muted small">补正中，暂停计时</div>`;
  if (c.dueAt < f.now) return html`<span class="pill pill-overdue">已超期 ${f.span(f.now - c.dueAt)}</span><div class="muted small">${f.short(c.dueAt)}</div>`;
  if (c.dueAt - f.now < NEAR_MS) return html`<span class="pill pill-near">还剩 ${f.span(c.dueAt - f.now)}</span><div class="muted small">${f.short(c.dueAt)}</div>`;
  return html`${f.short(c.dueAt)}`;
}

/**
 * 办件: the department's cases for handlers — filters and due dates; accept, ask for more material
 * (补正), advance through the steps, complete, refuse. Every move goes through the Cases commands
 * and is written to the case's timeline and the audit log.
 */
export function caseSection(cases: Cases, departmentName: (id: string | null) => string, staffName: (id: number) => Promise<string | null> = async () => null) {
  const escalated = (c: CaseRow) => c.escalatedAt !== null && c.status !== 'completed' && c.status !== 'refused';
  /** The 督办 mark, naming the supervisor it went to (as the inbox does). */
  const escPill = (c: CaseRow, names: Map<number, string | null>) => {
    const to = c.escalatedTo !== null ? names.get(c.escalatedTo) : null;
    return html`<span class="pill pill-esc" title="${to ? `督办人：${to}` : '督办（本部门没有在岗负责人，由管理员督办）'}">督办${to ? html` · ${to}` : null}</span>`;
  };
  const namesOf = async (rows: CaseRow[]) => {
    const ids = [...new Set(rows.filter(escalated).map((c) => c.escalatedTo).filter((x): x is number => x !== null))];
    return new Map(await Promise.all(ids.map(async (id) => [id, await staffName(id)] as const)));
  };
  return (r: Router, kit: PanelKit) => {
    const scoped = (a: StaffActor, c: CaseRow) => canSee(a, { department: c.department });
    /** A case the actor may see, else "not found" (whether it exists or not). */
    const load = async (ctx: Context): Promise<CaseRow> => {
      const id = intOf(ctx.params.id);
      const c = id === null ? null : await cases.get(id);
      if (!c || !scoped(kit.actor(ctx), c)) throw new CaseError('not_found', '没有这个办件，或不属于您的部门');
      return c;
    };
    const guard = async (ctx: Context, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof CaseError) {
          if (err.code === 'not_found') return kit.fail(ctx, 404, err.message);
          await kit.flash(ctx, 'error', err.message);
          return ctx.redirect(`/admin/cases/${ctx.params.id}`);
        }
        throw err;
      }
    };

    r.get('/cases', kit.signedIn, async (ctx) => {
      const a = kit.actor(ctx);
      const filter = (typeof ctx.query.status === 'string' && ctx.query.status in FILTERS ? ctx.query.status : 'open') as Filter;
      const depts = departmentsOf(a);
      const q = { status: STATUSES[filter], escalated: filter === 'escalated' };
      const rows = depts === null ? await cases.forDepartment(null, q) : (await Promise.all(depts.map((d) => cases.forDepartment(d, q)))).flat();
      const names = await namesOf(rows);
      const f = kit.fmt();
      const body = html`<div class="inbox">
  <nav class="tabs" aria-label="办件分类">${(Object.keys(FILTERS) as Filter[]).map((k) => html`<a href="/admin/cases?status=${k}" class="${k === filter ? 'on' : ''}">${FILTERS[k]}</a>`)}</nav>
  <section class="list card">${rows.length === 0
    ? html`<p class="empty">${filter === 'escalated' ? '没有督办中的办件。' : '这里没有办件。'}</p>`
    : html`<table class="items"><thead><tr><th>状态</th><th>办件</th><th>部门</th><th>提交</th><th>承诺办结</th></tr></thead><tbody>${rows.map(
        (c) => html`<tr class="${escalated(c) ? 'esc' : ''}">
      <td class="st"><span class="pill">${statusName(c.status)}</span>${escalated(c) ? escPill(c, names) : null}</td>
      <td class="q"><a href="/admin/cases/${c.id}"><span class="num">${c.caseNo}</span> ${cases.service(c.serviceId)?.name ?? c.serviceId}</a><div class="last">当前环节：${cases.stepName(c.serviceId, c.step)}${c.status === 'correction' ? html` · 等待市民补正` : null}</div></td>
      <td>${departmentName(c.department)}</td>
      <td>${f.short(c.submittedAt)}</td>
      <td>${dueCell(c, f)}</td>
    </tr>`,
      )}</tbody></table>`}</section>
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: '办件', section: 'cases', body }));
    });

    const detail = async (ctx: Context, c: CaseRow, revealed = false) => {
      const a = kit.actor(ctx);
      const pc = await kit.pageContext(ctx);
      const f = kit.fmt();
      const s = cases.service(c.serviceId);
      const events = await cases.timeline(c.id);
      const files = await cases.attachments(c.id);
      // What the role may do, and what the item allows at all (an item may switch off 补正 / 不予受理).
      const offered = (x: CaseAction) => (x === 'correct' ? s?.application.correction !== false : x === 'refuse' ? s?.application.refusal !== false : true);
      const can = (x: CaseAction) => mayCase(a, x, c) && offered(x);
      const form = revealed ? cases.plainForm(c) : cases.maskedForm(c);
      const names = await namesOf([c]);
      const steps = s?.application.steps ?? [];
      const i = steps.findIndex((x) => x.id === c.step);
      // From the last-but-one step (or the last, when 受理 → 办结 are the only two) the next move is 办结.
      const completes = c.status === 'in_progress' && i >= 0 && i >= steps.length - 2;
      const nextName = c.status === 'in_progress' && i >= 0 ? (completes ? steps[steps.length - 1]!.name : steps[i + 1]!.name) : null;
      const body = html`<div class="conv">
  <div class="conv-main card">
    <div class="conv-head">
      <h1><span class="num">${c.caseNo}</span> ${s?.name ?? c.serviceId}</h1>
      <div class="pills"><span class="pill">${statusName(c.status)}</span><span class="pill">${cases.stepName(c.serviceId, c.step)}</span><span class="pill">${departmentName(c.department)}</span>${escalated(c) ? escPill(c, names) : null}</div>
      <dl class="facts">
        <div><dt>提交</dt><dd>${f.at(c.submittedAt)}</dd></div>
        <div><dt>受理</dt><dd>${c.acceptedAt ? f.at(c.acceptedAt) : '尚未受理'}</dd></div>
        <div><dt>承诺办结</dt><dd>${dueCell(c, f)}${s ? html` <span class="muted">（${s.application.time_limit_days} 个工作日）</span>` : null}</dd></div>
        ${c.status === 'correction' ? html`<div><dt>补正内容</dt><dd>${c.correctionRequest}</dd></div>` : null}
        ${c.validUntil ? html`<div><dt>有效期至</dt><dd>${f.at(c.validUntil)}</dd></div>` : null}
      </dl>
    </div>
    <section><h2>申请内容</h2>
      <dl class="facts">${form.map((x) => html`<div><dt>${x.label}</dt><dd>${x.value}</dd></div>`)}</dl>
      ${!revealed && can('unmask') && cases.personalKinds(c).length ? html`<form method="post" action="/admin/cases/${c.id}/reveal" class="inline">${csrfField(pc)}<button class="link small" type="submit" title="显示完整内容（将记入审计日志）">显示完整</button></form>` : null}
      ${files.length ? html`<h3>附件</h3><ul>${files.map((x) => html`<li><a href="/admin/cases/${c.id}/files/${x.id}" target="_blank" rel="noopener">${x.fileName}</a> <span class="muted small">${x.mime} · ${Math.ceil(x.size / 1024)} KB · ${f.short(x.createdAt)}</span>${x.replacedAt ? html` <span class="pill">补正时已替换</span>` : null}</li>`)}</ul>` : null}
    </section>
    ${can('accept') || can('advance') || can('correct') || can('refuse') ? actions(pc, c, { can, nextName, last: completes }) : null}
  </div>
  <aside class="conv-side">
    <section class="card timeline"><h2>办理经过</h2><ol>${events
      .slice()
      .reverse()
      .map((e) => html`<li><b>${EVENTS[e.kind]}</b>${e.kind === 'advanced' || e.kind === 'accepted' ? html` → ${cases.stepName(c.serviceId, e.step ?? '')}` : null} · ${e.actor === 'citizen' ? '市民' : e.actor === 'system' ? '系统' : e.actor.replace(/^staff:/, '')}<div class="muted small">${f.short(e.createdAt)}${e.pushedAt ? ' · 已通知市民' : ''}</div>${cases.noteShown(e, 'staff', revealed) ? html`<div class="detail">${cases.noteShown(e, 'staff', revealed)}</div>` : null}</li>`)}</ol></section>
  </aside>
</div>`;
      kit.send(ctx, page(pc, { title: `办件 ${c.caseNo}`, section: 'cases', body }));
    };

    r.get('/cases/:id', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const c = await load(ctx);
        await kit.audit.record({ actor: kit.actor(ctx), action: 'view', target: `case:${c.id}`, department: c.department, ip: ctx.ip });
        await detail(ctx, c);
      }),
    );

    r.post('/cases/:id/reveal', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        await kit.checkedForm(ctx);
        const c = await load(ctx);
        if (!mayCase(kit.actor(ctx), 'unmask', c)) return kit.fail(ctx, 403, '您不能查看完整信息');
        // The entry names what was shown: the kinds of personal data the form holds.
        const kinds = cases.personalKinds(c).map((k) => PERSONAL_KIND_NAMES[k]);
        await kit.audit.record({ actor: kit.actor(ctx), action: 'unmask', target: `case:${c.id}`, department: c.department, detail: `申请内容${kinds.length ? `（${kinds.join('、')}）` : ''}`, ip: ctx.ip });
        await detail(ctx, c, true);
      }),
    );

    r.get('/cases/:id/files/:file', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const c = await load(ctx);
        const fid = intOf(ctx.params.file);
        const file = fid === null ? null : await cases.file(fid);
        if (!file || file.row.caseId !== c.id) return kit.fail(ctx, 404, '没有这个附件');
        await kit.audit.record({ actor: kit.actor(ctx), action: 'case-file', target: `case:${c.id}`, department: c.department, detail: file.row.fileName, ip: ctx.ip });
        ctx.type = file.row.mime;
        ctx.set('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(file.row.fileName)}`);
        ctx.body = file.data;
      }),
    );

    const move = (name: string, action: CaseAction, run: (c: CaseRow, form: Record<string, string>, who: string) => Promise<unknown>, audit: 'case-accept' | 'case-correct' | 'case-advance' | 'case-refuse', done: string) =>
      r.post(`/cases/:id/${name}`, kit.signedIn, async (ctx) =>
        guard(ctx, async () => {
          const form = await kit.checkedForm(ctx);
          const c = await load(ctx);
          const a = kit.actor(ctx);
          if (!mayCase(a, action, c)) {
            await kit.flash(ctx, 'error', '您不能这样操作这个办件');
            return ctx.redirect(`/admin/cases/${c.id}`);
          }
          const after = (await run(c, form, `staff:${a.username}`)) as CaseRow;
          await kit.audit.record({ actor: a, action: after.status === 'completed' ? 'case-complete' : audit, target: `case:${c.id}`, department: c.department, detail: (form.note ?? '').slice(0, 200) || null, ip: ctx.ip });
          await kit.flash(ctx, 'ok', after.status === 'completed' ? '已办结，已通知市民。' : done);
          ctx.redirect(`/admin/cases/${c.id}`);
        }),
      );
    move('accept', 'accept', (c, f, who) => cases.accept(c.id, who, f.note?.trim() || null), 'case-accept', '已受理，承诺时限开始计时，已通知市民。');
    move('correct', 'correct', (c, f, who) => cases.requestCorrection(c.id, who, f.note ?? ''), 'case-correct', '已要求补正，等待市民补充材料（暂停计时），已通知市民。');
    move('advance', 'advance', (c, f, who) => cases.advance(c.id, who, f.note?.trim() || null), 'case-advance', '已进入下一环节，已通知市民。');
    move('refuse', 'refuse', (c, f, who) => cases.refuse(c.id, who, f.note ?? ''), 'case-refuse', '已不予受理，已通知市民。');
  };
}

function actions(pc: PageContext, c: CaseRow, o: { can: (a: CaseAction) => boolean; nextName: string | null; last: boolean }): SafeHtml {
  const form = (path: string, label: string, field: SafeHtml, cls = '') =>
    html`<form method="post" action="/admin/cases/${c.id}/${path}" class="case-action ${cls}">${csrfField(pc)}${field}<button type="submit" class="${cls === 'danger' ? 'danger' : 'primary'}">${label}</button></form>`;
  const note = (placeholder: string, required = false) => html`<textarea name="note" rows="2" maxlength="500" placeholder="${placeholder}"${required ? html` required minlength="4"` : null}></textarea>`;
  return html`<section class="case-actions"><h2>办理</h2>
  ${o.can('accept') ? form('accept', '受理', note('受理说明（选填）')) : null}
  ${o.can('advance') && o.nextName ? form('advance', o.last ? '办结' : `进入「${o.nextName}」`, note(o.last ? '办结说明，如领取方式（选填）' : '说明（选填）')) : null}
  ${o.can('correct') ? form('correct', '要求补正', note('写清楚缺什么材料、为什么缺，市民会看到这段话', true)) : null}
  ${o.can('refuse') ? form('refuse', '不予受理', note('理由和依据，市民会看到这段话', true), 'danger') : null}
</section>`;
}
