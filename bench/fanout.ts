import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Emulator } from '../src/emulator/index.ts';
import { systemClock } from '../src/platform/clock.ts';
import { createLogger } from '../src/platform/log.ts';
import { PROJECT_ROOT } from '../src/paths.ts';
import { loadProfile } from '../src/profile/load.ts';

const N = Number(process.env.FANOUT_RECIPIENTS ?? 100_000);
const RATE = process.env.NOTICES_PER_SECOND ?? '2000';

function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A mass notice to N followers, sent by weiban (its own process) through the emulator (this one):
 * the time it takes, weiban's peak RSS, and the duplicates after weiban is killed with SIGKILL
 * half-way and started again (the job is taken over when its lease ends).
 */
export async function benchFanout(): Promise<void> {
  // The demo's own credentials: weiban (in its process) asks this emulator for its access token with them.
  const { profile } = loadProfile(join(PROJECT_ROOT, 'config', 'profile.yaml'), {});
  const emulator = new Emulator({
    account: { callbackUrl: 'http://127.0.0.1:9/wechat', originalId: profile.wechat.original_id, appid: profile.wechat.appid, token: profile.wechat.token, encoding: 'plain' },
    secret: profile.wechat.appsecret,
    clock: systemClock,
    log: createLogger({ level: 'silent' }),
    templates: [{ id: 'TPL_DEMO_BOOKING_REMINDER', title: '预约办事提醒', fields: ['thing1', 'time2', 'thing3', 'character_string4'] }],
  });
  emulator.platform.templateDailyQuota = N * 2;
  const ids = Array.from({ length: N }, (_, i) => `o_fan_${String(i).padStart(6, '0')}`);
  for (const id of ids) emulator.platform.setSubscribed(emulator.platform.citizen(id).openid, true);
  const app = new Koa();
  app.use(emulator.routes().routes());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  const dbFile = join(mkdtempSync(join(tmpdir(), 'weiban-fanout-')), 'f.sqlite');
  const sent = () => emulator.platform.calls.filter((c) => c.path === '/cgi-bin/message/template/send' && c.errcode === 0).length;

  const spawn = (seed: number) =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child = fork(join(import.meta.dirname, 'servers', 'fanout.js'), [], {
        env: { ...process.env, EMULATOR_PORT: String(port), DATABASE_FILE: dbFile, SEED: String(seed), NOTICES_PER_SECOND: RATE },
        execArgv: ['--enable-source-maps'],
      });
      child.once('message', () => resolve(child));
      child.once('error', reject);
    });

  console.log(`\n## fanout — a notice to ${N.toLocaleString()} followers (rate ${RATE}/s), weiban killed with SIGKILL half-way\n`);
  const t0 = performance.now();
  let child = await spawn(N);
  let rss = 0;
  const stalled = () => {
    throw new Error(`fanout: nothing sent for 30 s (sent ${sent()}; platform errors: ${emulator.platform.calls.filter((c) => c.errcode !== 0).slice(-3).map((c) => `${c.path} ${c.errcode}`).join(', ') || 'none'})`);
  };
  let last = -1;
  let since = performance.now();
  while (sent() < N / 2) {
    rss = Math.max(rss, peakRss(child.pid!));
    if (sent() !== last) [last, since] = [sent(), performance.now()];
    else if (performance.now() - since > 30_000) stalled();
    await new Promise((r) => setTimeout(r, 100));
  }
  rss = Math.max(rss, peakRss(child.pid!));
  child.kill('SIGKILL');
  const killedAt = sent();
  const tKill = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  child = await spawn(0);
  let tResumed = 0;
  let unique = 0;
  for (;;) {
    if (!tResumed && sent() > killedAt) tResumed = performance.now();
    rss = Math.max(rss, peakRss(child.pid!));
    unique = ids.reduce((n, id) => n + (emulator.platform.inbox(id).some((i) => i.channel === 'template') ? 1 : 0), 0);
    if (unique === N) break;
    await new Promise((r) => setTimeout(r, tResumed ? 1000 : 100));
  }
  const t1 = performance.now();
  const delivered = ids.reduce((n, id) => n + emulator.platform.inbox(id).filter((i) => i.channel === 'template').length, 0);
  const accepted = sent();
  child.kill('SIGTERM');
  server.close();
  // The stall: from the kill until sending resumes (a restart, and the lease of a batch the dead run held, up to 2 minutes).
  const stall = ((tResumed || t1) - tKill) / 1000;
  const sendingSeconds = (t1 - t0) / 1000 - stall;
  console.log('| recipients | killed after | sends accepted by the platform | in citizens\' WeChat | duplicates | sending time (s) | messages/s | stall after the kill (s) | weiban peak RSS (MB) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(`| ${N} | ${killedAt} | ${accepted} | ${delivered} | ${delivered - N} | ${sendingSeconds.toFixed(1)} | ${(N / sendingSeconds).toFixed(0)} | ${stall.toFixed(1)} | ${rss.toFixed(0)} |`);
  console.log(`\nA send repeated after the kill carries the same client_msg_id and is dropped by the platform (accepted − delivered = ${accepted - delivered}).`);
}
