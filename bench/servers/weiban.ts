// weiban's full path: verify, decrypt, parse, de-duplicate, log, route, reply — on a SQLite file
// with the in-process store, or on PostgreSQL + Redis when DATABASE_URL / REDIS_URL say so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { createLogger } from '../../src/platform/log.ts';
import { dropSchema } from '../../src/platform/db.ts';
import { parseProfile, resolveIncludes } from '../../src/profile/load.ts';
import { start } from '../../src/server.ts';
import { PROJECT_ROOT } from '../../src/paths.ts';
import { BENCH } from '../wire.ts';

const configDir = join(PROJECT_ROOT, 'config');
const { raw: loaded, included } = resolveIncludes(parse(readFileSync(join(configDir, 'profile.yaml'), 'utf8')), configDir);
const raw = loaded as Record<string, any>;
raw.wechat = { ...raw.wechat, appid: BENCH.appid, token: BENCH.token, aes_key: BENCH.aesKey, encoding: process.env.MODE === 'safe' ? 'safe' : 'plain', require_encryption: false };
raw.replies.default = BENCH.replyText;
raw.menu.sync_on_start = false;
const dir = mkdtempSync(join(tmpdir(), 'weiban-bench-'));
const pg = process.env.BENCH_DATABASE_URL;
const schema = pg ? `bench_${process.pid}_${Date.now().toString(36)}` : null;
const inst = await start({
  env: { DATABASE_URL: pg ?? join(dir, 'bench.sqlite'), REDIS_URL: process.env.BENCH_REDIS_URL ?? '' },
  profile: { profile: parseProfile(raw, 'profile.yaml', included), file: join(configDir, 'profile.yaml'), dir: configDir },
  port: Number(process.env.PORT),
  host: '127.0.0.1',
  log: createLogger({ level: 'warn' }),
  ...(schema ? { dbSchema: schema } : {}),
});
process.send?.('ready');
process.on('SIGTERM', () =>
  void inst
    .close()
    .then(() => (pg && schema ? dropSchema(pg, schema) : undefined))
    .then(() => rmSync(dir, { recursive: true, force: true })) // the SQLite file: tens of MB per run
    .then(() => process.exit(0)),
);
