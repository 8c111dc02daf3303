import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Hall } from '../../profile/halls.ts';
import { describeDistance, describeWeekHours, type Halls } from './index.ts';
import { html, type SafeHtml } from '../../web/html.ts';

/** "周一至周五 9:00–17:00；周六 9:00–12:00；法定节假日休息…" */
export function weeklyHours(h: Hall): string {
  return describeWeekHours(h.hours);
}

export interface HallLine {
  hall: Hall;
  meters: number | null;
  status: string;
  remaining: number;
}

/** Where the citizen is, carried from page to page: `?lat=…&lng=…`. */
export type Here = { latitude: number; longitude: number } | null;
const hereQuery = (here: Here) => (here ? `?lat=${here.latitude}&lng=${here.longitude}` : '');

export function hallsBody(lines: HallLine[], serviceName: string | null, here: Here): SafeHtml {
  return html`
${serviceName ? html`<p class="wb-muted wb-pad">能办理「${serviceName}」的大厅</p>` : ''}
${!here
  ? html`<div class="wb-locate"><button type="button" class="weui-btn weui-btn_default weui-btn_mini" data-locate hidden>按离我最近排列</button>
<p class="wb-muted wb-tip">也可以在公众号里发送位置，按远近排列。</p></div>`
  : html`<p class="wb-muted wb-tip">已按离您的远近排列。</p>`}
${lines.map(
  (l) => html`<a class="wb-card wb-hall" href="/h5/halls/${l.hall.id}${hereQuery(here)}">
  <h3>${l.hall.name}${l.meters !== null ? html` <small class="wb-muted">· ${describeDistance(l.meters)}</small>` : ''}</h3>
  <p class="wb-muted">${l.hall.address}</p>
  <p>${l.status}${l.remaining > 0 ? html`<span class="wb-ok">，今天还可预约 ${l.remaining} 个</span>` : ''}</p>
</a>`,
)}`;
}

export function hallBody(o: { hall: Hall; status: string; meters: number | null; remaining: number; closures: string[]; services: { id: string; name: string; bookable: boolean }[]; calendar: WorkingCalendar }): SafeHtml {
  const h = o.hall;
  const map = `https://uri.amap.com/marker?position=${h.location.longitude},${h.location.latitude}&name=${encodeURIComponent(h.name)}&coordinate=gaode&callnative=1`;
  return html`
<section class="wb-card">
  <h3>${h.name}${o.meters !== null ? html` <small class="wb-muted">· 离您${describeDistance(o.meters)}</small>` : ''}</h3>
  <p>${o.status}${o.remaining > 0 ? html`<span class="wb-ok">，今天还可预约 ${o.remaining} 个</span>` : ''}</p>
  <dl class="wb-kv">
    <dt>地址</dt><dd>${h.address}</dd>
    ${h.transport ? html`<dt>交通</dt><dd>${h.transport}</dd>` : ''}
    <dt>电话</dt><dd><a href="tel:${h.phone.replace(/[^\d-]/g, '')}">${h.phone}</a></dd>
    <dt>开放</dt><dd>${weeklyHours(h)}</dd>
  </dl>
  ${o.closures.length ? html`<p class="wb-warn">${o.closures.join('；')}</p>` : ''}
</section>
<div class="wb-actions">
  <a class="weui-btn weui-btn_primary" href="${map}" data-open-location data-lat="${h.location.latitude}" data-lng="${h.location.longitude}" data-name="${h.name}" data-address="${h.address}">导航去这里</a>
  <a class="weui-btn weui-btn_default" href="tel:${h.phone.replace(/[^\d-]/g, '')}">打电话</a>
</div>
<section class="wb-section"><h2>这里可以办</h2>
<div class="weui-cells">${o.services.map(
    (s) => html`<a class="weui-cell weui-cell_access" href="${s.bookable ? `/h5/book/${s.id}?hall=${h.id}` : `/h5/guide/${s.id}`}"><div class="weui-cell__bd"><p>${s.name}</p></div><div class="weui-cell__ft">${s.bookable ? '预约' : '指南'}</div></a>`,
  )}</div></section>`;
}
