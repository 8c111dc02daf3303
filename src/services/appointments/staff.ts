import type Router from '@koa/router';
import type { Context } from 'koa';
import { maskIdCard, maskName, maskPhone } from '../../platform/pii.ts';
import type { Hall } from '../../profile/halls.ts';
import type { BookingRow, BookingStatus } from './entities.ts';
import { BookingError, checkInScene, type Appointments, type Contact } from './index.ts';
import type { Halls } from '../halls/index.ts';
import type { WeChatApi } from '../../wechat/api/index.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { qrSvg } from '../../web/qr.ts';
import { intOf } from '../../admin/body.ts';
import { csrfField, page } from '../../admin/pages/layout.ts';
import { allowed } from '../../policies/index.ts';
import type { PanelKit } from '../../admin/routes.ts';
import type { HallScreens } from './screen.ts';

const STATUS: Record<BookingStatus, string> = {
  booked: '待到场',
  checked_in: '已签到',
  served: '已办理',
  no_show: '未到',
  cancelled: '已取消',
};

/**
 * 大厅: what the front desk of a hall needs on the day — today's bookings in time order, with the
 * booking code read out at the window and the contact masked; mark arrived (gives a queue number to
 * a citizen without a phone to scan with), not come (counts towards a suspension) and handled; and
 * the hall's check-in code to print and put on the desk. Every mark goes through the appointment
 * commands the chat and pages use, and into the audit log.
 */
export function hallSection(d: { halls: Halls; appointments: Appointments; api: WeChatApi; screens: HallScreens }) {
  return (r: Router, kit: PanelKit) => {
    const hallOf = (ctx: Context): Hall | null => d.halls.get(String(ctx.params.hall ?? '')) ?? null;
    const permitted = (ctx: Context, action: 'halls' | 'halls.qrcode') => {
      if (allowed(kit.actor(ctx), action)) return true;
      kit.fail(ctx, 403, '您没有这项权限');
      return false;
    };

    r.get('/halls', kit.signedIn, async (ctx) => {
      if (!permitted(ctx, 'halls')) return;
      const f = kit.fmt();
      const rows = await Promise.all(
        d.halls.list.map(async (h) => {
          const today = await d.appointments.today(h.id, f.now);
          const count = (s: BookingStatus) => today.filter((b) => b.status === s).length;
          const st = d.halls.status(h, f.now);
          return html`<tr>
      <td class="q"><a href="/admin/halls/${h.id}">${h.name}</a><div class="last">${h.address}</div></td>
      <td>${st.open ? html`<span class="pill pill-ok">开放中</span>` : html`<span class="pill">未开放</span>`}</td>
      <td class="num">${count('booked')}</td><td class="num">${count('checked_in')}</td><td class="num">${count('served')}</td><td class="num">${count('no_show')}</td>
    </tr>`;
        }),
      );
      const body = html`<div class="halls">
  <section class="list card"><h1>今天的预约 <small class="muted">${f.at(f.now).slice(0, 10)}</small></h1>
  <table class="items"><thead><tr><th>大厅</th><th>状态</th><th>待到场</th><th>已签到</th><th>已办理</th><th>未到</th></tr></thead><tbody>${rows}</tbody></table></section>
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: '大厅', section: 'halls', body }));
    });

    r.get('/halls/:hall', kit.signedIn, async (ctx) => {
      if (!permitted(ctx, 'halls')) return;
      const h = hallOf(ctx);
      if (!h) return kit.fail(ctx, 404, '没有这个大厅');
      const pc = await kit.pageContext(ctx);
      const f = kit.fmt();
      const today = await d.appointments.today(h.id, f.now);
      const mark = (b: BookingRow, path: string, label: string, cls = '') =>
        html`<form method="post" action="/admin/halls/${h.id}/bookings/${b.id}/${path}" class="inline">${csrfField(pc)}<button type="submit" class="${cls || 'small'}">${label}</button></form>`;
      const actions = (b: BookingRow): SafeHtml | null => {
        // 未到 counts towards a suspension: offered once the booked time is over.
        if (b.status === 'booked') return html`${mark(b, 'arrived', '到场取号', 'primary small')}${b.endsAt <= f.now ? html` ${mark(b, 'no-show', '未到', 'small')}` : null}`;
        if (b.status === 'checked_in') return mark(b, 'served', '已办理', 'primary small');
        if (b.status === 'no_show') return mark(b, 'undo-no-show', '撤销未到', 'small');
        return null;
      };
      const body = html`<div class="halls">
  <section class="list card">
    <div class="conv-head"><h1>${h.name} · 今天的预约</h1>
      <p class="muted">${h.address} · ${h.phone}${allowed(kit.actor(ctx), 'halls.qrcode') ? html` · <a href="/admin/halls/${h.id}/qrcode">签到二维码</a>` : null}</p>
      <form method="post" action="/admin/halls/${h.id}/screen" class="inline" target="_blank">${csrfField(pc)}<button type="submit" class="small">在叫号屏上显示签到码</button></form>
      <p class="muted small">扫码签到只在预约时间前 ${h.check_in.early_minutes} 分钟到后 ${h.check_in.late_minutes} 分钟内有效${h.check_in.printed_code ? '' : '；只认叫号屏上的签到码'}。</p></div>
    ${today.length === 0
      ? html`<p class="empty">今天这里没有预约。</p>`
      : html`<table class="items"><thead><tr><th>时间</th><th>预约码</th><th>事项</th><th>联系人</th><th>状态</th><th>排队号</th><th></th></tr></thead><tbody>${today.map(
          (b) => html`<tr class="${b.status === 'checked_in' ? 'hl' : ''}">
      <td>${clock(f.at(b.startsAt))}–${clock(f.at(b.endsAt))}</td>
      <td class="num"><b>${b.code}</b></td>
      <td>${d.appointments.serviceName(b.serviceId)}</td>
      <td>${maskedContact(b.contact)}</td>
      <td><span class="pill">${STATUS[b.status]}</span></td>
      <td class="num">${b.queueNo ?? '—'}</td>
      <td class="acts">${actions(b)}</td>
    </tr>`,
        )}</tbody></table>`}
  </section>
</div>`;
      kit.send(ctx, page(pc, { title: `${h.name} · 大厅`, section: 'halls', body }));
    });

    const marks: [string, 'hall-arrived' | 'hall-no-show' | 'hall-no-show-undone' | 'hall-served', (id: number, staffId: number) => Promise<unknown>, string][] = [
      ['arrived', 'hall-arrived', (id) => d.appointments.markArrived(id), '已签到并取号'],
      ['no-show', 'hall-no-show', (id) => d.appointments.markNoShow(id), '已标记为未到'],
      ['undo-no-show', 'hall-no-show-undone', (id) => d.appointments.undoNoShow(id), '已撤销未到，可以签到了'],
      // Who marks it served is who served: the staff member the citizen's 好差评 rates.
      ['served', 'hall-served', async (id, staffId) => void (await d.appointments.markServed(id, staffId)), '已标记为办理完毕'],
    ];
    for (const [path, action, run, done] of marks) {
      r.post(`/halls/:hall/bookings/:id/${path}`, kit.signedIn, async (ctx) => {
        await kit.checkedForm(ctx);
        if (!permitted(ctx, 'halls')) return;
        const h = hallOf(ctx);
        const id = intOf(ctx.params.id);
        const b = h && id !== null ? (await d.appointments.today(h.id, kit.fmt().now)).find((x) => x.id === id) : undefined;
        // Only today's bookings at this hall can be marked here.
        if (!h || !b) return kit.fail(ctx, 404, '今天这个大厅没有这条预约');
        try {
          const after = (await run(b.id, kit.actor(ctx).id)) as BookingRow | undefined;
          await kit.audit.record({ actor: kit.actor(ctx), action, target: `booking:${b.id}`, department: null, detail: `${h.name} ${b.code}`, ip: ctx.ip });
          await kit.flash(ctx, 'ok', `${b.code}：${done}${after?.queueNo ? `，排队号 ${after.queueNo}` : ''}。`);
        } catch (err) {
          if (!(err instanceof BookingError)) throw err;
          await kit.flash(ctx, 'error', `${b.code}：${err.message}`);
        }
        ctx.redirect(`/admin/halls/${h.id}`);
      });
    }

    // The hall's screen shows a code that changes every few minutes: only someone in front of it can
    // scan the current one. The screen needs no staff session (nobody stays signed in on a display
    // in a public hall): it gets a link of its own, good for the day.
    r.post('/halls/:hall/screen', kit.signedIn, async (ctx) => {
      await kit.checkedForm(ctx);
      if (!permitted(ctx, 'halls')) return;
      const h = hallOf(ctx);
      if (!h) return kit.fail(ctx, 404, '没有这个大厅');
      const token = await d.screens.open(h.id);
      await kit.audit.record({ actor: kit.actor(ctx), action: 'hall-screen', target: `hall:${h.id}`, department: null, detail: h.name, ip: ctx.ip });
      ctx.redirect(`/hall-screen/${token}`);
    });

    r.get('/halls/:hall/qrcode', kit.signedIn, async (ctx) => {
      if (!permitted(ctx, 'halls.qrcode')) return;
      const h = hallOf(ctx);
      if (!h) return kit.fail(ctx, 404, '没有这个大厅');
      // A permanent code: asking again for the same scene gives the same code (no new one is spent).
      const code = await d.api.qrcode.permanent(checkInScene(h.id));
      const body = html`<div class="qr-print card">
  <h1>${h.name}</h1>
  <p class="lead">到了大厅，请用微信扫一扫签到取号</p>
  <figure class="qr">${qrSvg(code.url, '签到二维码')}</figure>
  <p class="muted">已经关注的市民扫码后，当天的预约会自动签到并给出排队号；没有预约的，请到服务台现场取号。</p>
  <p class="no-print"><a href="/admin/halls/${h.id}">返回今天的预约</a> · 用浏览器打印本页即可张贴。场景值 <code>${checkInScene(h.id)}</code></p>
</div>`;
      kit.send(ctx, page(await kit.pageContext(ctx), { title: `${h.name} · 签到二维码`, section: 'halls', body }));
    });
  };
}

const clock = (at: string) => at.slice(11, 16).replace(/^0/, '');

function maskedContact(json: string | null): string {
  if (!json) return '—';
  const c = JSON.parse(json) as Contact;
  return [c.name ? maskName(c.name) : null, c.phone ? maskPhone(c.phone) : null, c.id_card ? maskIdCard(c.id_card) : null].filter(Boolean).join(' · ') || '—';
}

