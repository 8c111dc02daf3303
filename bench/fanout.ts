import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Emulator } from '../src/emulator/index.ts';
import { systemClock } from '../src/platform/clock.ts';
import { createLogger } from '../src/platform/log.ts';

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
  const emulator = new Emulator({
    account: { callbackUrl: 'http://127.0.0.1:9/wechat', originalId: 'gh_bench', appid: 'wx0000000000000bench', token: 'benchtoken', encoding: 'plain' },
    secret: 'bench-secret-0000',
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
  while (sent() < N / 2) {
    rss = Math.max(rss, peakRss(child.pid!));
    await new Promise((r) => setTimeout(r, 100));
  }
  rss = Math.max(rss, peakRss(child.pid!));
  child.kill('SIGKILL');
  const killedAt = sent();
  const tKill = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  child = await spawn(0);
  const tRestart = performance.now();
  let unique = 0;
  for (;;) {
    rss = Math.max(rss, peakRss(child.pid!));
    unique = ids.reduce((n, id) => n + (emulator.platform.inbox(id).some((i) => i.channel === 'template') ? 1 : 0), 0);
    if (unique === N) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const t1 = performance.now();
  const delivered = ids.reduce((n, id) => n + emulator.platform.inbox(id).filter((i) => i.channel === 'template').length, 0);
  const accepted = sent();
  child.kill('SIGTERM');
  server.close();
  const sendingSeconds = (tKill - t0 + (t1 - tRestart) - 120_000) / 1000; // minus the 2-minute lease a dead run holds the job for
  console.log('| recipients | killed after | sends accepted by the platform | in citizens\' WeChat | duplicates | time (s, lease wait excluded) | messages/s | weiban peak RSS (MB) |');
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(`| ${N} | ${killedAt} | ${accepted} | ${delivered} | ${delivered - N} | ${sendingSeconds.toFixed(1)} | ${(N / sendingSeconds).toFixed(0)} | ${rss.toFixed(0)} |`);
  console.log(`\nA send repeated after the kill carries the same client_msg_id and is dropped by the platform (accepted − delivered = ${accepted - delivered}).`);
}
