// Child process of `npm run bench -- search`: the RSS that loading search (jieba and its
// dictionary, opencc's tables, the lexicon) and building the demo profile's index add to an
// otherwise idle process, and what a 10,000-entry index keeps. Search is imported only after the
// first reading; yaml, zod and the parsed profile are loaded before it (the server has them anyway).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PROJECT_ROOT } from '../src/paths.ts';
import { loadProfile } from '../src/profile/load.ts';

const read = (rel: string) => parseYaml(readFileSync(join(PROJECT_ROOT, rel), 'utf8'));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().rss;
};

const { profile } = loadProfile(join(PROJECT_ROOT, 'config', 'profile.yaml'));
const fx = read('test/fixtures/search-citizens.yaml') as { positives: { q: unknown }[]; negatives: { q: unknown }[] };
const queries = [...fx.positives, ...fx.negatives].map((p) => String(p.q));
const now = Date.UTC(2026, 10, 24, 2, 0);

const before = settle();
const { CitizenSearch, docsFromProfile } = await import('../src/chat/search.ts');
const { loadLexicon } = await import('../src/chat/lexicon.ts');
const lexicon = loadLexicon();
const search = new CitizenSearch(profile, lexicon);
const after = settle();
for (let r = 0; r < 50; r++) for (const q of queries) search.search(q, { now });
const afterQueries = settle();

// The same for the 10,000-entry catalogue of the latency figures: what the index keeps (heap and
// typed arrays, after collection) and the peak RSS while building it.
const retained = () => {
  settle();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const { expand } = await import('./search.ts');
const big = expand(docsFromProfile(profile), 10_000);
const r0 = retained();
const bigIndex = CitizenSearch.overDocs(big, profile.synonyms, lexicon);
const r1 = retained();
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
bigIndex.search('社保卡', { now });
process.send!({ before, after, afterQueries, queries: 50 * queries.length, bigRetained: r1 - r0, bigPeakRss: hwm });
process.disconnect();
