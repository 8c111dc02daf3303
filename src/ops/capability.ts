import type { Context } from 'koa';
import type { Capability, Core } from '../capability.ts';

import { SPEED_NAMES, SPEEDS } from '../inbox/due.ts';
import { maskText } from '../platform/pii.ts';
import { departmentsOf, mayOps, type OpsAction } from '../policies/index.ts';
import { pct, type SatisfactionRow, type SpeedRow } from './figures.ts';
import { toCsv, toXlsx, type Table } from './export.ts';
import { Operations } from './index.ts';
import type { CallbackObserver } from '../app.ts';
import { chromiumForCheck } from './check-browser.ts';
import { metrics } from './metrics.ts';
import { runCheck, type CheckDeps, type CheckResult } from './check.ts';
import { checkPage, contentEditPage, contentListPage, contentNewPage, satisfactionPage, speedPage, usagePage } from './pages.ts';
import { CONTENT_KINDS, ContentError, ContentStore, FIELDS, MAX_LIST_ITEMS, type ContentItem, type ContentKind } from './content.ts';
import { dayOf } from '../services/catalogue/views.ts';
import { pageViewUses, bookingUses, caseRequests, caseUses, conversationRequests, conversationUses, paymentUses, serviceRatings, ticketRequests, ticketUses, CHANNEL_NAMES, USE_CHANNELS, type RatingReader, type RequestReader, type UseReader } from './sources.ts';

export interface OpsCapability extends Capability {
  operations: Operations;
  content: ContentStore;
  /** How each WeChat callback ended (for /metrics); the composition root hands it to the app. */
  observe: CallbackObserver;
  selfCheck(browser?: CheckDeps['browser']): Promise<CheckResult[]>;
}

const CHECK_KEY = 'ops:check:last';
interface StoredCheck {
  at: number;
  by: string;
  results: CheckResult[];
}

/**
 * Running the account (运营): use per service item, reply speed against the norms, satisfaction,
 * with exports — for supervisors and administrators in the panel. The figures come from each
 * capability's own records through one reader per source (conversations, pages, bookings, cases,
 * payments, tickets, ratings); a new source plugs in by adding its reader to the lists below.
 */
export interface OpsNeeds {
  /** The catalogue's text changed (an FAQ answer, a guide): rebuild what is derived from it (search). */
  catalogueChanged?: () => void;
}

export function opsCapability(core: Core, needs: OpsNeeds = {}): OpsCapability {
  const { db, profile } = core;
  const departments = new Map(profile.departments.map((d) => [d.id, d.name]));
  const departmentName = (id: string | null) => (id && departments.get(id)) || id || '未分配部门';
  const staffIdOf = async (username: string) => (await core.accounts.byUsername(username))?.id ?? null;

  const days = { of: (t: number) => dayOf(core.calendar, t), start: (d: string) => core.calendar.atLocal(Number(d.slice(0, 4)), Number(d.slice(5, 7)), Number(d.slice(8, 10))) };
  const uses: UseReader[] = [conversationUses(db, profile.conversation.session_idle_minutes * 60_000), pageViewUses(db, days), bookingUses(db), caseUses(db), paymentUses(db), ticketUses(db)];
  const requests: RequestReader[] = [conversationRequests(db, profile), caseRequests(db, profile, staffIdOf), ticketRequests(db, staffIdOf)];
  // One table for every 好差评: tickets, cases, bookings and conversations (the inbox records them there).
  const ratings: RatingReader[] = [serviceRatings(db)];

  const operations = new Operations({
    db,
    clock: core.clock,
    calendar: core.calendar,
    profile,
    uses,
    requests,
    ratings,
    departmentName,
    staffNames: async (ids) => new Map([...(await core.accounts.names(ids))].map(([id, s]) => [id, s.name])),
  });

  const content = new ContentStore({ db, profile, clock: core.clock, audit: core.audit, log: core.log.child({ component: 'content' }), ...(needs.catalogueChanged ? { changed: needs.catalogueChanged } : {}) });
  let poll: NodeJS.Timeout | null = null;
  const health = metrics(core, operations);

  // The weekly self-check: Monday 08:00 China time; findings go to the administrators as an alert.
  const WEEKLY = 'ops.weekly-check';
  const nextMonday8 = (now: number) => {
    const p = core.calendar.localParts(now);
    const back = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].indexOf(p.weekday);
    let at = core.calendar.atLocal(p.year, p.month, p.day, 8) - back * 86_400_000;
    while (at <= now) at += 7 * 86_400_000;
    return at;
  };
  const scheduleWeekly = async () => {
    const at = nextMonday8(core.clock.now());
    await core.jobs.enqueue(WEEKLY, {}, { runAt: at, uniqueKey: `${WEEKLY}:${at}` });
  };
  core.jobs.define<Record<string, never>>(WEEKLY, {
    run: async () => {
      const results = await selfCheckRef.run();
      await core.kv.set(CHECK_KEY, JSON.stringify({ at: core.clock.now(), by: '每周自动体检', results } satisfies StoredCheck));
      const findings = results.filter((x) => x.verdict === 'finding');
      if (findings.length) {
        const veto = findings.some((x) => x.veto);
        await core.alerts.raise({ kind: 'ops-check', department: null, to: 'supervisors', title: `每周体检：${findings.length} 项发现问题${veto ? '（含一票否决项）' : ''}——${findings.map((x) => x.title.split('：')[0]).join('、')}`.slice(0, 200), link: '/admin/ops/check', urgent: veto });
      }
      await scheduleWeekly();
    },
  });
  const selfCheckRef = { run: async (): Promise<CheckResult[]> => [] };
  const tables = exportTables(operations, departmentName, core.publicUrl, () => fmtFor(core));
  /** The self-check against this running instance (its links and pages are followed on loopback). */
  const selfCheck = (browser?: CheckDeps['browser']) =>
    runCheck({
      profile,
      calendar: core.calendar,
      now: core.clock.now(),
      localUrl: core.localUrl,
      publicUrl: core.publicUrl,
      operations,
      exports: async () => [await tables.usage(4), await tables.speed(30, null), await tables.overdue(null), await tables.satisfaction(30, null)],
      browser,
    });

  const intParam = (v: unknown, allowed: number[], dflt: number) => {
    const n = Number(v);
    return allowed.includes(n) ? n : dflt;
  };

  selfCheckRef.run = () => selfCheck();

  return {
    name: 'ops',
    operations,
    content,
    selfCheck,
    observe: health.observe,
    routes: () => health.routes(),
    async started() {
      await content.load();
      // A live account checks itself every week; the demo (the emulator) only when asked to.
      const weekly = core.env.WEEKLY_CHECK ?? (profile.emulator.enabled ? '0' : '1');
      if (weekly === '1') await scheduleWeekly();
      // Another instance's edit reaches this one within a few seconds.
      poll = setInterval(() => {
        if (!db.isInitialized) {
          clearInterval(poll!);
          return;
        }
        content.refresh().catch((err: unknown) => core.log.warn({ err }, 'content edits could not be read'));
      }, 3000);
      poll.unref();
    },
    nav: [{ section: 'ops', label: '运营', href: '/admin/ops', visible: (a) => mayOps(a, 'ops.read') }],
    panel(r, kit) {
      const guard = (action: OpsAction) => async (ctx: Context, next: () => Promise<unknown>) => {
        if (!mayOps(kit.actor(ctx), action)) return kit.fail(ctx, 403, '运营数据只对负责人和管理员开放。');
        return next();
      };
      const read = guard('ops.read');
      const scopeOf = (ctx: Context) => departmentsOf(kit.actor(ctx));
      const send = async (ctx: Context, t: Table, ext: string, what: string) => {
        if (ext !== 'csv' && ext !== 'xlsx') return kit.fail(ctx, 404, '只能导出 CSV 或 Excel。');
        await kit.audit.record({ actor: kit.actor(ctx), action: 'ops-export', target: `ops:${what}`, department: kit.actor(ctx).department, detail: `${t.title}（${ext.toUpperCase()}，${t.rows.length} 行）`, ip: ctx.ip });
        const name = encodeURIComponent(`${t.title}.${ext}`);
        ctx.set('Content-Disposition', `attachment; filename="export.${ext}"; filename*=UTF-8''${name}`);
        ctx.set('Cache-Control', 'no-store');
        if (ext === 'csv') {
          ctx.type = 'text/csv; charset=utf-8';
          ctx.body = toCsv(t);
        } else {
          ctx.type = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
          ctx.body = Buffer.from(toXlsx(t));
        }
      };
      const weeksOf = (ctx: Context) => intParam(ctx.query.weeks, [1, 4, 8, 13], 4);
      const daysOf = (ctx: Context) => intParam(ctx.query.days, [7, 30, 90], 30);

      r.get('/ops', kit.signedIn, read, async (ctx) => {
        const w = weeksOf(ctx);
        kit.send(ctx, usagePage(await kit.pageContext(ctx), await operations.usage(w), w, kit.fmt()));
      });
      r.get('/ops/usage.:ext', kit.signedIn, read, async (ctx) => send(ctx, await tables.usage(weeksOf(ctx)), ctx.params.ext!, 'usage'));

      r.get('/ops/speed', kit.signedIn, read, async (ctx) => {
        const d = daysOf(ctx);
        kit.send(ctx, speedPage(await kit.pageContext(ctx), await operations.speed(operations.lastDays(d), scopeOf(ctx)), d, kit.fmt(), departmentName));
      });
      r.get('/ops/speed.:ext', kit.signedIn, read, async (ctx) => send(ctx, await tables.speed(daysOf(ctx), scopeOf(ctx)), ctx.params.ext!, 'speed'));
      r.get('/ops/overdue.:ext', kit.signedIn, read, async (ctx) => send(ctx, await tables.overdue(scopeOf(ctx)), ctx.params.ext!, 'overdue'));

      // ---- content staff edit -----------------------------------------------------------------------
      const edit = guard('content.edit');
      const kindOf = (v: unknown): ContentKind => (CONTENT_KINDS.includes(v as ContentKind) ? (v as ContentKind) : 'notice');
      const target = (ctx: Context) => {
        const kind = ctx.params.kind as ContentKind;
        if (!CONTENT_KINDS.includes(kind)) throw new ContentError('not_found', '没有这条内容');
        return content.get(kind, ctx.params.id ?? '');
      };
      const editPage = async (ctx: Context, item: ContentItem, form: Parameters<typeof contentEditPage>[1]['form'], error?: string, note?: string, status = 200) => {
        let preview: string;
        try {
          preview = content.preview(item.kind, item.id, content.validate(item.kind, flat(form)));
        } catch {
          preview = content.preview(item.kind, item.id, item.state);
        }
        const mayRetire = mayOps(kit.actor(ctx), 'content.publish');
        kit.send(ctx, contentEditPage(await kit.pageContext(ctx), { item, form, preview, history: await content.history(item.kind, item.id), f: kit.fmt(), audiences: content.audiences(), mayRetire, ...(error ? { error } : {}), ...(note ? { note } : {}) }), status);
      };
      const caught = async (ctx: Context, fn: () => Promise<void>) => {
        try {
          await fn();
        } catch (err) {
          if (err instanceof ContentError && err.code === 'not_found') return kit.fail(ctx, 404, err.message);
          throw err;
        }
      };
      r.get('/ops/content', kit.signedIn, edit, async (ctx) => {
        const kind = kindOf(ctx.query.kind);
        kit.send(ctx, contentListPage(await kit.pageContext(ctx), kind, content.items(kind), kit.fmt(), core.clock.now(), mayOps(kit.actor(ctx), 'content.publish') && content.lists().length > 0));
      });
      // A new notice or policy interpretation, published into one of the 政务公开 lists.
      const publish = guard('content.publish');
      const newPage = async (ctx: Context, form: Record<string, string>, error?: string, status = 200) => {
        let preview: string | null = null;
        if (form.title || form.text) {
          try {
            preview = content.preview('notice', null, content.validate('notice', form));
          } catch {
            preview = form.text ?? null;
          }
        }
        kit.send(ctx, contentNewPage(await kit.pageContext(ctx), { lists: content.lists(), audiences: content.audiences(), form, preview, ...(error ? { error } : {}) }), status);
      };
      r.get('/ops/content/new', kit.signedIn, publish, async (ctx) => {
        const list = typeof ctx.query.list === 'string' ? ctx.query.list : (content.lists().find((l) => l.count < MAX_LIST_ITEMS)?.id ?? '');
        await newPage(ctx, { list });
      });
      r.post('/ops/content/new', kit.signedIn, publish, async (ctx) => {
        const form = await kit.checkedForm(ctx, 64 * 1024);
        const note = (form.note ?? '').trim();
        try {
          if (form.intent !== 'save') {
            content.validate('notice', form);
            return await newPage(ctx, form);
          }
          const item = await content.create(kit.actor(ctx), form.list ?? '', form, note || null, ctx.ip);
          await kit.flash(ctx, 'ok', '已发布，对话里的列表和搜索里已经能看到。');
          ctx.redirect(`/admin/ops/content/notice/${item.id}`);
        } catch (err) {
          if (err instanceof ContentError) return newPage(ctx, form, err.message, err.code === 'conflict' ? 409 : 422);
          throw err;
        }
      });
      r.get('/ops/content/:kind/:id', kit.signedIn, edit, (ctx) => caught(ctx, async () => {
        const item = target(ctx);
        await editPage(ctx, item, item.state);
      }));
      r.post('/ops/content/:kind/:id', kit.signedIn, edit, (ctx) => caught(ctx, async () => {
        const item = target(ctx);
        const form = await kit.checkedForm(ctx, 64 * 1024);
        const asForm = { values: Object.fromEntries(FIELDS[item.kind].map((f) => [f.name, form[f.name] ?? ''])), valid_from: form.valid_from, valid_until: form.valid_until, audience: content.audienceOf(form) };
        const note = (form.note ?? '').trim();
        if (form.intent !== 'save') {
          try {
            content.validate(item.kind, form);
            return editPage(ctx, item, asForm, undefined, note);
          } catch (err) {
            if (err instanceof ContentError) return editPage(ctx, item, asForm, err.message, note, 422);
            throw err;
          }
        }
        try {
          await content.edit(kit.actor(ctx), item.kind, item.id, form, Number(form.base), note || null, ctx.ip);
        } catch (err) {
          if (err instanceof ContentError && err.code !== 'not_found') return editPage(ctx, content.get(item.kind, item.id), asForm, err.message, note, err.code === 'conflict' ? 409 : 422);
          throw err;
        }
        await kit.flash(ctx, 'ok', '已保存，对话、页面和搜索里已经是新内容。');
        ctx.redirect(`/admin/ops/content/${item.kind}/${item.id}`);
      }));
      r.post('/ops/content/:kind/:id/retire', kit.signedIn, publish, (ctx) => caught(ctx, async () => {
        const item = target(ctx);
        const form = await kit.checkedForm(ctx);
        try {
          await content.retire(kit.actor(ctx), item.kind, item.id, Number(form.base), (form.note ?? '').trim() || null, ctx.ip);
          await kit.flash(ctx, 'ok', '已撤下，对话和搜索里已经看不到了。');
        } catch (err) {
          if (!(err instanceof ContentError) || err.code === 'not_found') throw err;
          await kit.flash(ctx, 'error', err.message);
        }
        ctx.redirect(`/admin/ops/content/${item.kind}/${item.id}`);
      }));
      r.post('/ops/content/:kind/:id/rollback', kit.signedIn, edit, (ctx) => caught(ctx, async () => {
        const item = target(ctx);
        const form = await kit.checkedForm(ctx);
        try {
          await content.rollback(kit.actor(ctx), item.kind, item.id, Number(form.version), Number(form.base), ctx.ip);
          await kit.flash(ctx, 'ok', Number(form.version) === 0 ? '已恢复为配置文件中的原文。' : `已回退到第 ${form.version} 版。`);
        } catch (err) {
          if (!(err instanceof ContentError) || err.code === 'not_found') throw err;
          await kit.flash(ctx, 'error', err.message);
        }
        ctx.redirect(`/admin/ops/content/${item.kind}/${item.id}`);
      }));

      r.get('/ops/satisfaction', kit.signedIn, read, async (ctx) => {
        const d = daysOf(ctx);
        kit.send(ctx, satisfactionPage(await kit.pageContext(ctx), await operations.satisfaction(operations.lastDays(d), scopeOf(ctx)), d, kit.fmt()));
      });
      // ---- the self-check -------------------------------------------------------------------------
      r.get('/ops/check', kit.signedIn, guard('check.read'), async (ctx) => {
        const raw = await core.kv.get(CHECK_KEY);
        kit.send(ctx, checkPage(await kit.pageContext(ctx), raw ? (JSON.parse(raw) as StoredCheck) : null, mayOps(kit.actor(ctx), 'check.run'), kit.fmt()));
      });
      r.post('/ops/check', kit.signedIn, guard('check.run'), async (ctx) => {
        await kit.checkedForm(ctx);
        const results = await selfCheck(() => chromiumForCheck(core.env));
        const stored: StoredCheck = { at: core.clock.now(), by: kit.actor(ctx).name, results };
        await core.kv.set(CHECK_KEY, JSON.stringify(stored));
        const findings = results.filter((x) => x.verdict === 'finding').length;
        await kit.audit.record({ actor: kit.actor(ctx), action: 'ops-check', target: 'ops:check', detail: `${results.length} 项，${findings} 项发现问题`, ip: ctx.ip });
        await kit.flash(ctx, findings ? 'error' : 'ok', findings ? `体检完成：${findings} 项发现问题。` : '体检完成：全部通过。');
        ctx.redirect('/admin/ops/check');
      });

      r.get('/ops/satisfaction.:ext', kit.signedIn, read, async (ctx) => send(ctx, await tables.satisfaction(daysOf(ctx), scopeOf(ctx)), ctx.params.ext!, 'satisfaction'));
    },
  };
}



/** A form's values as the validator reads them (lists one per line). */
function flat(f: { values: Record<string, string | string[]>; valid_from?: string | undefined; valid_until?: string | undefined }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.values)) out[k] = Array.isArray(v) ? v.join('\n') : v;
  if (f.valid_from) out.valid_from = f.valid_from;
  if (f.valid_until) out.valid_until = f.valid_until;
  return out;
}

const fmtFor = (core: Core) => ({
  at: (ms: number) => {
    const p = core.calendar.localParts(ms);
    const two = (n: number) => String(n).padStart(2, '0');
    return `${p.year}-${two(p.month)}-${two(p.day)} ${two(Math.floor(p.minutes / 60))}:${two(p.minutes % 60)}`;
  },
});

/** Each view's export as a table (the same figures as the page; personal data masked). */
export function exportTables(operations: Operations, departmentName: (id: string | null) => string, publicUrl: string, fmt: () => { at(ms: number): string }) {
  const speedRows = (rows: SpeedRow[], kind: string) => rows.map((r) => [kind, r.label, r.requests, ...SPEEDS.map((s) => r.speed[s]), r.byNorm.simple.within, r.byNorm.simple.judged, r.byNorm.complex.within, r.byNorm.complex.judged, r.share === null ? '' : pct(r.share)]);
  const satRows = (rows: SatisfactionRow[], kind: string) => rows.map((r) => [kind, r.label, r.count, r.average, r.good, r.poor, r.rectified, r.rectifiable]);
  return {
    async usage(w: number): Promise<Table> {
      const v = await operations.usage(w);
      const t: Table = {
        title: `事项使用（近${w}周）`,
        header: ['排名', '事项', '类别', '次数', '人数', '占比', '累计占比', ...USE_CHANNELS.map((c) => CHANNEL_NAMES[c]), '常用（八成使用）'],
        rows: v.ranking.rows.map((x, i) => [i + 1, x.name, x.kind === 'faq' ? '问答' : '事项', x.uses, x.users, pct(x.share), pct(x.cumulative), ...USE_CHANNELS.map((c) => x.byChannel[c]), x.head ? '是' : '']),
      };
      for (const u of v.unused) t.rows.push(['—', u.name, u.kind === 'faq' ? '问答' : u.kind === 'ticket' ? '诉求' : '事项', 0, 0, '0%', '', ...USE_CHANNELS.map(() => 0), '无人使用']);
      return t;
    },
    async speed(d: number, scope: string[] | null): Promise<Table> {
      const v = await operations.speed(operations.lastDays(d), scope);
      return {
        title: `答复时效（近${d}天）`,
        header: ['分组', '名称', '请求', ...SPEEDS.map((s) => SPEED_NAMES[s]), '简单咨询达标', '简单咨询已判定', '复杂事项达标', '复杂事项已判定', '达标率'],
        rows: [...speedRows([v.total], '合计'), ...speedRows(v.byDepartment, '部门'), ...speedRows(v.byStaff, '工作人员'), ...speedRows(v.bySource, '来源')],
      };
    },
    async overdue(scope: string[] | null): Promise<Table> {
      const v = await operations.speed(operations.lastDays(7), scope);
      const f = fmt();
      const rows = [...v.overdue.map((x) => ({ x, k: '已超时' })), ...v.near.map((x) => ({ x, k: '快到期' }))].map(({ x, k }) => [k, x.sourceName, x.id, maskText(x.title), departmentName(x.department), x.staffId === null ? '' : (v.staffNames.get(x.staffId) ?? `#${x.staffId}`), x.norm === 'simple' ? '24小时' : '3个工作日', f.at(x.createdAt), f.at(x.deadline), `${publicUrl}${x.link}`]);
      return { title: '超时与快到期', header: ['状态', '类型', '编号', '请求', '部门', '经办', '时限', '收到', '应答复', '链接'], rows };
    },
    async satisfaction(d: number, scope: string[] | null): Promise<Table> {
      const v = await operations.satisfaction(operations.lastDays(d), scope);
      return {
        title: `好差评（近${d}天）`,
        header: ['分组', '名称', '评价数', '平均分', '满意', '差评', '差评已整改', '差评可整改', '意见'],
        rows: [...satRows([v.total], '合计'), ...satRows(v.byDepartment, '部门'), ...satRows(v.byStaff, '工作人员'), ...satRows(v.byItem, '事项'), ...satRows(v.byChannel, '渠道'), ...v.poor.map((r) => ['差评', `${r.source} #${r.id}`, 1, r.level, 0, 1, r.rectified ? 1 : 0, r.rectified === null ? 0 : 1, r.comment ? maskText(r.comment) : ''])],
      };
    },
  };
}
