/**
 * npm run check — the self-check (体检) against the 2025 rubric, for the account as configured
 * (WEIBAN_PROFILE, DATABASE_URL). Run it before going live and every week; exit code 1 on findings.
 */
import { createLogger } from '../src/platform/log.ts';
import { runCheckCommand } from '../src/ops/check-cli.ts';
import { ProfileError } from '../src/profile/load.ts';

try {
  process.exitCode = await runCheckCommand(process.env, (s) => process.stdout.write(s), { log: createLogger({ level: process.env.LOG_LEVEL ?? 'warn' }) });
} catch (err) {
  process.stderr.write(err instanceof ProfileError ? `\n${err.message}\n` : `\nthe check could not run: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
