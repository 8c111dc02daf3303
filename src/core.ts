import { weekdayMismatches } from './profile/facts.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { migrations } from '../migrations/index.ts';
import { Accounts } from './admin/accounts.ts';
import { Audit } from './admin/audit.ts';
import { Alerts } from './alerts/index.ts';
import type { ScryptCost } from './admin/passwords.ts';
import type { Core } from './capability.ts';
import { ConversationLog } from './chat/log.ts';
import { Outbox } from './chat/outbox.ts';
import { entities } from './entities.ts';
import { WorkingCalendar, loadCalendarData } from './platform/calendar.ts';
import { systemClock, type Clock } from './platform/clock.ts';
import { openDatabase, parseDatabaseUrl } from './platform/db.ts';
import { JobQueue } from './platform/jobs.ts';
import { openKv } from './platform/kv/index.ts';
import { createLogger, type Logger } from './platform/log.ts';
import { LocalDiskStorage } from './platform/storage.ts';
import { loadProfile, type LoadedProfile } from './profile/load.ts';
import { wording } from './profile/texts.ts';
import { WeChatApi } from './wechat/api/index.ts';

/**
 * Where the server listens when HOST does not say. While the emulator is mounted, whoever reaches
 * the server can act as any citizen (the phone page lists them, their inboxes and query codes, and
 * opens their pages), so by default only this machine may: loopback. Without it, all interfaces.
 */
export function defaultHost(env: NodeJS.ProcessEnv, emulatorEnabled: boolean): string {
  if (env.HOST) return env.HOST;
  return emulatorEnabled ? '127.0.0.1' : '0.0.0.0';
}

/** Whether the server can be reached only from this machine when it listens on `host`. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface CoreOptions {
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  log?: Logger;
  /** Use this profile instead of reading WEIBAN_PROFILE / config/profile.yaml. */
  profile?: LoadedProfile;
  /** 0 picks a free port. Default: PORT or 3000. */
  port?: number;
  /** Default: HOST, else loopback while the emulator is on and all interfaces otherwise. */
  host?: string;
  /** PostgreSQL schema and Redis key prefix (tests isolate runs this way). */
  dbSchema?: string;
  /** Where uploads go when UPLOAD_DIR is not set (default ./data/uploads). */
  uploadDir?: string;
  /** Password hashing cost for staff accounts (tests make it cheap). */
  passwordCost?: ScryptCost;
}

/**
 * What start-up says about the holiday calendar: a missing current year always (deadlines are
 * wrong today), a missing next year from October on (deadlines and promises reach into it), each
 * naming the year and what to do.
 */
export function calendarWarnings(calendar: WorkingCalendar, now: number, file: string): { year: number; message: string }[] {
  const { year, month } = calendar.localParts(now);
  const out: { year: number; message: string }[] = [];
  const todo = `add its holidays and 调休 working days to ${file} (see the README, "Next year's holidays")`;
  if (!calendar.covers(year)) out.push({ year, message: `the holiday calendar has no data for this year, ${year}: public holidays count as working days and 调休 weekends as days off until you ${todo}` });
  if (month >= 10 && !calendar.covers(year + 1)) {
    out.push({ year: year + 1, message: `the holiday calendar has no data for next year, ${year + 1}: deadlines and promises that reach into it count only weekends as days off; when the State Council publishes the arrangement (usually in November), ${todo}` });
  }
  return out;
}

/**
 * Open the platform every capability stands on: the profile (validated), the holiday calendar, the
 * database (migrated), the key-value store, the HTTP server (listening at once — the emulator's
 * address, and so the WeChat API's, depends on the port; it answers 503 until the app is attached),
 * the WeChat API client, jobs, the conversation log and outbox, staff accounts and the audit log.
 */
export async function openCore(opts: CoreOptions = {}): Promise<Core & { server: Server; port: number; host: string }> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger();
  const loaded = opts.profile ?? loadProfile(env.WEIBAN_PROFILE || join(process.cwd(), 'config', 'profile.yaml'), env);
  const { profile } = loaded;

  const calendar = new WorkingCalendar({ data: loadCalendarData(join(loaded.dir, profile.calendar)), hours: profile.service_hours });
  for (const w of calendarWarnings(calendar, clock.now(), join(loaded.dir, profile.calendar))) log.warn({ year: w.year }, w.message);
  // A citizen acts on a date the account names: its weekday must be the date's.
  for (const m of weekdayMismatches(profile)) log.warn({ path: m.path, date: m.date }, `${m.path}: "${m.said}" — ${m.date} is a ${m.actual}, not what the text says; correct the text`);

  const db = await openDatabase({ target: parseDatabaseUrl(env.DATABASE_URL), entities, migrations, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}) });
  const kv = await openKv({ ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}), clock, ...(opts.dbSchema ? { prefix: `weiban:${opts.dbSchema}:` } : {}) });

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
  const localUrl = `http://${self}:${actualPort}`;
  const publicUrl = (env.PUBLIC_URL || `http://localhost:${actualPort}`).replace(/\/$/, '');

  const w = profile.wechat;
  const api = new WeChatApi({
    baseUrl: w.api_base_url === 'emulator' ? `${localUrl}/emulator` : w.api_base_url,
    oauthBaseUrl: w.oauth_base_url === 'emulator' ? `${publicUrl}/emulator` : w.oauth_base_url,
    appid: w.appid,
    secret: w.appsecret,
    kv,
    clock,
    log: log.child({ component: 'wechat-api' }),
  });

  const jobs = new JobQueue(db, clock, log.child({ component: 'jobs' }));
  const conversationLog = new ConversationLog(db, clock);
  const accounts = new Accounts(db, clock, new Set(profile.departments.map((d) => d.id)), opts.passwordCost);
  const alerts = new Alerts({
    db,
    clock,
    calendar,
    kv,
    jobs,
    api,
    accounts,
    template: profile.templates.staff_alert,
    departmentName: (id) => profile.departments.find((d) => d.id === id)?.name ?? '',
    publicUrl,
    log: log.child({ component: 'alerts' }),
  });
  return {
    env,
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
    outbox: new Outbox(jobs, api, conversationLog, log.child({ component: 'outbox' })),
    accounts,
    audit: new Audit(db, clock),
    alerts,
    publicUrl,
    localUrl,
    wording: wording(profile.texts.vocabulary),
    storage: new LocalDiskStorage(env.UPLOAD_DIR || (opts.uploadDir ?? join(process.cwd(), 'data', 'uploads'))),
    server,
    port: actualPort,
    host,
  };
}
