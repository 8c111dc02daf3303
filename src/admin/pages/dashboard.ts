import { maskText } from '../../platform/pii.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import { SPEED_NAMES, SPEEDS } from '../../inbox/due.ts';
import type { Dashboard, Figures } from '../../inbox/stats.ts';
import { groupedBars, shareBar } from '../chart.ts';
import { page, type PageContext } from './layout.ts';

const SPEED_COLORS = { instant: '#1e8e3e', same_day: '#5bb974', next_day: '#f9ab00', later: '#e8710a', none: '#d93025' } as const;

function tiles(title: string, f: Figures): SafeHtml {
  const tile = (label: string, value: number | string, cls = '') => html`<div class="tile ${cls}"><span>${label}</span><b>${value}</b></div>`;
  return html`<section class="card figures">
    <h2>${title}</h2>
    <div class="tiles">
      ${tile('收到消息', f.messagesIn)}
      ${tile('转人工', f.handedOff)}
      ${tile('已答复', f.answered, 'good')}
      ${tile('超时', f.overdue, f.overdue ? 'bad' : '')}
      ${tile('满意度', f.ratings.average === null ? '—' : `${f.ratings.average} / 5`, f.ratings.poor ? 'warn' : '')}
    </div>
    <p class="muted small">${f.ratings.count ? `${f.ratings.count} 人评价，其中差评 ${f.ratings.poor} 个。` : '还没有评价。'}超时：应首次答复时间在这段时间内、到时未答复或迟答的会话。</p>
  </section>`;
}

export function dashboardPage(c: PageContext, d: Dashboard, scope: string): SafeHtml {
  const speed = (f: Figures, title: string) => shareBar({ title, parts: SPEEDS.map((s) => ({ name: SPEED_NAMES[s], value: f.speed[s], color: SPEED_COLORS[s] })) });
  return page(c, {
    title: '数据看板',
    section: 'dashboard',
    body: html`<h1 class="page-title">数据看板 <small class="muted">${scope}</small></h1>
    <section class="card figures">
      <h2>现在</h2>
      <div class="tiles"><div class="tile ${d.overdueNow ? 'bad' : ''}"><span>当前超期未办</span><b>${d.overdueNow}</b></div></div>
      <p class="muted small">当前超期未办：仍在办理、应首次答复时间已过却还没有答复的会话，不论何时到期。</p>
    </section>
    <div class="grid2">
      ${tiles('今天', d.today)}
      ${tiles('本周', d.week)}
    </div>
    <section class="card">
      <h2>近 7 天</h2>
      ${groupedBars({
        title: '近 7 天的消息、转人工和答复',
        labels: d.days.map((x) => `${x.label} 周${x.weekday}`),
        series: [
          { name: '收到消息', color: '#8ab4f8', values: d.days.map((x) => x.messagesIn) },
          { name: '转人工', color: '#f29900', values: d.days.map((x) => x.handedOff) },
          { name: '已答复', color: '#1e8e3e', values: d.days.map((x) => x.answered) },
        ],
      })}
    </section>
    <div class="grid2">
      <section class="card"><h2>首次答复速度 · 今天</h2>${speed(d.today, '今天的首次答复速度')}</section>
      <section class="card"><h2>首次答复速度 · 本周</h2>${speed(d.week, '本周的首次答复速度')}</section>
    </div>
    <p class="muted small">即时：收到后很快答复；当天：同一天内；次日：下一个工作日内；更晚：之后；未回复：至今没有答复。按转人工的时间统计。</p>
    <div class="grid2">
      <section class="card">
        <h2>本周最常用的服务事项 <small class="muted">全账号</small></h2>
        ${d.topServices.length
          ? html`<ol class="ranking">${d.topServices.map((s) => html`<li><span>${s.name}${s.kind === 'faq' ? html` <small class="muted">问答</small>` : null}</span><b>${s.count}</b></li>`)}</ol>`
          : html`<p class="muted">本周还没有使用记录。</p>`}
      </section>
      <section class="card">
        <h2>本周最常见的答不上的问题 <small class="muted">全账号</small></h2>
        ${d.topUnanswered.length
          ? html`<ol class="ranking">${d.topUnanswered.map((q) => html`<li><span>${maskText(q.question)}</span><b>${q.count}</b></li>`)}</ol>`
          : html`<p class="muted">本周机器人都答上来了。</p>`}
        <p class="muted small">机器人答不上的问题不属于哪个部门：这里是全账号的，不限于本部门。可以据此补充问答库（faq.yaml）和关键词。</p>
      </section>
    </div>`,
  });
}
