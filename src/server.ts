import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { migrations } from '../migrations/index.ts';
import { Accounts } from './admin/accounts.ts';
import { Audit } from './admin/audit.ts';
import type { ScryptCost } from './admin/passwords.ts';
import { adminRoutes } from './admin/routes.ts';
import { AttemptThrottle, StaffSessions, type SessionOptions, type ThrottleOptions } from './admin/sessions.ts';
import { buildApp } from './app.ts';
import { askDialog } from './chat/dialogs/ask.ts';
import { ChatEngine } from './chat/engine.ts';
import { Handoffs } from './chat/handoff.ts';
import { Conversation } from './chat/index.ts';
import { MenuSync } from './chat/menu.ts';
import { AppointmentChat } from './services/appointments/chat.ts';
import { Appointments, checkInScene } from './services/appointments/index.ts';
import { Cases } from './services/cases/index.ts';
import { CaseChat } from './services/cases/chat.ts';
import { caseSection } from './admin/cases.ts';
import { hallSection } from './admin/halls.ts';
import { LocalDiskStorage } from './platform/storage.ts';
import { Halls } from './services/halls/index.ts';
import { h5Routes } from './h5/index.ts';
import { docsFromCatalogue, SearchIndex } from './chat/search.ts';
import { ConversationLog } from './chat/log.ts';
import { Outbox } from './chat/outbox.ts';
import { defaultHost, Emulator } from './emulator/index.ts';
import { answerRoutes } from './inbox/answer-page.ts';
import { Inbox } from './inbox/inbox.ts';
import { InboxReader } from './inbox/queries.ts';
import { ratingRoute } from './inbox/rating.ts';
import { Stats } from './inbox/stats.ts';
import { entities } from './entities.ts';
import { WorkingCalendar, loadCalendarData } from './platform/calendar.ts';
import { systemClock, type Clock } from './platform/clock.ts';
import { openDatabase, parseDatabaseUrl } from './platform/db.ts';
import { JobQueue } from './platform/jobs.ts';
import { openKv, type Kv } from './platform/kv/index.ts';
import { createLogger, type Logger } from './platform/log.ts';
import { loadProfile, type LoadedProfile } from './profile/load.ts';
import type { Profile } from './profile/schema.ts';
import { WeChatApi } from './wechat/api/index.ts';

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  log?: Logger;
  /** Use this profile instead of reading WEIBAN_PROFILE / config/profile.yaml. */
  profile?: LoadedProfile;
  /** 0 picks a free port. Default: PORT or 3000. */
  port?: number;
  /** Default: HOST, else loopback while the emulator is on and all interfaces otherwise. */
  host?: string;
  /** PostgreSQL schema (tests isolate runs this way). */
  dbSchema?: string;
  /** Start the job worker (default true). Tests drive jobs by hand. */
  runJobs?: boolean;
  /** Where uploads go when UPLOAD_DIR is not set (default ./data/uploads). */
  uploadDir?: string;
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
  accounts: Accounts;
  audit: Audit;
  inbox: Inbox;
  reader: InboxReader;
  stats: Stats;
  emulator: Emulator | null;
  server: Server;
  /** Stop: no new requests; those in flight get `graceMs` to finish (default: none). */
  close(graceMs?: number): Promise<void>;
}

/** The composition root: load the profile, open the stores, build the app, listen. */
export async function start(opts: StartOptions = {}): Promise<Instance> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger();
  const loaded = opts.profile ?? loadProfile(env.WEIBAN_PROFILE || join(process.cwd(), 'config', 'profile.yaml'), env);
  const { profile } = loaded;

  const calendar = new WorkingCalendar({ data: loadCalendarData(join(loaded.dir, profile.calendar)), hours: profile.service_hours });
  const year = calendar.localParts(clock.now()).year;
  for (const y of [year, year + 1]) {
    if (!calendar.covers(y)) log.warn({ year: y }, 'the holiday calendar has no data for this year: only weekends count as days off');
  }

  const db = await openDatabase({ target: parseDatabaseUrl(env.DATABASE_URL), entities, migrations, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}) });
  const kv = await openKv({ ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}), clock, ...(opts.dbSchema ? { prefix: `weiban:${opts.dbSchema}:` } : {}) });

  // Listen first: the emulator's address (and so the API's) depends on the port.
  const server = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('starting');
  });
  const port = opts.port ?? Number(env.PORT ?? 3000);
  const host = opts.host ?? defaultHost(env, profile.emulator.enabled);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  // How this process reaches itself (the emulator's callbacks, tests): any address it listens on.
  const self = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const local = `http://${self}:${actualPort}`;
  const publicUrl = (env.PUBLIC_URL || `http://localhost:${actualPort}`).replace(/\/$/, '');

  const w = profile.wechat;
  const emulatorUrl = `${local}/emulator`;
  const api = new WeChatApi({
    baseUrl: w.api_base_url === 'emulator' ? emulatorUrl : w.api_base_url,
    oauthBaseUrl: w.oauth_base_url === 'emulator' ? `${publicUrl}/emulator` : w.oauth_base_url,
    appid: w.appid,
    secret: w.appsecret,
    kv,
    clock,
    log: log.child({ component: 'wechat-api' }),
  });

  const jobs = new JobQueue(db, clock, log.child({ component: 'jobs' }));
  const conversationLog = new ConversationLog(db, clock);
  const outbox = new Outbox(jobs, api, conversationLog, log.child({ component: 'outbox' }));
  const audit = new Audit(db, clock);
  const accounts = new Accounts(db, clock, new Set(profile.departments.map((d) => d.id)), opts.admin?.passwordCost);
  // The inbox hands a closed conversation back to the bot; the bot routes ratings to the inbox.
  let engine: ChatEngine | null = null;
  const inbox = new Inbox({
    db,
    clock,
    calendar,
    profile,
    jobs,
    outbox,
    conversationLog,
    accounts,
    audit,
    publicUrl,
    logger: log.child({ component: 'inbox' }),
    handBack: (openid) => engine!.staffClosed(openid),
  });
  await inbox.adopt();
  const handoffs = new Handoffs(db, clock, inbox.intake);
  const halls = new Halls(profile.halls, calendar);
  const appointments = new Appointments({
    ds: db,
    clock,
    calendar,
    halls,
    services: profile.services,
    jobs,
    outbox,
    kv,
    templates: profile.templates,
    publicUrl,
    log: log.child({ component: 'appointments' }),
  });
  const uploadDir = env.UPLOAD_DIR || (opts.uploadDir ?? join(process.cwd(), 'data', 'uploads'));
  const cases = new Cases({
    ds: db,
    clock,
    calendar,
    jobs,
    outbox,
    kv,
    storage: new LocalDiskStorage(uploadDir),
    // 督办 goes to the department's supervisor, chosen as for an overdue conversation.
    supervisorOf: (department) => inbox.supervisorOf(department),
    onEscalate: (c, tx, supervisor) =>
      audit.record(
        {
          actor: { kind: 'system' },
          action: 'escalate',
          target: `case:${c.id}`,
          department: c.department,
          detail: `办件 ${c.caseNo} 超过承诺时限${supervisor ? `，督办人：${supervisor.name}（${supervisor.username}）` : '，本部门没有在岗负责人，由管理员督办'}`,
        },
        tx,
      ),
    departmentFor: (serviceId) => profile.departments.find((d) => d.handles.includes(serviceId))?.id ?? profile.inbox.default_department,
    services: profile.services,
    templates: profile.templates,
    publicUrl,
    log: log.child({ component: 'cases' }),
  });
  const caseChat = new CaseChat(cases, calendar, publicUrl, profile.conversation.tappable_numbers);
  const appointmentChat = new AppointmentChat(appointments, halls, calendar, clock, publicUrl, profile.conversation.tappable_numbers);
  engine = new ChatEngine({
    profile,
    clock,
    kv,
    calendar,
    handoffs,
    publicUrl,
    search: new SearchIndex(docsFromCatalogue(profile.services, profile.faq), { synonyms: profile.synonyms }),
    dialogs: { ask: askDialog, book: appointmentChat.bookDialog(), 'my-bookings': appointmentChat.myBookingsDialog(), progress: caseChat.progressDialog() },
    earlyRoutes: [ratingRoute(inbox), ...appointmentChat.earlyRoutes()],
    extraRoutes: [...appointmentChat.extraRoutes(), ...caseChat.extraRoutes()],
    logger: log.child({ component: 'chat' }),
    seed: (openid) => handoffs.sessionSeed(openid),
    saveAudience: (openid, audience) => conversationLog.setAudience(openid, audience),
  });
  const reader = new InboxReader(db, clock, accounts, inbox);
  const stats = new Stats(db, clock, calendar, profile, handoffs);
  const conversation = new Conversation({ profile, log: conversationLog, outbox, logger: log.child({ component: 'chat' }), engine });

  const emulator = profile.emulator.enabled
    ? new Emulator({
        account: { callbackUrl: `${local}/wechat`, originalId: w.original_id, appid: w.appid, token: w.token, ...(w.aes_key ? { aesKey: w.aes_key } : {}), encoding: w.encoding },
        secret: w.appsecret,
        clock,
        log: log.child({ component: 'emulator' }),
        citizens: profile.emulator.citizens,
        accountName: profile.account.name,
        publicUrl,
        templates: Object.values(profile.templates).map((t) => ({ id: t.id, title: t.title, fields: Object.keys(t.fields), labels: t.labels })),
      })
    : null;

  const admin = adminRoutes({
    profile,
    clock,
    calendar,
    kv,
    logger: log.child({ component: 'admin' }),
    accounts,
    audit,
    inbox,
    reader,
    stats,
    conversationLog,
    sessions: new StaffSessions(kv, clock, opts.admin?.sessions),
    throttle: new AttemptThrottle(kv, 'signin', opts.admin?.throttle),
    passwordThrottle: new AttemptThrottle(kv, 'password', opts.admin?.throttle),
    ...(opts.admin?.pulseMs ? { pulseMs: opts.admin.pulseMs } : {}),
    extend: [caseSection(cases, (id) => inbox.departmentName(id), async (id) => (await accounts.get(id))?.name ?? null), hallSection({ halls, appointments, api })],
  });
  const pages = h5Routes({ services: profile.services, halls, appointments, cases, calendar, api, kv, db, clock, publicUrl, log: log.child({ component: 'h5' }) });
  const answers = answerRoutes({
    db,
    calendar,
    accountName: profile.account.name,
    departmentName: (id) => inbox.departmentName(id),
    rating: { levels: inbox.settings.rating.levels, rate: (openid, handoffId, level) => inbox.rate(openid, handoffId, level) },
  });
  const app = buildApp({ profile, clock, log, db, kv, conversation, emulator, routers: [pages, admin, answers] });
  server.removeAllListeners('request');
  server.on('request', app.callback());

  if (opts.runJobs !== false) jobs.start();

  if (profile.emulator.enabled) {
    // In the demo, each hall's check-in code exists from the start so the phone page can scan it.
    for (const h of profile.halls) await api.qrcode.permanent(checkInScene(h.id)).catch((err) => log.warn({ err, hall: h.id }, 'check-in code not created'));
  }
  const menuSync = new MenuSync(profile, api, jobs, clock, publicUrl, log.child({ component: 'menu' }));
  if (profile.menu?.sync_on_start) {
    try {
      await menuSync.sync();
    } catch (err) {
      log.error({ err }, 'custom menu could not be synced; retrying in the background');
      await jobs.enqueue(MenuSync.JOB, {}, { delayMs: 60_000 });
    }
  }

  let closed = false;
  return {
    url: local,
    port: actualPort,
    host,
    profile,
    profileDir: loaded.dir,
    clock,
    log,
    db,
    kv,
    jobs,
    api,
    calendar,
    conversationLog,
    outbox,
    handoffs,
    engine,
    halls,
    appointments,
    cases,
    accounts,
    audit,
    inbox,
    reader,
    stats,
    emulator,
    server,
    async close(graceMs = 0) {
      if (closed) return;
      closed = true;
      await jobs.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
        // Requests in flight (a callback whose reply is being logged) get a moment to finish;
        // then whatever is left open (live-update streams) is cut.
        if (graceMs > 0) setTimeout(() => server.closeAllConnections(), graceMs).unref();
        else server.closeAllConnections();
      });
      await conversationLog.flush(); // nothing recorded is left behind in the group commit
      await kv.close();
      await db.destroy();
    },
  };
}
