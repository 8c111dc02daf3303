// npm run bench -- search: query latency of the FAQ / service search over 10,000 entries, against a
// naive substring scan over the same entries in the same run, and the RSS the demo index adds.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { docsFromCatalogue, SearchIndex, type SearchDoc, type SearchHit } from '../src/chat/search.ts';
import { PROJECT_ROOT } from '../src/paths.ts';
import { startFlags } from './flags.ts';
import { faqSchema, serviceSchema, synonymsSchema } from '../src/profile/catalogue.ts';

const ENTRIES = 10_000;
const ROUNDS = Number(process.env.BENCH_SEARCH_ROUNDS ?? 20);
const NOW = Date.UTC(2026, 10, 24, 2, 0);

const read = (rel: string) => parseYaml(readFileSync(join(PROJECT_ROOT, rel), 'utf8'));

function demo() {
  const services = z.array(serviceSchema).parse(read('config/services.yaml'));
  const faq = z.array(faqSchema).parse(read('config/faq.yaml'));
  const synonyms = synonymsSchema.parse(read('config/synonyms.yaml'));
  return { docs: docsFromCatalogue(services, faq), synonyms };
}

function queries(): { q: string; ref: string }[] {
  const fx = read('test/fixtures/search-phrasings.yaml') as { positives: { q: string; ref: string }[]; negatives: { q: string; ref: string }[] };
  return [...fx.positives, ...fx.negatives].map((p) => ({ q: String(p.q), ref: p.ref }));
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

function time(run: (q: string) => unknown, qs: string[], rounds: number): { p50: number; p99: number; mean: number } {
  for (const q of qs) run(q); // warm up
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const q of qs) {
      const t0 = performance.now();
      run(q);
      ms.push(performance.now() - t0);
    }
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

function quality(search: (q: string) => SearchHit[], qs: { q: string; ref: string }[]): string {
  let at1 = 0;
  let pos = 0;
  let silent = 0;
  let neg = 0;
  for (const { q, ref } of qs) {
    const hits = search(q);
    if (ref === 'none') {
      neg++;
      if (!hits.length) silent++;
    } else {
      pos++;
      if (hits[0]?.ref === ref) at1++;
    }
  }
  return `hit@1 ${((100 * at1) / pos).toFixed(1)} %, negatives silent ${silent}/${neg}`;
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
  console.log(`\n## search: FAQ and service items, ${ENTRIES.toLocaleString('en')} entries, ${ROUNDS} rounds of the labelled phrasings\n`);
  const { docs, synonyms } = demo();
  const qs = queries();
  const texts = qs.map((x) => x.q);

  const rss = await measureRss();
  console.log(
    `demo catalogue (${docs.length} entries): loading search and building the index add ${mb(rss.after - rss.before)} MB RSS to an idle process ` +
      `(${mb(rss.before)} → ${mb(rss.after)} MB; ${mb(rss.afterQueries)} MB after ${rss.queries} queries) (target ≤ 15 MB)`,
  );

  const demoIndex = new SearchIndex(docs, { synonyms });
  const demoNaive = new NaiveScan(docs);
  console.log(`quality on the demo catalogue: search ${quality((q) => demoIndex.search(q, { now: NOW }), qs)}; naive scan ${quality((q) => demoNaive.search(q), qs)}`);

  const big = expand(docs, ENTRIES);
  const t0 = performance.now();
  const index = new SearchIndex(big, { synonyms });
  const buildMs = performance.now() - t0;
  const naive = new NaiveScan(big);

  const ours = time((q) => index.search(q, { now: NOW }), texts, ROUNDS);
  const base = time((q) => naive.search(q), texts, Math.max(1, Math.ceil(ROUNDS / 5)));
  console.log(
    `10,000-entry index: built in ${buildMs.toFixed(0)} ms; keeps ${mb(rss.bigRetained)} MB (heap and typed arrays, after collection); ` +
      `peak RSS of a process building it ${mb(rss.bigPeakRss)} MB\n`,
  );
  console.log('| per query | p50 ms | p99 ms | mean ms |');
  console.log('|---|---:|---:|---:|');
  console.log(`| weiban search (segmentation, pinyin, synonyms, BM25F, coverage) | ${ours.p50.toFixed(3)} | ${ours.p99.toFixed(3)} | ${ours.mean.toFixed(3)} |`);
  console.log(`| baseline: naive substring scan (2-character windows) | ${base.p50.toFixed(3)} | ${base.p99.toFixed(3)} | ${base.mean.toFixed(3)} |`);
  console.log('');
  console.log(`naive / weiban: p50 ${(base.p50 / ours.p50).toFixed(1)}×, p99 ${(base.p99 / ours.p99).toFixed(1)}× faster`);
  console.log(`weiban p99: ${ours.p99.toFixed(2)} ms (target ≤ 5)`);
}
