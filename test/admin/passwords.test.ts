import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commonPasswords, HEADER } from '../../scripts/gen-common-passwords.ts';
import { Accounts } from '../../src/admin/accounts.ts';
import { DEFAULT_COST, generatePassword, hashPassword, needsRehash, passwordProblem, verifyPassword } from '../../src/admin/passwords.ts';
import { StaffEntity } from '../../src/admin/accounts.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { openDatabase, parseDatabaseUrl } from '../../src/platform/db.ts';
import { entities } from '../../src/entities.ts';
import { migrations } from '../../migrations/index.ts';

describe('password hashing (scrypt)', () => {
  it('uses the production cost by default, a fresh salt each time, and verifies only the right password', async () => {
    const a = await hashPassword('Correct-horse-9');
    const b = await hashPassword('Correct-horse-9');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('Correct-horse-9', a)).toBe(true);
    expect(await verifyPassword('Correct-horse-8', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('treats full-width input as the same password (NFKC), and never verifies a malformed hash', async () => {
    const h = await hashPassword('Passw0rd-abc', { logN: 10, r: 8, p: 1 });
    expect(await verifyPassword('Ｐａｓｓｗ０ｒｄ－ａｂｃ', h)).toBe(true);
    for (const bad of ['', 'plain', 'scrypt$15$8$1$$', 'argon2id$v=19$...', 'scrypt$99$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5']) expect(await verifyPassword('x', bad)).toBe(false);
  });

  it('says when a hash is weaker than the current cost', async () => {
    expect(needsRehash(await hashPassword('Passw0rd-abc', { logN: 10, r: 8, p: 1 }))).toBe(true);
    expect(needsRehash(await hashPassword('Passw0rd-abc'))).toBe(false);
    expect(DEFAULT_COST).toEqual({ logN: 15, r: 8, p: 1 });
  });

  it('a stored hash of a weaker cost is upgraded at the next sign-in', async () => {
    const ds = await openDatabase({ target: parseDatabaseUrl('sqlite::memory:'), entities, migrations });
    try {
      const clock = new FakeClock();
      const cheap = new Accounts(ds, clock, new Set(['d']), { logN: 10, r: 8, p: 1 });
      await cheap.create({ username: 'li', name: '李', role: 'handler', department: 'd', password: 'Tianshan-road-600' });
      const before = (await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash;
      expect(before.startsWith('scrypt$10$')).toBe(true);
      const real = new Accounts(ds, clock, new Set(['d']));
      expect(await real.authenticate('li', 'wrong-password-1')).toBeNull();
      expect((await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash).toBe(before);
      expect(await real.authenticate('li', 'Tianshan-road-600')).not.toBeNull();
      const after = (await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash;
      expect(after.startsWith('scrypt$15$')).toBe(true);
      expect(await real.authenticate('li', 'Tianshan-road-600')).not.toBeNull();
    } finally {
      await ds.destroy();
    }
  });
});

describe('password rules (OWASP ASVS 2.1)', () => {
  it('asks for 12 characters, counting a run of spaces as one, and at most 128', () => {
    expect(passwordProblem('password12')).toBe('密码至少 12 位');
    expect(passwordProblem('Tianshan-rd')).toBe('密码至少 12 位');
    expect(passwordProblem('Tianshan    rd')).toBe('密码至少 12 位');
    expect(passwordProblem('Tianshan-rd6')).toBeNull();
    const sentence = 'On Monday I take line 2 to Jiangsu Road, walk past the market and the school, buy two bao at the corner, and reach the hall by nine; ';
    expect(passwordProblem(sentence.slice(0, 128))).toBeNull();
    expect(passwordProblem(sentence.slice(0, 129))).toBe('密码最多 128 位');
  });

  it('sets no rule about kinds of characters (2.1.9): a sentence of any script is a good password', () => {
    expect(passwordProblem('correct horse battery staple')).toBeNull();
    expect(passwordProblem('我家门前有两棵树一棵是枣树')).toBeNull();
    expect(passwordProblem('Correct-horse-9', 'li.jingban')).toBeNull();
  });

  it('refuses breached and common passwords (2.1.7), also dressed up with digits, symbols and look-alikes', () => {
    const common = '这个密码太常见了（在泄露的密码中出现过，或只是在常见密码前后加了数字、符号），请换一个';
    for (const p of ['1qaz2wsx3edc', 'qwertyuiop12', 'Password2026!', 'p@ssw0rd1234', 'PASSWORD1234', 'Monkey123456!', 'Passw0rd-abc', 'x-qwerty123456', 'woaini131452', 'Ｐａｓｓｗｏｒｄ２０２６', 'administrator', 'a123456789abc']) {
      expect(passwordProblem(p), p).toBe(common);
    }
  });

  it('refuses runs of the same few characters and of the keyboard', () => {
    const guessable = '这个密码太容易猜了（重复或连续的字符），请换一个';
    for (const p of ['aaaaaaaaaaa1', 'abcabcabcabc', '121212121212', 'abcdefghijklm', 'mlkjihgfedcba', 'ghjklzxcvbnm', 'lkjhgfdsapoi', '长城长城长城长城长城长城', 'ab-ab-ab-ab-ab']) expect(passwordProblem(p), p).toBe(guessable);
  });

  it('refuses the username inside it', () => {
    expect(passwordProblem('li.jingban2026', 'li.jingban')).toBe('密码不能包含用户名');
    expect(passwordProblem('My-LI.JINGBAN-pass', 'li.jingban')).toBe('密码不能包含用户名');
  });

  it('the shipped list is the one scripts/gen-common-passwords.ts makes from @zxcvbn-ts/language-common', () => {
    const file = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'admin', 'common-passwords.txt'), 'utf8');
    expect(file).toBe(HEADER + commonPasswords().join('\n') + '\n');
    const lines = file.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(10_000);
    expect(lines.slice(0, 3)).toEqual(['123456', 'password', '12345678']);
    expect(lines).toContain('woaini1314');
  });

  it('generated passwords pass the rules and differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toMatch(/^[A-Za-z2-9]{14}$/);
      expect(passwordProblem(p)).toBeNull();
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
});
