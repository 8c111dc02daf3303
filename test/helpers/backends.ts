import { randomBytes } from 'node:crypto';

/**
 * The scale-out backends under test. They are used when DATABASE_URL / REDIS_URL are set (CI sets
 * both); when a URL is unset the suites that need it are skipped and say so in their names.
 */
export const PG_URL = process.env.DATABASE_URL && /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL) ? process.env.DATABASE_URL : undefined;
export const REDIS_URL = process.env.REDIS_URL || undefined;

export interface DbBackend {
  name: 'sqlite' | 'postgres';
  url: string | undefined;
  label: string;
}
export interface KvBackend {
  name: 'memory' | 'redis';
  url: string | undefined;
  label: string;
}

export const DB_BACKENDS: DbBackend[] = [
  { name: 'sqlite', url: 'sqlite::memory:', label: 'sqlite' },
  { name: 'postgres', url: PG_URL, label: PG_URL ? 'postgres' : 'postgres (SKIPPED: DATABASE_URL is not set to a postgres:// URL)' },
];

export const KV_BACKENDS: KvBackend[] = [
  { name: 'memory', url: undefined, label: 'memory' },
  { name: 'redis', url: REDIS_URL, label: REDIS_URL ? 'redis' : 'redis (SKIPPED: REDIS_URL is not set)' },
];

export function available(b: DbBackend | KvBackend): boolean {
  return b.name === 'sqlite' || b.name === 'memory' || !!b.url;
}

/** A fresh PostgreSQL schema / Redis prefix per test run, so runs and files never collide. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}
