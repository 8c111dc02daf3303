/**
 * npm run staff -- add --username admin --name 管理员 --role admin
 *
 * Staff accounts from the command line: how the first administrator is made. Uses the same
 * database (DATABASE_URL) and profile (WEIBAN_PROFILE) as the server, and the same commands as
 * the panel. Run with tsx (a dependency), so it works from a fresh clone without a build.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { migrations } from '../migrations/index.ts';
import { Accounts } from '../src/admin/accounts.ts';
import { Audit } from '../src/admin/audit.ts';
import { runStaffCommand } from '../src/admin/staff-cli.ts';
import { entities } from '../src/entities.ts';
import { systemClock } from '../src/platform/clock.ts';
import { openDatabase, parseDatabaseUrl } from '../src/platform/db.ts';
import { loadProfile, ProfileError } from '../src/profile/load.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new Error('--password-stdin: pipe the password in, e.g. printf %s "$PW" | npm run staff -- add …');
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s;
}

let code = 1;
try {
  const { profile } = loadProfile(process.env.WEIBAN_PROFILE || join(process.cwd(), 'config', 'profile.yaml'));
  const db = await openDatabase({ target: parseDatabaseUrl(process.env.DATABASE_URL), entities, migrations });
  try {
    const accounts = new Accounts(db, systemClock, new Set(profile.departments.map((d) => d.id)));
    code = await runStaffCommand(
      process.argv.slice(2),
      { accounts, audit: new Audit(db, systemClock), departments: profile.departments, operator: userInfo().username },
      { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`), readStdin },
    );
  } finally {
    await db.destroy();
  }
} catch (err) {
  process.stderr.write(err instanceof ProfileError ? `${err.message}\n` : `staff: ${(err as Error).message}\n`);
  code = 1;
}
process.exit(code);
