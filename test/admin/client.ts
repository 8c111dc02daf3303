import type { StaffInfo } from '../../src/admin/accounts.ts';
import type { Role } from '../../src/policies/index.ts';
import type { TestApp } from '../helpers/app.ts';

/**
 * A staff member's browser, over plain HTTP: keeps cookies, reads the CSRF token from pages, posts
 * forms. Redirects are not followed, so tests see them.
 */
export class StaffClient {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly base: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /max-age=0/i.test(c) || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.base + path, { redirect: 'manual', headers: { cookie: this.cookieHeader(), ...headers } });
    this.keep(res);
    return res;
  }

  /** GET a page and remember its CSRF token. */
  async page(path: string): Promise<{ status: number; html: string; res: Response }> {
    const res = await this.get(path);
    const html = await res.text();
    const m = /name="csrf-token" content="([^"]+)"/.exec(html) ?? /name="_csrf" value="([^"]+)"/.exec(html);
    if (m) this.csrf = m[1]!;
    return { status: res.status, html, res };
  }

  async post(path: string, fields: Record<string, string> = {}, o: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<Response> {
    const body = new URLSearchParams(fields);
    const token = o.csrf === undefined ? this.csrf : o.csrf;
    if (token !== null && !('_csrf' in fields)) body.set('_csrf', token);
    const res = await fetch(this.base + path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookieHeader(), ...(o.headers ?? {}) },
      body,
    });
    this.keep(res);
    return res;
  }

  /** Sign in through the form; returns the response of the POST. */
  async signIn(username: string, password: string): Promise<Response> {
    await this.page('/admin/login');
    const res = await this.post('/admin/login', { username, password });
    if (res.status === 302) await this.page('/admin/inbox');
    return res;
  }
}

export const PASSWORD = 'Correct-horse-9';

export interface Team {
  admin: StaffInfo;
  /** 行政服务中心 (the default department) */
  duty: StaffInfo;
  handler: StaffInfo;
  handler2: StaffInfo;
  supervisor: StaffInfo;
  /** 社保中心 */
  ssHandler: StaffInfo;
  ssSupervisor: StaffInfo;
}

/** Accounts for every role, in two departments; all with the same password. */
export async function makeTeam(app: TestApp): Promise<Team> {
  const make = async (username: string, name: string, role: Role, department: string | null) =>
    (await app.accounts.create({ username, name, role, department, password: PASSWORD, mustChangePassword: false })).account;
  const [admin, duty, handler, handler2, supervisor, ssHandler, ssSupervisor] = await Promise.all([
    make('admin', '管理员', 'admin', null),
    make('zhao.zhiban', '赵值班', 'duty', 'service-centre'),
    make('qian.jingban', '钱经办', 'handler', 'service-centre'),
    make('sun.jingban', '孙经办', 'handler', 'service-centre'),
    make('wang.zhuren', '王主任', 'supervisor', 'service-centre'),
    make('zhou.shebao', '周社保', 'handler', 'social-security'),
    make('wu.shebao', '吴科长', 'supervisor', 'social-security'),
  ]);
  return { admin: admin!, duty: duty!, handler: handler!, handler2: handler2!, supervisor: supervisor!, ssHandler: ssHandler!, ssSupervisor: ssSupervisor! };
}

export async function signedIn(app: TestApp, who: StaffInfo): Promise<StaffClient> {
  const c = new StaffClient(app.url);
  const res = await c.signIn(who.username, PASSWORD);
  if (res.status !== 302) throw new Error(`sign-in of ${who.username} failed: ${res.status}`);
  return c;
}

/** A citizen follows and asks for a human (or says `text`): the id of the staff conversation opened. */
export async function openHandoff(app: TestApp, openid: string, text = '转人工'): Promise<number> {
  await app.emulator!.act(openid, { type: 'subscribe' });
  await app.emulator!.act(openid, { type: 'text', content: text });
  const h = await app.handoffs.openFor(openid);
  if (!h) throw new Error(`no staff conversation opened for ${openid}`);
  return h.id;
}
