// Regenerates src/chat/data/jieba-dict.txt: the 50,000 most frequent words of @node-rs/jieba's
// default dictionary (with their frequencies and part-of-speech tags). The full dictionary
// (349,045 words) adds about 50 MB RSS when loaded; these 50,000 about 12 MB, and the catalogue's
// own words are added to them at start-up. Run: node --import tsx scripts/jieba-dict.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.ts';

const KEEP = 50_000;
const require = createRequire(import.meta.url);
const full = readFileSync(join(require.resolve('@node-rs/jieba/dict.txt')), 'utf8');
const lines = full.split('\n').filter(Boolean).map((l) => ({ l, f: Number(l.split(' ')[1]) }));
lines.sort((a, b) => b.f - a.f);
const kept = lines.slice(0, KEEP).map((x) => x.l).sort();
writeFileSync(join(PROJECT_ROOT, 'src/chat/data/jieba-dict.txt'), `${kept.join('\n')}\n`);
console.log(`kept ${kept.length} of ${lines.length} words`);
