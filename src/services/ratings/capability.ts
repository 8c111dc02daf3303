import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Capability, Core } from '../../capability.ts';
import { intOf } from '../../admin/body.ts';
import { csrfField, page } from '../../admin/pages/layout.ts';
import type { PanelKit } from '../../admin/routes.ts';
import { departmentsOf, mayRectification } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import type { RatingSubject, RectificationStatus } from './entities.ts';
import { csrfOk, readForm } from '../../h5/http.ts';
import { message } from '../../h5/layout.ts';
import { LEVEL_NAMES, RatingError, Ratings } from './index.ts';

export interface RatingsCapability extends Capability {
  ratings: Ratings;
}

const STATUS: Record<RectificationStatus, string> = { open: '待整改', submitted: '待审核', returned: '已退回', approved: '已通过（已告知市民）' };
const SUBJECT: Record<string, string> = { ticket: '工单', case: '办件', booking: '预约', conversation: '咨询会话' };

/**
 * 好差评 and rectification (整改) as one service: the chat route for rating answers, and the
 * 差评整改 section of the panel — the department writes what it did, the supervisor reviews, the
 * rater is told. Who rated is hidden; a supervisor may reveal it, and the reveal is audited.
 */
export function ratingsCapability(core: Core, needs: { departmentName(id: string | null): string }): RatingsCapability {
  const ratings = new Ratings({ ds: core.db, clock: core.clock, calendar: core.calendar, outbox: core.outbox, alerts: core.alerts, rectificationDays: core.profile.tickets?.rectification_working_days ?? 5, publicUrl: core.publicUrl, template: core.profile.templates.ticket_progress ?? core.profile.templates.case_progress });
  return {
    name: 'ratings',
    ratings,
    chat: { early: [ratings.route()] },
    pages(r, kit) {
      /** A rating given on a page (ratingForm): the citizen's own finished case, ticket or booking, once. */
      r.post('/h5/rate', async (ctx) => {
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        const back = /^\/h5\/(cases|tickets|bookings)\/\d{1,12}$/.test(form.get('back') ?? '') ? form.get('back')! : '/h5/cases';
        if (!openid) return kit.expired(ctx, '身份信息已过期，请重新打开页面再评价。', { href: back, label: '重新打开' }, 401);
        if (!csrfOk(ctx, form)) return kit.expired(ctx, '为了您的安全，请刷新页面后再评价。', { href: back, label: '刷新' });
        const subject = form.get('subject') as RatingSubject;
        try {
          const { said } = await ratings.rate(subject, form.get('id') ?? '', openid, Number(form.get('level')));
          kit.render(ctx, '评价', message('success', said, '', html`<a class="weui-btn weui-btn_default" href="${back}">返回</a>`));
        } catch (err) {
          if (!(err instanceof RatingError)) throw err;
          kit.render(ctx, '评价', message('warn', err.message, '', html`<a class="weui-btn weui-btn_default" href="${back}">返回</a>`), { status: err.code === 'not_found' ? 404 : 400 });
        }
      });
    },
    panel(r: Router, kit: PanelKit) {
      const load = async (ctx: Context) => {
        const id = intOf(ctx.params.id);
        const x = id === null ? null : await ratings.rectification(id);
        if (!x || !mayRectification(kit.actor(ctx), 'view', x.r)) {
          kit.fail(ctx, 404, '没有这条整改，或不属于您的部门');
          return null;
        }
        return x;
      };
      r.get('/rectifications', kit.signedIn, async (ctx) => {
        const a = kit.actor(ctx);
        const rows = await ratings.rectifications(departmentsOf(a));
        const f = kit.fmt();
        const body = html`<div class="card"><h1>差评整改</h1>
<p class="muted">市民给出“不满意”或“非常不满意”后，承办部门在时限内整改，负责人审核后把结果告诉市民。评价人的身份不显示。</p>
${rows.length === 0 ? html`<p class="empty">没有整改事项。</p>` : html`<table class="items"><thead><tr><th>状态</th><th>部门</th><th>整改时限</th><th></th></tr></thead><tbody>${rows.map((x) => html`<tr><td><span class="pill">${STATUS[x.status]}</span></td><td>${needs.departmentName(x.department)}</td><td>${x.status === 'approved' ? '—' : html`${f.short(x.dueAt)}${x.dueAt < f.now ? html` <span class="pill pill-overdue">已超期</span>` : null}`}</td><td><a href="/admin/rectifications/${x.id}">查看</a></td></tr>`)}</tbody></table>`}</div>`;
        kit.send(ctx, page(await kit.pageContext(ctx), { title: '差评整改', section: 'tickets', body }));
      });
      const detail = async (ctx: Context, id: number, rater?: string) => {
        const x = await ratings.rectification(id);
        if (!x) return kit.fail(ctx, 404, '没有这条整改');
        const a = kit.actor(ctx);
        const pc = await kit.pageContext(ctx);
        const f = kit.fmt();
        const { r, rating } = x;
        const named = (await ratings.label(rating.subject, rating.subjectId)) ?? `${SUBJECT[rating.subject]} #${rating.subjectId}`;
        const link = rating.subject === 'ticket' ? `/admin/tickets/${rating.subjectId}` : rating.subject === 'case' ? `/admin/cases/${rating.subjectId}` : rating.subject === 'conversation' ? `/admin/inbox/${rating.subjectId}` : null;
        const body = html`<div class="card"><h1>差评整改</h1>
<dl class="facts">
  <div><dt>评价</dt><dd>${LEVEL_NAMES[rating.level]} · ${f.at(rating.createdAt)}</dd></div>
  <div><dt>评价对象</dt><dd>${link ? html`<a href="${link}">${named}</a>` : named}</dd></div>
  <div><dt>评价人</dt><dd>${rater ?? html`<span class="muted">不显示</span>`}${!rater && mayRectification(a, 'reveal_rater', r) ? html` <form method="post" action="/admin/rectifications/${r.id}/reveal" class="inline">${csrfField(pc)}<button class="link small" type="submit" title="将记入审计日志">显示评价人</button></form>` : null}</dd></div>
  <div><dt>部门</dt><dd>${needs.departmentName(r.department)}</dd></div>
  <div><dt>状态</dt><dd>${STATUS[r.status]}</dd></div>
  <div><dt>整改时限</dt><dd>${f.at(r.dueAt)}</dd></div>
  ${r.report ? html`<div><dt>整改情况</dt><dd class="prewrap">${r.report}</dd></div>` : null}
  ${r.reviewNote ? html`<div><dt>审核意见</dt><dd>${r.reviewNote}</dd></div>` : null}
</dl>
${(r.status === 'open' || r.status === 'returned') && mayRectification(a, 'submit', r) ? html`<form method="post" action="/admin/rectifications/${r.id}/submit" class="case-action">${csrfField(pc)}<textarea name="report" rows="4" maxlength="2000" required minlength="10" placeholder="查明的原因、整改措施和结果（市民会看到）"></textarea><button type="submit" class="primary">提交整改</button></form>` : null}
${r.status === 'submitted' && mayRectification(a, 'review', r) ? html`<form method="post" action="/admin/rectifications/${r.id}/review" class="case-action">${csrfField(pc)}<textarea name="note" rows="2" maxlength="1000" placeholder="审核意见（退回时必填）"></textarea><button type="submit" name="approve" value="1" class="primary">通过，告知市民</button> <button type="submit" name="approve" value="0" class="danger">退回重改</button></form>` : null}
</div>`;
        kit.send(ctx, page(pc, { title: '差评整改', section: 'tickets', body }));
      };
      r.get('/rectifications/:id', kit.signedIn, async (ctx) => {
        const x = await load(ctx);
        if (x) await detail(ctx, x.r.id);
      });
      r.post('/rectifications/:id/reveal', kit.signedIn, async (ctx) => {
        await kit.checkedForm(ctx);
        const x = await load(ctx);
        if (!x) return;
        const a = kit.actor(ctx);
        if (!mayRectification(a, 'reveal_rater', x.r)) return kit.fail(ctx, 403, '只有负责人可以查看评价人');
        await kit.audit.record({ actor: a, action: 'rating-reveal', target: `rating:${x.rating.id}`, department: x.r.department, ip: ctx.ip });
        await detail(ctx, x.r.id, `微信用户 ${x.rating.openid}`);
      });
      const act = (path: string, action: 'submit' | 'review', run: (id: number, staffId: number, f: Record<string, string>, label: string) => Promise<unknown>, done: string) =>
        r.post(`/rectifications/:id/${path}`, kit.signedIn, async (ctx) => {
          const form = await kit.checkedForm(ctx);
          const x = await load(ctx);
          if (!x) return;
          const a = kit.actor(ctx);
          if (!mayRectification(a, action, x.r)) return kit.fail(ctx, 403, '您不能这样操作这条整改');
          try {
            await run(x.r.id, a.id, form, `${(await ratings.label(x.rating.subject, x.rating.subjectId)) ?? SUBJECT[x.rating.subject]}的办理`);
            await kit.audit.record({ actor: a, action: action === 'submit' ? 'rectification-submit' : 'rectification-review', target: `rectification:${x.r.id}`, department: x.r.department, detail: action === 'review' ? (form.approve === '1' ? '通过' : '退回') : null, ip: ctx.ip });
            await kit.flash(ctx, 'ok', done);
          } catch (err) {
            if (!(err instanceof RatingError)) throw err;
            await kit.flash(ctx, 'error', err.message);
          }
          ctx.redirect(`/admin/rectifications/${x.r.id}`);
        });
      act('submit', 'submit', (id, staff, f) => ratings.submitRectification(id, staff, f.report ?? ''), '整改情况已提交，等待负责人审核。');
      act('review', 'review', (id, staff, f, label) => ratings.reviewRectification(id, staff, f.approve === '1', f.note ?? '', label), '已审核。');
    },
  };
}
