import type { Context } from 'koa';
import type { Service } from '../../profile/catalogue.ts';
import type { Hall } from '../../profile/halls.ts';
import type { BookingRow } from './entities.ts';
import type { Appointments, DayOffer } from './index.ts';
import { maskName, maskPhone, maskIdCard } from '../../platform/pii.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { csrfField } from '../../h5/layout.ts';

const FIELD: Record<string, { label: string; type: string; autocomplete: string; placeholder: string }> = {
  name: { label: '办事人姓名', type: 'text', autocomplete: 'name', placeholder: '与证件一致' },
  phone: { label: '手机号码', type: 'tel', autocomplete: 'tel', placeholder: '11 位手机号' },
  id_card: { label: '身份证号码', type: 'text', autocomplete: 'off', placeholder: '18 位' },
};

export interface BookForm {
  service: Service & { appointment: NonNullable<Service['appointment']> };
  halls: Hall[];
  hall: Hall;
  days: DayOffer[];
  day: DayOffer | null;
  chosen: number | null;
  contact: Record<string, string>;
  replacing: BookingRow | null;
  error: string | null;
}


/** Pick a hall, a day (with its free places) and a time from the grid, then confirm. */
export function bookBody(ctx: Context, appts: Appointments, f: BookForm): SafeHtml {
  const base = `/h5/book/${f.service.id}`;
  const q = (hall: string, day?: number) => `${base}?hall=${hall}${day !== undefined ? `&day=${day}` : ''}${f.replacing ? `&reschedule=${f.replacing.id}` : ''}`;
  return html`
${f.replacing ? html`<p class="wb-card">改约：原预约 ${appts.describeTime(f.replacing.startsAt, f.replacing.endsAt)}（预约码 ${f.replacing.code}）</p>` : ''}
${f.error ? html`<p class="wb-error" role="alert">${f.error}</p>` : ''}
${f.halls.length > 1
    ? html`<section class="wb-section"><h2>选择大厅</h2><div class="wb-days" role="list">${f.halls.map(
        (h) => html`<a class="wb-day" role="listitem" href="${q(h.id)}" ${h.id === f.hall.id ? html`aria-current="date"` : ''}>${h.name.replace(/社区事务受理服务中心$/, '')}</a>`,
      )}</div></section>`
    : html`<p class="wb-card">${f.hall.name}<br><span class="wb-muted">${f.hall.address}</span></p>`}
<section class="wb-section"><h2>选择日期</h2>
<div class="wb-days" role="list">${f.days.map(
    (d) =>
      html`<a class="wb-day${d.free === 0 ? ' is-off' : ''}" role="listitem" href="${q(f.hall.id, d.day)}" ${f.day && d.day === f.day.day ? html`aria-current="date"` : ''}>${d.label}<small>${!d.open ? (d.closedBecause ?? '休息') : d.free > 0 ? `余 ${d.free}` : d.slots.some((s) => s.free > 0) ? '已截止' : '已约满'}</small></a>`,
  )}</div></section>
<form method="post" action="${base}" class="wb-section">
  ${csrfField(ctx)}
  <input type="hidden" name="hall" value="${f.hall.id}">
  ${f.replacing ? html`<input type="hidden" name="reschedule" value="${f.replacing.id}">` : ''}
  <h2>选择时间${f.day ? html`（${f.day.label}）` : ''}</h2>
  ${!f.day || f.day.slots.length === 0
    ? html`<p class="wb-card">这一天不开放，请选择其他日期。</p>`
    : html`<div class="wb-slots">${f.day.slots.map(
        (s) => html`<label class="wb-slot"><input type="radio" name="start" value="${s.start}" ${s.bookable ? '' : 'disabled'} ${f.chosen === s.start ? 'checked' : ''} required><span>${appts.timeOfDay(s.start)}<small>${s.bookable ? `余 ${s.free}` : s.free === 0 ? '已满' : '已过'}</small></span></label>`,
      )}</div>`}
  ${f.service.appointment.collect.map((c) => {
    const def = FIELD[c]!;
    return html`<div class="wb-field"><label for="f-${c}">${def.label}</label><input id="f-${c}" name="${c}" type="${def.type}" autocomplete="${def.autocomplete}" placeholder="${def.placeholder}" value="${f.contact[c] ?? ''}" required></div>`;
  })}
  <p class="wb-muted wb-pad">只收集办理这项业务需要的信息。到大厅后扫服务台二维码签到取号。</p>
  <div class="wb-actions"><button type="submit" class="weui-btn weui-btn_primary">${f.replacing ? '确认改约' : '确认预约'}</button></div>
</form>`;
}

const STATUS: Record<BookingRow['status'], string> = { booked: '待到场', checked_in: '已签到', served: '已办结', no_show: '未到场', cancelled: '已取消' };

function contactLine(b: BookingRow): string {
  if (!b.contact) return '';
  const c = JSON.parse(b.contact) as Record<string, string>;
  return [c.name ? maskName(c.name) : '', c.phone ? maskPhone(c.phone) : '', c.id_card ? maskIdCard(c.id_card) : ''].filter(Boolean).join(' · ');
}

export function bookingCard(ctx: Context, appts: Appointments, b: BookingRow, hall: Hall | undefined, now: number): SafeHtml {
  const active = b.status === 'booked' && b.endsAt > now;
  return html`<article class="wb-card wb-booking" id="b${b.id}">
  <h3>${appts.serviceName(b.serviceId)} <span class="wb-status is-${b.status}">${STATUS[b.status]}</span></h3>
  <p>${appts.describeTime(b.startsAt, b.endsAt)}</p>
  <p class="wb-muted">${hall?.name ?? ''}${hall ? html` · ${hall.address}` : ''}</p>
  <p>预约码 <span class="wb-code">${b.code}</span>${b.queueNo ? html` · 排队号 ${String(b.queueNo).padStart(3, '0')}` : ''}</p>
  ${b.contact ? html`<p class="wb-muted">${contactLine(b)}</p>` : ''}
  ${active
    ? html`<div class="wb-actions">
    <a class="weui-btn weui-btn_default" href="/h5/book/${b.serviceId}?hall=${b.hallId}&reschedule=${b.id}">改约</a>
    <form method="post" action="/h5/bookings/${b.id}/cancel" class="wb-inline-form">${csrfField(ctx)}<button type="submit" class="weui-btn weui-btn_warn">取消预约</button></form>
  </div>`
    : ''}
</article>`;
}
