import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Capability, Core } from '../capability.ts';
import { CitizenEntity } from '../chat/log.ts';
import { SOURCE_DIR } from '../paths.ts';
import { html } from '../web/html.ts';
import { CitizenSessions, csrfOk, readForm, safeNext } from './http.ts';
import { pageKit } from './kit.ts';
import { message } from './layout.ts';

const require = createRequire(import.meta.url);

/** Static files for the pages: WeUI and the JS-SDK from their packages, ours from src/h5/assets. */
function staticFiles(): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  files.set('weui.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(require.resolve('weui/package.json'), '..', 'dist', 'style', 'weui.min.css')) });
  // The JS-SDK package is CommonJS; give it a module object so it runs as a plain script.
  const sdk = readFileSync(require.resolve('weixin-js-sdk'), 'utf8');
  files.set('jweixin.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(`(function(){var module={exports:{}};${sdk}\n;window.wx=window.wx||module.exports;})();`) });
  for (const f of ['h5.css', 'h5.js']) files.set(f, { type: f.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', body: readFileSync(join(SOURCE_DIR, 'h5', 'assets', f)) });
  return files;
}

/**
 * The citizen pages: the common shell (static files, security headers, WeChat web authorisation,
 * the 长者模式 switch) and each capability's own pages. Pages that only inform are open to anyone;
 * a citizen's own matters are known through web authorisation with snsapi_base (silent: only the
 * openid, no login, nothing asked). Every form carries a CSRF token.
 */
export function citizenPages(core: Core, capabilities: Capability[]): Router {
  const r = new Router();
  const sessions = new CitizenSessions(core.kv);
  const kit = pageKit(core, sessions);
  const files = staticFiles();

  r.get('/favicon.ico', async (ctx) => {
    ctx.status = 204;
    ctx.set('Cache-Control', 'public, max-age=86400');
  });

  r.get('/static/:file', async (ctx) => {
    const f = files.get(ctx.params.file ?? '');
    if (!f) return ctx.throw(404);
    ctx.type = f.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = f.body;
  });

  // Pages' security headers (PAGE_HEADERS) are set by the app for every /h5 response, 404s included.

  r.get('/h5/auth', async (ctx) => {
    const { code, state, next } = ctx.query as Record<string, string | undefined>;
    if (!code || !state || state !== ctx.cookies.get('wb_oauth')) {
      return kit.render(ctx, '请在微信中打开', message('warn', '请在微信中打开', '这个页面需要在微信里打开，我们只读取您的微信身份标识，不需要注册或登录。', html``), { status: 400 });
    }
    let openid: string;
    try {
      openid = (await core.api.oauth.exchange(code)).openid;
    } catch (err) {
      core.log.warn({ err }, 'web authorisation failed');
      return kit.render(ctx, '请稍后再试', message('warn', '身份确认没有成功', '请返回公众号重新打开这个页面。', html``), { status: 502 });
    }
    await sessions.start(ctx, openid);
    const c = await core.db.getRepository(CitizenEntity).findOneBy({ openid });
    if (c?.careMode) ctx.cookies.set('wb_care', '1', { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: 365 * 86_400_000 });
    ctx.redirect(safeNext(next));
  });

  r.post('/h5/care', async (ctx) => {
    const form = await readForm(ctx);
    if (!csrfOk(ctx, form)) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '请返回刷新后再试。', html``), { status: 403 });
    const on = form.get('on') === '1';
    ctx.cookies.set('wb_care', on ? '1' : '0', { httpOnly: true, sameSite: 'lax', overwrite: true, path: '/', maxAge: 365 * 86_400_000 });
    const openid = await sessions.openid(ctx);
    if (openid) {
      const now = core.clock.now();
      const res = await core.db.getRepository(CitizenEntity).update({ openid }, { careMode: on, updatedAt: now });
      if (!res.affected) {
        await core.db.createQueryBuilder().insert().into(CitizenEntity).values({ openid, subscribed: false, firstSeenAt: now, updatedAt: now, careMode: on }).orIgnore().execute();
      }
    }
    ctx.redirect(safeNext(form.get('next')));
  });

  for (const c of capabilities) c.pages?.(r, kit);
  return r;
}
