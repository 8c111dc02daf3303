import type Router from '@koa/router';
import type { Context } from 'koa';
import { intOf } from '../../admin/body.ts';
import { csrfField, page } from '../../admin/pages/layout.ts';
import type { PanelKit } from '../../admin/routes.ts';
import { maskText } from '../../platform/pii.ts';
import { departmentsOf, mayBill, mayReconcile, canSee } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import type { BillEventRow, BillRow, BillStatus } from './entities.ts';
import { BillError, STATUS_NAMES, yuan, type Bills } from './index.ts';
import { clip } from '../../platform/text.ts';

const FILTERS = { open: '待缴费', paid: '已缴费', refund: '退款', closed: '已关闭', all: '全部' } as const;
type Filter = keyof typeof FILTERS;
const STATUSES: Record<Filter, BillStatus[] | undefined> = {
  open: ['unpaid', 'paying'],
  paid: ['paid'],
  refund: ['refunding', 'partially_refunded', 'refunded'],
  closed: ['closed'],
  all: undefined,
};
const EVENTS: Record<BillEventRow['kind'], string> = {
  issued: '开具账单',
  order_opened: '市民发起支付',
  order_closed: '订单关闭',
  paid: '支付成功',
  duplicate_paid: '重复支付',
  refund_requested: '申请退款',
  refunded: '退款结果',
  closed: '账单关闭',
  notification_refused: '拒绝通知',
};
const ORDER_STATUS = { open: '待支付', paid: '已支付', closed: '已关闭', duplicate: '重复支付（已退）' } as const;
const REFUND_STATUS = { processing: '退款中', success: '已退款', closed: '已关闭', abnormal: '异常' } as const;

/** The payer as staff lists show them: an openid is a personal identifier, so only its ends. */
export const maskOpenid = (o: string) => (o.length > 8 ? `${o.slice(0, 4)}****${o.slice(-2)}` : '****');

const csvCell = (s: string) => {
  // A cell a spreadsheet would run as a formula is quoted as text.
  const t = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
};

/**
 * 收费: the department's bills with their orders, refunds and timeline; refunds and closing a bill
 * (supervisors, with a reason, audited); the day's reconciliation against WeChat Pay's trade bill;
 * a CSV export with personal data masked.
 */
export function billSection(bills: Bills, departmentName: (id: string | null) => string) {
  return (r: Router, kit: PanelKit) => {
    const load = async (ctx: Context): Promise<BillRow> => {
      const id = intOf(ctx.params.id);
      const b = id === null ? null : await bills.get(id);
      if (!b || !canSee(kit.actor(ctx), b)) throw new BillError('not_found', '没有这笔费用，或不属于您的部门');
      return b;
    };
    const guard = async (ctx: Context, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        if (!(err instanceof BillError)) throw err;
        if (err.code === 'not_found') return kit.fail(ctx, 404, err.message);
        await kit.flash(ctx, 'error', err.message);
        ctx.redirect(`/admin/bills/${ctx.params.id ?? ''}`);
      }
    };

    r.get('/bills', kit.signedIn, async (ctx) => {
      const a = kit.actor(ctx);
      const filter = (typeof ctx.query.status === 'string' && ctx.query.status in FILTERS ? ctx.query.status : 'open') as Filter;
      const rows = await bills.list({ status: STATUSES[filter] ?? [], department: departmentsOf(a) });
      const f = kit.fmt();
      const total = rows.reduce((s, b) => s + b.amountFen, 0);
      const body = html`<div class="inbox">
  <nav class="tabs" aria-label="账单分类">${(Object.keys(FILTERS) as Filter[]).map((k) => html`<a href="/admin/bills?status=${k}" class="${k === filter ? 'on' : ''}">${FILTERS[k]}</a>`)}
    ${mayReconcile(a) ? html`<a href="/admin/bills/reconcile">对账</a><a href="/admin/bills/export.csv?status=${filter}">导出 CSV</a>` : null}</nav>
  <section class="list card">${rows.length === 0
    ? html`<p class="empty">这里没有账单。</p>`
    : html`<p class="muted small">${rows.length} 笔，合计 ${yuan(total)} 元</p><table class="items"><thead><tr><th>状态</th><th>账单</th><th>金额</th><th>部门</th><th>开具</th><th>缴费</th></tr></thead><tbody>${rows.map(
        (b) => html`<tr>
      <td class="st"><span class="pill">${STATUS_NAMES[b.status]}</span></td>
      <td class="q"><a href="/admin/bills/${b.id}"><span class="num">${b.billNo}</span> ${maskText(b.description)}</a><div class="last">${{ case: '办件收费', booking: '预约收费', event: '部门推送' }[b.paysKind]} · ${b.paysRef}</div></td>
      <td>${yuan(b.amountFen)} 元</td>
      <td>${departmentName(b.department)}</td>
      <td>${f.short(b.createdAt)}</td>
      <td>${b.paidAt ? f.short(b.paidAt) : b.dueAt ? html`<span class="muted small">期限 ${f.short(b.dueAt)}</span>` : '—'}</td>
    </tr>`,
      )}</tbody></table>`}</section>
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: '收费', section: 'bills', body }));
    });

    r.get('/bills/export.csv', kit.signedIn, async (ctx) => {
      const a = kit.actor(ctx);
      if (!mayReconcile(a)) return kit.fail(ctx, 403, '只有负责人和管理员可以导出');
      const filter = (typeof ctx.query.status === 'string' && ctx.query.status in FILTERS ? ctx.query.status : 'all') as Filter;
      const rows = await bills.list({ status: STATUSES[filter] ?? [], department: departmentsOf(a), take: 10_000 });
      const f = kit.fmt();
      const lines = [['账单编号', '缴费项目', '金额（元）', '状态', '已退（元）', '部门', '缴费人', '开具时间', '缴费时间', '类别', '关联'].join(',')];
      for (const b of rows) lines.push([b.billNo, maskText(b.description), yuan(b.amountFen), STATUS_NAMES[b.status], yuan(b.refundedFen), departmentName(b.department), maskOpenid(b.openid), f.at(b.createdAt), b.paidAt ? f.at(b.paidAt) : '', b.paysKind, b.paysRef].map(csvCell).join(','));
      await kit.audit.record({ actor: a, action: 'bill-export', target: null, detail: `${FILTERS[filter]} ${rows.length} 笔`, ip: ctx.ip });
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="bills-${filter}.csv"`);
      ctx.body = `\uFEFF${lines.join('\r\n')}\r\n`;
    });

    r.get('/bills/reconcile', kit.signedIn, async (ctx) => {
      const a = kit.actor(ctx);
      if (!mayReconcile(a)) return kit.fail(ctx, 403, '只有负责人和管理员可以对账');
      const f = kit.fmt();
      const yesterday = new Date(f.now + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
      const date = typeof ctx.query.date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(ctx.query.date) ? ctx.query.date : yesterday;
      let result: Awaited<ReturnType<Bills['reconcile']>> | null = null;
      let error: string | null = null;
      try {
        result = await bills.reconcile(date);
      } catch (err) {
        error = err instanceof BillError ? err.message : `下载微信支付账单失败：${(err as Error).message.slice(0, 120)}`;
      }
      const body = html`<div class="card">
  <form method="get" action="/admin/bills/reconcile" class="inline"><label>账单日期 <input type="date" name="date" value="${date}"></label> <button type="submit" class="primary">对账</button></form>
  ${error ? html`<p class="flash error">${error}</p>` : null}
  ${result
    ? html`<table class="items"><thead><tr><th></th><th>收款笔数</th><th>收款金额</th><th>退款笔数</th><th>退款金额</th></tr></thead><tbody>
      <tr><td>微信支付账单</td><td>${result.remote.payments}</td><td>${yuan(result.remote.paidFen)} 元</td><td>${result.remote.refunds}</td><td>${yuan(result.remote.refundedFen)} 元</td></tr>
      <tr><td>本地记录</td><td>${result.local.payments}</td><td>${yuan(result.local.paidFen)} 元</td><td>${result.local.refunds}</td><td>${yuan(result.local.refundedFen)} 元</td></tr></tbody></table>
    ${result.differences.length
      ? html`<h2>差异（${result.differences.length}）</h2><table class="items"><thead><tr><th>类型</th><th>单号</th><th>说明</th></tr></thead><tbody>${result.differences.map((d) => html`<tr><td><span class="pill pill-overdue">${d.kind}</span></td><td class="num">${d.ref}</td><td>${d.detail}</td></tr>`)}</tbody></table>`
      : html`<p class="flash ok">${date} 的账目一致，没有差异。</p>`}`
    : null}
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: '对账', section: 'bills', body }));
    });

    r.get('/bills/:id', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const b = await load(ctx);
        const a = kit.actor(ctx);
        const pc = await kit.pageContext(ctx);
        const f = kit.fmt();
        const [orders, refunds, events] = await Promise.all([bills.orders(b.id), bills.refunds(b.id), bills.timeline(b.id)]);
        const refundable = b.amountFen - refunds.filter((x) => x.status === 'success' || x.status === 'processing').reduce((s, x) => s + x.amountFen, 0);
        const body = html`<div class="conv">
  <div class="conv-main card">
    <div class="conv-head">
      <h1><span class="num">${b.billNo}</span> ${maskText(b.description)}</h1>
      <div class="pills"><span class="pill">${STATUS_NAMES[b.status]}</span><span class="pill">${departmentName(b.department)}</span></div>
      <dl class="facts">
        <div><dt>金额</dt><dd>${yuan(b.amountFen)} 元${b.refundedFen ? `（已退 ${yuan(b.refundedFen)} 元）` : ''}</dd></div>
        <div><dt>缴费人</dt><dd>${maskOpenid(b.openid)}</dd></div>
        <div><dt>关联</dt><dd>${{ case: '办件', booking: '预约', event: '部门推送' }[b.paysKind]} ${b.paysRef}</dd></div>
        <div><dt>开具</dt><dd>${f.at(b.createdAt)}</dd></div>
        ${b.dueAt ? html`<div><dt>缴费期限</dt><dd>${f.at(b.dueAt)}</dd></div>` : null}
        ${b.paidAt ? html`<div><dt>缴费时间</dt><dd>${f.at(b.paidAt)}</dd></div>` : null}
        ${b.closedReason ? html`<div><dt>关闭原因</dt><dd>${b.closedReason}</dd></div>` : null}
      </dl>
    </div>
    <section><h2>微信支付订单</h2>${orders.length
      ? html`<table class="items"><thead><tr><th>商户订单号</th><th>方式</th><th>状态</th><th>交易单号</th><th>创建</th><th>有效至</th></tr></thead><tbody>${orders.map((o) => html`<tr><td class="num">${o.outTradeNo}</td><td>${o.tradeType === 'JSAPI' ? '微信内支付' : '扫码'}</td><td>${ORDER_STATUS[o.status]}</td><td class="num">${o.transactionId ?? '—'}</td><td>${f.short(o.createdAt)}</td><td>${f.short(o.expiresAt)}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">市民还没有发起支付。</p>`}</section>
    ${refunds.length ? html`<section><h2>退款</h2><table class="items"><thead><tr><th>退款单号</th><th>金额</th><th>原因</th><th>状态</th><th>时间</th></tr></thead><tbody>${refunds.map((x) => html`<tr><td class="num">${x.outRefundNo}</td><td>${yuan(x.amountFen)} 元</td><td>${x.reason}</td><td>${REFUND_STATUS[x.status]}</td><td>${f.short(x.createdAt)}</td></tr>`)}</tbody></table></section>` : null}
    ${mayBill(a, 'refund', b) && refundable > 0
      ? html`<section class="case-actions"><h2>退款</h2><form method="post" action="/admin/bills/${b.id}/refund" class="case-action">${csrfField(pc)}
        <label>退款金额（元，最多 ${yuan(refundable)}）<input name="amount" inputmode="decimal" required pattern="\\d+(\\.\\d{1,2})?" value="${yuan(refundable)}"></label>
        <textarea name="reason" rows="2" maxlength="80" required minlength="2" placeholder="退款原因，市民会看到"></textarea>
        <button type="submit" class="danger">原路退款</button></form></section>`
      : null}
    ${mayBill(a, 'close', b) ? html`<section class="case-actions"><h2>关闭账单</h2><form method="post" action="/admin/bills/${b.id}/close" class="case-action">${csrfField(pc)}<textarea name="reason" rows="2" maxlength="100" required minlength="2" placeholder="关闭原因，如：已在窗口缴纳"></textarea><button type="submit" class="danger">关闭账单</button></form></section>` : null}
  </div>
  <aside class="conv-side">
    <section class="card timeline"><h2>经过</h2><ol>${events
      .slice()
      .reverse()
      .map((e) => html`<li><b>${EVENTS[e.kind]}</b> · ${e.actor === 'citizen' ? '市民' : e.actor === 'system' ? '系统' : e.actor === 'wechatpay' ? '微信支付' : '工作人员'}<div class="muted small">${f.short(e.at)}</div>${e.note ? html`<div class="detail">${maskText(e.note)}</div>` : null}</li>`)}</ol></section>
  </aside>
</div>`;
        kit.send(ctx, page(pc, { title: `账单 ${b.billNo}`, section: 'bills', body }));
      }),
    );

    r.post('/bills/:id/refund', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const form = await kit.checkedForm(ctx);
        const b = await load(ctx);
        const a = kit.actor(ctx);
        if (!mayBill(a, 'refund', b)) {
          await kit.flash(ctx, 'error', '只有负责人可以为已缴费的账单退款');
          return ctx.redirect(`/admin/bills/${b.id}`);
        }
        const m = /^(\d{1,7})(?:\.(\d{1,2}))?$/.exec((form.amount ?? '').trim());
        if (!m) throw new BillError('invalid', '退款金额格式不对，例如 40 或 12.50');
        const fen = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0') || 0);
        const refund = await bills.refund({ billId: b.id, amountFen: fen, reason: form.reason ?? '', staff: a, ip: ctx.ip });
        await kit.flash(ctx, 'ok', refund.status === 'success' ? `已退款 ${yuan(fen)} 元，已通知市民。` : `退款 ${yuan(fen)} 元已提交，微信支付处理中。`);
        ctx.redirect(`/admin/bills/${b.id}`);
      }),
    );

    r.post('/bills/:id/close', kit.signedIn, async (ctx) =>
      guard(ctx, async () => {
        const form = await kit.checkedForm(ctx);
        const b = await load(ctx);
        const a = kit.actor(ctx);
        const reason = clip((form.reason ?? '').trim(), 100);
        if (!mayBill(a, 'close', b) || reason.length < 2) {
          await kit.flash(ctx, 'error', reason.length < 2 ? '请写明关闭原因' : '只有负责人可以关闭待缴费的账单');
          return ctx.redirect(`/admin/bills/${b.id}`);
        }
        const ok = await bills.closeIfUnpaid(b.id, reason, `staff:${a.id}`);
        await kit.audit.record({ actor: a, action: 'bill-close', target: `bill:${b.id}`, department: b.department, detail: reason, ip: ctx.ip });
        await kit.flash(ctx, ok ? 'ok' : 'error', ok ? '账单已关闭。' : '账单没有关闭：可能刚刚已缴费，请刷新查看。');
        ctx.redirect(`/admin/bills/${b.id}`);
      }),
    );
  };
}
