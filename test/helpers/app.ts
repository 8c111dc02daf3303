import { afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FakeClock } from '../../src/platform/clock.ts';
import { dropSchema } from '../../src/platform/db.ts';
import { createLogger, type Logger } from '../../src/platform/log.ts';
import { parseProfile, resolveIncludes } from '../../src/profile/load.ts';
import { start, type Instance, type StartOptions } from '../../src/server.ts';
import { PG_URL, REDIS_URL, uniqueName } from './backends.ts';

const CONFIG_DIR = join(import.meta.dirname, '..', '..', 'config');

/** Each profile file as read, once per test file (the YAML took a fifth of a test app's start). */
const profilesRead = new Map<string, Record<string, any>>();

/** The demo profile (or another profile file) as plain data, for tests to adjust: a fresh copy each time. */
export function demoProfileRaw(file = join(CONFIG_DIR, 'profile.yaml')): Record<string, any> {
  let read = profilesRead.get(file);
  if (!read) {
    const inc = resolveIncludes(parseYaml(readFileSync(file, 'utf8')), dirname(file));
    if (inc.problems.length) throw new Error(inc.problems.join('\n'));
    read = inc.raw as Record<string, any>;
    profilesRead.set(file, read);
  }
  return structuredClone(read);
}

export interface TestAppOptions {
  db?: 'sqlite' | 'postgres';
  kv?: 'memory' | 'redis';
  clock?: FakeClock;
  /** Change the demo profile before it is validated. */
  profile?: (p: Record<string, any>) => void;
  /** Start another profile than the demo's (an example under profiles/). */
  profileFile?: string;
  runJobs?: boolean;
  log?: Logger;
  /** Share a PostgreSQL schema / Redis prefix with another instance (multi-instance tests). */
  shared?: string;
  /** The staff panel's timings. */
  admin?: StartOptions['admin'];
}

export interface TestApp extends Instance {
  clock: FakeClock;
}

/** A 2026 working Monday, 10:00 China time. */
export const MONDAY_10AM = Date.UTC(2026, 10, 23, 2, 0, 0);

/**
 * Start the whole account in-process on a free port: the demo profile, the chosen backends and a
 * fake clock (by default), with the emulator mounted.
 */
export async function startTestApp(o: TestAppOptions = {}): Promise<TestApp> {
  const file = o.profileFile ?? join(CONFIG_DIR, 'profile.yaml');
  const raw = demoProfileRaw(file);
  raw.wechat.reply_timeout_ms ??= 4000;
  o.profile?.(raw);
  const profile = parseProfile(raw, 'test profile');
  const clock = o.clock ?? new FakeClock(MONDAY_10AM);
  const dbKind = o.db ?? 'sqlite';
  const kvKind = o.kv ?? 'memory';
  if (dbKind === 'postgres' && !PG_URL) throw new Error('postgres requested but DATABASE_URL is not set');
  if (kvKind === 'redis' && !REDIS_URL) throw new Error('redis requested but REDIS_URL is not set');
  const schema = o.shared ?? uniqueName('t');
  const uploadDir = mkdtempSync(join(tmpdir(), 'weiban-uploads-'));
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: dbKind === 'postgres' ? PG_URL : o.shared ? `sqlite:${join('/tmp', `${o.shared}.sqlite`)}` : 'sqlite::memory:',
    REDIS_URL: kvKind === 'redis' ? REDIS_URL : '',
  };
  const inst = await start({
    env,
    clock,
    log: o.log ?? createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    profile: { profile, file, dir: dirname(file) },
    port: 0,
    host: '127.0.0.1',
    runJobs: o.runJobs ?? false,
    uploadDir,
    // Cheap password hashing keeps tests fast; test/admin/passwords.test.ts checks the real cost.
    admin: { passwordCost: { logN: 10, r: 8, p: 1 }, ...o.admin },
    ...(dbKind === 'postgres' || kvKind === 'redis' ? { dbSchema: schema } : {}),
  });
  const close = inst.close.bind(inst);
  return Object.assign(inst, {
    clock,
    async close() {
      await close();
      rmSync(uploadDir, { recursive: true, force: true }); // each test app's uploads: one directory per app, left behind before
      if (dbKind === 'postgres' && !o.shared) await dropSchema(PG_URL!, schema);
    },
  });
}

/**
 * For a test file: the returned function starts a test app, and every app it started is closed
 * after each test.
 */
export function appsClosedAfterEach(): (o?: TestAppOptions) => Promise<TestApp> {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  return async (o = {}) => {
    const a = await startTestApp(o);
    apps.push(a);
    return a;
  };
}
