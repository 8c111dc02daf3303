import type { Context } from 'koa';
import { csrfField } from '../../h5/layout.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { RatingSubject } from './entities.ts';
import { LEVEL_NAMES, type Ratings } from './index.ts';

/**
 * The five levels on a page (a case or a ticket past the 48-hour window is rated here): offered
 * once, never pressed; after rating, the level given.
 */
export async function ratingForm(ctx: Context, ratings: Ratings, subject: RatingSubject, id: number, back: string): Promise<SafeHtml> {
  const done = await ratings.ratingOf(subject, String(id));
  if (done) return html`<p class="wb-muted wb-pad">您的评价：${LEVEL_NAMES[done.level]}。感谢！</p>`;
  return html`<section class="wb-section"><h2>评价（自愿）</h2><form method="post" action="/h5/rate" class="wb-rate">${csrfField(ctx)}<input type="hidden" name="subject" value="${subject}"><input type="hidden" name="id" value="${id}"><input type="hidden" name="back" value="${back}">${[5, 4, 3, 2, 1].map((l) => html`<button class="weui-btn weui-btn_default" name="level" value="${l}">${LEVEL_NAMES[l]}</button>`)}</form></section>`;
}
