import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.ts';

/**
 * The V8 memory flags `npm start` runs the server with, read from package.json so a benchmark
 * measures what production runs and the two cannot drift.
 */
export function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((a) => /^--(max-semi-space-size|heap-growing-percent)=\d+$/.test(a));
}
