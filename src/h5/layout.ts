import type { Context } from 'koa';
import { html, raw, type SafeHtml } from '../web/html.ts';
import { csrfToken } from './http.ts';

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** 长者模式: larger text, higher contrast, one column. */
  care: boolean;
  /** Where "返回" goes, if anywhere. */
  back?: string;
  /** Extra attributes for <body> (data for the page's script). */
  data?: Record<string, string>;
}

/** Whether the citizen reads this page in 长者模式 (the cookie, set from their saved choice). */
export function careMode(ctx: Context): boolean {
  return ctx.cookies.get('wb_care') === '1';
}

/**
 * Every citizen page: WeUI (served from the package), our small stylesheet, the 长者模式 switch
 * on every page, no third-party resources.
 */
export function page(ctx: Context, o: PageOptions): string {
  const csrf = csrfToken(ctx);
  const here = ctx.originalUrl;
  const data = Object.entries(o.data ?? {}).map(([k, v]) => html` data-${raw(k.replace(/[^a-z-]/g, ''))}="${v}"`);
  return html`<!doctype html>
<html lang="zh-CN" class="${o.care ? 'care' : ''}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1,viewport-fit=cover">
<meta name="format-detection" content="telephone=no">
<title>${o.title}</title>
<link rel="stylesheet" href="/static/weui.min.css">
<link rel="stylesheet" href="/static/h5.css">
</head>
<body${data}${o.care ? html` data-weui-mode="care"` : ''}>
<header class="wb-head">
  ${o.back ? html`<a class="wb-back" href="${o.back}">‹ 返回</a>` : ''}
  <h1 class="wb-title">${o.title}</h1>
  ${careSwitch(csrf, here, o.care, 'head')}
</header>
<main class="wb-main">${o.body}</main>
<footer class="wb-foot">
  ${careSwitch(csrf, here, o.care, 'foot')}
  <p class="wb-links"><a href="/h5/guides">办事指南</a> · <a href="/h5/halls">附近大厅</a> · <a href="/h5/bookings">我的预约</a></p>
</footer>
<script src="/static/jweixin.js"></script>
<script src="/static/h5.js"></script>
</body>
</html>`.value;
}

/** The 长者模式 switch: at the top of every page (where an older citizen looks first) and at its foot. */
function careSwitch(csrf: string, here: string, care: boolean, where: 'head' | 'foot'): SafeHtml {
  const label = where === 'head' ? (care ? '标准模式' : '大字') : care ? '切换到标准模式' : '长者模式（大字）';
  return html`<form method="post" action="/h5/care" class="wb-care">
    <input type="hidden" name="_csrf" value="${csrf}">
    <input type="hidden" name="next" value="${here}">
    <input type="hidden" name="on" value="${care ? '0' : '1'}">
    <button type="submit" class="wb-care-btn" aria-pressed="${care ? 'true' : 'false'}">${label}</button>
  </form>`;
}

/** A message page (success, failure): WeUI's weui-msg. */
export function message(kind: 'success' | 'warn' | 'info', title: string, detail: SafeHtml | string, actions: SafeHtml): SafeHtml {
  const icon = { success: 'weui-icon-success', warn: 'weui-icon-warn', info: 'weui-icon-info' }[kind];
  return html`<div class="weui-msg">
  <div class="weui-msg__icon-area"><i class="${icon} weui-icon_msg"></i></div>
  <div class="weui-msg__text-area"><h2 class="weui-msg__title">${title}</h2><div class="weui-msg__desc">${detail}</div></div>
  <div class="weui-msg__opr-area"><p class="weui-btn-area">${actions}</p></div>
</div>`;
}

/** A form's hidden CSRF field. */
export function csrfField(ctx: Context): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrfToken(ctx)}">`;
}
