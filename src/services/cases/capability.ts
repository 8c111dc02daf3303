import type { Context } from 'koa';
import type { Capability, Core } from '../../capability.ts';
import { csrfOk, readForm, readMultipart } from '../../h5/http.ts';
import { intParam } from '../../h5/kit.ts';
import { message } from '../../h5/layout.ts';
import { allowed } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import { CaseChat } from './chat.ts';
import type { CaseRow } from './entities.ts';
import type { Upload } from './forms.ts';
import { CaseError, Cases, statusName, type CasesDeps } from './index.ts';
import { personalKind } from '../../profile/application.ts';
import { applyBody, caseCard, correctionForm, timelineHtml } from './pages.ts';
import { caseSection } from './staff.ts';
import type { Ratings } from '../ratings/index.ts';
import { ratingForm } from '../ratings/pages.ts';

export interface CasesCapability extends Capability {
  cases: Cases;
}

export interface CasesNeeds {
  /** Fees: the bill of an item with a fee (issued inside the case's transaction), and what the case page says of it. */
  fees?: {
    charge: NonNullable<CasesDeps['charge']>;
    describe(c: CaseRow): Promise<{ text: string; href: string | null } | null>;
  };
  /** The supervisor a department's overdue case is escalated to (督办), as for an overdue conversation. */
  supervisorOf: NonNullable<CasesDeps['supervisorOf']>;
  departmentName(id: string | null): string;
  /** 好差评: a finished case is rated with the same five levels as everything else. */
  ratings?: Ratings;
}

/**
 * Applications and cases (业务办理, 进度查询): the form from the profile, drafts, a case number and a
 * query code; the handler's moves with a timeline; progress asked in chat and on pages, and pushed;
 * due dates in working days with 督办; renewal reminders; and the 办件 section of the staff panel.
 */
export function casesCapability(core: Core, needs: CasesNeeds): CasesCapability {
  const { profile } = core;
  const cases = new Cases({
    ds: core.db,
    clock: core.clock,
    calendar: core.calendar,
    jobs: core.jobs,
    outbox: core.outbox,
    kv: core.kv,
    storage: core.storage,
    wording: core.wording,
    addressExample: profile.texts.address_example,
    supervisorOf: needs.supervisorOf,
    onEscalate: async (c, tx, supervisor) => {
      await core.audit.record(
        {
          actor: { kind: 'system' },
          action: 'escalate',
          target: `case:${c.id}`,
          department: c.department,
          detail: `办件 ${c.caseNo} 超过承诺时限${supervisor ? `，督办人：${supervisor.name}（${supervisor.username}）` : '，本部门没有在岗负责人，由管理员督办'}`,
        },
        tx,
      );
      await core.alerts.raise({ kind: 'escalation', department: c.department, to: supervisor ? { staffIds: [supervisor.id] } : 'supervisors', title: `督办：办件 ${c.caseNo} 超过承诺时限`, link: `/admin/cases/${c.id}`, urgent: true }, tx);
    },
    departmentFor: (serviceId) => profile.departments.find((d) => d.handles.includes(serviceId))?.id ?? profile.inbox.default_department,
    services: profile.services,
    templates: profile.templates,
    publicUrl: core.publicUrl,
    log: core.log.child({ component: 'cases' }),
    ...(needs.ratings ? { ratingMenu: (c: CaseRow) => needs.ratings!.menu('case', c.id, core.wording(`您的「${profile.services.find((x) => x.id === c.serviceId)?.name ?? '办件'}」已办结。请为这次办理打个分（自愿评价）：`)) } : {}),
    ...(needs.fees ? { charge: needs.fees.charge } : {}),
  });
  const chat = new CaseChat(cases, core.calendar, core.publicUrl, profile.conversation.tappable_numbers);

  return {
    name: 'cases',
    cases,
    chat: { dialogs: { progress: chat.progressDialog() }, extra: chat.extraRoutes() },
    nav: [{ section: 'cases', label: '办件', href: '/admin/cases', visible: (a) => allowed(a, 'cases') }],
    panel: caseSection(cases, needs.departmentName, async (id) => (await core.accounts.get(id))?.name ?? null),
    async citizen(openid) {
      const rows = (await cases.mine(openid)).slice(0, 5);
      let name: string | null = null;
      let phone: string | null = null;
      for (const c of rows) {
        const s = cases.service(c.serviceId);
        const values = JSON.parse(c.formData) as Record<string, unknown>;
        for (const f of s?.application.form ?? []) {
          const v = values[f.id];
          if (typeof v !== 'string' || v === '') continue;
          const kind = personalKind(f);
          if (kind === 'name') name ??= v;
          if (kind === 'phone') phone ??= v;
        }
      }
      return { name, phone, items: rows.map((c) => ({ kind: '办件', label: `${c.caseNo} ${cases.service(c.serviceId)?.name ?? c.serviceId}（${statusName(c.status)}）`, href: `/admin/cases/${c.id}`, at: c.submittedAt })) };
    },
    pages(r, kit) {
      const uploadLimits = (s: NonNullable<ReturnType<Cases['service']>>) => {
        const files = s.application.form.filter((f) => f.type === 'file') as { max_kb: number; max_files: number }[];
        const maxKb = Math.max(10, ...files.map((f) => f.max_kb));
        return { maxFileBytes: maxKb * 1024 + 1, maxFiles: files.reduce((n, f) => n + f.max_files, 0) + 2, maxTotalBytes: files.reduce((n, f) => n + f.max_kb * 1024 * f.max_files, 0) + 256 * 1024 };
      };
      const uploadsOf = (files: { field: string; fileName: string; data: Buffer; truncated: boolean }[]): Upload[] =>
        files.map((f) => ({ fieldId: f.field, fileName: f.fileName, data: f.data, truncated: f.truncated }));

      r.get('/h5/apply', async (ctx) => {
        const items = cases.applicable();
        kit.render(ctx, '网上申请', html`<div class="weui-cells">${items.map((s) => html`<a class="weui-cell weui-cell_access" href="/h5/apply/${s.id}"><div class="weui-cell__bd"><p>${s.name}</p></div><div class="weui-cell__ft">${s.application.time_limit_days} 个工作日</div></a>`)}</div>`);
      });

      const applyPage = async (ctx: Context, openid: string, serviceId: string, o: { values?: Record<string, string>; errors?: Record<string, string>; message?: string; saved?: boolean; removed?: boolean; status?: number } = {}) => {
        const s = cases.service(serviceId);
        if (!s) return kit.notFound(ctx, '可以网上申请的这项服务');
        const draft = await cases.draft(openid, serviceId);
        kit.render(ctx, `申请 · ${s.name}`, applyBody(ctx, s, { values: { ...draft.values, ...(o.values ?? {}) }, kept: draft.attachments, errors: o.errors ?? {}, message: o.message ?? null, saved: o.saved ?? false, removed: o.removed ?? false }), {
          back: `/h5/guide/${s.id}`,
          ...(o.status ? { status: o.status } : {}),
        });
      };

      r.get('/h5/apply/:service', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        await applyPage(ctx, openid, ctx.params.service ?? '', { saved: ctx.query.saved === '1', removed: ctx.query.removed === '1' });
      });

      /** 删除 next to a file already in the draft (a wrong photo): only the citizen's own draft file. */
      r.post('/h5/apply/:service/files/:id/delete', async (ctx) => {
        const serviceId = ctx.params.service ?? '';
        const s = cases.service(serviceId);
        if (!s) return kit.notFound(ctx, '可以网上申请的这项服务');
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        if (!openid || !csrfOk(ctx, form)) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后再删除。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">刷新</a>`), { status: 403 });
        const id = intParam(ctx.params.id);
        if (id === undefined || !(await cases.removeDraftFile(openid, id, serviceId))) return kit.notFound(ctx, '这个文件');
        // The button posts the whole form: what was typed so far is kept, as 保存草稿 would.
        const files = new Set(s.application.form.filter((f) => f.type === 'file').map((f) => f.id));
        await cases.saveDraft(openid, serviceId, Object.fromEntries([...form].filter(([k]) => k !== '_csrf' && k !== 'action' && !files.has(k))), []);
        ctx.redirect(`/h5/apply/${serviceId}?removed=1`);
      });

      r.post('/h5/apply/:service', async (ctx) => {
        const serviceId = ctx.params.service ?? '';
        const s = cases.service(serviceId);
        if (!s) return kit.notFound(ctx, '可以网上申请的这项服务');
        const openid = await kit.openid(ctx);
        if (!openid) return kit.render(ctx, '请重新打开', message('warn', '请重新打开申请页面', '身份信息已过期，已填的内容保存在草稿里。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">重新打开</a>`), { status: 401 });
        const { fields, files } = await readMultipart(ctx, uploadLimits(s));
        if (!csrfOk(ctx, new URLSearchParams({ _csrf: fields._csrf ?? '' }))) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply/${serviceId}">刷新</a>`), { status: 403 });
        const uploads = uploadsOf(files);
        try {
          if (fields.action === 'draft') {
            const errors = await cases.saveDraft(openid, serviceId, fields, uploads);
            if (Object.keys(errors).length) return applyPage(ctx, openid, serviceId, { values: fields, errors, message: '草稿已保存，有几项需要改一下。', status: 400 });
            return ctx.redirect(`/h5/apply/${serviceId}?saved=1`);
          }
          const c = await cases.submit(openid, serviceId, fields, uploads);
          ctx.redirect(`/h5/cases/${c.id}?submitted=1`);
        } catch (err) {
          if (!(err instanceof CaseError)) throw err;
          const reselect = uploads.length ? '（上传的文件没有保存，请重新选择）' : '';
          return applyPage(ctx, openid, serviceId, { values: fields, errors: err.fields, message: err.message + reselect, status: 400 });
        }
      });

      r.post('/h5/apply/:service/draft', async (ctx) => {
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        if (!openid || !csrfOk(ctx, form)) ctx.throw(403);
        const fields = Object.fromEntries([...form].filter(([k]) => k !== '_csrf' && k !== 'action'));
        const errors = await cases.saveDraft(openid!, ctx.params.service ?? '', fields, []).catch((err) => {
          if (err instanceof CaseError) ctx.throw(404);
          throw err;
        });
        ctx.body = { saved: true, errors };
      });

      r.get('/h5/cases', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const mine = await cases.mine(openid);
        const body = mine.length
          ? html`${mine.map((c) => caseCard(cases, cases.service(c.serviceId), c, kit.onDay, true))}`
          : message('info', '还没有办件', '在网上申请后，办理进度会显示在这里。', html`<a class="weui-btn weui-btn_primary" href="/h5/apply">网上申请</a>`);
        kit.render(ctx, '我的办件', body);
      });

      const casePage = async (ctx: Context, openid: string, id: number, o: { errors?: Record<string, string>; note?: string; error?: string; status?: number } = {}) => {
        const errors = o.errors ?? {};
        const c = await cases.own(openid, id).catch(() => null);
        if (!c) return kit.notFound(ctx, '这个办件');
        const s = cases.service(c.serviceId);
        const events = await cases.timeline(c.id);
        const files = await cases.attachments(c.id, { current: true });
        const note = ctx.query.submitted === '1' ? await kit.messagesNote(openid, '办理进展') : null;
        const fee = await needs.fees?.describe(c);
        const body = html`
    ${note ? message('success', '申请已提交', html`办件编号 <strong>${c.caseNo}</strong>，查询码 <strong>${c.queryCode}</strong>。${note.text}`, html``) : ''}
    ${o.note ? html`<p class="wb-card wb-ok" role="status">${o.note}</p>` : ''}
    ${o.error ? html`<p class="wb-error" role="alert">${o.error}</p>` : ''}
    ${caseCard(cases, s, c, kit.onDay, false)}
    ${fee ? html`<p class="wb-card wb-fee" role="status">${fee.text}${fee.href ? html` <a class="weui-btn weui-btn_mini weui-btn_primary" href="${fee.href}">去缴费</a>` : ''}</p>` : ''}
    ${c.status === 'correction' && s ? correctionForm(ctx, s, c, errors, files) : ''}
    ${c.status === 'completed' && needs.ratings ? await ratingForm(ctx, needs.ratings, 'case', c.id, `/h5/cases/${c.id}`) : ''}
    <section class="wb-section"><h2>办理经过</h2>${timelineHtml(cases, c, events, kit.when, { to: 'citizen' })}</section>
    <section class="wb-section"><h2>申请内容</h2><div class="wb-card"><dl class="wb-kv">${cases.maskedForm(c).map((x) => html`<dt>${x.label}</dt><dd>${x.value}</dd>`)}</dl>
      ${files.length ? html`<p class="wb-muted">附件：${files.map((f, i) => html`${i ? '、' : ''}<a href="/h5/files/${f.id}">${f.fileName}</a>`)}</p>` : ''}
      <p class="wb-muted">查询码 ${c.queryCode}（家人帮您查询进度时使用）</p></div></section>`;
        kit.render(ctx, `办件 ${c.caseNo}`, body, { back: '/h5/cases', status: o.status ?? 200 });
      };

      r.get('/h5/cases/:id', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const id = intParam(ctx.params.id);
        if (id === undefined) return kit.notFound(ctx, '这个办件');
        await casePage(ctx, openid, id);
      });

      r.post('/h5/cases/:id/correct', async (ctx) => {
        const openid = await kit.openid(ctx);
        const id = intParam(ctx.params.id);
        const c = openid && id !== undefined ? await cases.own(openid, id).catch(() => null) : null;
        if (!openid || !c) return kit.notFound(ctx, '这个办件');
        const s = cases.service(c.serviceId);
        if (!s) return kit.notFound(ctx, '这个办件');
        const { fields, files } = await readMultipart(ctx, uploadLimits(s));
        if (!csrfOk(ctx, new URLSearchParams({ _csrf: fields._csrf ?? '' }))) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '请刷新后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/cases/${c.id}">刷新</a>`), { status: 403 });
        try {
          await cases.correct(openid, c.id, fields, uploadsOf(files));
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
        if (!no) return kit.render(ctx, '查询办理进度', form);
        // Guessing query codes is limited per citizen (WeChat's openid) and, more loosely, per address:
        // many citizens may share one (a family's router, an office); TRUST_PROXY=1 behind a proxy.
        const openid = await kit.openid(ctx);
        let c: CaseRow | null;
        try {
          c = await cases.lookupLimited(no, { queryCode: code }, [{ key: `ip:${ctx.ip}`, tries: 60 }, ...(openid ? [`openid:${openid}`] : [])]);
        } catch (err) {
          if (!(err instanceof CaseError) || err.code !== 'too_many') throw err;
          return kit.render(ctx, '查询办理进度', html`<p class="wb-error" role="alert">${err.message}申请人本人可以在公众号里发送「进度」，或打开「我的办件」查看。</p>`, { status: 429 });
        }
        if (!c) return kit.render(ctx, '查询办理进度', html`<p class="wb-error" role="alert">没有查到：请核对办件编号和查询码。</p>${form}`, { status: 404 });
        kit.render(ctx, '办理进度', html`${caseCard(cases, cases.service(c.serviceId), c, kit.onDay, false)}<section class="wb-section"><h2>办理经过</h2>${timelineHtml(cases, c, await cases.timeline(c.id), kit.when, { to: 'public' })}</section>`);
      });

      r.get('/h5/files/:id', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const id = intParam(ctx.params.id);
        const f = id === undefined ? null : await cases.file(id, openid);
        if (!f) return kit.notFound(ctx, '这个文件');
        ctx.type = f.row.mime;
        ctx.set('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(f.row.fileName)}`);
        ctx.set('Cache-Control', 'private, no-store');
        ctx.body = f.data;
      });
    },
  };
}
