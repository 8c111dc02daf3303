import { parseArgs } from 'node:util';
import { AccountError, type Accounts } from './accounts.ts';
import type { Audit } from './audit.ts';
import { ROLE_NAMES, ROLES, type Role } from '../policies/index.ts';

export const STAFF_USAGE = `用法 (usage): npm run staff -- <command> [options]

  add --username <name> --name <姓名> --role <duty|handler|supervisor|admin> [--department <id>] [--password-stdin]
        Create an account. Without --password-stdin a temporary password is generated, printed once,
        and must be changed at the first sign-in. (The first administrator is made this way.)
  list                       Every account, with role, department and state.
  reset-password <username>  A new temporary password (printed once); the account's sessions end.
  deactivate <username>      The account can no longer sign in; its sessions end.
  activate <username>

Roles: ${ROLES.map((r) => `${r} (${ROLE_NAMES[r]})`).join(', ')}.
The database is DATABASE_URL's (default ./data/weiban.sqlite); departments come from the profile.`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** The password piped on standard input (add --password-stdin). */
  readStdin(): Promise<string>;
}

/** `npm run staff -- …`: returns the exit code. */
export async function runStaffCommand(argv: string[], d: { accounts: Accounts; audit: Audit; departments: { id: string; name: string }[]; operator: string }, io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const cliActor = { kind: 'anonymous' as const, username: `cli:${d.operator}`.slice(0, 64) };
  try {
    switch (command) {
      case 'add': {
        const { values } = parseArgs({
          args: rest,
          options: { username: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, department: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
          strict: true,
        });
        if (!values.username || !values.name || !values.role) {
          io.err('add needs --username, --name and --role\n');
          io.err(STAFF_USAGE);
          return 2;
        }
        if (!(ROLES as readonly string[]).includes(values.role)) {
          io.err(`unknown role "${values.role}"; one of ${ROLES.join(', ')}`);
          return 2;
        }
        if (values.department && !d.departments.some((x) => x.id === values.department)) {
          io.err(`unknown department "${values.department}"; the profile has: ${d.departments.map((x) => `${x.id} (${x.name})`).join(', ')}`);
          return 2;
        }
        const given = values['password-stdin'] ? (await io.readStdin()).replace(/\r?\n$/, '') : undefined;
        const { account, password } = await d.accounts.create({
          username: values.username,
          name: values.name,
          role: values.role as Role,
          department: values.department ?? null,
          ...(given !== undefined ? { password: given } : {}),
        });
        await d.audit.record({ actor: cliActor, action: 'staff-create', target: `staff:${account.id}`, department: account.department, detail: `${account.username}（${account.name}），命令行创建` });
        io.out(`created ${account.username} (${account.name}), ${account.role}${account.department ? `, department ${account.department}` : ''}`);
        if (given === undefined) io.out(`temporary password: ${password}\n(shown once; it must be changed at the first sign-in)`);
        return 0;
      }
      case 'list': {
        const all = await d.accounts.list();
        if (all.length === 0) io.out('no accounts yet: npm run staff -- add --username admin --name 管理员 --role admin');
        for (const s of all) io.out(`${s.username.padEnd(20)} ${s.role.padEnd(10)} ${(s.department ?? '-').padEnd(18)} ${s.active ? 'active' : 'inactive'}  ${s.name}`);
        return 0;
      }
      case 'reset-password':
      case 'deactivate':
      case 'activate': {
        const username = rest[0];
        const s = username ? await d.accounts.byUsername(username) : null;
        if (!s) {
          io.err(`no account "${username ?? ''}"`);
          return 1;
        }
        if (command === 'reset-password') {
          const password = await d.accounts.resetPassword(s.id);
          await d.audit.record({ actor: cliActor, action: 'staff-reset', target: `staff:${s.id}`, department: s.department, detail: s.username });
          io.out(`temporary password for ${s.username}: ${password}\n(shown once; it must be changed at the next sign-in)`);
        } else {
          await d.accounts.setActive(s.id, command === 'activate');
          await d.audit.record({ actor: cliActor, action: command === 'activate' ? 'staff-activate' : 'staff-deactivate', target: `staff:${s.id}`, department: s.department, detail: s.username });
          io.out(`${s.username} ${command === 'activate' ? 'activated' : 'deactivated'}`);
        }
        return 0;
      }
      default:
        io.err(STAFF_USAGE);
        return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
    }
  } catch (err) {
    if (err instanceof AccountError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err((err as Error).message);
      return 2;
    }
    throw err;
  }
}
