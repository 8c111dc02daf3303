import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startFlags } from './flags.ts';
import { callbackRequest } from './wire.ts';

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  rssMb: number;
  errors: number;
  p99At70?: number;
  rpsAt70?: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

async function startServer(script: string, port: number, env: Record<string, string>): Promise<ChildProcess> {
  // Runs compiled (npm run bench builds first), as `npm start` does in production.
  const child = fork(join(import.meta.dirname, 'servers', script.replace(/\.ts$/, '.js')), [], {
    env: { ...process.env, PORT: String(port), ...env, LOG_LEVEL: 'warn' },
    execArgv: script.startsWith('weiban') ? startFlags() : [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return child;
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * Requests are prepared before the clock starts (unique MsgIds, valid signatures), so the load
 * generator, which shares this machine's cores with the server, does the same cheap work for
 * every server instead of encrypting on the fly for some of them.
 */
function pool(mode: 'plain' | 'safe', size: number): { path: string; body: string }[] {
  return Array.from({ length: size }, () => callbackRequest(mode));
}

async function load(port: number, mode: 'plain' | 'safe' | 'fixed', opts: { seconds: number; rate?: number }) {
  const prepared = pool(mode === 'fixed' ? 'plain' : mode, Math.min(250_000, Math.ceil((opts.rate ?? 12_000) * opts.seconds)));
  let next = 0;
  const r = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: opts.seconds,
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
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, timeouts: r.timeouts };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Contender {
  name: string;
  script: string;
  env: Record<string, string>;
  mode: 'plain' | 'safe' | 'fixed';
  port: number;
  at70: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * All servers run side by side (an idle one costs nothing) and are measured in interleaved
 * rounds — ceiling, peer, weiban, ceiling, peer, weiban … — each figure the median of its rounds.
 * This machine is a VM whose CPU is sometimes taken by its neighbours for seconds at a time
 * (vmstat's "st" column); interleaving spreads that over every contender instead of letting it
 * land on one, so the ratios hold still even when the absolute figures do not.
 */
async function measureAll(contenders: Contender[]): Promise<Result[]> {
  const children: ChildProcess[] = [];
  try {
    for (const c of contenders) children.push(await startServer(c.script, c.port, c.env));
    for (const c of contenders) await load(c.port, c.mode, { seconds: 2 }); // warm up (JIT, caches, SQLite pages)
    const runs = contenders.map(() => [] as Awaited<ReturnType<typeof load>>[]);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, c] of contenders.entries()) runs[i]!.push(await load(c.port, c.mode, { seconds: SECONDS }));
    }
    const out: Result[] = [];
    for (const [i, c] of contenders.entries()) {
      const rs = runs[i]!;
      const res: Result = {
        name: c.name,
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        rssMb: 0,
        errors: rs.reduce((n, x) => n + x.errors, 0),
      };
      if (c.at70) {
        const at = await load(c.port, c.mode, { seconds: SECONDS, rate: Math.max(1, Math.floor(res.rps * 0.7)) });
        res.p99At70 = at.p99;
        res.rpsAt70 = at.rps;
        res.errors += at.errors;
      }
      res.rssMb = peakRssMb(children[i]!.pid!);
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

export async function benchCallback(): Promise<void> {
  console.log(`\n## WeChat callback: ${ROUNDS} interleaved rounds of ${SECONDS}s per server (medians), ${CONNECTIONS} connections, one machine (load generator and servers share its cores)\n`);
  const results = await measureAll([
    { name: 'ceiling: bare Koa, fixed XML', script: 'ceiling.ts', env: {}, mode: 'fixed', port: 3901, at70: false },
    { name: 'peer: co-wechat 2.4.0, plain', script: 'peer.ts', env: { MODE: 'plain' }, mode: 'plain', port: 3902, at70: false },
    { name: 'peer: co-wechat 2.4.0, safe', script: 'peer.ts', env: { MODE: 'safe' }, mode: 'safe', port: 3903, at70: false },
    { name: 'weiban full path, plain', script: 'weiban.ts', env: { MODE: 'plain' }, mode: 'plain', port: 3904, at70: true },
    { name: 'weiban full path, safe', script: 'weiban.ts', env: { MODE: 'safe' }, mode: 'safe', port: 3905, at70: true },
  ]);
  const by = (n: string) => results.find((r) => r.name.startsWith(n))!;
  const ceiling = by('ceiling');
  console.log('| server | req/s | p50 ms | p99 ms | p99 ms at 70% of own peak | peak RSS MB | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.p99At70 ?? '–'} | ${r.rssMb.toFixed(0)} | ${r.errors} |`);
  }
  const ws = by('weiban full path, safe');
  const wp = by('weiban full path, plain');
  const ps = by('peer: co-wechat 2.4.0, safe');
  const pp = by('peer: co-wechat 2.4.0, plain');
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log('');
  console.log(`weiban safe / peer safe:   ${ratio(ws.rps, ps.rps)}×   (target ≥ 1.0)`);
  console.log(`weiban plain / peer plain: ${ratio(wp.rps, pp.rps)}×`);
  console.log(`weiban safe / ceiling:     ${ratio(ws.rps, ceiling.rps)}×   (target ≥ 0.5)`);
  console.log(`weiban plain / ceiling:    ${ratio(wp.rps, ceiling.rps)}×`);
  console.log(`weiban safe p99 at 70% of its peak: ${ws.p99At70} ms (target ≤ 25); plain: ${wp.p99At70} ms`);
  console.log(`weiban peak RSS: safe ${ws.rssMb.toFixed(0)} MB, plain ${wp.rssMb.toFixed(0)} MB (target ≤ 150)`);
}
