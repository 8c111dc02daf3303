import { html, type HtmlValue, type SafeHtml } from '../../web/html.ts';
import { allowed, ROLE_NAMES, views, type StaffActor } from '../../policies/index.ts';
import type { SessionData } from '../sessions.ts';

/** What every signed-in page knows: who, their session's CSRF token, the account's name. */
export interface PageContext {
  actor: StaffActor;
  session: SessionData;
  accountName: string;
  departmentName(id: string | null): string;
  /** Open conversations waiting to be claimed in the actor's scope (the nav badge). */
  waiting: number;
  /** Open escalations in scope (supervisors and administrators). */
  escalated: number;
  /** Unread staff alerts of the actor (the 提醒 badge). */
  alerts: number;
  /** The capabilities' sections the actor may open, in order. */
  nav: PanelNav[];
  /** The notice carried over from the last action. */
  flash?: SessionData['flash'];
}

/** A capability's section in the panel's top bar. */
export interface PanelNav {
  section: string;
  label: string;
  href: string;
  visible(a: StaffActor): boolean;
}

/** The panel's own sections; each capability's section is named by its PanelNav. */
export type Section = 'inbox' | 'dashboard' | 'staff' | 'audit' | 'account' | 'alerts' | (string & {});

export function csrfField(c: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${c.session.csrf}">`;
}

/** A signed-in page: the top bar, the notice, the body. Scripts and styles come from /admin/assets only. */
export function page(c: PageContext, o: { title: string; section: Section; body: HtmlValue; live?: { kind: 'list' | 'conversation'; src: string; pulse: string } }): SafeHtml {
  const a = c.actor;
  const nav = (href: string, label: string, s: Section, badge?: HtmlValue) =>
    html`<a href="${href}" class="${o.section === s ? 'on' : ''}"${o.section === s ? html` aria-current="page"` : null}>${label}${badge ?? null}</a>`;
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${c.session.csrf}">
<title>${o.title} · ${c.accountName} 工作台</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
<script src="/admin/assets/admin.js" defer></script>
</head>
<body${o.live ? html` data-live="${o.live.kind}" data-live-src="${o.live.src}" data-pulse="${o.live.pulse}"` : null}>
<header class="top">
  <a class="brand" href="/admin/inbox"><b>微办</b><span>${c.accountName} · 工作台</span></a>
  <nav>
    ${nav('/admin/inbox', '收件箱', 'inbox', html`<em class="badge" id="nav-waiting" title="待领取"${c.waiting ? null : html` hidden`}>${c.waiting}</em>`)}
    ${views(a).includes('escalated') ? html`<a href="/admin/inbox?view=escalated" class="warn" id="nav-escalated"${c.escalated ? null : html` hidden`}>督办<em class="badge badge-red">${c.escalated}</em></a>` : null}
    ${c.nav.map((n) => nav(n.href, n.label, n.section))}
    ${allowed(a, 'dashboard') ? nav('/admin/dashboard', '数据看板', 'dashboard') : null}
    ${allowed(a, 'staff.manage') ? nav('/admin/staff', '账号管理', 'staff') : null}
    ${allowed(a, 'audit.read') ? nav('/admin/audit', '审计日志', 'audit') : null}
  </nav>
  <div class="me">
    <a href="/admin/alerts" id="nav-alerts" class="${c.alerts ? 'warn' : ''}"${o.section === 'alerts' ? html` aria-current="page"` : null}>提醒<em class="badge badge-red"${c.alerts ? null : html` hidden`}>${c.alerts}</em></a>
    <span class="who">${a.name}<small>${ROLE_NAMES[a.role]}${a.department ? html` · ${c.departmentName(a.department)}` : null}</small></span>
    <a href="/admin/account/password">修改密码</a>
    <form method="post" action="/admin/logout" class="inline">${csrfField(c)}<button type="submit" class="link">退出</button></form>
  </div>
</header>
${c.flash ? html`<div class="flash flash-${c.flash.kind}" role="status">${c.flash.text}</div>` : null}
<main class="page-${o.section}">${o.body}</main>
<div id="live-status" class="live-status" hidden>已断开，正在重连…</div>
</body>
</html>`;
}

/** A page for someone not signed in (sign-in, errors). */
export function bare(title: string, accountName: string, body: HtmlValue): SafeHtml {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${accountName} 工作台</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
</head>
<body class="bare">
<main>${body}</main>
</body>
</html>`;
}
