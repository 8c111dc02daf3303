import { defineConfig } from 'vitest/config';

/**
 * The suite as `npm run mutate` runs it (StrykerJS, see stryker.config.mjs): only the test files of
 * the module being mutated (WEIBAN_MUTATE_TESTS, comma-separated globs), so each mutant runs the
 * tests that can catch it and nothing else.
 */
export default defineConfig({
  test: {
    include: (process.env.WEIBAN_MUTATE_TESTS ?? 'test/**/*.test.ts').split(','),
    exclude: ['**/*.browser.test.ts', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
