import type { MessageRow } from '../../chat/log.ts';
import { maskName, maskPhone, maskText } from '../../platform/pii.ts';
import type { CitizenFacts } from '../../capability.ts';
import type { Category, Department } from '../../profile/staff.ts';
import { html, safeUrl, type HtmlValue, type SafeHtml } from '../../web/html.ts';
import { dueRuleWords, URGENCY_NAMES, type Urgency } from '../../inbox/due.ts';
import type { Conversation, DeliveryState, InboxItem, ReplyDelivery } from '../../inbox/queries.ts';
import type { AuditRow } from '../audit.ts';
import { AUDIT_ACTIONS } from '../audit.ts';
import { ROLE_NAMES, VIEW_NAMES, type InboxView } from '../../policies/index.ts';
import { csrfField, page, type PageContext } from './layout.ts';

/** Times as staff read them (China time). */
export interface Fmt {
  now: number;
  /** 2026-11-23 10:05 */
  at(ms: number): string;
  /** 今天 10:05 / 11月20日 10:05 */
  short(ms: number): string;
  /** 2 小时 15 分 */
  span(ms: number): string;
}

const cut = (s: string, n: number) => {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  return chars.length <= n ? chars.join('') : `${chars.slice(0, n - 1).join('')}…`;
};

/** The openid as staff see it: enough to tell citizens apart, not the whole identifier. */
export function citizenLabel(openid: string): string {
  return openid.length <= 10 ? openid : `${openid.slice(0, 6)}…${openid.slice(-4)}`;
}

/**
 * Who the citizen is, as staff may see it: a name they gave and their phone, masked (张*, 138****5678);
 * without either, a short form of their openid.
 */
export function citizenWho(c: CitizenFacts, openid: string): string {
  const parts = [c.name ? maskName(c.name) : null, c.phone ? maskPhone(c.phone) : null].filter(Boolean);
  return parts.length ? parts.join(' · ') : `微信用户 ${citizenLabel(openid)}`;
}

const REASONS: Record<string, string> = { requested: '要求人工', unanswered: '机器人答不上', dialog: '留言咨询' };

function urgencyPill(u: Urgency, due: number | null, f: Fmt): SafeHtml {
  if (u === 'overdue' && due !== null) return html`<span class="pill pill-overdue">已超时 ${f.span(f.now - due)}</span>`;
  if (u === 'near' && due !== null) return html`<span class="pill pill-near">还剩 ${f.span(due - f.now)}</span>`;
  return html`<span class="pill pill-${u}">${URGENCY_NAMES[u]}</span>`;
}

// ---- the list ---------------------------------------------------------------------------------

export interface ListModel {
  view: InboxView;
  views: InboxView[];
  counts: Partial<Record<InboxView, number>>;
  items: InboxItem[];
  more: boolean;
  departmentName(id: string | null): string;
  categoryName(id: string | null): string;
}

export function inboxList(m: ListModel, f: Fmt): SafeHtml {
  if (m.items.length === 0) return html`<p class="empty">${EMPTY[m.view]}</p>`;
  return html`<table class="items">
    <thead><tr><th>状态</th><th>问题</th><th>部门 · 分类</th><th>办理人</th><th>收到</th><th>应首次答复</th></tr></thead>
    <tbody>
    ${m.items.map(
      (it) => html`<tr class="u-${it.urgency}${it.h.escalatedAt !== null && it.h.status === 'open' ? ' esc' : ''}" data-id="${it.h.id}">
        <td class="st">${it.h.urgent && it.h.status === 'open' ? html`<span class="pill pill-overdue">紧急</span>` : null}${urgencyPill(it.urgency, it.h.dueAt, f)}${it.h.escalatedAt !== null && it.h.status === 'open' ? html`<span class="pill pill-esc" title="${it.escalatedTo ? `督办人：${it.escalatedTo.name}` : '督办'}">督办</span>` : null}${it.deliveryFailed ? html`<span class="pill pill-failed">发送失败</span>` : null}${it.h.citizenLeftAt !== null && it.h.status === 'open' ? html`<span class="pill pill-left" title="市民已回到自动服务，问题仍待答复">市民已离开</span>` : null}</td>
        <td class="q">
          <a href="/admin/inbox/${it.h.id}">${it.waitingForUs ? html`<i class="dot" title="市民有新消息"></i>` : null}<span class="num">#${it.h.id}</span> ${cut(maskText(it.h.question), 60)}</a>
          ${it.lastIn ? html`<div class="last">最新：${cut(maskText(it.lastIn.content), 40)} · ${f.short(it.lastIn.at)}</div>` : null}
        </td>
        <td>${m.departmentName(it.h.department)}<div class="muted small">${m.categoryName(it.h.category)} · ${REASONS[it.h.reason] ?? it.h.reason}</div></td>
        <td>${it.assignee ? it.assignee.name : html`<span class="muted">待领取</span>`}</td>
        <td>${f.short(it.h.createdAt)}</td>
        <td>${it.h.dueAt !== null ? f.short(it.h.dueAt) : '—'}${it.h.firstRepliedAt !== null ? html`<div class="muted small">已于 ${f.short(it.h.firstRepliedAt)} 答复</div>` : null}</td>
      </tr>`,
    )}
    </tbody>
  </table>
  ${m.more ? html`<p class="more"><a href="/admin/inbox?view=${m.view}&amp;before=${m.items.at(-1)!.h.id}">更早的会话 →</a></p>` : null}`;
}

const EMPTY: Record<InboxView, string> = {
  waiting: '没有待领取的会话。新的会话会自动出现在这里。',
  mine: '您手上没有未办结的会话。',
  department: '本部门没有未办结的会话。',
  escalated: '没有督办中的会话。',
  all: '还没有会话。',
};

export function inboxPage(c: PageContext, m: ListModel, f: Fmt, pulse: string): SafeHtml {
  const src = `/admin/inbox/fragment?view=${m.view}`;
  return page(c, {
    title: `收件箱 · ${VIEW_NAMES[m.view]}`,
    section: 'inbox',
    live: { kind: 'list', src, pulse },
    body: html`<div class="inbox">
      <nav class="tabs" aria-label="会话分类">
        ${m.views.map(
          (v) => html`<a href="/admin/inbox?view=${v}" class="${v === m.view ? 'on' : ''}">${VIEW_NAMES[v]}${m.counts[v] ? html`<em class="badge${v === 'escalated' ? ' badge-red' : ''}">${m.counts[v]}</em>` : null}</a>`,
        )}
      </nav>
      <section class="list card" id="live" aria-live="polite">${inboxList(m, f)}</section>
    </div>`,
  });
}

// ---- one conversation -------------------------------------------------------------------------

export interface ConversationModel {
  conv: Conversation;
  departments: Department[];
  categories: Category[];
  departmentName(id: string | null): string;
  categoryName(id: string | null): string;
  /** Activity on this conversation (newest first), from the audit log. */
  timeline: AuditRow[];
  /** Messages shown in full this time (after 显示完整), by id; 'question' for the question. */
  revealed: Map<number | 'question', string>;
  /** The 48-hour window: ms left, or null when closed (or the citizen unfollowed). */
  windowLeft: number | null;
  audience: string | null;
  ratingLabel(level: number): string;
  canned: { title: string; text: string }[];
  nonce: string;
  fmt: Fmt;
  /** A name and phone the citizen gave, and their matters (bookings, cases). */
  citizen: CitizenFacts;
  /** A colleague's name for the username the audit log records. */
  staffName(username: string): string;
  /** What answered a message, in words (the log's ref is a code). */
  refWords(ref: string): string;
  /** A menu button's name for its click key. */
  buttonName(key: string): string | undefined;
}

const DELIVERY: Record<DeliveryState, string> = { queued: '排队中', sending: '发送中', retrying: '重试中', sent: '已送达', failed: '发送失败' };

function revealButton(c: PageContext, id: number, what: string): SafeHtml {
  return html`<form method="post" action="/admin/inbox/${id}/reveal" class="inline reveal" data-reveal>${csrfField(c)}<input type="hidden" name="what" value="${what}"><button type="submit" class="link small" title="显示完整内容（将记入审计日志）">显示完整</button></form>`;
}

/** A staff answer (or the rating question) of a conversation carries the ref handoff:<id>[:rating]. */
const STAFF_REF = /^handoff:(\d+)(:rating)?$/;

function messageLabel(m: MessageRow, handoffId: number): string {
  if (m.direction === 'in') return '市民';
  const staff = m.ref ? STAFF_REF.exec(m.ref) : null;
  if (staff) {
    if (staff[2]) return '评价邀请';
    const via = m.channel === 'template' ? '模板消息' : '客服消息';
    return Number(staff[1]) === handoffId ? `工作人员 · ${via}` : `工作人员（会话 #${staff[1]}）· ${via}`;
  }
  return m.channel === 'template' ? '模板消息' : '自动回复';
}

/**
 * The account's own text as WeChat shows it: its <a href> links become links (http and our own
 * pages) or plain labels (weixin:// tappable choices); everything else is text, masked.
 * Only for outbound messages — a citizen's "<a …>" is shown as they typed it.
 */
function accountText(s: string): HtmlValue[] {
  const out: HtmlValue[] = [];
  let last = 0;
  for (const m of s.matchAll(/<a\s+href="([^"]*)"\s*>([\s\S]*?)<\/a>/g)) {
    out.push(maskText(s.slice(last, m.index)));
    const url = m[1]!;
    const label = maskText(m[2]!);
    out.push(/^weixin:/i.test(url) ? html`<span class="wx-choice" title="微信里可点选">${label}</span>` : html`<a href="${safeUrl(url)}" target="_blank" rel="noopener noreferrer">${label}</a>`);
    last = m.index + m[0].length;
  }
  out.push(maskText(s.slice(last)));
  return out;
}

function bubble(c: PageContext, m: MessageRow, model: ConversationModel): SafeHtml {
  const h = model.conv.h;
  const full = model.revealed.get(m.id);
  const masked = maskText(m.content);
  const staff = m.direction === 'out' && !!m.ref && STAFF_REF.test(m.ref);
  const payload = m.direction === 'in' && m.kind === 'image' && m.payload ? (JSON.parse(m.payload) as { picUrl?: string }) : null;
  // A menu tap is logged as "[菜单] <click key>": staff read the button's name.
  const tap = m.direction === 'in' && m.kind === 'click' ? /^\[菜单\] (.+)$/.exec(m.content) : null;
  const shown = tap ? `[菜单] ${model.buttonName(tap[1]!) ?? '菜单按钮'}` : masked;
  return html`<li class="msg ${m.direction}${staff ? ' staff' : ''}" id="m-${m.id}">
    <div class="bubble" data-msg="${m.id}">${full ?? (m.direction === 'out' ? accountText(m.content) : shown)}${payload?.picUrl ? html` <a href="${safeUrl(payload.picUrl)}" target="_blank" rel="noopener noreferrer">打开图片</a>` : null}</div>
    <div class="meta">${messageLabel(m, h.id)} · ${model.fmt.short(m.createdAt)}${m.direction === 'out' && m.ref && !staff ? html` · <span class="ref">${model.refWords(m.ref)}</span>` : null}${full === undefined && masked !== m.content && model.conv.can.unmask ? html` · ${revealButton(c, h.id, String(m.id))}` : null}</div>
  </li>`;
}

/** The parts of the conversation page that change by themselves (refetched on live updates). */
export function conversationParts(c: PageContext, model: ConversationModel): { main: SafeHtml; side: SafeHtml } {
  const { conv, fmt: f } = model;
  const h = conv.h;
  const question = model.revealed.get('question');
  const maskedQ = maskText(h.question);
  const category = model.categories.find((x) => x.id === h.category);
  // Where this conversation began in the citizen's history: the message that asked (or, failing
  // that, the first one after the handoff).
  let startAt = -1;
  conv.history.forEach((m, i) => {
    if (m.direction === 'in' && m.createdAt <= h.createdAt && m.content.trim() === h.question.trim()) startAt = i;
  });
  if (startAt < 0) startAt = conv.history.findIndex((m) => m.createdAt > h.createdAt);
  const items: HtmlValue[] = conv.history.map((m, i) => [
    i === startAt ? html`<li class="divider"><span>#${h.id} 转人工 · ${REASONS[h.reason] ?? h.reason} · ${f.short(h.createdAt)}</span></li>` : null,
    bubble(c, m, model),
  ]);
  const main = html`<div class="conv-head">
      <h1><span class="num">#${h.id}</span> <span class="q" data-msg="question">${question ?? maskedQ}</span>${question === undefined && maskedQ !== h.question && conv.can.unmask ? revealButton(c, h.id, 'question') : null}</h1>
      <div class="pills">${h.urgent && h.status === 'open' ? html`<span class="pill pill-overdue">紧急</span>` : null}${urgencyPill(conv.urgency, h.dueAt, f)}${h.escalatedAt !== null && h.status === 'open' ? html`<span class="pill pill-esc">督办${conv.escalatedTo ? html` · ${conv.escalatedTo.name}` : null}</span>` : null}<span class="pill">${model.departmentName(h.department)}</span><span class="pill">${model.categoryName(h.category)}</span></div>
      <dl class="facts">
        <div><dt>市民</dt><dd>${citizenWho(model.citizen, h.openid)}${model.audience ? html` · ${model.audience}` : null}</dd></div>
        ${model.citizen.items.length ? html`<div class="wide"><dt>TA 的事项</dt><dd><ul class="matters">${model.citizen.items.slice(0, 6).map((x) => html`<li><span class="pill">${x.kind}</span><a href="${x.href}">${x.label}</a></li>`)}</ul></dd></div>` : null}
        <div><dt>收到</dt><dd>${f.at(h.createdAt)} · ${REASONS[h.reason] ?? h.reason}</dd></div>
        <div><dt>应首次答复</dt><dd>${h.dueAt !== null ? f.at(h.dueAt) : '—'}${category ? html` <span class="muted">（${dueRuleWords(category)}）</span>` : null}</dd></div>
        <div><dt>首次答复</dt><dd>${h.firstRepliedAt !== null ? html`${f.at(h.firstRepliedAt)}${h.dueAt !== null && h.firstRepliedAt > h.dueAt ? html` <span class="pill pill-overdue">超时答复</span>` : null}` : '尚未答复'}</dd></div>
        <div><dt>办理人</dt><dd>${conv.assignee ? html`${conv.assignee.name} <span class="muted">（${ROLE_NAMES[conv.assignee.role]}）</span>` : '待领取'}</dd></div>
        ${h.citizenLeftAt !== null && h.status === 'open' ? html`<div><dt>市民</dt><dd><span class="pill pill-left">已离开</span> ${f.at(h.citizenLeftAt)} 回到自动服务，问题仍待答复；答复照常发给市民</dd></div>` : null}
        ${h.status === 'closed' ? null : html`<div><dt>客服窗口</dt><dd>${model.windowLeft !== null ? html`还剩 ${f.span(model.windowLeft)}，回复以客服消息送达` : html`<span class="warn-text">已关闭</span>，回复将以模板消息送达，附回复页链接`}</dd></div>`}
        ${h.status === 'closed' ? html`<div><dt>办结</dt><dd>${h.closedAt !== null ? f.at(h.closedAt) : ''}${h.closedBy === 'citizen' ? '（市民结束了人工服务）' : ''}</dd></div>` : null}
        ${h.rating !== null ? html`<div><dt>评价</dt><dd class="rating r${h.rating}">${'★'.repeat(h.rating)}${'☆'.repeat(5 - h.rating)} ${model.ratingLabel(h.rating)}</dd></div>` : null}
      </dl>
    </div>
    <ol class="history" tabindex="0" aria-label="对话记录">${items}</ol>
    ${conv.replies.length ? deliveries(c, conv.replies, h.id, conv.can.retry_delivery, f) : null}`;
  const side = html`${actions(c, model)}
    <section class="card timeline">
      <h2>办理记录</h2>
      ${model.timeline.length
        ? html`<ol>${model.timeline.map((e) => html`<li><b>${AUDIT_ACTIONS[e.action] ?? e.action}</b> · ${e.actor === 'system' ? '系统' : e.actor === 'citizen' ? '市民' : model.staffName(e.actor)}<div class="muted small">${f.short(e.at)}</div>${e.detail ? html`<div class="detail">${e.detail}</div>` : null}</li>`)}</ol>`
        : html`<p class="muted">还没有办理记录。</p>`}
    </section>`;
  return { main, side };
}

function deliveries(c: PageContext, list: ReplyDelivery[], id: number, canRetry: boolean, f: Fmt): SafeHtml {
  return html`<section class="deliveries">
    <h2>回复与送达</h2>
    <table>
      <thead><tr><th>回复</th><th>工作人员</th><th>送达</th></tr></thead>
      <tbody>${list.map(
        (d) => html`<tr class="d-${d.state}">
          <td>
            ${d.reply.kind === 'image' && d.reply.imageId !== null ? html`<img class="thumb" src="/admin/inbox/${id}/images/${d.reply.imageId}" alt="回复的图片">` : null}
            ${d.reply.kind === 'image' ? '[图片] ' : d.reply.kind === 'link' ? '[链接] ' : ''}${cut(maskText(d.reply.body), 50)}${d.reply.kind === 'link' && d.reply.linkUrl ? html` <a href="${safeUrl(d.reply.linkUrl)}" target="_blank" rel="noopener noreferrer">${d.reply.linkTitle ?? d.reply.linkUrl}</a>` : null}
            <div class="muted small">${f.short(d.reply.createdAt)}</div>
          </td>
          <td>${d.author?.name ?? '—'}</td>
          <td><span class="pill pill-d-${d.state}">${DELIVERY[d.state]}</span>${d.channel ? html` <span class="muted small">${d.channel === 'template' ? '模板消息' : '客服消息'}</span>` : null}${d.state === 'retrying' || d.state === 'failed' ? html`<div class="small error-text">第 ${d.attempts} 次尝试：${d.lastError ?? ''}</div>` : null}${d.state === 'failed' && canRetry ? html`<form method="post" action="/admin/inbox/${id}/retry" class="inline">${csrfField(c)}<input type="hidden" name="reply" value="${d.reply.id}"><button type="submit" class="small">重新发送</button></form>` : null}</td>
        </tr>`,
      )}</tbody>
    </table>
  </section>`;
}

function actions(c: PageContext, model: ConversationModel): SafeHtml {
  const { conv } = model;
  const h = conv.h;
  const can = conv.can;
  const form = (action: string, body: HtmlValue, cls = '') => html`<form method="post" action="/admin/inbox/${h.id}/${action}" class="act ${cls}">${csrfField(c)}${body}</form>`;
  if (h.status === 'closed') return html`<section class="card actions"><h2>办理</h2><p>会话已办结${h.closedBy === 'citizen' ? '（市民结束了人工服务）' : ''}。</p></section>`;
  const any = can.claim || can.assign || can.classify || can.transfer || can.escalate || can.close;
  return html`<section class="card actions">
    <h2>办理</h2>
    ${can.claim ? form('claim', html`<button type="submit" class="primary wide">领取这个会话</button>`) : null}
    ${can.assign
      ? form(
          'assign',
          html`<label>指派给<select name="staff" required>${conv.colleagues.map((s) => html`<option value="${s.id}"${s.id === h.assigneeId ? html` selected` : null}>${s.name}（${ROLE_NAMES[s.role]}）</option>`)}</select></label><button type="submit">指派</button>`,
        )
      : null}
    ${can.classify
      ? form(
          'classify',
          html`<label>分类<select name="category">${model.categories.map((x) => html`<option value="${x.id}"${x.id === h.category ? html` selected` : null}>${x.name}（${dueRuleWords(x)}）</option>`)}</select></label><button type="submit">保存分类</button>`,
        )
      : null}
    ${can.transfer
      ? form(
          'transfer',
          html`<label>转办到<select name="department">${model.departments
            .filter((d) => d.id !== h.department)
            .map((d) => html`<option value="${d.id}">${d.name}${d.description ? html` — ${d.description}` : null}</option>`)}</select></label><label>转办说明<input name="note" maxlength="500" placeholder="选填，接收部门可见"></label><button type="submit">转办</button>`,
        )
      : null}
    ${can.escalate ? form('escalate', html`<label>上报说明<input name="note" maxlength="300" placeholder="选填"></label><button type="submit">上报负责人督办</button>`) : null}
    ${can.close ? form('close', html`<button type="submit" class="wide" data-confirm="办结后，会话交还机器人，并邀请市民评价。确定办结？">办结并邀请评价</button>`, 'close') : null}
    ${any ? null : html`<p class="muted">这个会话由${conv.assignee ? conv.assignee.name : '其他同事'}办理。</p>`}
  </section>`;
}

function composer(c: PageContext, model: ConversationModel): SafeHtml {
  const h = model.conv.h;
  return html`<form class="card composer" method="post" action="/admin/inbox/${h.id}/reply" data-composer>
    ${csrfField(c)}
    <input type="hidden" name="nonce" value="${model.nonce}">
    ${model.canned.length ? html`<div class="canned"><span class="muted small">常用语</span>${model.canned.map((x) => html`<button type="button" class="chip" data-canned="${x.text}" title="${x.text}">${x.title}</button>`)}</div>` : null}
    <div class="kinds" role="radiogroup" aria-label="回复类型">
      <label><input type="radio" name="kind" value="text" checked> 文字</label>
      <label><input type="radio" name="kind" value="link"> 链接</label>
      <label><input type="radio" name="kind" value="image"> 图片</label>
    </div>
    <textarea name="text" rows="3" maxlength="2000" placeholder="输入回复，市民会在微信里收到（链接、图片可附说明）"></textarea>
    <div class="kind-link" data-kind="link">
      <input name="link_url" type="url" maxlength="1000" placeholder="https://…">
      <input name="link_title" maxlength="64" placeholder="链接标题，例如：办事指南">
    </div>
    <div class="kind-image" data-kind="image">
      <input type="file" accept="image/png,image/jpeg,image/gif,image/webp" data-image-into="image_data">
      <input type="hidden" name="image_data">
      <img class="preview" alt="" hidden>
      <span class="muted small">PNG、JPEG、GIF 或 WebP，不超过 2 MB</span>
    </div>
    <div class="send-row">
      <span class="muted small">${model.windowLeft !== null ? '48 小时客服窗口内，以客服消息送达。' : '已超过 48 小时客服窗口，将以模板消息送达，市民点开查看回复。'}</span>
      <button type="submit" class="primary">发送回复</button>
    </div>
  </form>`;
}

export function conversationPage(c: PageContext, model: ConversationModel, pulse: string): SafeHtml {
  const parts = conversationParts(c, model);
  const h = model.conv.h;
  return page(c, {
    title: `会话 #${h.id}`,
    section: 'inbox',
    live: { kind: 'conversation', src: `/admin/inbox/${h.id}/fragment`, pulse },
    body: html`<p class="crumbs"><a href="/admin/inbox">← 收件箱</a></p>
    <div class="conv">
      <div class="conv-main">
        <div class="card" id="live" data-part="main" aria-live="polite">${parts.main}</div>
        ${model.conv.can.reply ? composer(c, model) : null}
      </div>
      <aside class="conv-side" id="live-side" data-part="side">${parts.side}</aside>
    </div>`,
  });
}
