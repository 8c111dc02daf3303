import type { Server } from 'node:http';
import type { DataSource } from 'typeorm';
import type { Accounts } from './admin/accounts.ts';
import type { Audit } from './admin/audit.ts';
import type { ScryptCost } from './admin/passwords.ts';
import { adminRoutes, PANEL_HEADERS } from './admin/routes.ts';
import { alertsCapability } from './alerts/capability.ts';
import type { Alerts } from './alerts/index.ts';
import { AttemptThrottle, StaffSessions, type SessionOptions, type ThrottleOptions } from './admin/sessions.ts';
import { buildApp } from './app.ts';
import type { Capability, CitizenFacts } from './capability.ts';
import { askDialog } from './chat/dialogs/ask.ts';
import { ChatEngine } from './chat/engine.ts';
import type { Handoffs } from './chat/handoff.ts';
import { Conversation } from './chat/index.ts';
import type { ConversationLog } from './chat/log.ts';
import { MenuSync } from './chat/menu.ts';
import type { Outbox } from './chat/outbox.ts';
import { loadLexicon } from './chat/lexicon.ts';
import { LiveSearch } from './chat/live-search.ts';
import { CitizenSearch } from './chat/search.ts';
import { openCore, type CoreOptions } from './core.ts';
import { opsCapability } from './ops/capability.ts';
import { Emulator } from './emulator/index.ts';
import { PAGE_HEADERS } from './h5/http.ts';
import { citizenPages } from './h5/index.ts';
import { inboxCapability } from './inbox/capability.ts';
import type { Inbox } from './inbox/inbox.ts';
import type { InboxReader } from './inbox/queries.ts';
import type { Stats } from './inbox/stats.ts';
import type { WorkingCalendar } from './platform/calendar.ts';
import type { Clock } from './platform/clock.ts';
import type { JobQueue } from './platform/jobs.ts';
import type { Kv } from './platform/kv/index.ts';
import type { Logger } from './platform/log.ts';
import type { Profile } from './profile/schema.ts';
import { appointmentsCapability } from './services/appointments/capability.ts';
import type { Appointments } from './services/appointments/index.ts';
import { bindingsCapability } from './services/bindings/capability.ts';
import { casesCapability } from './services/cases/capability.ts';
import type { Cases } from './services/cases/index.ts';
import { catalogueCapability } from './services/catalogue/capability.ts';
import { ratingsCapability } from './services/ratings/capability.ts';
import type { Ratings } from './services/ratings/index.ts';
import { ticketsCapability } from './services/tickets/capability.ts';
import type { Tickets } from './services/tickets/index.ts';
import { noticesCapability } from './services/notices/capability.ts';
import { billsCapability } from './services/bills/capability.ts';
import type { Bills } from './services/bills/index.ts';
import { emulatedMerchant } from './emulator/pay.ts';
import type { Halls } from './services/halls/index.ts';
import type { WeChatApi } from './wechat/api/index.ts';

export interface StartOptions extends Omit<CoreOptions, 'passwordCost'> {
  /** Start the job worker (default true). Tests drive jobs by hand. */
  runJobs?: boolean;
  /** The staff panel's timings (tests shorten them). */
  admin?: { pulseMs?: number; sessions?: SessionOptions; throttle?: ThrottleOptions; passwordCost?: ScryptCost };
}

/** Everything a running instance holds; tests reach in through this. */
export interface Instance {
  url: string;
  port: number;
  /** The address the server listens on. */
  host: string;
  profile: Profile;
  profileDir: string;
  clock: Clock;
  log: Logger;
  db: DataSource;
  kv: Kv;
  jobs: JobQueue;
  api: WeChatApi;
  calendar: WorkingCalendar;
  conversationLog: ConversationLog;
  outbox: Outbox;
  handoffs: Handoffs;
  engine: ChatEngine;
  halls: Halls;
  appointments: Appointments;
  cases: Cases;
  /** Complaints, help, suggestions, the mailbox (null when the profile has no tickets section). */
  tickets: Tickets | null;
  ratings: Ratings;
  bills: Bills;
  accounts: Accounts;
  audit: Audit;
  alerts: Alerts;
  inbox: Inbox;
  reader: InboxReader;
  stats: Stats;
  emulator: Emulator | null;
  /** Every capability, by name (tests reach a capability's own services through it). */
  capabilities: Capability[];
  server: Server;
  /** Stop: no new requests; those in flight get `graceMs` to finish (default: none). */
  close(graceMs?: number): Promise<void>;
}

/**
 * The composition root: open the platform, build each capability with one call, join them in the
 * conversation, the citizen pages and the staff panel, and serve.
 */
export async function start(opts: StartOptions = {}): Promise<Instance> {
  const core = await openCore({ ...opts, ...(opts.admin?.passwordCost ? { passwordCost: opts.admin.passwordCost } : {}) });
  const { profile, log, clock } = core;

  // ---- capabilities, in the order their chat routes are tried -----------------------------------
  let engine: ChatEngine | null = null; // a closed conversation goes back to the bot
  let ratings: ReturnType<typeof ratingsCapability> | null = null; // built after the inbox, which hands it conversations' ratings
  const inbox = await inboxCapability(core, {
    handBack: (openid) => engine!.staffClosed(openid),
    onRated: async (r, tx) => void (await ratings!.ratings.record(tx, { subject: 'conversation', subjectId: String(r.handoffId), department: r.department, staffId: r.staffId, openid: r.openid, level: r.level }, `咨询会话 #${r.handoffId}`)),
  });
  const departmentName = (id: string | null) => inbox.inbox.departmentName(id);
  ratings = ratingsCapability(core, { departmentName });
  const appointments = appointmentsCapability(core, { ratings: ratings.ratings });

  const lexicon = loadLexicon();
  const search = new LiveSearch(() => new CitizenSearch(profile, lexicon));
  const bills = billsCapability(core, { appointments: appointments.appointments });
  const cases = casesCapability(core, { supervisorOf: (d) => inbox.inbox.supervisorOf(d), departmentName, ratings: ratings.ratings, fees: bills.caseFees });
  const tickets = ticketsCapability(core, { ratings: ratings.ratings, departmentName });
  // A finished case can be rated with the same five levels (rt-case-<id>-<level>); a 差评 opens its rectification.
  ratings.ratings.register('case', async (id) => {
    const c = await cases.cases.get(Number(id));
    return c ? { openid: c.openid, department: c.department, finished: c.status === 'completed', label: `办件 ${c.caseNo}` } : null;
  });
  const ops = opsCapability(core, { catalogueChanged: () => search.rebuild() });
  const capabilities: Capability[] = [alertsCapability(core), inbox, catalogueCapability(core), appointments, cases, ratings, tickets, bills, bindingsCapability(core, { pay: bills.bills }), noticesCapability(core), ops];

  // ---- the conversation -------------------------------------------------------------------------
  const chat = capabilities.flatMap((c) => (c.chat ? [c.chat] : []));
  engine = new ChatEngine({
    profile,
    clock,
    kv: core.kv,
    calendar: core.calendar,
    handoffs: inbox.handoffs,
    publicUrl: core.publicUrl,
    search,
    dialogs: Object.assign({ ask: askDialog }, ...chat.map((c) => c.dialogs ?? {})),
    earlyRoutes: chat.flatMap((c) => c.early ?? []),
    extraRoutes: chat.flatMap((c) => c.extra ?? []),
    logger: log.child({ component: 'chat' }),
    seed: (openid) => inbox.handoffs.sessionSeed(openid),
    saveAudience: (openid, audience) => core.conversationLog.setAudience(openid, audience),
    wording: core.wording,
  });
  const conversation = new Conversation({ profile, log: core.conversationLog, outbox: core.outbox, logger: log.child({ component: 'chat' }), engine });

  // ---- the emulator (development and tests only) -------------------------------------------------
  const w = profile.wechat;
  const emulator = profile.emulator.enabled
    ? new Emulator({
        account: { callbackUrl: `${core.localUrl}/wechat`, originalId: w.original_id, appid: w.appid, token: w.token, ...(w.aes_key ? { aesKey: w.aes_key } : {}), encoding: w.encoding },
        secret: w.appsecret,
        clock,
        log: log.child({ component: 'emulator' }),
        citizens: profile.emulator.citizens,
        accountName: profile.account.name,
        publicUrl: core.publicUrl,
        templates: Object.values(profile.templates).map((t) => ({ id: t.id, title: t.title, fields: Object.keys(t.fields), labels: t.labels })),
        reportDeliveries: opts.runJobs !== false,
        ...(profile.pay.enabled && profile.pay.base_url === 'emulator' ? { payMerchant: emulatedMerchant(profile.pay, w.appid) } : {}),
      })
    : null;

  // ---- HTTP -------------------------------------------------------------------------------------
  const panel = adminRoutes({
    profile,
    clock,
    calendar: core.calendar,
    kv: core.kv,
    logger: log.child({ component: 'admin' }),
    accounts: core.accounts,
    audit: core.audit,
    inbox: inbox.inbox,
    reader: inbox.reader,
    stats: inbox.stats,
    conversationLog: core.conversationLog,
    sessions: new StaffSessions(core.kv, clock, opts.admin?.sessions),
    throttle: new AttemptThrottle(core.kv, 'signin', opts.admin?.throttle),
    passwordThrottle: new AttemptThrottle(core.kv, 'password', opts.admin?.throttle),
    ...(opts.admin?.pulseMs ? { pulseMs: opts.admin.pulseMs } : {}),
    extend: capabilities.flatMap((c) => (c.panel ? [c.panel.bind(c)] : [])),
    nav: capabilities.flatMap((c) => c.nav ?? []),
    unreadAlerts: (staffId) => core.alerts.unread(staffId),
    citizenFacts: async (openid) => {
      const all = await Promise.all(capabilities.map((c) => c.citizen?.(openid) ?? Promise.resolve(null)));
      const facts = all.filter((f): f is CitizenFacts => f !== null);
      return {
        name: facts.find((f) => f.name)?.name ?? null,
        phone: facts.find((f) => f.phone)?.phone ?? null,
        items: facts.flatMap((f) => f.items).sort((a, b) => b.at - a.at),
      };
    },
  });
  const routers = [citizenPages(core, capabilities), panel, ...capabilities.flatMap((c) => (c.routes ? [c.routes()] : []))];
  const pathHeaders = [
    { prefix: '/admin', headers: PANEL_HEADERS },
    { prefix: '/h5', headers: PAGE_HEADERS },
  ];
  const app = buildApp({ profile, clock, log, db: core.db, kv: core.kv, conversation, emulator, routers, pathHeaders, observe: ops.observe });
  const { server } = core;
  server.removeAllListeners('request');
  server.on('request', app.callback());

  if (opts.runJobs !== false) {
    core.jobs.start();
    emulator?.pay.start();
  }
  for (const c of capabilities) await c.started?.();
  const menuSync = new MenuSync(profile, core.api, core.jobs, clock, core.publicUrl, log.child({ component: 'menu' }));
  if (profile.menu?.sync_on_start) {
    try {
      await menuSync.sync();
    } catch (err) {
      log.error({ err }, 'custom menu could not be synced; retrying in the background');
      await core.jobs.enqueue(MenuSync.JOB, {}, { delayMs: 60_000 });
    }
  }

  let closed = false;
  return {
    ...core,
    url: core.localUrl,
    handoffs: inbox.handoffs,
    engine,
    halls: appointments.halls,
    appointments: appointments.appointments,
    cases: cases.cases,
    tickets: tickets.tickets,
    ratings: ratings.ratings,
    bills: bills.bills,
    inbox: inbox.inbox,
    reader: inbox.reader,
    stats: inbox.stats,
    emulator,
    capabilities,
    async close(graceMs = 0) {
      if (closed) return;
      closed = true;
      await core.jobs.stop();
      emulator?.pay.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
        // Requests in flight (a callback whose reply is being logged) get a moment to finish;
        // then whatever is left open (live-update streams) is cut.
        if (graceMs > 0) setTimeout(() => server.closeAllConnections(), graceMs).unref();
        else server.closeAllConnections();
      });
      await core.conversationLog.flush(); // nothing recorded is left behind in the group commit
      await core.kv.close();
      await core.db.destroy();
    },
  };
}
