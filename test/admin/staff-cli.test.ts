import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runStaffCommand } from '../../src/admin/staff-cli.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { uniqueName } from '../helpers/backends.ts';
import { StaffClient } from './client.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

const startApp = appsClosedAfterEach();

async function cli(app: TestApp, argv: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runStaffCommand(
    argv,
    { accounts: app.accounts, audit: app.audit, departments: app.profile.departments, operator: 'tester' },
    { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => stdin },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('npm run staff', () => {
  it('adds accounts (generated or piped password), lists, resets, deactivates; refuses bad input', async () => {
    const app = await startApp();
    const add = await cli(app, ['add', '--username', 'admin', '--name', '管理员', '--role', 'admin']);
    expect(add.code).toBe(0);
    expect(add.out).toMatch(/^created admin \(管理员\), admin\ntemporary password: [A-Za-z2-9]{14}\n/);
    const piped = await cli(app, ['add', '--username', 'li.jingban', '--name', '李经办', '--role', 'handler', '--department', 'civil-affairs', '--password-stdin'], 'My-own-password-1\n');
    expect(piped).toMatchObject({ code: 0, out: 'created li.jingban (李经办), handler, department civil-affairs' });
    expect((await app.accounts.byUsername('li.jingban'))?.mustChangePassword).toBe(false);
    expect(await app.accounts.authenticate('li.jingban', 'My-own-password-1')).not.toBeNull();
    expect((await cli(app, ['list'])).out.split('\n')).toEqual([
      'admin                admin      -                  active  管理员',
      'li.jingban           handler    civil-affairs      active  李经办',
    ]);
    expect(await cli(app, ['add', '--username', 'x', '--name', 'y', '--role', 'boss'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown role "boss"') });
    expect(await cli(app, ['add', '--username', 'zz', '--name', 'y', '--role', 'handler', '--department', 'mars'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown department "mars"') });
    expect(await cli(app, ['add', '--username', 'zz', '--name', 'y', '--role', 'handler'])).toMatchObject({ code: 2, err: '值班员、经办人和负责人须属于一个部门' });
    expect(await cli(app, ['add', '--username', 'admin', '--name', 'y', '--role', 'admin'])).toMatchObject({ code: 2, err: '用户名 admin 已被使用' });
    expect(await cli(app, ['add', '--username', 'weak', '--name', 'y', '--role', 'admin', '--password-stdin'], 'short')).toMatchObject({ code: 2, err: '密码至少 12 位' });
    expect(await cli(app, ['add', '--username', 'weak', '--name', 'y', '--role', 'admin', '--password-stdin'], 'Password2026!')).toMatchObject({ code: 2, err: expect.stringContaining('这个密码太常见了') });
    expect(await cli(app, ['add', '--bogus'])).toMatchObject({ code: 2 });
    const reset = await cli(app, ['reset-password', 'li.jingban']);
    expect(reset.out).toMatch(/^temporary password for li.jingban: [A-Za-z2-9]{14}/);
    expect(await app.accounts.authenticate('li.jingban', 'My-own-password-1')).toBeNull();
    expect((await cli(app, ['deactivate', 'li.jingban'])).out).toBe('li.jingban deactivated');
    expect((await app.accounts.byUsername('li.jingban'))?.active).toBe(false);
    expect(await cli(app, ['activate', 'nobody'])).toMatchObject({ code: 1, err: 'no account "nobody"' });
    expect((await cli(app, [])).err).toContain('用法 (usage): npm run staff');
    expect((await app.audit.list({ action: 'staff-create' })).map((a) => [a.actor, a.detail])).toEqual([
      ['cli:tester', 'li.jingban（李经办），命令行创建'],
      ['cli:tester', 'admin（管理员），命令行创建'],
    ]);
  });

  it('the real command makes the first administrator, who signs in to the panel and must choose a password', async () => {
    const name = uniqueName('cli');
    const file = join('/tmp', `${name}.sqlite`);
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/staff.ts', 'add', '--username', 'admin', '--name', '管理员', '--role', 'admin'], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: file, WEIBAN_PROFILE: '' },
      });
      const password = /temporary password: (\S+)/.exec(stdout)![1]!;
      const app = await startApp({ shared: name });
      const c = new StaffClient(app.url);
      const res = await c.signIn('admin', password);
      expect(res.headers.get('location')).toBe('/admin/account/password');
    } finally {
      for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    }
  });
});
