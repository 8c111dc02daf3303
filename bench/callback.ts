import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startFlags } from './flags.ts';
import { callbackRequest } from './wire.ts';

type Mode = 'plain' | 'safe' | 'fixed' | 'retry';

interface Round {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Server CPU (user + system, all its threads) per answered request, µs. */
  cpuUs: number;
}

interface Result extends Round {
  name: string;
  rssMb: number;
  p99At70?: number;
  rpsAt70?: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const TICKS = 100; // USER_HZ: /proc's CPU times are in 1/100 s on Linux
/** The V8 flags of `npm start`, given to every server alike (none when `npm start` has none). */
const FLAGS = startFlags();

async function startServer(script: string, port: number, env: Record<string, string>): Promise<ChildProcess> {
  // Runs compiled (npm run bench builds first), as `npm start` does in production.
  const child = fork(join(import.meta.dirname, 'servers', script.replace(/\.ts$/, '.js')), [], {
    env: { ...process.env, PORT: String(port), ...env, LOG_LEVEL: 'warn' },
    execArgv: FLAGS,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return child;
}

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/** CPU time the process has used (user + system, every thread), in µs. */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS; // utime, stime (fields 14, 15)
}

/** Time the machine's CPUs spent stolen by the hypervisor, in ticks (the `st` of vmstat). */
function stealTicks(): { steal: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { steal: cpu[7] ?? 0, total: cpu.reduce((a, b) => a + b, 0) };
}

/**
 * Requests are prepared before the clock starts (unique MsgIds, valid signatures), so the load
 * generator, which shares this machine's cores with the server, does the same cheap work for
 * every server instead of encrypting on the fly for some of them.
 */
function pool(mode: 'plain' | 'safe', size: number): { path: string; body: string }[] {
  return Array.from({ length: size }, () => callbackRequest(mode));
}

type Prepared = { path: string; body: string }[];

async function fire(port: number, prepared: Prepared, opts: { seconds?: number; amount?: number; rate?: number }) {
  let next = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds ?? SECONDS }),
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req: any) => {
          const { path, body } = prepared[next++ % prepared.length]!;
          return { ...req, path, body, headers: { 'content-type': 'text/xml' } };
        },
      },
    ],
  });
}

async function load(port: number, pid: number, mode: Mode, opts: { seconds: number; rate?: number }): Promise<Round> {
  let prepared: Prepared;
  if (mode === 'retry') {
    // WeChat's retries of messages already answered: each sent once beforehand (not measured),
    // then again and again while measured.
    prepared = pool('safe', 4000);
    await fire(port, prepared, { amount: prepared.length });
  } else {
    prepared = pool(mode === 'fixed' ? 'plain' : mode, Math.min(250_000, Math.ceil((opts.rate ?? 12_000) * opts.seconds)));
  }
  const before = cpuUs(pid);
  const r = await fire(port, prepared, opts);
  const used = cpuUs(pid) - before;
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts, cpuUs: used / Math.max(1, r.requests.total) };
}

interface Contender {
  name: string;
  script: string;
  env: Record<string, string>;
  mode: Mode;
  port: number;
  at70: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * All servers run side by side (an idle one costs nothing) and are measured in interleaved
 * rounds — ceiling, floor, peer, weiban, ceiling, floor … — each figure the median of its rounds.
 * This machine is a VM whose CPU is sometimes taken by its neighbours for seconds at a time;
 * interleaving spreads that over every contender. Server CPU per request, read from /proc, is
 * the robust figure: req/s moves with the neighbours, CPU per request barely does.
 */
async function measureAll(contenders: Contender[]): Promise<Result[]> {
  const children: ChildProcess[] = [];
  try {
    for (const c of contenders) children.push(await startServer(c.script, c.port, c.env));
    for (const [i, c] of contenders.entries()) await load(c.port, children[i]!.pid!, c.mode, { seconds: 2 }); // warm up (JIT, caches, SQLite pages)
    const runs = contenders.map(() => [] as Round[]);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, c] of contenders.entries()) runs[i]!.push(await load(c.port, children[i]!.pid!, c.mode, { seconds: SECONDS }));
    }
    const out: Result[] = [];
    for (const [i, c] of contenders.entries()) {
      const rs = runs[i]!;
      const res: Result = {
        name: c.name,
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        cpuUs: median(rs.map((x) => x.cpuUs)),
        rssMb: 0,
        errors: rs.reduce((n, x) => n + x.errors, 0),
      };
      if (c.at70) {
        const at = await load(c.port, children[i]!.pid!, c.mode, { seconds: SECONDS, rate: Math.max(1, Math.floor(res.rps * 0.7)) });
        res.p99At70 = at.p99;
        res.rpsAt70 = at.rps;
        res.errors += at.errors;
      }
      res.rssMb = procStatus(children[i]!.pid!, 'VmHWM');
      out.push(res);
    }
    return out;
  } finally {
    for (const child of children) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
}

/** A fresh server at full load for SOAK_SECONDS: RSS at the end and at its peak. */
async function soak(c: Contender): Promise<{ rssEnd: number; rssPeak: number; rps: number; cpuUs: number }> {
  const child = await startServer(c.script, c.port, c.env);
  try {
    const r = await load(c.port, child.pid!, c.mode, { seconds: SOAK_SECONDS });
    return { rssEnd: procStatus(child.pid!, 'VmRSS'), rssPeak: procStatus(child.pid!, 'VmHWM'), rps: r.rps, cpuUs: r.cpuUs };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/**
 * What each part of weiban's path costs (`BENCH_CALLBACK=parts`): the floor, the peer and weiban
 * beside weiban servers that each lack one part — the log's statements, SQLite's checkpoints —
 * in the same interleaved rounds. Diagnostics, not targets: a server without its log loses
 * what the log guarantees.
 */
async function parts(base: Contender[], pg: Record<string, string> | null): Promise<void> {
  const weiban = base[2]!;
  const contenders: Contender[] = [
    ...base.map((c) => ({ ...c, at70: c === weiban })),
    { ...weiban, name: 'weiban, log statements skipped (diagnostic)', env: { ...weiban.env, BENCH_DIAG: 'log-unwritten' }, port: 3911, at70: true },
    { ...weiban, name: 'weiban, no SQLite checkpoints (diagnostic)', env: { ...weiban.env, BENCH_DIAG: 'no-checkpoint' }, port: 3912, at70: true },
  ];
  if (pg) {
    contenders.push({ ...weiban, name: 'weiban, PostgreSQL + Redis', env: { ...weiban.env, ...pg }, port: 3913, at70: false });
    contenders.push({ ...weiban, name: 'weiban, PostgreSQL + Redis, log statements skipped (diagnostic)', env: { ...weiban.env, ...pg, BENCH_DIAG: 'log-unwritten' }, port: 3914, at70: false });
  }
  const results = await measureAll(contenders);
  console.log('### What each part costs (diagnostic servers lack one part; not targets)\n');
  console.log('| server | req/s | server CPU µs/request | p99 ms | p99 ms at 70% of own peak | peak RSS MB | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.cpuUs.toFixed(0)} | ${r.p99} | ${r.p99At70 ?? '–'} | ${r.rssMb.toFixed(0)} | ${r.errors} |`);
  const cpu = (name: string) => results.find((r) => r.name.startsWith(name))?.cpuUs;
  const [floor, peer, full, unwritten] = [cpu('floor'), cpu('peer'), cpu(weiban.name), cpu('weiban, log statements skipped')];
  console.log(`\nthe log's statements: ${(full! - unwritten!).toFixed(0)} µs a message on SQLite; weiban without them: ${(peer! / unwritten!).toFixed(2)}× the peer, ${(floor! / unwritten!).toFixed(2)}× the floor by CPU/request`);
  const [pgFull, pgUnwritten] = [cpu('weiban, PostgreSQL + Redis'), cpu('weiban, PostgreSQL + Redis, log statements skipped')];
  if (pgFull && pgUnwritten) console.log(`on PostgreSQL + Redis: the log's statement ${(pgFull - pgUnwritten).toFixed(0)} µs a message; the rest of the path ${(pgUnwritten - unwritten!).toFixed(0)} µs dearer than on SQLite (Redis: claim, session, answered mark)`);
  console.log('');
}

export async function benchCallback(): Promise<void> {
  const pg = process.env.DATABASE_URL && /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL) && process.env.REDIS_URL ? { BENCH_DATABASE_URL: process.env.DATABASE_URL, BENCH_REDIS_URL: process.env.REDIS_URL } : null;
  const plain = process.env.BENCH_PLAIN === '1';
  const sections = (process.env.BENCH_CALLBACK ?? 'rounds,soak').split(','); // and 'parts', only when asked
  console.log(
    `\n## WeChat callback: ${ROUNDS} interleaved rounds of ${SECONDS}s per server (medians), ${CONNECTIONS} connections, one machine (load generator and servers share its cores); V8 flags for every server: ${FLAGS.join(' ') || 'none'}\n`,
  );
  const contenders: Contender[] = [
    { name: 'ceiling: bare Koa, fixed XML', script: 'ceiling.ts', env: {}, mode: 'fixed', port: 3901, at70: false },
    { name: 'floor: bare Koa + weiban protocol code, safe, nothing stored', script: 'floor.ts', env: {}, mode: 'safe', port: 3902, at70: false },
    { name: 'peer: co-wechat 2.4.0, safe', script: 'peer.ts', env: { MODE: 'safe' }, mode: 'safe', port: 3903, at70: false },
    { name: 'weiban full path, safe (SQLite file, in-process store)', script: 'weiban.ts', env: { MODE: 'safe' }, mode: 'safe', port: 3904, at70: true },
    { name: 'weiban safe, WeChat retries of answered messages', script: 'weiban.ts', env: { MODE: 'safe' }, mode: 'retry', port: 3905, at70: false },
  ];
  if (pg) contenders.push({ name: 'weiban full path, safe, PostgreSQL + Redis', script: 'weiban.ts', env: { MODE: 'safe', ...pg }, mode: 'safe', port: 3906, at70: false });
  if (plain) {
    contenders.push({ name: 'peer: co-wechat 2.4.0, plain', script: 'peer.ts', env: { MODE: 'plain' }, mode: 'plain', port: 3907, at70: false });
    contenders.push({ name: 'weiban full path, plain', script: 'weiban.ts', env: { MODE: 'plain' }, mode: 'plain', port: 3908, at70: false });
  }
  const steal0 = stealTicks();
  const started = Date.now();
  if (sections.includes('parts')) await parts(contenders.slice(1, 4), pg);
  if (sections.includes('rounds')) {
    const results = await measureAll(contenders);
    const by = (n: string) => results.find((r) => r.name.startsWith(n));
    console.log('| server | req/s | server CPU µs/request | p50 ms | p99 ms | p99 ms at 70% of own peak | peak RSS MB | errors |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.cpuUs.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.p99At70 ?? '–'} | ${r.rssMb.toFixed(0)} | ${r.errors} |`);
    }
    const ws = by('weiban full path, safe (')!;
    const peer = by('peer: co-wechat 2.4.0, safe')!;
    const floor = by('floor')!;
    const ceiling = by('ceiling')!;
    const retry = by('weiban safe, WeChat retries')!;
    const both = (name: string, a: Result, b: Result, target: number) =>
      console.log(`${name}: ${(b.cpuUs / a.cpuUs).toFixed(2)}× by CPU/request, ${(a.rps / b.rps).toFixed(2)}× by req/s   (target ≥ ${target})`);
    console.log('');
    both('weiban safe vs peer safe  ', ws, peer, 1.2);
    both('weiban safe vs floor      ', ws, floor, 0.7);
    both('weiban safe vs ceiling    ', ws, ceiling, 0);
    console.log(`a retry costs ${(retry.cpuUs / ws.cpuUs).toFixed(2)}× a fresh message by CPU/request (${retry.cpuUs.toFixed(0)} vs ${ws.cpuUs.toFixed(0)} µs; target ≤ 1.0)`);
    console.log(`weiban safe p99 at 70% of its peak (${ws.rpsAt70?.toFixed(0)} req/s): ${ws.p99At70} ms (target ≤ 20)`);
    const wpg = by('weiban full path, safe, PostgreSQL');
    if (wpg) both('one instance on PostgreSQL + Redis vs one on SQLite', wpg, ws, 0.8);
    else console.log('PostgreSQL + Redis: not measured (set DATABASE_URL=postgres://… and REDIS_URL)');
    if (plain) both('weiban plain vs peer plain', by('weiban full path, plain')!, by('peer: co-wechat 2.4.0, plain')!, 1.2);
  }
  if (sections.includes('soak')) {
    console.log(`\n### ${SOAK_SECONDS} s at full load, each server fresh (V8 flags: ${FLAGS.join(' ') || 'none'})\n`);
    console.log('| server | req/s | server CPU µs/request | RSS at the end MB | peak RSS MB |');
    console.log('|---|---:|---:|---:|---:|');
    for (const c of [contenders[2]!, contenders[3]!]) {
      const s = await soak(c);
      console.log(`| ${c.name} | ${s.rps.toFixed(0)} | ${s.cpuUs.toFixed(0)} | ${s.rssEnd.toFixed(0)} | ${s.rssPeak.toFixed(0)} |`);
    }
    console.log('(target: weiban ≤ 150 MB at the end of the run)');
  }
  const steal1 = stealTicks();
  console.log(`\nmachine: ${(((steal1.steal - steal0.steal) / Math.max(1, steal1.total - steal0.total)) * 100).toFixed(1)} % of CPU time stolen by the hypervisor over ${((Date.now() - started) / 1000).toFixed(0)} s; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}
