// npm run bench -- search: query latency of the FAQ / service search over 10,000 entries, against a
// naive substring scan over the same entries in the same run, and the RSS the demo index adds.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadLexicon } from '../src/chat/lexicon.ts';
import { CitizenSearch, docsFromProfile, type SearchDoc, type SearchHit } from '../src/chat/search.ts';
import { loadProfile } from '../src/profile/load.ts';
import { PROJECT_ROOT } from '../src/paths.ts';
import { startFlags } from './flags.ts';

const ENTRIES = 10_000;
const ROUNDS = Number(process.env.BENCH_SEARCH_ROUNDS ?? 20);
const NOW = Date.UTC(2026, 10, 24, 2, 0);

const read = (rel: string) => parseYaml(readFileSync(join(PROJECT_ROOT, rel), 'utf8'));

function demo() {
  const { profile } = loadProfile(join(PROJECT_ROOT, 'config', 'profile.yaml'));
  return { profile, docs: docsFromProfile(profile), synonyms: profile.synonyms };
}

interface Labelled {
  q: string;
  ref: string;
  also?: string;
  cat?: string;
}

/** The citizens' set (issue 13) and the older phrasings set, as labelled questions. */
function queries(): { citizens: Labelled[]; phrasings: Labelled[] } {
  const citizens = read('test/fixtures/search-citizens.yaml') as { positives: Labelled[]; negatives: Labelled[] };
  const phrasings = read('test/fixtures/search-phrasings.yaml') as { positives: Labelled[]; negatives: Labelled[] };
  const all = (fx: { positives: Labelled[]; negatives: Labelled[] }) => [...fx.positives, ...fx.negatives].map((p) => ({ ...p, q: String(p.q) }));
  return { citizens: all(citizens), phrasings: all(phrasings) };
}

const STREETS = ['天山路街道', '仙霞新村街道', '虹桥街道', '新华路街道', '华阳路街道', '江苏路街道', '周家桥街道', '程家桥街道', '北新泾街道', '新泾镇'];

/** 10,000 entries: the demo catalogue, then its entries again per street and window number. */
export function expand(base: SearchDoc[], n: number): SearchDoc[] {
  const out: SearchDoc[] = [...base];
  for (let i = base.length; i < n; i++) {
    const d = base[i % base.length]!;
    const round = Math.floor(i / base.length);
    const street = STREETS[round % STREETS.length]!;
    const no = Math.floor(round / STREETS.length) + 1;
    out.push({
      ...d,
      ref: `${d.ref}-${i}`,
      title: `${d.title}（${street}${no}号窗口）`,
      keywords: [...d.keywords, `${street}${d.keywords[0] ?? ''}`.slice(0, 20)],
      body: `${d.body}\n办理地点：${street}社区事务受理服务中心 ${no} 号窗口。`,
    });
  }
  return out;
}

/** The baseline: for each entry, how many of the query's two-character windows its text contains. */
class NaiveScan {
  private readonly texts: string[];
  constructor(private readonly docs: SearchDoc[]) {
    this.texts = docs.map((d) => [d.title, ...d.keywords, ...d.synonyms, d.body].join('\n').toLowerCase());
  }
  search(query: string, limit = 5): SearchHit[] {
    const q = query.normalize('NFKC').toLowerCase().replace(/[\s\p{P}]/gu, '').slice(0, 120);
    if (!q) return [];
    const windows = q.length === 1 ? [q] : Array.from({ length: q.length - 1 }, (_, i) => q.slice(i, i + 2));
    const top: { i: number; s: number }[] = [];
    for (let i = 0; i < this.texts.length; i++) {
      const t = this.texts[i]!;
      let s = 0;
      for (const w of windows) if (t.includes(w)) s++;
      if (s && (top.length < limit || s > top[top.length - 1]!.s)) {
        top.push({ i, s });
        top.sort((a, b) => b.s - a.s);
        if (top.length > limit) top.pop();
      }
    }
    return top.map(({ i, s }) => ({ ref: this.docs[i]!.ref, kind: this.docs[i]!.kind, title: this.docs[i]!.title, score: s, coverage: 1 }));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Wall time and CPU time (this process's user + system, µs resolution) of each query. On this
 * shared VM neighbours take the CPU for whole milliseconds (steal), which lands in the wall
 * figures of whatever runs then; the CPU figures are what a query costs.
 */
function time(run: (q: string) => unknown, qs: string[], rounds: number): { p50: number; p99: number; mean: number; cpuP50: number; cpuP99: number } {
  for (const q of qs) run(q); // warm up
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const q of qs) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      run(q);
      ms.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  ms.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), mean: ms.reduce((a, b) => a + b, 0) / ms.length, cpuP50: percentile(cpu, 50), cpuP99: percentile(cpu, 99) };
}

function quality(search: (q: string) => SearchHit[], qs: Labelled[], verdict?: (hits: SearchHit[]) => string): string {
  let strict = 0;
  let either = 0;
  let pos = 0;
  let loud = 0;
  let neg = 0;
  let atOnce = 0;
  let wrongAtOnce = 0;
  const byCat = new Map<string, [number, number]>();
  for (const p of qs) {
    const hits = search(p.q);
    if (p.ref === 'none') {
      neg++;
      if (hits.length) loud++;
      continue;
    }
    pos++;
    const got = hits[0]?.ref;
    if (got === p.ref) strict++;
    const right = got === p.ref || (p.also !== undefined && got === p.also);
    if (right) either++;
    if (verdict && hits.length && verdict(hits) === 'answer') {
      atOnce++;
      if (!right) wrongAtOnce++;
    }
    if (p.cat) {
      const c = byCat.get(p.cat) ?? [0, 0];
      c[1]++;
      if (right) c[0]++;
      byCat.set(p.cat, c);
    }
  }
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)} %`;
  const cats = byCat.size ? `; by kind ${[...byCat].map(([c, [a, b]]) => `${c} ${a}/${b}`).join(', ')}` : '';
  const once = verdict ? `; answered at once ${atOnce} (wrong ${wrongAtOnce})` : '';
  return `hit@1 ${pct(either, pos)} (strict, without 'also': ${pct(strict, pos)}), false answers ${loud}/${neg} (${pct(loud, neg)})${once}${cats}`;
}

interface RssReading {
  before: number;
  after: number;
  afterQueries: number;
  queries: number;
  bigRetained: number;
  bigPeakRss: number;
}

/** In a fresh process (bench/search-rss.ts), with the Node flags `npm start` uses. */
function measureRss(): Promise<RssReading> {
  const flags = startFlags();
  return new Promise((resolve, reject) => {
    const child = fork(join(import.meta.dirname, 'search-rss.js'), [], {
      execArgv: ['--expose-gc', ...flags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolve(m as RssReading));
    child.once('exit', (code) => (code ? reject(new Error(`search-rss exited with ${code}`)) : undefined));
  });
}

export async function benchSearch(): Promise<void> {
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  console.log(`\n## search: everything a citizen can be shown, ${ENTRIES.toLocaleString('en')} entries, ${ROUNDS} rounds of the labelled questions\n`);
  const { profile, docs, synonyms } = demo();
  const lexicon = loadLexicon();
  const { citizens, phrasings } = queries();
  const texts = [...citizens, ...phrasings].map((x) => x.q);

  const rss = await measureRss();
  console.log(
    `demo profile (${docs.length} entries): loading search (jieba, its dictionary, opencc's tables) and building the index add ${mb(rss.after - rss.before)} MB RSS to an idle process ` +
      `(${mb(rss.before)} → ${mb(rss.after)} MB; ${mb(rss.afterQueries)} MB after ${rss.queries} queries) (target ≤ 15 MB)`,
  );

  const demoSearch = new CitizenSearch(profile, lexicon);
  const demoNaive = new NaiveScan(docs);
  const ours = (q: string) => demoSearch.search(q, { now: NOW });
  const verdict = (h: SearchHit[]) => demoSearch.verdict(h);
  console.log(`\nthe citizens' set (test/fixtures/search-citizens.yaml: ${citizens.filter((c) => c.ref !== 'none').length} with an answer, ${citizens.filter((c) => c.ref === 'none').length} without):`);
  console.log(`- weiban search: ${quality(ours, citizens, verdict)}`);
  console.log(`- naive scan: ${quality((q) => demoNaive.search(q), citizens)}`);
  console.log(`the older phrasings set (test/fixtures/search-phrasings.yaml): weiban ${quality(ours, phrasings, verdict)}; naive ${quality((q) => demoNaive.search(q), phrasings)}`);
  console.log('targets: hit@1 ≥ 90 %, false answers ≤ 5 %');

  const big = expand(docs, ENTRIES);
  const t0 = performance.now();
  const search = CitizenSearch.overDocs(big, synonyms, lexicon);
  const buildMs = performance.now() - t0;
  const naive = new NaiveScan(big);

  const cpu = (run: (q: string) => unknown): number => {
    const c0 = process.cpuUsage();
    let n = 0;
    for (let r = 0; r < ROUNDS; r++) for (const q of texts) (run(q), n++);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  const timed = time((q) => search.search(q, { now: NOW }), texts, ROUNDS);
  const base = time((q) => naive.search(q), texts, Math.max(1, Math.ceil(ROUNDS / 5)));
  const cpuOurs = cpu((q) => search.search(q, { now: NOW }));
  console.log(
    `\n10,000-entry index: built in ${buildMs.toFixed(0)} ms; keeps ${mb(rss.bigRetained)} MB (heap and typed arrays, after collection); ` +
      `peak RSS of a process building it ${mb(rss.bigPeakRss)} MB\n`,
  );
  console.log('| per query | p50 ms | p99 ms | mean ms | CPU p50 ms | CPU p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const row = (name: string, t: ReturnType<typeof time>) =>
    console.log(`| ${name} | ${t.p50.toFixed(3)} | ${t.p99.toFixed(3)} | ${t.mean.toFixed(3)} | ${t.cpuP50.toFixed(3)} | ${t.cpuP99.toFixed(3)} |`);
  row('weiban search (reading: English, traditional, jieba, lexicon; pinyin, synonyms, BM25F, coverage)', timed);
  row('baseline: naive substring scan (2-character windows)', base);
  console.log('');
  console.log(`naive / weiban: p50 ${(base.p50 / timed.p50).toFixed(1)}×, p99 ${(base.p99 / timed.p99).toFixed(1)}× faster`);
  console.log(`weiban: CPU ${cpuOurs.toFixed(0)} µs per query on average; p99 ${timed.p99.toFixed(2)} ms wall, ${timed.cpuP99.toFixed(2)} ms CPU (target ≤ 5)`);
}
