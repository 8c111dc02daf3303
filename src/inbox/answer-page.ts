import Router from '@koa/router';
import type { Context } from 'koa';
import rawBody from 'raw-body';
import type { DataSource } from 'typeorm';
import { HandoffEntity } from '../chat/handoff.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import { maskText } from '../platform/pii.ts';
import { html, safeUrl, type SafeHtml } from '../web/html.ts';
import { InboxImageEntity, StaffReplyEntity } from './entities.ts';
import { localTime } from './format.ts';
import { csrfToken } from '../h5/http.ts';
import { careMode } from '../h5/layout.ts';

/**
 * The citizen's answer page (/h5/answer/<token>): what a template message past the 48-hour window
 * links to, and what an image reply opens. The token is 24 random bytes, so only the citizen the
 * link was sent to can open it; the page shows that conversation's answers and nothing else, with
 * the question's personal data masked (a link can be forwarded).
 */

export interface AnswerView {
  /** 长者模式 (the citizen's choice, as on every citizen page), with its switch. */
  care?: boolean;
  csrf?: string;
  here?: string;
  accountName: string;
  department: string;
  question: string;
  askedAt: string;
  replies: { at: string; kind: 'text' | 'link' | 'image'; text: string; linkUrl: string | null; linkTitle: string | null; imageUrl: string | null }[];
  /**
   * 好差评 on the page, once the conversation is closed: the choices to post (not rated yet), or
   * what the citizen gave; `said` is the answer to a rating just made.
   */
  rating: { action: string; choices: { level: number; label: string }[] } | { given: string; said: string | null } | null;
}

/** The page itself: small and self-contained (its own styles), so it can move into the shared citizen layout. */
export function renderAnswerPage(v: AnswerView): SafeHtml {
  return html`<!doctype html>
<html lang="zh-CN" class="${v.care ? 'care' : ''}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="referrer" content="no-referrer">
<title>工作人员回复 · ${v.accountName}</title>
<style>
  body { margin: 0; background: #f2f2f2; color: #191919; font: 17px/1.6 -apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
  header { background: #fff; padding: 18px 16px 12px; border-bottom: 1px solid #e5e5e5; }
  header h1 { margin: 0; font-size: 20px; }
  header p { margin: 4px 0 0; color: #595959; font-size: 14px; }
  section { background: #fff; margin: 10px 0; padding: 14px 16px; }
  h2 { margin: 0 0 8px; font-size: 15px; color: #595959; font-weight: normal; }
  .q { white-space: pre-wrap; word-break: break-word; }
  .reply { border-left: 3px solid #07c160; padding: 2px 0 2px 12px; margin: 0 0 16px; }
  .reply:last-child { margin-bottom: 0; }
  .reply time { display: block; color: #595959; font-size: 13px; }
  .reply p { margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
  .reply img { max-width: 100%; border-radius: 4px; margin-top: 6px; }
  .reply a { color: #3e5080; word-break: break-all; text-decoration: underline; }
  footer { color: #595959; font-size: 13px; text-align: center; padding: 8px 16px 32px; }
  .care-form { margin: 8px 0 0; }
  .care-form button { min-height: 44px; padding: 0 14px; border: 1px solid #067a3e; border-radius: 22px; background: #fff; color: #067a3e; font: inherit; font-size: 15px; }
  html.care body { font-size: 20px; color: #000; }
  html.care header h1 { font-size: 24px; }
  html.care header p, html.care h2, html.care .reply time, html.care footer { font-size: 18px; color: #222; }
  html.care .care-form button { font-size: 18px; min-height: 48px; border-width: 2px; }
  html.care .rate button { min-height: 52px; font-size: 20px; }
  .rate form { display: flex; flex-direction: column; gap: 8px; margin: 8px 0 0; }
  .rate button { font: inherit; padding: 10px; border-radius: 8px; border: 1px solid #d9d9d9; background: #fff; color: #191919; }
  .rate button:active { background: #f0f0f0; }
  .rate .done { color: #067a3e; }
</style>
</head>
<body>
<header><h1>工作人员回复</h1><p>${v.department} · ${v.accountName}</p>
<form method="post" action="/h5/care" class="care-form"><input type="hidden" name="_csrf" value="${v.csrf}"><input type="hidden" name="next" value="${v.here}"><input type="hidden" name="on" value="${v.care ? '0' : '1'}"><button type="submit" aria-pressed="${v.care ? 'true' : 'false'}">${v.care ? '切换到标准模式' : '长者模式（大字）'}</button></form></header>
<section><h2>您的问题（${v.askedAt}）</h2><div class="q">${v.question}</div></section>
<section>
  <h2>回复</h2>
  ${v.replies.map(
    (r) => html`<div class="reply">
      <time>${r.at}</time>
      ${r.text ? html`<p>${r.text}</p>` : null}
      ${r.kind === 'link' && r.linkUrl ? html`<p><a href="${safeUrl(r.linkUrl)}" rel="noopener noreferrer">${r.linkTitle ?? r.linkUrl}</a></p>` : null}
      ${r.kind === 'image' && r.imageUrl ? html`<img src="${r.imageUrl}" alt="工作人员发送的图片">` : null}
    </div>`,
  )}
</section>
${v.rating
  ? html`<section class="rate" id="rate"><h2>这次答复您满意吗？</h2>${
      'choices' in v.rating
        ? html`<form method="post" action="${v.rating.action}">${v.rating.choices.map((c) => html`<button type="submit" name="level" value="${c.level}">${c.label}</button>`)}</form>`
        : html`${v.rating.said ? html`<p class="done" role="status">${v.rating.said}</p>` : null}<p>您的评价：${v.rating.given}</p>`
    }</section>`
  : null}
<footer>如还有问题，回到公众号直接留言即可。</footer>
</body>
</html>`;
}

const TOKEN = /^[A-Za-z0-9_-]{32}$/;

/** GET /h5/answer/:token and its images; POST …/rate once the conversation is closed. */
export function answerRoutes(d: {
  db: DataSource;
  calendar: WorkingCalendar;
  accountName: string;
  departmentName(id: string | null): string;
  /** The five levels, best first, and the rating command (Inbox.rate). */
  rating: { levels: { level: number; label: string }[]; rate(openid: string, handoffId: number, level: number): Promise<string | null> };
}): Router {
  const r = new Router({ prefix: '/h5/answer' });
  const headers = (ctx: { set(h: Record<string, string>): void }, csp: string) =>
    ctx.set({ 'Cache-Control': 'private, no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': csp });
  const notFound = (ctx: { status: number; type: string; body: unknown }) => {
    ctx.status = 404;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = '链接无效或已失效';
  };
  const byToken = async (token: string) => (TOKEN.test(token) ? d.db.getRepository(StaffReplyEntity).findOne({ where: { token } }) : null);

  const levels = [...d.rating.levels].sort((a, b) => b.level - a.level);
  const page = async (ctx: Context, said: string | null = null) => {
    const reply = await byToken(ctx.params.token ?? '');
    const handoff = reply ? await d.db.getRepository(HandoffEntity).findOne({ where: { id: reply.handoffId } }) : null;
    if (!reply || !handoff) return notFound(ctx);
    // Every answer in this conversation, up to the one the link was sent with.
    const all = await d.db.getRepository(StaffReplyEntity).find({ where: { handoffId: handoff.id }, order: { id: 'ASC' } });
    const shown = all.filter((x) => x.id <= reply.id);
    headers(ctx, "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'");
    const given = handoff.rating === null ? null : (levels.find((l) => l.level === handoff.rating)?.label ?? `${handoff.rating} 星`);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderAnswerPage({
      care: careMode(ctx),
      csrf: csrfToken(ctx),
      here: ctx.originalUrl,
      accountName: d.accountName,
      department: d.departmentName(handoff.department),
      question: maskText(handoff.question),
      askedAt: localTime(d.calendar, handoff.createdAt),
      replies: shown.map((x) => ({
        at: localTime(d.calendar, x.createdAt),
        kind: x.kind,
        text: x.body,
        linkUrl: x.linkUrl,
        linkTitle: x.linkTitle,
        imageUrl: x.imageId === null ? null : `/h5/answer/${ctx.params.token}/images/${x.imageId}`,
      })),
      rating: handoff.status !== 'closed' ? null : given === null ? { action: `/h5/answer/${ctx.params.token}/rate`, choices: levels } : { given, said },
    }).value;
  };

  r.get('/:token', async (ctx) => page(ctx));

  // The token (24 random bytes, sent only to the citizen) is what entitles the post; a post from
  // another site is refused as well.
  r.post('/:token/rate', async (ctx) => {
    const reply = await byToken(ctx.params.token ?? '');
    if (!reply) return notFound(ctx);
    if (ctx.get('sec-fetch-site') === 'cross-site') {
      ctx.status = 403;
      ctx.body = '请在答复页上评价';
      return;
    }
    const body = String(await rawBody(ctx.req, { limit: 1024, encoding: 'utf8' }).catch(() => ''));
    const level = Number(new URLSearchParams(body).get('level'));
    const said = await d.rating.rate(reply.openid, reply.handoffId, level);
    if (said === null) {
      ctx.status = 400;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = '这个评价无效';
      return;
    }
    await page(ctx, said);
  });

  r.get('/:token/images/:id', async (ctx) => {
    const reply = await byToken(ctx.params.token ?? '');
    const id = Number(ctx.params.id);
    const image = reply && Number.isSafeInteger(id) ? await d.db.getRepository(InboxImageEntity).findOne({ where: { id } }) : null;
    if (!reply || !image || image.handoffId !== reply.handoffId) return notFound(ctx);
    headers(ctx, "default-src 'none'; sandbox");
    ctx.type = image.mime;
    ctx.set('Content-Disposition', 'inline');
    ctx.body = Buffer.from(image.data, 'base64');
  });
  return r;
}
