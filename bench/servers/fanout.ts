// weiban sending a mass notice against an emulator in another process (so a kill -9 of weiban
// leaves the platform's record of what was sent intact). SEED=n creates the notice to n followers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../src/paths.ts';
import { createLogger } from '../../src/platform/log.ts';
import { parseProfile, resolveIncludes } from '../../src/profile/load.ts';
import { start } from '../../src/server.ts';
import { Notices, NoticeEntity, NoticeRecipientEntity } from '../../src/services/notices/index.ts';

const configDir = join(PROJECT_ROOT, 'config');
const { raw: loaded, included } = resolveIncludes(parse(readFileSync(join(configDir, 'profile.yaml'), 'utf8')), configDir);
const raw = loaded as Record<string, any>;
const platform = `http://127.0.0.1:${process.env.EMULATOR_PORT}/emulator`;
raw.wechat = { ...raw.wechat, api_base_url: platform, oauth_base_url: platform };
raw.emulator = { enabled: false, citizens: [] };
// The demo pays through its own emulator, which this process does not run: no payments, no fees.
raw.pay = { ...raw.pay, enabled: false };
for (const s of raw.services ?? []) {
  delete s.fee_fen;
  if (s.appointment) delete s.appointment.fee_fen;
}
raw.menu.sync_on_start = false;
raw.bindings = { kinds: [], systems: [], events: [] }; // the demo's records and keys are for the emulator only
const inst = await start({
  env: { DATABASE_URL: process.env.DATABASE_FILE, REDIS_URL: '', NOTICES_PER_SECOND: process.env.NOTICES_PER_SECOND ?? '2000' },
  profile: { profile: parseProfile(raw, 'profile.yaml', included), file: join(configDir, 'profile.yaml'), dir: configDir },
  port: 0,
  host: '127.0.0.1',
  log: createLogger({ level: 'warn' }),
});
const seed = Number(process.env.SEED ?? 0);
if (seed > 0) {
  const t = inst.profile.templates.booking_reminder!;
  const now = Date.now();
  const notice = await inst.db.getRepository(NoticeEntity).save({
    template: 'booking_reminder',
    data: JSON.stringify({ thing1: '居住证签注集中办理', time2: '2026年12月5日起', thing3: '各社区事务受理服务中心', character_string4: 'NOTICE-1205' }),
    url: null, segment: 'all', status: 'sending', total: seed, sent: 0, failed: 0, delivered: 0, batches: 1, createdBy: 0, createdAt: now, startedAt: now, finishedAt: null,
  } as any);
  void t;
  for (let i = 0; i < seed; i += 1000) {
    await inst.db.getRepository(NoticeRecipientEntity).insert(
      Array.from({ length: Math.min(1000, seed - i) }, (_, k) => ({ noticeId: notice.id, openid: `o_fan_${String(i + k).padStart(6, '0')}`, status: 'pending' as const, msgid: null, delivery: null, sentAt: null })),
    );
  }
  await inst.jobs.enqueue(Notices.JOB, { noticeId: notice.id, generation: 1 }, { uniqueKey: `notice:${notice.id}:1:0` });
}
process.send?.('ready');
process.on('SIGTERM', () => void inst.close().then(() => process.exit(0)));
