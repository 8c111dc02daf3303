import Router from '@koa/router';
import Koa from 'koa';
import type { DataSource } from 'typeorm';
import type { Conversation } from './chat/index.ts';
import type { Emulator } from './emulator/index.ts';
import type { Clock } from './platform/clock.ts';
import { databaseAnswers } from './platform/db.ts';
import type { Kv } from './platform/kv/index.ts';
import type { Logger } from './platform/log.ts';
import type { Profile } from './profile/schema.ts';
import { wechatCallback } from './wechat/callback.ts';

export interface AppParts {
  profile: Profile;
  clock: Clock;
  log: Logger;
  db: DataSource;
  kv: Kv;
  conversation: Conversation;
  emulator: Emulator | null;
  /** Told how each WeChat callback ended and how long it took (the metrics). */
  observe?: CallbackObserver;
  /** Capabilities' own routes (the staff panel, citizen pages …). */
  routers?: Router[];
  /**
   * Headers for every response under a path (`/admin`, `/h5`): set before routing, so that a 404
   * or a refusal carries them too; a route may still replace one (an image's own CSP).
   */
  pathHeaders?: { prefix: string; headers: Readonly<Record<string, string>> }[];
}

/** The Koa application: each capability mounts its routes here. */
/** How a callback ended: a reply in the answer, an empty answer (quiet, or the reply comes later), refused. */
export interface CallbackObserver {
  callback(outcome: 'answered' | 'quiet' | 'refused', seconds: number): void;
  /** A reply that was not ready in time went out as a customer-service message instead. */
  late(): void;
}

export function buildApp(p: AppParts): Koa {
  // Behind one trusted proxy: the client's address is the one that proxy appended, the last in
  // X-Forwarded-For; whatever a client wrote before it is not believed.
  const app = new Koa({ proxy: process.env.TRUST_PROXY === '1', maxIpsCount: 1 });
  app.silent = true;

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string };
      const clientError = typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true;
      // A client's mistake (no boundary, too large, wrong type) is theirs: one line, no stack.
      if (clientError) p.log.warn({ status: e.status, path: ctx.path, method: ctx.method, reason: e.message }, 'request refused');
      else p.log.error({ err, path: ctx.path, method: ctx.method }, 'request failed');
      ctx.status = clientError ? e.status! : 500;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = ctx.status === 500 ? '服务暂时不可用，请稍后再试' : (e.message ?? '请求不正确');
    }
  });

  const router = new Router();
  router.get('/healthz', async (ctx) => {
    const ok = await databaseAnswers(p.db);
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ok' : 'database unavailable', kv: p.kv.backend, db: p.db.options.type };
  });

  const w = p.profile.wechat;
  const callback = wechatCallback({
    config: {
      token: w.token,
      appid: w.appid,
      ...(w.aes_key ? { aesKey: w.aes_key } : {}),
      encoding: w.encoding,
      requireEncryption: w.require_encryption,
      maxBodyBytes: w.max_body_bytes,
      replyTimeoutMs: w.reply_timeout_ms,
      maxClockSkewSeconds: w.max_clock_skew_seconds,
      dedupTtlSeconds: w.dedup_ttl_seconds,
    },
    kv: p.kv,
    clock: p.clock,
    log: p.log.child({ component: 'callback' }),
    handler: p.observe ? observed(p.conversation, p.observe) : p.conversation,
  });
  // The callback is the hot path: mounted ahead of the router, on its exact path.
  const observe = p.observe;
  app.use(
    observe
      ? async (ctx, next) => {
          if (ctx.path !== '/wechat') return next();
          const t0 = performance.now();
          try {
            await callback(ctx, next);
          } finally {
            const body = typeof ctx.body === 'string' ? ctx.body : '';
            observe.callback(ctx.status >= 400 ? 'refused' : body.startsWith('<xml') ? 'answered' : 'quiet', (performance.now() - t0) / 1000);
          }
        }
      : (ctx, next) => (ctx.path === '/wechat' ? callback(ctx, next) : next()),
  );
  const pathHeaders = p.pathHeaders ?? [];
  if (pathHeaders.length) {
    app.use(async (ctx, next) => {
      for (const h of pathHeaders) if (ctx.path === h.prefix || ctx.path.startsWith(`${h.prefix}/`)) ctx.set(h.headers as Record<string, string>);
      await next();
    });
  }
  app.use(router.routes()).use(router.allowedMethods());
  for (const r of p.routers ?? []) app.use(r.routes()).use(r.allowedMethods());
  if (p.emulator) {
    const er = p.emulator.routes();
    app.use(er.routes()).use(er.allowedMethods());
  }
  return app;
}

/** The conversation, telling the observer when a reply goes out late. */
function observed(c: Conversation, o: CallbackObserver): Conversation {
  return Object.assign(Object.create(c) as Conversation, {
    late: (...args: Parameters<Conversation['late']>) => {
      o.late();
      return c.late(...args);
    },
  });
}
