// weiban in its own process for test/e2e/pay-kill.test.ts: the demo profile, its WeChat and WeChat
// Pay APIs pointed at an emulator in the parent process (EMULATOR_URL), on a SQLite file that
// outlives it (DATABASE_FILE). Its clock is the parent's (set over IPC), its jobs run when the
// parent says. It can kill itself with SIGKILL at a chosen point (a real kill -9, not an exit):
// KILL_AT_PAID=n inside the transaction of the n-th payment it applies (the bill updated, the rest
// not yet written, nothing committed); KILL_BEFORE_ANSWER=n once its n-th payment notification is
// applied and committed, before WeChat Pay gets the answer (so WeChat Pay sends it again).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../src/paths.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { createLogger } from '../../src/platform/log.ts';
import { parseProfile, resolveIncludes } from '../../src/profile/load.ts';
import { start } from '../../src/server.ts';
import { BillEntity, BillEventEntity, PayOrderEntity } from '../../src/services/bills/entities.ts';

const configDir = join(PROJECT_ROOT, 'config');
const { raw: loaded, included } = resolveIncludes(parse(readFileSync(join(configDir, 'profile.yaml'), 'utf8')), configDir);
const raw = loaded as Record<string, any>;
const emulatorUrl = process.env.EMULATOR_URL!;
raw.wechat = { ...raw.wechat, api_base_url: emulatorUrl, oauth_base_url: emulatorUrl };
raw.emulator = { enabled: false, citizens: [] };
raw.pay = { ...raw.pay, base_url: `${emulatorUrl}/pay` };
raw.menu.sync_on_start = false;
raw.bindings = { kinds: [], systems: [], events: [] }; // the demo's records and keys are for its own emulator only

const clock = new FakeClock(Number(process.env.NOW));
const port = Number(process.env.PORT);
const inst = await start({
  env: { DATABASE_URL: process.env.DATABASE_FILE, REDIS_URL: '', PUBLIC_URL: `http://127.0.0.1:${port}` },
  profile: { profile: parseProfile(raw, 'profile.yaml', included), file: join(configDir, 'profile.yaml'), dir: configDir },
  port,
  host: '127.0.0.1',
  clock,
  runJobs: false,
  log: createLogger({ level: 'silent' }),
});

const killAt = Number(process.env.KILL_AT_PAID ?? 0);
let paid = 0;
inst.bills.onPaid(async () => {
  if (++paid !== killAt) return;
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => undefined); // never goes on (the signal is on its way)
});

const killBeforeAnswer = Number(process.env.KILL_BEFORE_ANSWER ?? 0);
let answers = 0;
inst.server.prependListener('request', (req, res) => {
  if (!killBeforeAnswer || !req.url?.startsWith('/pay/notify')) return;
  const end = res.end.bind(res) as (...a: unknown[]) => typeof res;
  res.end = ((...a: unknown[]) => {
    if (res.statusCode === 204 && ++answers === killBeforeAnswer) process.kill(process.pid, 'SIGKILL');
    return end(...a);
  }) as typeof res.end;
});

type Command = { id: number; cmd: 'clock'; now: number } | { id: number; cmd: 'seed'; citizens: string[] } | { id: number; cmd: 'runDue' } | { id: number; cmd: 'report' };

async function handle(m: Command): Promise<unknown> {
  switch (m.cmd) {
    case 'clock':
      clock.set(m.now);
      return null;
    case 'seed': {
      // One bill per citizen, and its order opened at WeChat Pay (去支付): the pay sheet's parameters go back.
      const out: { openid: string; billId: number; outTradeNo: string; params: unknown }[] = [];
      for (const [i, openid] of m.citizens.entries()) {
        const bill = await inst.bills.issue({ openid, amountFen: 2_000 + i, description: '交通违法罚款', pays: { kind: 'event', ref: `KILL-${i}` } });
        const c = await inst.bills.checkout(openid, bill.id);
        out.push({ openid, billId: bill.id, outTradeNo: c.order.outTradeNo, params: c.params });
      }
      return out;
    }
    case 'runDue': {
      let n = 0;
      for (let ran = -1; ran !== 0; n += ran) ran = await inst.jobs.runDue();
      return n;
    }
    case 'report':
      return {
        bills: await inst.db.getRepository(BillEntity).find({ order: { id: 'ASC' } }),
        paidEvents: await inst.db.getRepository(BillEventEntity).findBy({ kind: 'paid' }),
        orders: await inst.db.getRepository(PayOrderEntity).find({ order: { id: 'ASC' } }),
        jobs: (await inst.jobs.list()).filter((j) => j.status !== 'done').map((j) => ({ name: j.name, status: j.status, runAt: j.runAt, lastError: j.lastError })),
      };
  }
}

process.on('message', (m: Command) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, result }),
    (err: Error) => process.send!({ id: m.id, error: `${err.message}\n${err.stack ?? ''}` }),
  );
});
process.on('SIGTERM', () => void inst.close().then(() => process.exit(0)));
process.send!({ ready: true });
