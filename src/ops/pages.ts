import { SPEED_NAMES, SPEEDS } from '../inbox/due.ts';
import type { Fmt } from '../admin/pages/inbox.ts';
import { csrfField, page, type PageContext } from '../admin/pages/layout.ts';
import { parseChinaTime } from '../profile/validity.ts';
import { CONTENT_KINDS, FIELDS, HAS_VALIDITY, KIND_NAMES, MAX_LIST_ITEMS, type ContentEditRow, type ContentItem, type ContentKind, type ContentList } from './content.ts';
import { groupedBars, shareBar } from '../admin/chart.ts';
import { maskText } from '../platform/pii.ts';
import { html, type HtmlValue, type SafeHtml } from '../web/html.ts';
import { VERDICT_NAMES, type CheckResult } from './check.ts';
import { pct, type DueItem, type SatisfactionRow, type SpeedRow } from './figures.ts';
import type { SatisfactionView, SpeedView, UsageView } from './index.ts';
import { ACTION_NAMES, CHANNEL_NAMES, USE_CHANNELS, type UseAction } from './sources.ts';

const SPEED_COLORS = { instant: '#1e8e3e', same_day: '#5bb974', next_day: '#f9ab00', later: '#e8710a', none: '#d93025' } as const;

export type OpsTab = 'usage' | 'speed' | 'satisfaction' | 'content' | 'check';
const TABS: [OpsTab, string, string][] = [
  ['usage', '事项使用', '/admin/ops'],
  ['speed', '答复时效', '/admin/ops/speed'],
  ['satisfaction', '好差评', '/admin/ops/satisfaction'],
  ['content', '内容维护', '/admin/ops/content'],
  ['check', '体检', '/admin/ops/check'],
];

const SOURCE_NAMES: Record<string, string> = { conversation: '会话', ticket: '工单', case: '办件', booking: '预约' };

export function opsPage(c: PageContext, tab: OpsTab, title: string, body: HtmlValue, tools?: HtmlValue): SafeHtml {
  return page(c, {
    title,
    section: 'ops',
    body: html`<nav class="tabs ops-tabs">${TABS.map(([t, label, href]) => html`<a href="${href}" class="${t === tab ? 'on' : ''}">${label}</a>`)}</nav>
      <h1 class="page-title">${title} ${tools ?? null}</h1>
      ${body}`,
  });
}

const exports = (base: string, query: string) =>
  html`<small class="exports"><a href="${base}.csv${query}">导出 CSV</a> · <a href="${base}.xlsx${query}">导出 Excel</a></small>`;

function periodForm(action: string, name: 'weeks' | 'days', value: number, options: [number, string][]): SafeHtml {
  return html`<form class="filters" method="get" action="${action}"><label>时间段 <select name="${name}" data-autosubmit>${options.map(([v, l]) => html`<option value="${v}" ${v === value ? 'selected' : ''}>${l}</option>`)}</select></label><button class="small">查看</button></form>`;
}

// ---- use per item ----------------------------------------------------------------------------

export function usagePage(c: PageContext, v: UsageView, weeksBack: number, f: Fmt): SafeHtml {
  const r = v.ranking;
  const top = r.rows.slice(0, 15);
  const audiences = (x: Record<string, number>) =>
    Object.entries(x)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k || '未选'} ${n}`)
      .join('，');
  const trendKeys = [...v.trend.keys()].filter((k) => k !== '').slice(0, 5);
  const colors = ['#1a73e8', '#e8710a', '#1e8e3e', '#9334e6', '#d93025'];
  const body = html`
    ${periodForm('/admin/ops', 'weeks', weeksBack, [[1, '本周'], [4, '近 4 周'], [8, '近 8 周'], [13, '近 13 周（一季度）']])}
    <section class="card figures">
      <h2>一句话</h2>
      <p class="lead">${f.at(v.period.from).slice(0, 10)} 至今共 <b>${r.total}</b> 次使用，涉及 <b>${r.rows.length}</b> 个事项；
      其中前 <b>${r.headItems}</b> 个事项（占用到事项的 ${pct(r.headShareOfItems)}）就占了八成使用${r.rows.length ? html`，用得最多的是${r.rows.slice(0, 3).map((x, i) => html`${i ? '、' : ''}<b>${x.name}</b>（${x.uses} 次）`)}` : null}。
      ${v.unused.length ? html`有 <b>${v.unused.length}</b> 个在用事项没有人用过。` : null}</p>
      <p class="muted small">来源：${v.sources.map((s) => `${({ conversation: '对话记录', bookings: '预约', cases: '办件', tickets: '诉求', payments: '缴费', pages: '页面' } as Record<string, string>)[s.name] ?? s.name} ${s.uses}`).join('，')}。每次使用都来自各业务自己的记录（对话记录里的答复、预约、申请、缴费、诉求），不另外计数。</p>
    </section>
    <section class="card">
      <h2>使用排行与累计占比 ${exports('/admin/ops/usage', `?weeks=${weeksBack}`)}</h2>
      ${r.rows.length ? paretoChart(top.map((x) => ({ label: x.name, value: x.uses, cumulative: x.cumulative })), '事项使用次数与累计占比（二八曲线）') : html`<p class="empty">这段时间还没有使用记录。</p>`}
      <table class="items ops-table"><thead><tr><th>#</th><th>事项</th><th class="num">次数</th><th class="num">人数</th><th class="num">占比</th><th class="num">累计</th>${USE_CHANNELS.map((ch) => html`<th class="num">${CHANNEL_NAMES[ch]}</th>`)}<th>方式</th><th>人群</th></tr></thead>
      <tbody>${r.rows.map(
        (x, i) => html`<tr class="${x.head ? 'head' : ''}"><td>${i + 1}</td><td>${x.name}${x.kind === 'faq' ? html` <small class="muted">问答</small>` : null}${x.head ? html` <span class="pill pill-ok" title="占八成使用的少数事项">常用</span>` : null}</td><td class="num">${x.uses}</td><td class="num">${x.users}</td><td class="num">${pct(x.share)}</td><td class="num">${pct(x.cumulative)}</td>${USE_CHANNELS.map((ch) => html`<td class="num">${x.byChannel[ch]}</td>`)}<td class="small">${Object.entries(x.byAction)
          .map(([a, n]) => `${ACTION_NAMES[a as UseAction]} ${n}`)
          .join('，')}</td><td class="small">${audiences(x.byAudience)}</td></tr>`,
      )}</tbody></table>
    </section>
    <section class="card">
      <h2>按周趋势</h2>
      ${groupedBars({
        title: '按周的使用次数',
        labels: v.weeks.map((w) => w.label),
        series: [{ name: '全部事项', color: '#8ab4f8', values: v.trend.get('') ?? [] }, ...trendKeys.map((k, i) => ({ name: cut(r.rows.find((x) => x.key === k)?.name ?? k, 8), color: colors[i]!, values: v.trend.get(k) ?? [] }))],
      })}
      <p class="muted small">每周从周一算起（北京时间），本周到此刻为止。图中列出全部事项和前 ${trendKeys.length} 个常用事项。</p>
    </section>
    <div class="grid2">
      <section class="card">
        <h2>菜单调整建议</h2>
        ${v.suggestions.length
          ? html`<ul class="suggestions">${v.suggestions.map((s) => html`<li><span class="pill ${s.kind === 'up' ? 'pill-ok' : 'pill-near'}">${s.kind === 'up' ? '建议上移' : '建议移出'}</span> <b>${s.name}</b><div class="muted small">${s.reason}</div></li>`)}</ul>`
          : html`<p class="muted">菜单和使用情况相符，暂无建议。</p>`}
        <details><summary class="small">菜单各项点击次数</summary><table class="items"><tbody>${v.menu.map((m) => html`<tr><td>${m.parent} › ${m.name}</td><td class="num">${m.taps}</td></tr>`)}</tbody></table></details>
      </section>
      <section class="card">
        <h2>没有人用过的事项 <small class="muted">${v.unused.length} 个</small></h2>
        ${v.unused.length ? html`<ul class="plain cols">${v.unused.map((i) => html`<li>${i.name}${i.kind === 'faq' ? html` <small class="muted">问答</small>` : null}</li>`)}</ul>` : html`<p class="muted">每个在用事项都有人用过。</p>`}
        <p class="muted small">只列有效期内、市民能找到的事项。长期没人用的：检查名称和关键词是否是市民的说法，或考虑下线。</p>
      </section>
    </div>`;
  return opsPage(c, 'usage', '事项使用', body);
}

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Bars with a cumulative-share line (the Pareto chart), as inline SVG. */
export function paretoChart(rows: { label: string; value: number; cumulative: number }[], title: string): SafeHtml {
  const W = 1080;
  const H = 300;
  const pad = { left: 44, right: 44, top: 20, bottom: 70 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const bw = plotW / Math.max(1, rows.length);
  const fx = (n: number) => Number(n.toFixed(1));
  const y = (v: number) => pad.top + plotH - (v / max) * plotH;
  const yc = (c: number) => pad.top + plotH - c * plotH;
  const points = rows.map((r, i) => `${fx(pad.left + i * bw + bw / 2)},${fx(yc(r.cumulative))}`).join(' ');
  const desc = rows.map((r) => `${r.label} ${r.value}（累计 ${pct(r.cumulative)}）`).join('；');
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}：${desc}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif">
    <title>${title}</title>
    <line x1="${pad.left}" x2="${W - pad.right}" y1="${fx(yc(0.8))}" y2="${fx(yc(0.8))}" stroke="#d93025" stroke-dasharray="4 4" stroke-width="1"></line>
    <text x="${W - pad.right + 4}" y="${fx(yc(0.8) + 4)}" font-size="11" fill="#d93025">80%</text>
    <text x="${W - pad.right + 4}" y="${fx(yc(1) + 4)}" font-size="11" fill="#888">100%</text>
    <text x="${pad.left - 6}" y="${fx(y(max) + 4)}" font-size="11" fill="#888" text-anchor="end">${max}</text>
    <text x="${pad.left - 6}" y="${fx(y(0) + 4)}" font-size="11" fill="#888" text-anchor="end">0</text>
    <line x1="${pad.left}" x2="${W - pad.right}" y1="${fx(y(0))}" y2="${fx(y(0))}" stroke="#ccc"></line>
    ${rows.map(
      (r, i) => html`<g><rect x="${fx(pad.left + i * bw + bw * 0.15)}" y="${fx(y(r.value))}" width="${fx(bw * 0.7)}" height="${fx(pad.top + plotH - y(r.value))}" rx="2" fill="${r.cumulative <= 0.8 || i === 0 ? '#1a73e8' : '#aecbfa'}"><title>${r.label}：${r.value}，累计 ${pct(r.cumulative)}</title></rect>
      <text x="${fx(pad.left + i * bw + bw / 2)}" y="${fx(y(r.value) - 3)}" font-size="10" fill="#555" text-anchor="middle">${r.value}</text>
      <text x="${fx(pad.left + i * bw + bw / 2)}" y="${H - pad.bottom + 14}" font-size="11" fill="#555" text-anchor="end" transform="rotate(-30 ${fx(pad.left + i * bw + bw / 2)} ${H - pad.bottom + 14})">${cut(r.label, 9)}</text></g>`,
    )}
    <polyline points="${points}" fill="none" stroke="#e8710a" stroke-width="2"></polyline>
    ${rows.map((r, i) => html`<circle cx="${fx(pad.left + i * bw + bw / 2)}" cy="${fx(yc(r.cumulative))}" r="3" fill="#e8710a"><title>累计 ${pct(r.cumulative)}</title></circle>`)}
  </svg>`;
}

// ---- reply speed -----------------------------------------------------------------------------

function speedRows(rows: SpeedRow[], first: string): SafeHtml {
  return html`<table class="items ops-table"><thead><tr><th>${first}</th><th class="num">请求</th>${SPEEDS.map((s) => html`<th class="num">${SPEED_NAMES[s]}</th>`)}<th class="num">简单咨询达标</th><th class="num">复杂事项达标</th><th class="num">达标率</th></tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr class="${r.share !== null && r.share < 0.9 ? 'u-near' : ''}"><td>${r.label}</td><td class="num">${r.requests}</td>${SPEEDS.map((s) => html`<td class="num">${r.speed[s]}</td>`)}<td class="num">${r.byNorm.simple.within}/${r.byNorm.simple.judged}</td><td class="num">${r.byNorm.complex.within}/${r.byNorm.complex.judged}</td><td class="num"><b>${r.share === null ? '—' : pct(r.share)}</b></td></tr>`,
  )}</tbody></table>`;
}

function dueTable(items: DueItem[], f: Fmt, kind: 'overdue' | 'near', names: Map<number, string>, departmentName: (id: string | null) => string): SafeHtml {
  if (!items.length) return html`<p class="muted">${kind === 'overdue' ? '没有超过时限仍未答复的请求。' : '近期没有快到期的请求。'}</p>`;
  return html`<table class="items"><thead><tr><th>类型</th><th>请求</th><th>部门</th><th>经办</th><th>时限</th><th>${kind === 'overdue' ? '已超' : '还剩'}</th></tr></thead><tbody>${items.map(
    (r) => html`<tr class="${kind === 'overdue' ? 'u-overdue' : 'u-near'}"><td>${r.sourceName}</td><td class="q"><a href="${r.link}">${cut(maskText(r.title), 40)}</a></td><td>${departmentName(r.department)}</td><td>${r.staffId === null ? html`<span class="muted">未认领</span>` : (names.get(r.staffId) ?? `#${r.staffId}`)}</td><td>${r.norm === 'simple' ? '24 小时' : '3 个工作日'} · ${f.short(r.deadline)}</td><td><span class="pill ${kind === 'overdue' ? 'pill-overdue' : 'pill-near'}">${f.span(Math.abs(r.deadline - f.now))}</span></td></tr>`,
  )}</tbody></table>`;
}

export function speedPage(c: PageContext, v: SpeedView, days: number, f: Fmt, departmentName: (id: string | null) => string): SafeHtml {
  const t = v.total;
  const worstStaff = v.byStaff.filter((r) => r.key !== '' && r.share !== null && r.share < 0.9).slice(0, 3);
  const body = html`
    ${periodForm('/admin/ops/speed', 'days', days, [[7, '近 7 天'], [30, '近 30 天'], [90, '近 90 天']])}
    <section class="card figures">
      <h2>一句话</h2>
      <p class="lead">近 ${days} 天转给人工的请求 <b>${t.requests}</b> 个，按规范时限答复的占 <b>${t.share === null ? '—' : pct(t.share)}</b>（${t.withinNorm}/${t.judged}）；
      现在 <b class="${v.overdue.length ? 'error-text' : ''}">${v.overdue.length}</b> 个已超时未答复，<b>${v.near.length}</b> 个快到期。
      ${worstStaff.length ? html`达标率不到九成：${worstStaff.map((r, i) => html`${i ? '、' : ''}${r.label}（${pct(r.share!)}）`)}。` : null}
      另有机器人即时答复 ${v.botAnswers} 次。</p>
      <div class="share-narrow">${shareBar({ title: '首次答复速度', parts: SPEEDS.map((s) => ({ name: SPEED_NAMES[s], value: t.speed[s], color: SPEED_COLORS[s] })) })}</div>
      <p class="muted small">规范：简单咨询 24 小时内答复，复杂事项 3 个工作日内首次答复（按节假日和调休日历计）。会话按所属分类判断：以小时计时限的为简单咨询，以工作日计的为复杂事项；办件都按复杂事项；诉求按其类型的办理时限（工作日，含批准的延期）判断首次答复（答复或不予受理）。达标率只算已答复或已过时限的请求。即时：${v.instantMinutes} 分钟内；次日：下一个工作日内。</p>
    </section>
    <section class="card"><h2>已超时未答复 <small class="muted">${v.overdue.length} 个</small> ${exports('/admin/ops/overdue', '')}</h2>${dueTable(v.overdue, f, 'overdue', v.staffNames, departmentName)}</section>
    <section class="card"><h2>快到期 <small class="muted">${v.near.length} 个</small></h2>${dueTable(v.near, f, 'near', v.staffNames, departmentName)}</section>
    <section class="card"><h2>按部门 ${exports('/admin/ops/speed', `?days=${days}`)}</h2>${speedRows(v.byDepartment, '部门')}</section>
    <section class="card"><h2>按工作人员</h2>${speedRows(v.byStaff, '工作人员')}<p class="muted small">按给出首次答复的人统计；还没答复的，算在认领人名下。</p></section>
    <section class="card"><h2>按来源</h2>${speedRows(v.bySource, '来源')}</section>`;
  return opsPage(c, 'speed', '答复时效', body);
}

// ---- satisfaction ----------------------------------------------------------------------------

function satRows(rows: SatisfactionRow[], first: string): SafeHtml {
  if (!rows.length) return html`<p class="muted">还没有评价。</p>`;
  return html`<table class="items ops-table"><thead><tr><th>${first}</th><th class="num">评价</th><th class="num">平均</th><th class="num">满意</th><th class="num">差评</th><th class="num">差评已整改</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr class="${r.poor ? 'u-near' : ''}"><td>${r.label}</td><td class="num">${r.count}</td><td class="num">${r.average ?? '—'}</td><td class="num">${r.count ? pct(r.good / r.count) : '—'}</td><td class="num">${r.poor}</td><td class="num">${r.rectifiable ? `${r.rectified}/${r.rectifiable}` : '—'}</td></tr>`,
  )}</tbody></table>`;
}

export function satisfactionPage(c: PageContext, v: SatisfactionView, days: number, f: Fmt): SafeHtml {
  const t = v.total;
  const body = html`
    ${periodForm('/admin/ops/satisfaction', 'days', days, [[7, '近 7 天'], [30, '近 30 天'], [90, '近 90 天']])}
    <section class="card figures">
      <h2>一句话</h2>
      <p class="lead">近 ${days} 天收到评价 <b>${t.count}</b> 个，平均 <b>${t.average ?? '—'}</b> 分（满分 5），满意 ${t.count ? pct(t.good / t.count) : '—'}，差评 <b>${t.poor}</b> 个${t.rectifiable ? html`，其中 ${t.rectified}/${t.rectifiable} 个已整改完毕` : null}。</p>
      <p class="muted small">满意：4–5 分；差评：1–2 分。每个差评（会话、工单、办件、预约）都有一项整改，经主管审核通过才算整改完毕。意见中的个人信息已打码，评价人不显示。</p>
    </section>
    <div class="grid2">
      <section class="card"><h2>按部门 ${exports('/admin/ops/satisfaction', `?days=${days}`)}</h2>${satRows(v.byDepartment, '部门')}</section>
      <section class="card"><h2>按工作人员</h2>${satRows(v.byStaff, '工作人员')}</section>
      <section class="card"><h2>按事项</h2>${satRows(v.byItem, '事项')}</section>
      <section class="card"><h2>按渠道</h2>${satRows(v.byChannel, '渠道')}</section>
    </div>
    <section class="card"><h2>差评 <small class="muted">${v.poor.length} 个</small></h2>
      ${v.poor.length
        ? html`<table class="items"><thead><tr><th>时间</th><th>评分</th><th>来源</th><th>意见</th><th>整改</th></tr></thead><tbody>${v.poor.map(
            (r) => html`<tr><td>${f.short(r.at)}</td><td>${r.level} 分</td><td><a href="${r.link}">${SOURCE_NAMES[r.source] ?? r.source} #${r.id}</a></td><td>${r.comment ? maskText(r.comment) : html`<span class="muted">（未留言）</span>`}</td><td>${r.rectified === null ? '—' : r.rectified ? '已整改' : html`<span class="pill pill-near">未整改</span>`}</td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">没有差评。</p>`}
    </section>`;
  return opsPage(c, 'satisfaction', '好差评', body);
}

// ---- content staff edit --------------------------------------------------------------------------

export function contentListPage(c: PageContext, kind: ContentKind, items: ContentItem[], f: Fmt, now: number, mayPublish = false): SafeHtml {
  const validity = (i: ContentItem) => {
    const s = i.state;
    if (!s.valid_from && !s.valid_until) return html`<span class="muted">长期</span>`;
    const expired = s.valid_until && now >= parseChinaTime(s.valid_until, true);
    const pending = s.valid_from && now < parseChinaTime(s.valid_from, false);
    return html`${s.valid_from ?? '…'} 至 ${s.valid_until ?? '…'} ${expired ? html`<span class="pill pill-closed">已过期</span>` : pending ? html`<span class="pill pill-near">未生效</span>` : null}`;
  };
  const body = html`
    <nav class="filters">${CONTENT_KINDS.map((k) => html`<a class="${k === kind ? 'pill pill-ok' : 'pill pill-normal'}" href="/admin/ops/content?kind=${k}">${KIND_NAMES[k]}</a>`)}${kind === 'notice' && mayPublish ? html` <a class="button primary small" href="/admin/ops/content/new">发布新公告或政策解读</a>` : null}</nav>
    <section class="card">
      <table class="items"><thead><tr><th>${kind === 'guide' ? '事项' : '标题'}</th><th>位置</th>${HAS_VALIDITY[kind] ? html`<th>有效期</th>` : null}<th>当前版本</th><th></th></tr></thead>
      <tbody>${items.map(
        (i) => html`<tr class="${i.retired ? 'muted' : ''}"><td class="q"><a href="/admin/ops/content/${i.kind}/${i.id}">${i.title}</a>${i.created ? html` <span class="pill pill-normal">后台发布</span>` : null}${i.retired ? html` <span class="pill pill-closed">已撤下</span>` : null}</td><td class="small muted">${i.place}</td>${HAS_VALIDITY[kind] ? html`<td class="small">${validity(i)}</td>` : null}<td class="small">${i.version ? html`第 ${i.version} 版 · ${i.editedBy} · ${f.short(i.editedAt!)}` : html`<span class="muted">配置文件原文</span>`}${i.profileChanged ? html` <span class="pill pill-near" title="修改之后，配置文件里这一条的原文也变了">原文已更新</span>` : null}</td><td><a href="/admin/ops/content/${i.kind}/${i.id}">修改</a></td></tr>`,
      )}</tbody></table>
      <p class="muted small">这里改的内容立即在对话、页面和搜索里生效（所有实例），重启和更新配置文件后仍然保留；公告和政策解读可以在这里发布新的、撤下旧的，其他结构（菜单、导航、事项的增减）仍在配置文件里改。每次修改都记入审计日志，可以回退到任何一版，也可以恢复配置文件原文。</p>
    </section>`;
  return opsPage(c, 'content', '内容维护', body);
}

export function contentEditPage(c: PageContext, o: { item: ContentItem; form: { values: Record<string, string | string[]>; valid_from?: string | undefined; valid_until?: string | undefined; audience?: string[] | undefined }; preview: string; history: ContentEditRow[]; error?: string; f: Fmt; note?: string; audiences?: { id: string; name: string }[]; mayRetire?: boolean }): SafeHtml {
  const { item, form, f } = o;
  const val = (name: string) => {
    const v = form.values[name];
    return Array.isArray(v) ? v.join('\n') : (v ?? '');
  };
  const body = html`
    <p class="crumbs"><a href="/admin/ops/content?kind=${item.kind}">${KIND_NAMES[item.kind]}</a> › ${item.place}</p>
    ${o.error ? html`<div class="flash flash-error">${o.error}</div>` : null}
    ${item.retired ? html`<div class="flash flash-error">这条内容已经撤下，市民在对话和搜索里都看不到了。要重新上线，请在下面的历史版本里回退到撤下之前的一版。</div>` : null}
    ${item.profileChanged ? html`<div class="flash flash-error">修改之后，配置文件里这一条的原文也变了。请对照下面“第 0 版（配置文件原文）”，决定保留修改还是恢复原文。</div>` : null}
    <div class="grid2">
      <section class="card content-edit">
        <h2>修改 <small class="muted">当前第 ${item.version} 版</small></h2>
        <form method="post" action="/admin/ops/content/${item.kind}/${item.id}">
          ${csrfField(c)}
          <input type="hidden" name="base" value="${item.version}">
          ${FIELDS[item.kind].map((fs) => html`<label>${fs.label}${fs.multiline ? html`<textarea name="${fs.name}" maxlength="${fs.list ? 4000 : fs.max}">${val(fs.name)}</textarea>` : html`<input name="${fs.name}" value="${val(fs.name)}" maxlength="${fs.max}">`}</label>`)}
          ${HAS_VALIDITY[item.kind]
            ? html`<div class="grid2"><label>生效时间（可空）<input name="valid_from" value="${form.valid_from ?? ''}" placeholder="2026-12-15 或 2026-12-15T09:00"></label><label>失效时间（可空）<input name="valid_until" value="${form.valid_until ?? ''}" placeholder="2027-01-04"></label></div>`
            : null}
          ${item.created && o.audiences?.length ? audienceBoxes(o.audiences, form.audience ?? []) : null}
          <label>修改说明（可空）<input name="note" maxlength="200" value="${o.note ?? ''}"></label>
          <div class="send-row"><button name="intent" value="preview">预览</button> <button class="primary" name="intent" value="save">保存并立即生效</button></div>
        </form>
      </section>
      <section class="card">
        <h2>市民看到的样子 <small class="muted">手机宽度</small></h2>
        <div class="phone-preview">${o.preview}</div>
        <p class="muted small">对话里的样子；页面上的指南按同样的内容排版。</p>
      </section>
    </div>
    ${item.kind === 'notice' && o.mayRetire && !item.retired
      ? html`<section class="card"><h2>撤下</h2><form method="post" action="/admin/ops/content/notice/${item.id}/retire">${csrfField(c)}<input type="hidden" name="base" value="${item.version}"><label>撤下原因（可空）<input name="note" maxlength="200"></label><div class="send-row"><button class="danger">撤下这条${item.created ? '' : '（配置文件里的原文保留）'}</button></div></form><p class="muted small">撤下后立即从对话的列表、搜索里消失（所有实例）；记入审计日志，随时可以回退到撤下之前的一版重新上线。</p></section>`
      : null}
    <section class="card">
      <h2>历史版本</h2>
      <table class="items"><thead><tr><th>版本</th><th>时间</th><th>修改人</th><th>说明</th><th></th></tr></thead><tbody>
        ${o.history.map(
          (h) => html`<tr><td>第 ${h.version} 版${h.action !== 'edit' ? html` <small class="muted">${ACTION_LABELS[h.action]}</small>` : null}</td><td>${f.at(h.createdAt)}</td><td>${h.staffName}</td><td class="small">${h.note ?? ''}</td><td>${h.version === item.version ? html`<span class="muted small">当前</span>` : rollbackForm(c, item, h.version)}</td></tr>`,
        )}
        ${item.created ? null : html`<tr><td>第 0 版</td><td class="muted">—</td><td class="muted">配置文件原文</td><td></td><td>${item.version === 0 ? html`<span class="muted small">当前</span>` : rollbackForm(c, item, 0)}</td></tr>`}
      </tbody></table>
    </section>`;
  return opsPage(c, 'content', `修改：${item.title.slice(0, 30)}`, body);
}

const ACTION_LABELS: Record<ContentEditRow['action'], string> = { edit: '修改', rollback: '回退', create: '发布', retire: '撤下' };

function audienceBoxes(audiences: { id: string; name: string }[], chosen: string[]): SafeHtml {
  return html`<fieldset class="audience"><legend>给谁看（都不选：所有人）</legend>${audiences.map((a) => html`<label class="check"><input type="checkbox" name="audience-${a.id}" value="1" ${chosen.includes(a.id) ? 'checked' : ''}> ${a.name}</label> `)}</fieldset>`;
}

/** Publishing a new notice or policy interpretation into one of the 政务公开 lists. */
export function contentNewPage(c: PageContext, o: { lists: ContentList[]; audiences: { id: string; name: string }[]; form: Record<string, string>; preview: string | null; error?: string }): SafeHtml {
  const { form } = o;
  const chosen = o.audiences.filter((a) => form[`audience-${a.id}`] === '1').map((a) => a.id);
  const body = html`
    <p class="crumbs"><a href="/admin/ops/content?kind=notice">${KIND_NAMES.notice}</a> › 发布新内容</p>
    ${o.error ? html`<div class="flash flash-error" role="alert">${o.error}</div>` : null}
    <div class="grid2">
      <section class="card content-edit">
        <h2>发布新公告或政策解读</h2>
        <form method="post" action="/admin/ops/content/new">
          ${csrfField(c)}
          <label>栏目<select name="list" required>${o.lists.map((l) => html`<option value="${l.id}" ${form.list === l.id ? 'selected' : ''} ${l.count >= MAX_LIST_ITEMS ? 'disabled' : ''}>${l.place}（${l.count} 项${l.count >= MAX_LIST_ITEMS ? '，已满' : ''}）</option>`)}</select></label>
          ${FIELDS.notice.map((fs) => html`<label>${fs.label}${fs.multiline ? html`<textarea name="${fs.name}" maxlength="${fs.max}" required>${form[fs.name] ?? ''}</textarea>` : html`<input name="${fs.name}" value="${form[fs.name] ?? ''}" maxlength="${fs.max}" required>`}</label>`)}
          <div class="grid2"><label>生效时间（可空）<input name="valid_from" value="${form.valid_from ?? ''}" placeholder="2026-12-15 或 2026-12-15T09:00"></label><label>失效时间（可空）<input name="valid_until" value="${form.valid_until ?? ''}" placeholder="2027-01-04"></label></div>
          ${o.audiences.length ? audienceBoxes(o.audiences, chosen) : null}
          <label>说明（可空）<input name="note" maxlength="200" value="${form.note ?? ''}"></label>
          <div class="send-row"><button name="intent" value="preview">预览</button> <button class="primary" name="intent" value="save">发布并立即生效</button></div>
        </form>
      </section>
      <section class="card">
        <h2>市民看到的样子 <small class="muted">手机宽度</small></h2>
        ${o.preview === null ? html`<p class="muted">填好标题和正文后点“预览”。</p>` : html`<div class="phone-preview">${o.preview}</div>`}
        <p class="muted small">发布后立即出现在对话里这个栏目的列表最前面，搜索也能找到（所有实例）；记入审计日志，可以修改、撤下，也可以回退到任何一版。</p>
      </section>
    </div>`;
  return opsPage(c, 'content', '发布新公告或政策解读', body);
}

function rollbackForm(c: PageContext, item: ContentItem, version: number): SafeHtml {
  return html`<form class="inline" method="post" action="/admin/ops/content/${item.kind}/${item.id}/rollback">${csrfField(c)}<input type="hidden" name="base" value="${item.version}"><input type="hidden" name="version" value="${version}"><button class="small">${version === 0 ? '恢复原文' : '回退到此版'}</button></form>`;
}

// ---- self-check ------------------------------------------------------------------------------------

export function checkPage(c: PageContext, last: { at: number; by: string; results: CheckResult[] } | null, mayRun: boolean, f: Fmt): SafeHtml {
  const findings = last ? last.results.filter((r) => r.verdict === 'finding') : [];
  const vetoes = findings.filter((r) => r.veto);
  const body = html`
    <section class="card figures">
      <h2>对照 2025 年政务新媒体检查评分细则</h2>
      ${last
        ? html`<p class="lead">上次体检：${f.at(last.at)}（${last.by}）。${last.results.length} 项中 <b>${last.results.filter((r) => r.verdict === 'pass').length}</b> 项通过，<b class="${findings.length ? 'error-text' : ''}">${findings.length}</b> 项发现问题${vetoes.length ? html`，其中 <b class="error-text">${vetoes.length}</b> 项属于一票否决` : null}。</p>`
        : html`<p class="lead">还没有体检过。</p>`}
      ${mayRun ? html`<form method="post" action="/admin/ops/check">${csrfField(c)}<button class="primary">现在体检</button> <span class="muted small">会逐个打开所有链接和页面，大约需要半分钟。</span></form>` : html`<p class="muted small">体检由管理员运行；也可以在服务器上运行 <code>npm run check</code>。</p>`}
    </section>
    ${last
      ? html`<section class="card"><ol class="check-list">${last.results.map(
          (r) => html`<li><span class="pill ${r.verdict === 'pass' ? 'pill-ok' : r.verdict === 'finding' ? 'pill-overdue' : 'pill-normal'}">${VERDICT_NAMES[r.verdict]}</span> <b>${r.title}</b>${r.veto ? html` <span class="pill pill-esc">一票否决项</span>` : null}
            <div class="detail">${r.summary}${r.details.length ? html`<ul>${r.details.map((x) => html`<li>${x}</li>`)}</ul>` : null}</div></li>`,
        )}</ol></section>`
      : null}
    <p class="muted small">上线前和每周运行一次。一票否决项：泄露个人信息、内容过期仍可看到、市民留言无人答复。</p>`;
  return opsPage(c, 'check', '体检', body);
}
