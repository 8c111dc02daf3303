// Mutation testing of the critical modules: `npm run mutate -- <module>` (scripts/mutate.ts), by
// hand, not in CI. Each module is mutated on its own, with only the tests that belong to it.
import { readFileSync } from 'node:fs';

const MODULES = JSON.parse(readFileSync(new URL('./scripts/mutate-modules.json', import.meta.url), 'utf8'));

const name = process.env.WEIBAN_MUTATE_MODULE ?? 'pii';
const module = MODULES[name];
if (!module) throw new Error(`unknown module "${name}": one of ${Object.keys(MODULES).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  mutate: module.mutate,
  // 'all': every mutant meets all of its module's tests. Per-test selection (perTest) let mutants that
  // the tests kill survive here (vitest 4 with many it.each names), so it is not used.
  coverageAnalysis: 'all',
  // The machine is shared: two processes at most (scripts/mutate.ts also runs Stryker at nice 19).
  concurrency: Number(process.env.WEIBAN_MUTATE_CONCURRENCY ?? 2),
  timeoutMS: 15_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  // TypeScript 7 has no JavaScript API for Stryker's tsconfig rewriting, and nothing here needs it
  // (vitest transpiles the sandbox's sources itself): point it at no file.
  tsconfigFile: 'tsconfig.stryker-none.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  // Anchored at the root: an unanchored 'data' also left src/chat/data (the segmenter's dictionary) out of the sandbox.
  ignorePatterns: ['/data', '/dist', '/reports', '/test-results', '/bench/results', '/.stryker-tmp'],
  thresholds: { high: 90, low: 80, break: null },
};
