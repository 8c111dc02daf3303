import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallbackObserver } from '../app.ts';
import type { Core } from '../capability.ts';
import { HandoffEntity } from '../chat/handoff.ts';
import { MessageEntity } from '../chat/log.ts';
import { JobEntity } from '../platform/jobs.ts';
import { HOUR } from '../platform/clock.ts';
import { dueLists } from './figures.ts';
import type { Operations } from './index.ts';

/**
 * GET /metrics in the Prometheus text format (prom-client): the WeChat callback's latency and
 * outcomes, counted as they happen; and, read from the records at each scrape, messages by type,
 * outbound sends by channel and state, open and overdue requests, jobs by state, WeChat error
 * codes of the jobs that failed or wait to retry, and how long the database and the key-value
 * store take to answer. Open to a bearer token (METRICS_TOKEN) or, without one, to this machine
 * and private networks only.
 */
export function metrics(core: Core, operations: Operations): { observe: CallbackObserver; routes(): Router } {
  const register = new Registry();
  const callbacks = new Histogram({ name: 'weiban_callback_duration_seconds', help: 'WeChat callbacks by outcome (answered: a reply in the answer; quiet: an empty answer; refused: 4xx/5xx)', labelNames: ['outcome'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5], registers: [register] });
  const late = new Counter({ name: 'weiban_callback_late_replies_total', help: 'Replies not ready in time, sent as customer-service messages instead', registers: [register] });
  const db = core.db;
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => Promise<void>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [register],
      async collect() {
        this.reset();
        await collect(this as unknown as Gauge);
      },
    });

  gauge('weiban_messages_in', 'Messages and events citizens sent, by type (from the conversation log)', ['kind'], async (g) => {
    const rows = await db.getRepository(MessageEntity).createQueryBuilder('m').select('m.kind', 'kind').addSelect('COUNT(*)', 'n').where("m.direction = 'in'").groupBy('m.kind').getRawMany<{ kind: string; n: string | number }>();
    for (const r of rows) g.set({ kind: r.kind }, Number(r.n));
  });
  gauge('weiban_messages_out', 'Messages sent, by channel (passive reply, customer-service, template) and state', ['channel', 'status'], async (g) => {
    const rows = await db.getRepository(MessageEntity).createQueryBuilder('m').select(['m.channel AS channel', 'm.status AS status']).addSelect('COUNT(*)', 'n').where("m.direction = 'out'").groupBy('m.channel').addGroupBy('m.status').getRawMany<{ channel: string; status: string | null; n: string | number }>();
    for (const r of rows) g.set({ channel: r.channel, status: r.status ?? 'sent' }, Number(r.n));
  });
  gauge('weiban_handoffs_open', 'Conversations handed to staff and not closed', [], async (g) => {
    g.set(await db.getRepository(HandoffEntity).countBy({ status: 'open' }));
  });
  gauge('weiban_requests_overdue', 'Requests to a person past the norm without a first answer, by source', ['source'], async (g) => {
    const due = dueLists(await operations.unanswered(null), core.calendar, core.clock.now(), core.profile.inbox.near_due_hours * HOUR);
    for (const s of ['conversation', 'case']) g.set({ source: s }, 0);
    for (const r of due.overdue) g.inc({ source: r.source });
  });
  gauge('weiban_jobs', 'Background jobs by state', ['status'], async (g) => {
    const rows = await db.getRepository(JobEntity).createQueryBuilder('j').select('j.status', 'status').addSelect('COUNT(*)', 'n').groupBy('j.status').getRawMany<{ status: string; n: string | number }>();
    for (const s of ['pending', 'running', 'failed']) g.set({ status: s }, 0);
    for (const r of rows) g.set({ status: r.status }, Number(r.n));
  });
  gauge('weiban_wechat_errors', 'Jobs failed or waiting to retry after a WeChat API error, by error code', ['errcode', 'api'], async (g) => {
    const rows = await db.getRepository(JobEntity).createQueryBuilder('j').select('j.last_error', 'e').where("j.status IN ('pending', 'failed') AND j.last_error LIKE 'WeChat %'").getRawMany<{ e: string }>();
    for (const r of rows) {
      const m = /^WeChat (\S+) failed: (-?\d+)/.exec(r.e);
      if (m) g.inc({ errcode: m[2]!, api: m[1]!.slice(0, 60) });
    }
  });
  gauge('weiban_db_ping_seconds', 'How long the database took to answer SELECT 1 at this scrape', [], async (g) => {
    const t0 = performance.now();
    await db.query('SELECT 1');
    g.set((performance.now() - t0) / 1000);
  });
  gauge('weiban_kv_ping_seconds', 'How long the key-value store (Redis or in-process) took to answer a read at this scrape', ['backend'], async (g) => {
    const t0 = performance.now();
    await core.kv.get('metrics:ping');
    g.set({ backend: core.kv.backend }, (performance.now() - t0) / 1000);
  });

  const token = core.env.METRICS_TOKEN ?? '';
  const allowed = (ip: string, auth: string | undefined): boolean => {
    if (token) {
      const given = Buffer.from((auth ?? '').replace(/^Bearer /, ''));
      const want = Buffer.from(token);
      return given.length === want.length && timingSafeEqual(given, want);
    }
    return isInternal(ip);
  };

  return {
    observe: {
      callback: (outcome, seconds) => callbacks.observe({ outcome }, seconds),
      late: () => late.inc(),
    },
    routes() {
      const r = new Router();
      r.get('/metrics', async (ctx) => {
        if (!allowed(ctx.ip, ctx.get('Authorization') || undefined)) {
          ctx.status = token ? 401 : 403;
          ctx.body = token ? 'a bearer token is required\n' : 'metrics are served to this machine and private networks only (or set METRICS_TOKEN)\n';
          return;
        }
        ctx.type = register.contentType;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = await register.metrics();
      });
      return r;
    },
  };
}

/** Loopback and private addresses (RFC 1918, unique local IPv6), also as IPv4-mapped IPv6. */
export function isInternal(ip: string): boolean {
  const v4 = ip.replace(/^::ffff:/, '');
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(v4);
  if (m) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  const low = ip.toLowerCase();
  return low === '::1' || /^f[cd][0-9a-f]{2}:/.test(low);
}
