// Child process of `npm run bench -- search`: the RSS that loading the search module and building
// the demo catalogue's index add to an otherwise idle process, and what a 10,000-entry index keeps. Search is imported only after the
// first reading; yaml, zod and the parsed catalogue are loaded before it (the server has them anyway).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROJECT_ROOT } from '../src/paths.ts';
import { faqSchema, serviceSchema, synonymsSchema } from '../src/profile/catalogue.ts';

const read = (rel: string) => parseYaml(readFileSync(join(PROJECT_ROOT, rel), 'utf8'));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().rss;
};

const services = z.array(serviceSchema).parse(read('config/services.yaml'));
const faq = z.array(faqSchema).parse(read('config/faq.yaml'));
const synonyms = synonymsSchema.parse(read('config/synonyms.yaml'));
const fx = read('test/fixtures/search-phrasings.yaml') as { positives: { q: unknown }[]; negatives: { q: unknown }[] };
const queries = [...fx.positives, ...fx.negatives].map((p) => String(p.q));
const now = Date.UTC(2026, 10, 24, 2, 0);

const before = settle();
const { SearchIndex, docsFromCatalogue } = await import('../src/chat/search.ts');
const index = new SearchIndex(docsFromCatalogue(services, faq), { synonyms });
const after = settle();
for (let r = 0; r < 50; r++) for (const q of queries) index.search(q, { now });
const afterQueries = settle();

// The same for the 10,000-entry catalogue of the latency figures: what the index keeps (heap and
// typed arrays, after collection) and the peak RSS while building it.
const retained = () => {
  settle();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const { expand } = await import('./search.ts');
const big = expand(docsFromCatalogue(services, faq), 10_000);
const r0 = retained();
const bigIndex = new SearchIndex(big, { synonyms });
const r1 = retained();
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
bigIndex.search('社保卡', { now });
process.send!({ before, after, afterQueries, queries: 50 * queries.length, bigRetained: r1 - r0, bigPeakRss: hwm });
process.disconnect();
