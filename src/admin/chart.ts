import { html, type SafeHtml } from '../web/html.ts';

/**
 * Charts as inline SVG, drawn on the server: no chart library, no script, nothing from a CDN.
 * Only presentation attributes are used (no style attributes), so the panel's CSP can forbid
 * inline styles.
 */

export interface Series {
  name: string;
  color: string;
  values: number[];
}

/** A round upper bound for the axis: 1, 2, 5 × 10^n. */
export function niceMax(v: number): number {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Grouped bars: one group per label, one bar per series, with a value on each bar. */
export function groupedBars(o: { title: string; labels: string[]; series: Series[]; width?: number; height?: number }): SafeHtml {
  const W = o.width ?? 1080;
  const H = o.height ?? 280;
  const pad = { left: 40, right: 12, top: 40, bottom: 34 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const max = niceMax(Math.max(0, ...o.series.flatMap((s) => s.values)));
  const groupW = plotW / Math.max(1, o.labels.length);
  const barW = Math.min(22, (groupW * 0.72) / Math.max(1, o.series.length));
  const y = (v: number) => pad.top + plotH - (v / max) * plotH;
  // niceMax is 5, 10, 20, 50 … : five equal whole steps.
  const ticks = [0, 1, 2, 3, 4, 5].map((i) => (i * max) / 5);
  const fmt = (n: number) => Number(n.toFixed(1));
  const desc = o.labels.map((l, i) => `${l}：${o.series.map((s) => `${s.name} ${s.values[i] ?? 0}`).join('，')}`).join('；');
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${o.title}：${desc}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif">
    <title>${o.title}</title>
    ${o.series.map(
      (s, i) => html`<g transform="translate(${pad.left + i * 110}, 8)"><rect width="12" height="12" rx="2" fill="${s.color}"></rect><text x="18" y="11" font-size="13" fill="#444">${s.name}</text></g>`,
    )}
    ${ticks.map((t) => html`<g><line x1="${pad.left}" x2="${W - pad.right}" y1="${fmt(y(t))}" y2="${fmt(y(t))}" stroke="#e6e8eb" stroke-width="1"></line><text x="${pad.left - 6}" y="${fmt(y(t) + 4)}" font-size="11" fill="#888" text-anchor="end">${t}</text></g>`)}
    ${o.labels.map((label, gi) => {
      const gx = pad.left + gi * groupW + (groupW - barW * o.series.length) / 2;
      return html`<g>
        ${o.series.map((s, si) => {
          const v = s.values[gi] ?? 0;
          const x = gx + si * barW;
          const top = y(v);
          return html`<rect x="${fmt(x + 1)}" y="${fmt(top)}" width="${fmt(barW - 2)}" height="${fmt(pad.top + plotH - top)}" rx="2" fill="${s.color}"><title>${label} ${s.name}：${v}</title></rect>${v > 0 ? html`<text x="${fmt(x + barW / 2)}" y="${fmt(top - 3)}" font-size="10" fill="#555" text-anchor="middle">${v}</text>` : null}`;
        })}
        <text x="${fmt(pad.left + gi * groupW + groupW / 2)}" y="${H - pad.bottom + 16}" font-size="12" fill="#555" text-anchor="middle">${label}</text>
      </g>`;
    })}
  </svg>`;
}

/** One bar split into shares (first-reply speed): each part's width is its share of the total. */
export function shareBar(o: { title: string; parts: { name: string; value: number; color: string }[]; width?: number }): SafeHtml {
  const W = o.width ?? 520;
  const H = 74;
  const total = o.parts.reduce((a, p) => a + p.value, 0);
  const fmt = (n: number) => Number(n.toFixed(1));
  let x = 0;
  const segments = o.parts
    .filter((p) => p.value > 0)
    .map((p) => {
      const w = (p.value / total) * W;
      const seg = html`<rect x="${fmt(x)}" y="0" width="${fmt(w)}" height="30" fill="${p.color}"><title>${p.name}：${p.value}（${Math.round((p.value / total) * 100)}%）</title></rect>${w > 44 ? html`<text x="${fmt(x + w / 2)}" y="20" font-size="12" fill="#fff" text-anchor="middle">${Math.round((p.value / total) * 100)}%</text>` : null}`;
      x += w;
      return seg;
    });
  const desc = o.parts.map((p) => `${p.name} ${p.value}`).join('，');
  return html`<svg class="chart share" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${o.title}：${desc}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif">
    <title>${o.title}</title>
    ${total === 0 ? html`<rect x="0" y="0" width="${W}" height="30" fill="#eef0f2"></rect><text x="${W / 2}" y="20" font-size="12" fill="#888" text-anchor="middle">暂无数据</text>` : segments}
    ${o.parts.map((p, i) => html`<g transform="translate(${i * (W / o.parts.length)}, 48)"><rect width="12" height="12" rx="2" fill="${p.color}"></rect><text x="18" y="11" font-size="13" fill="#444">${p.name} ${p.value}</text></g>`)}
  </svg>`;
}
