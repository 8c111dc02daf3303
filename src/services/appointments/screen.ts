import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import type { WeChatApi } from '../../wechat/api/index.ts';
import { html } from '../../web/html.ts';
import type { Halls } from '../halls/index.ts';
import type { Appointments } from './index.ts';
import { qrSvg } from '../../web/qr.ts';

/** How long a screen's link works: a working day; the desk opens it again each morning. */
export const SCREEN_LINK_MS = 16 * 3_600_000;

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * The check-in code on a hall's screen (叫号屏): the desk opens it from the panel; the display gets
 * a link of its own (a random token, kept hashed, good for the day) and shows the code of the
 * current period, reloading itself when the next one begins. The platform's temporary code of a
 * period is asked for once, however many screens and instances show it.
 */
export class HallScreens {
  constructor(private readonly d: { kv: Kv; api: WeChatApi; halls: Halls; appointments: Appointments; clock: Clock; accountName: string }) {}

  /** A new link for a hall's screen; its token. */
  async open(hallId: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.d.kv.set(`halls:screen:${hash(token)}`, hallId, SCREEN_LINK_MS);
    return token;
  }

  routes(): Router {
    const r = new Router();
    r.get('/hall-screen/:token', async (ctx) => {
      ctx.set({
        'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-store',
      });
      ctx.type = 'text/html; charset=utf-8';
      const token = ctx.params.token ?? '';
      const hallId = /^[A-Za-z0-9_-]{32}$/.test(token) ? await this.d.kv.get(`halls:screen:${hash(token)}`) : null;
      const hall = hallId ? this.d.halls.get(hallId) : undefined;
      if (!hall) {
        ctx.status = 404;
        ctx.body = shell('签到码已失效', html`<main class="screen"><h1>签到码链接已失效</h1><p>请在工作台「大厅」页重新打开叫号屏签到码。</p></main>`, null).value;
        return;
      }
      const now = this.d.clock.now();
      const p = this.d.appointments.screenPeriod(hall.id, now);
      const cacheKey = `halls:screen:qr:${p.scene}`;
      let url = await this.d.kv.get(cacheKey);
      if (!url) {
        url = (await this.d.api.qrcode.temporary(p.scene, p.lifetimeSeconds)).url;
        await this.d.kv.set(cacheKey, url, p.lifetimeSeconds * 1000);
      }
      const reloadIn = Math.max(1, Math.ceil((p.changesAt - now) / 1000) + 1);
      const body = html`<main class="screen">
  <h1>${hall.name}</h1>
  <p class="lead">预约的市民，请用微信扫一扫签到取号</p>
  <figure class="qr">${qrSvg(url, '签到二维码')}</figure>
  <p>预约时间前 ${hall.check_in.early_minutes} 分钟到后 ${hall.check_in.late_minutes} 分钟内可以签到；没有预约的，请到服务台取号。</p>
  <p class="muted small">${this.d.accountName} · 签到码每 ${hall.check_in.screen_code_minutes} 分钟更换</p>
</main>`;
      ctx.body = shell(`${hall.name} · 签到`, body, reloadIn).value;
    });
    return r;
  }
}

function shell(title: string, body: ReturnType<typeof html>, reloadSeconds: number | null) {
  return html`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${reloadSeconds ? html`<meta http-equiv="refresh" content="${reloadSeconds}">` : null}
<title>${title}</title><link rel="stylesheet" href="/admin/assets/admin.css"></head>
<body class="screen-page">${body}</body></html>`;
}
