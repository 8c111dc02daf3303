import { describe, expect, it } from 'vitest';
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
      await cheap.create({ username: 'li', name: '李', role: 'handler', department: 'd', password: 'Passw0rd-abc' });
      const before = (await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash;
      expect(before.startsWith('scrypt$10$')).toBe(true);
      const real = new Accounts(ds, clock, new Set(['d']));
      expect(await real.authenticate('li', 'wrong-password-1')).toBeNull();
      expect((await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash).toBe(before);
      expect(await real.authenticate('li', 'Passw0rd-abc')).not.toBeNull();
      const after = (await ds.getRepository(StaffEntity).findOneByOrFail({ username: 'li' })).passwordHash;
      expect(after.startsWith('scrypt$15$')).toBe(true);
      expect(await real.authenticate('li', 'Passw0rd-abc')).not.toBeNull();
    } finally {
      await ds.destroy();
    }
  });
});

describe('password rules', () => {
  it('asks for 10 characters of two kinds, without the username', () => {
    expect(passwordProblem('short1')).toBe('密码至少 10 位');
    expect(passwordProblem('abcdefghijk')).toBe('密码须包含字母、数字或符号中的至少两种');
    expect(passwordProblem('12345678901')).toBe('密码须包含字母、数字或符号中的至少两种');
    expect(passwordProblem('li.jingban2026', 'li.jingban')).toBe('密码不能包含用户名');
    expect(passwordProblem('Correct-horse-9', 'li.jingban')).toBeNull();
    expect(passwordProblem('长城长城长城长城长城1')).toBeNull();
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
