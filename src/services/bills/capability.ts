import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Capability, Core } from '../../capability.ts';
import type { ChatEngine, ChatRoute, Dialog, Turn } from '../../chat/engine.ts';
import { asChoice } from '../../chat/text.ts';
import { csrfOk, readForm } from '../../h5/http.ts';
import { intParam, type PageKit } from '../../h5/kit.ts';
import { csrfField, message } from '../../h5/layout.ts';
import { PROJECT_ROOT, SOURCE_DIR } from '../../paths.ts';
import { PayClient } from '../../pay/client.ts';
import { resolvePay } from '../../pay/config.ts';
import { allowed } from '../../policies/index.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { qrSvg } from '../../web/qr.ts';
import type { EntityManager } from 'typeorm';
import type { Appointments } from '../appointments/index.ts';
import type { ApplicableService } from '../cases/index.ts';
import type { CaseRow } from '../cases/entities.ts';
import { BillEntity, type BillRow } from './entities.ts';
import { BillError, Bills, STATUS_NAMES, yuan } from './index.ts';
import { billSection } from './staff.ts';

export interface BillsCapability extends Capability {
  bills: Bills;
  /** For the cases capability: the bill of an item with a fee, and what the case page says of it. */
  caseFees: { charge(c: CaseRow, s: ApplicableService, tx: EntityManager): Promise<void>; describe(c: CaseRow): Promise<{ text: string; href: string | null } | null> };
}

export interface BillsNeeds {
  /** Booking fees (挂号费): charged when a place is booked, the place released when unpaid in time. */
  appointments?: Appointments;
}

/** Cut to WeChat Pay's 127-byte description limit at a character boundary. */
export function fitBytes(s: string, max = 127): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

const PAY_JS = readFileSync(join(SOURCE_DIR, 'services', 'bills', 'pay.js'));

/**
 * 缴费: bills for what a citizen pays (a case's fee, a booking's fee, a department's bill such as
 * a fine) and their payment in WeChat Pay API v3 — the pay page (JSAPI in WeChat, a Native QR code
 * elsewhere), notifications verified and applied exactly once, 我的缴费 in chat, receipts, refunds,
 * reconciliation, and the 收费 section of the staff panel. Off until the profile's `pay` section
 * is enabled with the merchant's details.
 */
export function billsCapability(core: Core, needs: BillsNeeds = {}): BillsCapability {
  const { profile } = core;
  const settings = profile.pay.enabled
    ? resolvePay(profile.pay, { env: core.env, appid: profile.wechat.appid, publicUrl: core.publicUrl, emulatorUrl: `${core.localUrl}/emulator/pay`, repoRoot: PROJECT_ROOT })
    : null;
  const log = core.log.child({ component: 'pay' });
  const client = settings ? new PayClient(settings, core.clock, log) : null;
  const bills = new Bills({
    ds: core.db,
    clock: core.clock,
    kv: core.kv,
    jobs: core.jobs,
    outbox: core.outbox,
    audit: core.audit,
    alerts: core.alerts,
    calendar: core.calendar,
    log,
    pay: client,
    publicUrl: core.publicUrl,
    payee: profile.pay.payee,
    departments: new Set(profile.departments.map((d) => d.id)),
    orderTimeoutMs: profile.pay.order_timeout_minutes * 60_000,
    queryAfterMs: profile.pay.query_after_minutes * 60_000,
  });

  // Booking fees: a bill when a place is booked; the place goes back when it is not paid in time,
  // and a cancelled booking withdraws its bill (refunded if paid).
  const appointments = needs.appointments;
  if (appointments && bills.enabled) {
    appointments.onBooked(async (booking, s, tx) => {
      const rule = s.appointment;
      if (!rule?.fee_fen) return;
      const dueAt = Math.min(core.clock.now() + rule.pay_within_minutes * 60_000, booking.startsAt);
      await bills.issue({ openid: booking.openid, amountFen: rule.fee_fen, description: fitBytes(`${s.name}${rule.fee_label}`), pays: { kind: 'booking', ref: String(booking.id) }, dueAt, department: profile.departments.find((d) => d.handles.includes(s.id))?.id ?? null }, tx);
    });
    appointments.onCancelled(async (booking, tx) => {
      const bill = await tx.getRepository(BillEntity).findOneBy({ paysKind: 'booking', paysRef: String(booking.id) });
      if (bill) await bills.withdrawLater(bill.id, '预约已取消', tx);
    });
    bills.onClosedUnpaid(async (bill, tx) => {
      if (bill.paysKind === 'booking') await appointments.releaseUnpaid(Number(bill.paysRef), tx, '费用没有在规定时间内缴纳，预约已自动取消');
    });
  }
  const caseFees: BillsCapability['caseFees'] = {
    charge: async (c, s, tx) => {
      if (!s.application.fee_fen) return;
      await bills.issue({ openid: c.openid, amountFen: s.application.fee_fen, description: fitBytes(`${s.name}（办件 ${c.caseNo}）`), pays: { kind: 'case', ref: c.caseNo }, department: c.department }, tx);
    },
    describe: async (c) => {
      const b = await bills.byPays('case', c.caseNo);
      if (!b) return c.feeFen ? { text: `本事项收费 ${yuan(c.feeFen)} 元，受理后可在线缴纳。`, href: null } : null;
      if (b.status === 'unpaid' || b.status === 'paying') return { text: `本事项收费 ${yuan(b.amountFen)} 元，待缴费。`, href: `/h5/pay/bills/${b.id}` };
      if (b.status === 'closed') return { text: `费用 ${yuan(b.amountFen)} 元：${STATUS_NAMES[b.status]}。`, href: null };
      return { text: `已缴费 ${yuan(b.amountFen)} 元${b.refundedFen ? `（已退 ${yuan(b.refundedFen)} 元）` : ''}。`, href: `/h5/pay/bills/${b.id}/receipt` };
    },
  };

  const say = (content: string, ref: string) => ({ reply: { type: 'text' as const, content }, ref });
  /**
   * The citizen's unpaid bills, each a link to its pay page. `numbered` lines carry their place in
   * the list; while staff have the conversation they do not (a number typed then goes to staff).
   */
  const unpaidAnswer = async (t: Turn, numbered: boolean) => {
    const open = await bills.unpaid(t.openid);
    if (numbered) {
      // A number typed next picks a bill (the dialog below): the list is what "1" means now.
      t.session.dialog = open.length ? { name: 'bills', step: 'choose', data: { ids: open.map((b) => b.id) } } : null;
      t.session.list = null;
    }
    if (!open.length) return say(`您现在没有待缴的费用。办理的事项需要缴费时，我们会发消息告诉您。\n<a href="${core.publicUrl}/h5/pay">查看缴费记录</a>`, 'bills:none');
    const lines = open.map((b, i) => `${numbered ? `${i + 1}. ` : '· '}<a href="${bills.link(b)}">${b.description} ${yuan(b.amountFen)} 元</a>`);
    return say([`您有 ${open.length} 笔待缴费用，${numbered ? '点一下或回复前面的数字' : '点一下'}就能缴费：`, ...lines].join('\n'), 'bills:list');
  };
  /** A number against the list of bills: that bill's pay link (still unpaid, and the citizen's own). */
  const chooseBill = async (t: Turn, engine: ChatEngine) => {
    const c = asChoice(t.text ?? '');
    if (c?.kind === 'back') return { ...engine.home(t, ''), done: true };
    const ids = (t.session.dialog?.data.ids as number[] | undefined) ?? [];
    const id = c?.kind === 'number' ? ids[c.n - 1] : undefined;
    const bill = id === undefined ? undefined : (await bills.unpaid(t.openid)).find((b) => b.id === id);
    if (!bill) return { ...(await unpaidAnswer(t, true)), done: false };
    return { ...say(`${bill.description}，${yuan(bill.amountFen)} 元。\n<a href="${bills.link(bill)}">点这里缴费</a>`, `bills:bill:${bill.id}`), done: true };
  };
  // 缴费 as citizens put it: 我要交费, 怎么缴费啊, 交罚款, 我的缴费, 有没有要交的钱 …
  const words = /^(?:请问|你好|您好)?(?:我要|我想|我得|要|想|怎么|如何|在哪|在线|网上|手机上?)?(?:缴费|交费|缴款|付款|支付|付费|交钱|付钱|交罚款|缴罚款|缴纳罚款|我的缴费|待缴费用?|缴纳费用|有没有要交的钱|有要交的钱吗)(?:了吗|吗|啊|呀|呢|吧|哦)*$/;
  const chatRoutes: ChatRoute[] = [
    {
      name: '缴费 (the citizen\'s unpaid bills)',
      // Off while the profile does not pay in WeChat: its own keyword rule answers (pay at the counter).
      when: (_m, t) => bills.enabled && t.text !== null && words.test(t.text.replace(/[\s，。！？!?]/g, '')),
      handle: async (_m, t) => unpaidAnswer(t, true),
      // Paying never waits for a human: while staff have the conversation too, as links.
      glance: async (_m, t) => unpaidAnswer(t, false),
    },
  ];
  // 我的缴费 as a line of a list or a menu entry (dialog: bills); a number then picks a bill.
  const billsDialog: Dialog = {
    start: async (t) => unpaidAnswer(t, true),
    step: async (t, engine) => chooseBill(t, engine),
    glance: async (t) => unpaidAnswer(t, false),
  };

  return {
    name: 'bills',
    bills,
    caseFees,
    chat: { extra: chatRoutes, dialogs: bills.enabled ? { bills: billsDialog } : {} },
    nav: [{ section: 'bills', label: '收费', href: '/admin/bills', visible: (a) => allowed(a, 'bills') }],
    panel: billSection(bills, (id) => profile.departments.find((d) => d.id === id)?.name ?? '—'),
    pages: (r, kit) => citizenPages(r, kit, bills, core),
    async started() {
      await bills.scheduleReconciliation();
    },
    routes() {
      const r = new Router();
      // WeChat Pay's notifications: verified over the raw bytes, decrypted with the tag checked,
      // applied idempotently. 204 once applied (or when a retry could not help); 4xx/5xx otherwise.
      const notify = (kind: 'pay' | 'refund') => async (ctx: Context) => {
        let raw: string;
        try {
          raw = await getRawBody(ctx.req, { limit: 64 * 1024, encoding: 'utf8' });
        } catch {
          ctx.status = 413;
          ctx.body = { code: 'FAIL', message: 'body too large' };
          return;
        }
        if (!client) {
          ctx.status = 404;
          return;
        }
        const n = await client.notification((h) => ctx.get(h) || undefined, raw);
        if (!n.ok) {
          log.warn({ reason: n.reason, kind }, 'pay notification refused');
          ctx.status = n.status;
          ctx.body = { code: 'FAIL', message: n.reason };
          return;
        }
        try {
          if (kind === 'pay' && n.eventType.startsWith('TRANSACTION.')) {
            const res = await bills.apply(n.resource as never, 'notify');
            if (res === 'unknown_order' || res === 'mismatch') log.warn({ result: res, event: n.id }, 'verified pay notification not applied');
          } else if (kind === 'refund' && n.eventType.startsWith('REFUND.')) {
            const res = await bills.applyRefund(n.resource as never);
            if (res === 'unknown') log.warn({ event: n.id }, 'verified refund notification for an unknown refund');
          } else log.warn({ event: n.eventType.slice(0, 40) }, 'pay notification of an unexpected type');
        } catch (err) {
          // Our side failed (the database): WeChat Pay tries again.
          log.error({ err }, 'pay notification could not be applied; WeChat Pay will retry');
          ctx.status = 500;
          ctx.body = { code: 'FAIL', message: 'retry later' };
          return;
        }
        ctx.status = 204;
      };
      r.post('/pay/notify', notify('pay'));
      r.post('/pay/refund-notify', notify('refund'));
      return r;
    },
  };
}

function billCard(b: BillRow, payee: string, when: (t: number) => string): SafeHtml {
  return html`<div class="wb-card wb-bill">
  <p class="wb-bill-amount"><span class="wb-bill-yuan">¥</span>${yuan(b.amountFen)}</p>
  <dl class="wb-kv">
    <dt>缴费项目</dt><dd>${b.description}</dd>
    <dt>收款方</dt><dd>${payee}</dd>
    <dt>账单编号</dt><dd>${b.billNo}</dd>
    ${b.dueAt && (b.status === 'unpaid' || b.status === 'paying') ? html`<dt>缴费期限</dt><dd>${when(b.dueAt)} 前</dd>` : ''}
    <dt>状态</dt><dd>${STATUS_NAMES[b.status]}${b.refundedFen ? `（已退 ${yuan(b.refundedFen)} 元）` : ''}</dd>
  </dl>
</div>`;
}

function citizenPages(r: Router, kit: PageKit, bills: Bills, core: Core): void {
  const load = async (ctx: Context, openid: string): Promise<BillRow | null> => {
    const id = intParam(ctx.params.id);
    if (id === undefined) return null;
    return bills.own(openid, id).catch((err: unknown) => {
      if (err instanceof BillError) return null;
      throw err;
    });
  };
  const script = html`<script src="/h5/pay/pay.js"></script>`;

  r.get('/h5/pay/pay.js', async (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = PAY_JS;
  });

  /** The bill of a booking or a case of the citizen's (pages of other capabilities link here). */
  r.get('/h5/pay/for/:kind/:ref', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    const kind = ctx.params.kind === 'booking' || ctx.params.kind === 'case' ? ctx.params.kind : null;
    const b = kind ? await bills.byPays(kind, String(ctx.params.ref ?? '').slice(0, 64)) : null;
    if (!b || b.openid !== openid) return kit.notFound(ctx, '这笔费用');
    ctx.redirect(b.status === 'unpaid' || b.status === 'paying' ? `/h5/pay/bills/${b.id}` : `/h5/pay/bills/${b.id}/receipt`);
  });

  r.get('/h5/pay', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    const mine = await bills.mine(openid);
    if (!mine.length) return kit.render(ctx, '我的缴费', message('info', '没有缴费记录', '办理的事项需要缴费时，会显示在这里，也会发消息告诉您。', html`<a class="weui-btn weui-btn_default" href="/h5/guides">看看办事指南</a>`));
    const open = mine.filter((b) => b.status === 'unpaid' || b.status === 'paying');
    const rest = mine.filter((b) => !(b.status === 'unpaid' || b.status === 'paying'));
    const row = (b: BillRow) =>
      html`<a class="weui-cell weui-cell_access" href="/h5/pay/bills/${b.id}${b.status === 'unpaid' || b.status === 'paying' ? '' : '/receipt'}"><div class="weui-cell__bd"><p>${b.description}</p><p class="wb-muted">${STATUS_NAMES[b.status]}${b.refundedFen ? `（已退 ${yuan(b.refundedFen)} 元）` : ''}</p></div><div class="weui-cell__ft">${yuan(b.amountFen)} 元</div></a>`;
    kit.render(
      ctx,
      '我的缴费',
      html`${open.length ? html`<section class="wb-section"><h2>待缴费（${open.length} 笔）</h2><div class="weui-cells">${open.map(row)}</div></section>` : html`<p class="wb-card wb-ok">没有待缴的费用。</p>`}
${rest.length ? html`<section class="wb-section"><h2>缴费记录</h2><div class="weui-cells">${rest.map(row)}</div></section>` : ''}`,
    );
  });

  r.get('/h5/pay/bills/:id', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    const b = await load(ctx, openid);
    if (!b) return kit.notFound(ctx, '这笔费用');
    if (b.status !== 'unpaid' && b.status !== 'paying') return ctx.redirect(`/h5/pay/bills/${b.id}/receipt`);
    const off = !bills.enabled;
    kit.render(
      ctx,
      '缴费',
      html`${billCard(b, bills.payee, kit.when)}
<form method="post" action="/h5/pay/bills/${b.id}/checkout" class="wb-actions" data-pay-form data-receipt="/h5/pay/bills/${b.id}/receipt" data-status="/h5/pay/bills/${b.id}/status">
  ${csrfField(ctx)}
  <p class="wb-error" role="alert" data-pay-error hidden></p>
  ${off ? html`<p class="wb-card">暂时不能在线缴费，请到办事窗口缴纳。</p>` : html`<button class="weui-btn weui-btn_primary" type="submit" data-pay-button>微信支付 ${yuan(b.amountFen)} 元</button>`}
  ${off ? '' : html`<a class="weui-btn weui-btn_default" href="/h5/pay/bills/${b.id}/qr" data-pay-qr>用另一部手机扫码支付</a>`}
</form>
<p class="wb-muted wb-pay-note">支付成功后会收到消息和电子收据。款项直接进入${bills.payee}的账户。</p>
${script}`,
      { back: '/h5/pay' },
    );
  });

  // 去支付: JSON for the page's script (getBrandWCPayRequest); without script, the QR page.
  r.post('/h5/pay/bills/:id/checkout', async (ctx) => {
    const openid = await kit.openid(ctx);
    const form = await readForm(ctx);
    const wantsJson = (ctx.get('accept') || '').includes('application/json');
    if (!openid || !csrfOk(ctx, form)) {
      if (wantsJson) {
        ctx.status = 403;
        ctx.body = { error: '页面已过期，请刷新后再支付。' };
        return;
      }
      return kit.expired(ctx, '为了您的安全，请刷新页面后再支付。', { href: `/h5/pay/bills/${ctx.params.id}`, label: '刷新' });
    }
    const b = await load(ctx, openid);
    if (!b) {
      if (wantsJson) {
        ctx.status = 404;
        ctx.body = { error: '没有找到这笔费用' };
        return;
      }
      return kit.notFound(ctx, '这笔费用');
    }
    if (!wantsJson) return ctx.redirect(`/h5/pay/bills/${b.id}/qr`);
    try {
      const c = await bills.checkout(openid, b.id, 'JSAPI');
      ctx.body = { params: c.params, receipt: `/h5/pay/bills/${b.id}/receipt` };
    } catch (err) {
      if (!(err instanceof BillError)) throw err;
      ctx.status = err.code === 'already_paid' ? 409 : err.code === 'upstream' ? 502 : 400;
      ctx.body = { error: err.message, ...(err.code === 'already_paid' ? { receipt: `/h5/pay/bills/${b.id}/receipt` } : {}) };
    }
  });

  // Native: a QR code to scan with WeChat (a citizen at a desktop, or paying for someone).
  r.get('/h5/pay/bills/:id/qr', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    const b = await load(ctx, openid);
    if (!b) return kit.notFound(ctx, '这笔费用');
    try {
      const c = await bills.checkout(openid, b.id, 'NATIVE');
      kit.render(
        ctx,
        '扫码支付',
        html`${billCard(c.bill, bills.payee, kit.when)}
<div class="wb-card wb-qr" data-pay-wait data-receipt="/h5/pay/bills/${b.id}/receipt" data-status="/h5/pay/bills/${b.id}/status">${qrSvg(c.codeUrl!, `微信支付 ${yuan(b.amountFen)} 元`)}<p>请用微信扫一扫，支付 ${yuan(b.amountFen)} 元</p><p class="wb-muted">二维码 ${kit.when(c.order.expiresAt)} 前有效。支付后本页会自动跳到收据。</p></div>
<p><a class="weui-btn weui-btn_default" href="/h5/pay/bills/${b.id}/receipt">我已支付，查看结果</a></p>${script}`,
        { back: `/h5/pay/bills/${b.id}` },
      );
    } catch (err) {
      if (!(err instanceof BillError)) throw err;
      if (err.code === 'already_paid') return ctx.redirect(`/h5/pay/bills/${b.id}/receipt`);
      kit.render(ctx, '扫码支付', message('warn', '暂时不能支付', err.message, html`<a class="weui-btn weui-btn_default" href="/h5/pay/bills/${b.id}">返回</a>`), { status: err.code === 'upstream' ? 502 : 400 });
    }
  });

  /** The bill's state for the page's script; an open order is asked about at WeChat Pay (the notification may be late). */
  r.get('/h5/pay/bills/:id/status', async (ctx) => {
    const openid = await kit.openid(ctx);
    const b = openid ? await load(ctx, openid) : null;
    if (!b) {
      ctx.status = 404;
      ctx.body = { error: 'not found' };
      return;
    }
    let status = b.status;
    if (status === 'paying' && ctx.query.check === '1') {
      for (const o of (await bills.orders(b.id)).filter((x) => x.status === 'open')) await bills.refresh(o.id).catch(() => undefined);
      status = (await bills.get(b.id))!.status;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status, paid: !['unpaid', 'paying', 'closed'].includes(status) };
  });

  r.get('/h5/pay/bills/:id/receipt', async (ctx) => {
    const openid = await kit.citizen(ctx);
    if (!openid) return;
    let b = await load(ctx, openid);
    if (!b) return kit.notFound(ctx, '这笔费用');
    if (b.status === 'paying') {
      // Paid a moment ago and the notification is not here yet: ask WeChat Pay.
      for (const o of (await bills.orders(b.id)).filter((x) => x.status === 'open')) await bills.refresh(o.id).catch(() => undefined);
      b = (await bills.get(b.id))!;
    }
    if (b.status === 'unpaid' || b.status === 'paying') {
      return kit.render(
        ctx,
        '缴费结果',
        html`${message('info', '还没有收到这笔付款', '如果您刚刚付过款，请稍等几秒刷新本页；没有付款可以返回重新支付。', html`<a class="weui-btn weui-btn_primary" href="/h5/pay/bills/${b.id}/receipt">刷新</a><a class="weui-btn weui-btn_default" href="/h5/pay/bills/${b.id}">返回缴费</a>`)}`,
        { back: '/h5/pay' },
      );
    }
    if (b.status === 'closed') return kit.render(ctx, '缴费结果', message('warn', '这笔费用已关闭', b.closedReason ?? '', html`<a class="weui-btn weui-btn_default" href="/h5/pay">我的缴费</a>`), { back: '/h5/pay' });
    const order = (await bills.orders(b.id)).find((o) => o.id === b!.paidOrderId);
    const refunds = (await bills.refunds(b.id)).filter((x) => x.status === 'success');
    kit.render(
      ctx,
      '电子收据',
      html`${message('success', '缴费成功', html`${b.description}`, html``)}
<div class="wb-card wb-receipt">
  <p class="wb-bill-amount"><span class="wb-bill-yuan">¥</span>${yuan(b.amountFen)}</p>
  <dl class="wb-kv">
    <dt>缴费项目</dt><dd>${b.description}</dd>
    <dt>收款方</dt><dd>${bills.payee}</dd>
    <dt>账单编号</dt><dd>${b.billNo}</dd>
    <dt>支付时间</dt><dd>${b.paidAt ? kit.when(b.paidAt) : ''}</dd>
    <dt>支付方式</dt><dd>微信支付</dd>
    ${order?.transactionId ? html`<dt>交易单号</dt><dd class="wb-break">${order.transactionId}</dd>` : ''}
    ${refunds.map((x) => html`<dt>退款</dt><dd>${yuan(x.amountFen)} 元（${x.reason}）</dd>`)}
  </dl>
</div>
<p class="wb-actions"><a class="weui-btn weui-btn_default" href="/h5/pay">我的缴费</a></p>`,
      { back: '/h5/pay' },
    );
  });
  void core;
}
