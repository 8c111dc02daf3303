// weiban's full path: verify, decrypt, parse, de-duplicate, log, route, reply — on a SQLite file
// with the in-process store, or on PostgreSQL + Redis when DATABASE_URL / REDIS_URL say so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConversationLog } from '../../src/chat/log.ts';
import { createLogger } from '../../src/platform/log.ts';
import { dropSchema, sqliteDirect } from '../../src/platform/db.ts';
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
/**
 * Diagnostics for `BENCH_CALLBACK=parts` only (never in a target): what one part of the path costs,
 * measured by a server without it.
 * - `log-unwritten`: the conversation log's statements are skipped (every row taken as stored);
 *   everything else — its batching, the claim, routing, the session — runs as always.
 * - `no-checkpoint`: SQLite never copies its write-ahead log into the database file (the file grows
 *   for the length of the run); what the checkpoints cost, in CPU and in stalls.
 */
const diag = process.env.BENCH_DIAG ?? '';
if (diag === 'log-unwritten') {
  type Batch = { message: { msgKey: string | null }; reply: { msgKey: string | null } | null }[];
  const taken = (batch: Batch) => ({ inserted: new Set(batch.flatMap((p) => [p.message.msgKey, p.reply?.msgKey ?? null]).filter((k): k is string => k !== null)), replies: new Map() });
  const proto = ConversationLog.prototype as unknown as Record<string, unknown>;
  // Renamed methods would leave this diagnostic measuring the full path under its name.
  if (typeof proto.writeSqlite !== 'function' || typeof proto.writeOneStatement !== 'function') throw new Error('BENCH_DIAG=log-unwritten: ConversationLog no longer has writeSqlite/writeOneStatement');
  proto.writeSqlite = (_db: unknown, batch: Batch) => taken(batch);
  proto.writeOneStatement = async (batch: Batch) => taken(batch);
}
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
if (diag === 'no-checkpoint') await sqliteDirect(inst.db)!.run((db) => db.prepare('PRAGMA wal_autocheckpoint = 0').get());
process.send?.('ready');
process.on('SIGTERM', () =>
  void inst
    .close()
    .then(() => (pg && schema ? dropSchema(pg, schema) : undefined))
    .then(() => rmSync(dir, { recursive: true, force: true })) // the SQLite file: tens of MB per run
    .then(() => process.exit(0)),
);
