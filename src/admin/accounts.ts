import { EntitySchema, type DataSource } from 'typeorm';
import type { Clock } from '../platform/clock.ts';
import { epochMs } from '../platform/db.ts';
import { DEFAULT_COST, generatePassword, hashPassword, needsRehash, passwordProblem, verifyPassword, dummyHash, type ScryptCost } from './passwords.ts';
import { needsDepartment, ROLES, type Role, type StaffActor } from '../policies/index.ts';

export interface StaffRow {
  id: number;
  username: string;
  name: string;
  role: Role;
  department: string | null;
  passwordHash: string;
  active: boolean;
  /** Sessions carry this stamp from their sign-in; a password change or reset (or deactivation) moves it, ending them. */
  passwordChangedAt: number;
  /** Set by an administrator's reset: the next sign-in must choose a new password. */
  mustChangePassword: boolean;
  lastSignInAt: number | null;
  /** The staff member's own WeChat (bound by scanning a code in the panel): alerts reach it as templates. */
  wechatOpenid: string | null;
  wechatBoundAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export const StaffEntity = new EntitySchema<StaffRow>({
  name: 'Staff',
  tableName: 'staff',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    username: { type: 'varchar', length: 32, unique: true },
    name: { type: 'varchar', length: 32 },
    role: { type: 'varchar', length: 16 },
    department: { type: 'varchar', length: 48, nullable: true },
    passwordHash: { name: 'password_hash', type: 'varchar', length: 200 },
    active: { type: 'boolean', default: true },
    passwordChangedAt: { name: 'password_changed_at', type: 'bigint', transformer: epochMs },
    mustChangePassword: { name: 'must_change_password', type: 'boolean', default: false },
    lastSignInAt: { name: 'last_sign_in_at', type: 'bigint', nullable: true, transformer: epochMs },
    wechatOpenid: { name: 'wechat_openid', type: 'varchar', length: 64, nullable: true },
    wechatBoundAt: { name: 'wechat_bound_at', type: 'bigint', nullable: true, transformer: epochMs },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    updatedAt: { name: 'updated_at', type: 'bigint', transformer: epochMs },
  },
  indices: [
    { name: 'ix_staff_department', columns: ['department'] },
    { name: 'ix_staff_wechat_openid', columns: ['wechatOpenid'] },
  ],
});

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,31}$/;

export class AccountError extends Error {
  constructor(
    message: string,
    /** wrong_password: the current password given was not the account's (a guess, for the throttle). */
    readonly code?: 'wrong_password',
  ) {
    super(message);
    this.name = 'AccountError';
  }
}

export interface NewStaff {
  username: string;
  name: string;
  role: Role;
  department: string | null;
  /** Omit to generate one (returned once, never stored in the clear). */
  password?: string;
  /** The first sign-in must choose a new password (default: true when the password was generated). */
  mustChangePassword?: boolean;
}

/** Public shape of an account (never the hash). */
export type StaffInfo = Omit<StaffRow, 'passwordHash'>;

const info = ({ passwordHash: _h, ...rest }: StaffRow): StaffInfo => rest;

/** Staff accounts: create, find, check passwords, change them. Used by the panel and `npm run staff`. */
export class Accounts {
  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
    private readonly departments: ReadonlySet<string>,
    /** The hashing cost (tests lower it to stay fast; production keeps the default). */
    private readonly cost: ScryptCost = DEFAULT_COST,
  ) {}

  private get repo() {
    return this.ds.getRepository(StaffEntity);
  }

  /** Why these account fields are not acceptable, or null. */
  problem(s: Pick<NewStaff, 'username' | 'name' | 'role' | 'department'>): string | null {
    if (!USERNAME_RE.test(s.username)) return '用户名须为 2–32 位小写字母、数字或 . _ -，以字母或数字开头';
    const name = s.name.trim();
    if (!name || [...name].length > 32) return '姓名须为 1–32 个字';
    if (!ROLES.includes(s.role)) return '角色不正确';
    if (needsDepartment(s.role) && !s.department) return '值班员、经办人和负责人须属于一个部门';
    if (s.department !== null && !this.departments.has(s.department)) return `部门 ${s.department} 不在配置中`;
    return null;
  }

  async create(s: NewStaff): Promise<{ account: StaffInfo; password: string }> {
    const department = s.department || null;
    const problem = this.problem({ ...s, department });
    if (problem) throw new AccountError(problem);
    const password = s.password ?? generatePassword();
    const pwProblem = passwordProblem(password, s.username);
    if (pwProblem) throw new AccountError(pwProblem);
    if (await this.repo.findOne({ where: { username: s.username } })) throw new AccountError(`用户名 ${s.username} 已被使用`);
    const now = this.clock.now();
    const row: Omit<StaffRow, 'id'> = {
      username: s.username,
      name: s.name.trim(),
      role: s.role,
      department,
      passwordHash: await hashPassword(password, this.cost),
      active: true,
      passwordChangedAt: now,
      mustChangePassword: s.mustChangePassword ?? s.password === undefined,
      lastSignInAt: null,
      wechatOpenid: null,
      wechatBoundAt: null,
      createdAt: now,
      updatedAt: now,
    };
    const res = await this.ds.createQueryBuilder().insert().into(StaffEntity).values(row).execute();
    return { account: info({ ...row, id: res.identifiers[0]!.id as number }), password };
  }

  async get(id: number): Promise<StaffInfo | null> {
    const row = await this.repo.findOne({ where: { id } });
    return row ? info(row) : null;
  }

  async byUsername(username: string): Promise<StaffInfo | null> {
    const row = await this.repo.findOne({ where: { username } });
    return row ? info(row) : null;
  }

  async list(filter: { department?: string; active?: boolean } = {}): Promise<StaffInfo[]> {
    const rows = await this.repo.find({ where: { ...filter }, order: { department: 'ASC', role: 'ASC', username: 'ASC' } });
    return rows.map(info);
  }

  async names(ids: number[]): Promise<Map<number, StaffInfo>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const rows = await this.repo.createQueryBuilder('s').where('s.id IN (:...ids)', { ids: unique }).getMany();
    return new Map(rows.map((r) => [r.id, info(r)]));
  }

  async count(): Promise<number> {
    return this.repo.count();
  }

  /**
   * Check a username and password. Unknown usernames cost as much as wrong passwords (no timing
   * oracle); a deactivated account never signs in.
   */
  async authenticate(username: string, password: string): Promise<StaffInfo | null> {
    const row = USERNAME_RE.test(username) ? await this.repo.findOne({ where: { username } }) : null;
    const ok = await verifyPassword(password.slice(0, 256), row?.passwordHash ?? (await dummyHash(this.cost)));
    if (!row || !ok || !row.active) return null;
    const now = this.clock.now();
    const changes: Partial<StaffRow> = { lastSignInAt: now };
    if (needsRehash(row.passwordHash, this.cost)) changes.passwordHash = await hashPassword(password, this.cost);
    await this.repo.update({ id: row.id }, changes);
    return info({ ...row, ...changes });
  }

  /** The holder changes their own password: the current one is required; other sessions end. */
  async changePassword(id: number, current: string, next: string): Promise<void> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new AccountError('账号不存在');
    if (!(await verifyPassword(current, row.passwordHash))) throw new AccountError('当前密码不正确', 'wrong_password');
    if (current === next) throw new AccountError('新密码不能与当前密码相同');
    const problem = passwordProblem(next, row.username);
    if (problem) throw new AccountError(problem);
    await this.setPassword(id, next, false);
  }

  /** An administrator resets a password: a new random one, to be changed at the next sign-in. */
  async resetPassword(id: number): Promise<string> {
    const password = generatePassword();
    await this.setPassword(id, password, true);
    return password;
  }

  private async setPassword(id: number, password: string, mustChange: boolean): Promise<void> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new AccountError('账号不存在');
    const now = this.clock.now();
    await this.repo.update({ id }, { passwordHash: await hashPassword(password, this.cost), passwordChangedAt: nextStamp(row.passwordChangedAt, now), mustChangePassword: mustChange, updatedAt: now });
  }

  async setActive(id: number, active: boolean): Promise<void> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new AccountError('账号不存在');
    const now = this.clock.now();
    // Deactivating also ends the account's sessions (they must carry the current passwordChangedAt).
    await this.repo.update({ id }, active ? { active, updatedAt: now } : { active, updatedAt: now, passwordChangedAt: nextStamp(row.passwordChangedAt, now) });
  }

  /** Bind (or, with null, unbind) the staff member's own WeChat, to which alerts are sent. */
  async bindWeChat(id: number, openid: string | null): Promise<void> {
    const now = this.clock.now();
    const res = await this.repo.update({ id }, { wechatOpenid: openid, wechatBoundAt: openid ? now : null, updatedAt: now });
    if (!res.affected) throw new AccountError('账号不存在');
  }

  async update(id: number, changes: { name?: string; role?: Role; department?: string | null }): Promise<StaffInfo> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new AccountError('账号不存在');
    const next = { username: row.username, name: changes.name ?? row.name, role: changes.role ?? row.role, department: changes.department === undefined ? row.department : changes.department || null };
    const problem = this.problem(next);
    if (problem) throw new AccountError(problem);
    const now = this.clock.now();
    await this.repo.update({ id }, { name: next.name.trim(), role: next.role, department: next.department, updatedAt: now });
    return info({ ...row, ...next, updatedAt: now });
  }
}

/** A new stamp for passwordChangedAt: later than the old one even within the same millisecond, so every change ends older sessions. */
function nextStamp(previous: number, now: number): number {
  return Math.max(now, previous + 1);
}

/** The actor a staff account acts as. */
export function actorOf(s: StaffInfo): StaffActor {
  return { kind: 'staff', id: s.id, username: s.username, name: s.name, role: s.role, department: s.department };
}
