/**
 * `npm run mutate -- <module> [<module> …]`: StrykerJS on one critical module at a time (see
 * scripts/mutate-modules.json), with only that module's tests, at the lowest CPU priority and two
 * processes at most — the machine is shared. Reports go to reports/mutation/<module>.html|json.
 * Run by hand before changing a critical module's tests or code; not part of CI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const MODULES = JSON.parse(readFileSync(join(root, 'scripts', 'mutate-modules.json'), 'utf8')) as Record<string, { about: string; mutate: string[]; tests: string[] }>;
const asked = process.argv.slice(2);
const names = asked.length === 1 && asked[0] === 'all' ? Object.keys(MODULES) : asked;
if (names.length === 0 || names.some((n) => !(n in MODULES))) {
  process.stderr.write(`usage: npm run mutate -- <module> … | all\nmodules: ${Object.keys(MODULES).join(', ')}\n`);
  process.exit(2);
}

const scores: string[] = [];
for (const name of names) {
  const m = MODULES[name]!;
  const r = spawnSync('nice', ['-n', '19', 'npx', 'stryker', 'run', 'stryker.config.mjs'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, WEIBAN_MUTATE_MODULE: name, WEIBAN_MUTATE_TESTS: m.tests.join(','), DATABASE_URL: '', REDIS_URL: '' },
  });
  if (r.status !== 0) {
    process.stderr.write(`stryker failed on ${name}\n`);
    process.exit(r.status ?? 1);
  }
  const report = JSON.parse(readFileSync(join(root, 'reports', 'mutation', `${name}.json`), 'utf8')) as { files: Record<string, { mutants: { status: string }[] }> };
  const all = Object.values(report.files).flatMap((f) => f.mutants);
  const killed = all.filter((x) => x.status === 'Killed' || x.status === 'Timeout').length;
  const valid = all.filter((x) => x.status !== 'CompileError' && x.status !== 'RuntimeError' && x.status !== 'Ignored').length;
  scores.push(`${name}: ${((100 * killed) / Math.max(1, valid)).toFixed(1)} % (${killed} of ${valid} mutants killed)`);
}
process.stdout.write(`\nmutation score\n${scores.map((s) => `  ${s}`).join('\n')}\n`);
