import { describe, expect, it } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import { HOUR, MINUTE } from '../../src/platform/clock.ts';
import { appsClosedAfterEach, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { available, KV_BACKENDS } from '../helpers/backends.ts';
import { makeTeam, openHandoff, PASSWORD, signedIn, StaffClient, type Team } from './client.ts';

const startApp = appsClosedAfterEach();

async function setup(o: TestAppOptions = {}): Promise<{ app: TestApp; team: Team; handoff(openid: string, text?: string): Promise<number> }> {
  const app = await startApp(o);
  const team = await makeTeam(app);
  const handoff = (openid: string, text?: string) => openHandoff(app, openid, text);
  return { app, team, handoff };
}

const location = (res: Response) => res.headers.get('location');

describe('signing in', () => {
  it('sets an httpOnly, SameSite=Strict session cookie scoped to /admin, and records the sign-in', async () => {
    const { app, team } = await setup();
    const c = new StaffClient(app.url);
    await c.page('/admin/login');
    const res = await c.post('/admin/login', { username: team.handler.username, password: PASSWORD }, { headers: { 'x-forwarded-for': '1.2.3.4' } });
    expect(res.status).toBe(302);
    expect(location(res)).toBe('/admin/inbox');
    const cookie = res.headers.getSetCookie().find((x) => x.startsWith('weiban_staff='))!;
    expect(cookie).toMatch(/; path=\/admin/);
    expect(cookie).toMatch(/; samesite=strict/i);
    expect(cookie).toMatch(/; httponly/i);
    const inbox = await c.page('/admin/inbox');
    expect(inbox.status).toBe(200);
    expect(inbox.html).toContain('钱经办');
    expect(inbox.res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(inbox.res.headers.get('x-frame-options')).toBe('DENY');
    expect((await app.audit.list({ action: 'sign-in' })).map((a) => a.actor)).toEqual(['qian.jingban']);
  });

  it('behind a trusted proxy, the address is the one the proxy appended, not one the client wrote', async () => {
    process.env.TRUST_PROXY = '1';
    try {
      const { app, team } = await setup();
      const c = new StaffClient(app.url);
      await c.page('/admin/login');
      await c.post('/admin/login', { username: team.handler.username, password: 'wrong' }, { headers: { 'x-forwarded-for': '6.6.6.6, 10.0.0.7' } });
      expect((await app.audit.list({ action: 'sign-in-failed' })).map((a) => a.ip)).toEqual(['10.0.0.7']);
    } finally {
      delete process.env.TRUST_PROXY;
    }
  });

  it('answers a wrong password and an unknown user the same way', async () => {
    const { app, team } = await setup();
    const c = new StaffClient(app.url);
    await c.page('/admin/login');
    const wrong = await c.post('/admin/login', { username: team.handler.username, password: 'not-the-password-1' });
    await c.page('/admin/login');
    const unknown = await c.post('/admin/login', { username: 'nobody', password: 'not-the-password-1' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [a, b] = [await wrong.text(), await unknown.text()].map((h) => /<p class="error"[^>]*>([^<]*)</.exec(h)?.[1]);
    expect(a).toBe('用户名或密码不正确。');
    expect(b).toBe(a);
    expect(wrong.headers.getSetCookie().some((x) => x.startsWith('weiban_staff='))).toBe(false);
  });

  it('locks an account from the address guessing it for 15 minutes after 5 failures, even for the right password, then lets it in', async () => {
    const { app, team } = await setup();
    const c = new StaffClient(app.url);
    const attempt = async (password: string) => {
      await c.page('/admin/login');
      return c.post('/admin/login', { username: team.handler.username, password });
    };
    for (let i = 0; i < 4; i++) expect((await attempt('wrong-password-1')).status).toBe(401);
    const fifth = await attempt('wrong-password-1');
    expect(fifth.status).toBe(429);
    expect(await fifth.text()).toContain('已临时锁定，请 15 分钟后再试');
    expect((await attempt(PASSWORD)).status).toBe(429);
    // Another account from another address is not affected.
    const other = new StaffClient(app.url);
    expect((await other.signIn(team.handler2.username, PASSWORD)).status).toBe(302);
    app.clock.advance(14 * MINUTE);
    expect((await attempt(PASSWORD)).status).toBe(429);
    app.clock.advance(MINUTE + 1000);
    expect((await attempt(PASSWORD)).status).toBe(302);
    const actions = (await app.audit.list({})).filter((a) => a.actor === team.handler.username).map((a) => a.action);
    // One 'sign-in-locked' row per lock: the attempts refused while locked are not each recorded.
    expect(actions.reverse()).toEqual(['sign-in-failed', 'sign-in-failed', 'sign-in-failed', 'sign-in-failed', 'sign-in-failed', 'sign-in-locked', 'sign-in']);
  });

  describe('an attacker cannot lock the real user out (lock-out per account and address, growing)', () => {
    // Addresses are told apart through the one trusted proxy's X-Forwarded-For.
    const behindProxy = async () => {
      process.env.TRUST_PROXY = '1';
      try {
        return await setup();
      } finally {
        delete process.env.TRUST_PROXY;
      }
    };
    const from = (app: TestApp, ip: string) => {
      const c = new StaffClient(app.url);
      return async (username: string, password: string) => {
        await c.page('/admin/login');
        return (await c.post('/admin/login', { username, password }, { headers: { 'x-forwarded-for': ip } })).status;
      };
    };

    it('five wrong passwords from one address lock that address out of that account only; the real user elsewhere signs in', async () => {
      const { app, team } = await behindProxy();
      const admin = team.admin.username;
      const attacker = from(app, '203.0.113.9');
      for (let i = 0; i < 4; i++) expect(await attacker(admin, 'wrong-password-1')).toBe(401);
      expect(await attacker(admin, 'wrong-password-1')).toBe(429);
      expect(await attacker(admin, PASSWORD)).toBe(429); // even the right one, from there
      expect(await from(app, '10.0.0.5')(admin, PASSWORD)).toBe(302); // the administrator at the office
      expect(await attacker(team.handler.username, PASSWORD)).toBe(302); // another account from there
    });

    it('guessing one account from many addresses locks out the new ones, never the address its user signs in from', async () => {
      const { app, team } = await behindProxy();
      const admin = team.admin.username;
      expect(await from(app, '10.0.0.5')(admin, PASSWORD)).toBe(302); // the usual address
      for (let i = 0; i < 10; i++) expect(await from(app, `198.51.100.${i}`)(admin, 'wrong-password-1')).toBe(i < 9 ? 401 : 429);
      expect(await from(app, '198.51.100.77')(admin, PASSWORD)).toBe(429); // a new address, while the account is being guessed
      expect(await from(app, '10.0.0.5')(admin, PASSWORD)).toBe(302); // the real user, on their usual address
      app.clock.advance(15 * MINUTE + 1000);
      expect(await from(app, '198.51.100.77')(admin, PASSWORD)).toBe(302);
    });

    it('each lock of an address lasts twice the one before: 15 minutes, 30, an hour', async () => {
      const { app, team } = await behindProxy();
      const attempt = from(app, '203.0.113.9');
      const user = team.handler.username;
      for (const minutes of [15, 30, 60]) {
        for (let i = 0; i < 4; i++) expect(await attempt(user, 'wrong-password-1')).toBe(401);
        expect(await attempt(user, 'wrong-password-1')).toBe(429);
        app.clock.advance(minutes * MINUTE - 1000);
        expect(await attempt(user, PASSWORD)).toBe(429);
        app.clock.advance(2000);
      }
      expect(await attempt(user, PASSWORD)).toBe(302);
      const locks = await app.audit.list({ action: 'sign-in-locked' });
      expect(locks.map((a) => a.detail).reverse()).toEqual(['连续失败，已临时锁定 15 分钟', '连续失败，已临时锁定 30 分钟', '连续失败，已临时锁定 60 分钟']);
    });
  });

  it('attempts sent all at once are counted before the password is checked: no more are checked than the limit allows', async () => {
    const { app, team } = await setup({ admin: { throttle: { maxPerIp: 8 } } });
    let checked = 0;
    const authenticate = app.accounts.authenticate.bind(app.accounts);
    app.accounts.authenticate = async (username, password) => {
      checked++;
      return authenticate(username, password);
    };
    const burst = async (usernames: string[]) => {
      const clients = await Promise.all(
        usernames.map(async (username) => {
          const c = new StaffClient(app.url);
          await c.page('/admin/login');
          return { c, username };
        }),
      );
      return (await Promise.all(clients.map(({ c, username }) => c.post('/admin/login', { username, password: 'wrong-password-1' })))).map((r) => r.status);
    };
    // One username, 40 wrong passwords at once: 5 checked (the 5th locks), the rest refused unchecked.
    const statuses = await burst(Array.from({ length: 40 }, () => team.handler.username));
    expect(checked).toBe(5);
    expect(statuses.filter((s) => s === 401)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(36);
    const rows = (await app.audit.list({ limit: 1000 })).filter((a) => a.actor === team.handler.username);
    expect(rows.filter((a) => a.action === 'sign-in-failed')).toHaveLength(5); // one per password checked
    expect(rows.filter((a) => a.action === 'sign-in-locked')).toHaveLength(1);
    // Many usernames from one address at once: the address's limit holds the same way.
    app.clock.advance(16 * MINUTE);
    checked = 0;
    const guesses = await burst(Array.from({ length: 30 }, (_, i) => `guess${i}`));
    expect(checked).toBe(8);
    expect(guesses.filter((s) => s === 429)).toHaveLength(23);
  });

  it('a lock is recorded once, however many attempts come while it lasts', async () => {
    const { app, team } = await setup({ admin: { throttle: { maxPerIp: 3 } } });
    const c = new StaffClient(app.url);
    await c.page('/admin/login');
    for (let i = 0; i < 60; i++) {
      const res = await c.post('/admin/login', { username: i % 2 ? team.handler.username : `guess${i}`, password: i === 59 ? PASSWORD : 'wrong-password-1' });
      expect(res.status).toBe(i < 2 ? 401 : 429);
      await c.page('/admin/login');
    }
    const rows = await app.audit.list({ limit: 1000 });
    expect(rows.filter((a) => a.action === 'sign-in-failed')).toHaveLength(3);
    expect(rows.filter((a) => a.action === 'sign-in-locked')).toHaveLength(1);
    // The next lock is recorded again.
    app.clock.advance(16 * MINUTE);
    for (let i = 0; i < 5; i++) {
      await c.page('/admin/login');
      await c.post('/admin/login', { username: `again${i}`, password: 'wrong-password-1' });
    }
    expect((await app.audit.list({ action: 'sign-in-locked' })).length).toBe(2);
  });

  it('limits failures per address too (guessing many usernames from one place)', async () => {
    const { app } = await setup({ admin: { throttle: { maxPerIp: 3 } } });
    const c = new StaffClient(app.url);
    for (const [i, status] of [[1, 401], [2, 401], [3, 429], [4, 429]] as const) {
      await c.page('/admin/login');
      expect((await c.post('/admin/login', { username: `guess${i}`, password: 'whatever-123' })).status).toBe(status);
    }
  });

  it('refuses a sign-in form without the login page\'s token (login CSRF)', async () => {
    const { app, team } = await setup();
    const c = new StaffClient(app.url);
    const res = await c.post('/admin/login', { username: team.handler.username, password: PASSWORD, _csrf: 'made-up' });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((x) => x.startsWith('weiban_staff='))).toBe(false);
  });

  it('never redirects outside the panel after signing in', async () => {
    const { app, team } = await setup();
    for (const next of ['https://evil.example/', '//evil.example/x', '/admin/../wechat', 'javascript:alert(1)']) {
      const c = new StaffClient(app.url);
      await c.page('/admin/login');
      const res = await c.post('/admin/login', { username: team.handler.username, password: PASSWORD, next });
      expect(location(res)).toBe('/admin/inbox');
    }
  });
});

describe('sessions', () => {
  it('sign-out ends the session on the server: the old cookie no longer works', async () => {
    const { app, team } = await setup();
    const c = await signedIn(app, team.handler);
    const stolen = c.cookies.get('weiban_staff')!;
    expect((await c.post('/admin/logout')).status).toBe(302);
    const replay = new StaffClient(app.url);
    replay.cookies.set('weiban_staff', stolen);
    const res = await replay.get('/admin/inbox');
    expect(res.status).toBe(302);
    expect(location(res)).toMatch(/^\/admin\/login\?next=/);
  });

  it('ends after 30 idle minutes, and after twelve hours in any case', async () => {
    const { app, team } = await setup();
    const c = await signedIn(app, team.handler);
    app.clock.advance(25 * MINUTE);
    expect((await c.get('/admin/inbox')).status).toBe(200);
    app.clock.advance(25 * MINUTE);
    expect((await c.get('/admin/inbox')).status).toBe(200); // each thing its user does restarts the idle time
    app.clock.advance(30 * MINUTE + 1000);
    expect((await c.get('/admin/inbox')).status).toBe(302);
    const d = await signedIn(app, team.handler);
    for (let i = 1; i <= 28; i++) {
      app.clock.advance(25 * MINUTE);
      expect((await d.get('/admin/inbox')).status, `after ${i * 25} minutes`).toBe(200);
    }
    app.clock.advance(25 * MINUTE); // 12 h 5 min
    expect((await d.get('/admin/inbox')).status).toBe(302);
  });

  it('an open tab refreshing itself is not activity: 30 minutes without its user end the session', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_idle_tab');
    const c = await signedIn(app, team.handler);
    expect((await c.get(`/admin/inbox/${id}`)).status).toBe(200);
    // The page's live refresh, once a minute, for half an hour.
    for (let minute = 1; minute < 30; minute++) {
      app.clock.advance(MINUTE);
      expect((await c.get('/admin/inbox/fragment?view=waiting')).status).toBe(200);
      expect((await c.get(`/admin/inbox/${id}/fragment`)).status).toBe(200);
    }
    app.clock.advance(MINUTE);
    const refresh = await c.get('/admin/inbox/fragment?view=waiting');
    expect(refresh.status).toBe(401); // the page's script goes to the sign-in page
    expect((await c.get(`/admin/inbox/${id}`)).status).toBe(302);
    expect(location(await c.get(`/admin/inbox/${id}`))).toMatch(/^\/admin\/login\?next=/);
  });

  it('changing the password needs the current one and ends the other sessions; a reset forces a new one', async () => {
    const { app, team } = await setup();
    const laptop = await signedIn(app, team.handler);
    const phone = await signedIn(app, team.handler);
    await laptop.page('/admin/account/password');
    const bad = await laptop.post('/admin/account/password', { current: 'wrong-one-123', next: 'A-new-password-7', repeat: 'A-new-password-7' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('当前密码不正确');
    const weak = await laptop.post('/admin/account/password', { current: PASSWORD, next: 'short', repeat: 'short' });
    expect(await weak.text()).toContain('密码至少 12 位');
    const ok = await laptop.post('/admin/account/password', { current: PASSWORD, next: 'A-new-password-7', repeat: 'A-new-password-7' });
    expect(ok.status).toBe(302);
    expect((await laptop.page('/admin/inbox')).html).toContain('密码已修改');
    expect((await phone.get('/admin/inbox')).status).toBe(302); // the other session ended
    expect((await new StaffClient(app.url).signIn(team.handler.username, 'A-new-password-7')).status).toBe(302);
    // An administrator resets it: a temporary password that must be changed first.
    const admin = await signedIn(app, team.admin);
    await admin.page('/admin/staff');
    await admin.post(`/admin/staff/${team.handler.id}/reset`);
    const flash = (await admin.page('/admin/staff')).html;
    const temp = /临时密码：([A-Za-z0-9]+)/.exec(flash)![1]!;
    expect((await laptop.get('/admin/inbox')).status).toBe(302);
    const again = new StaffClient(app.url);
    const res = await again.signIn(team.handler.username, temp);
    expect(location(res)).toBe('/admin/account/password');
    expect(location(await again.get('/admin/inbox'))).toBe('/admin/account/password');
    expect((await again.page('/admin/account/password')).html).toContain('请先设置自己的新密码');
  });

  it('guessing the current password when changing it is limited like signing in, and each wrong guess is recorded', async () => {
    const { app, team } = await setup();
    const c = await signedIn(app, team.handler);
    await c.page('/admin/account/password');
    let checked = 0;
    const change = app.accounts.changePassword.bind(app.accounts);
    app.accounts.changePassword = async (id, current, next) => {
      checked++;
      return change(id, current, next);
    };
    const attempt = (current: string) => c.post('/admin/account/password', { current, next: 'A-new-password-7', repeat: 'A-new-password-7' });
    // Sent all at once: no more guesses are checked than the limit.
    const statuses = (await Promise.all(Array.from({ length: 20 }, () => attempt('wrong-one-123')))).map((r) => r.status);
    expect(checked).toBe(5);
    expect(statuses.filter((s) => s === 400)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(16);
    const locked = await attempt(PASSWORD); // even the right one, while locked
    expect(locked.status).toBe(429);
    expect(await locked.text()).toContain('已暂停修改密码，请 15 分钟后再试');
    expect(checked).toBe(5);
    const rows = await app.audit.list({ target: `staff:${team.handler.id}` });
    expect(rows.filter((a) => a.action === 'password-change-failed').map((a) => [a.actor, a.detail])).toEqual(Array.from({ length: 5 }, () => ['qian.jingban', '当前密码不正确']));
    expect(rows.filter((a) => a.action === 'password-change-locked')).toHaveLength(1);
    // The lock ends; a new password refused for itself does not count as a guess.
    app.clock.advance(16 * MINUTE);
    await c.page('/admin/account/password');
    for (let i = 0; i < 6; i++) expect(await (await c.post('/admin/account/password', { current: PASSWORD, next: 'short', repeat: 'short' })).text()).toContain('密码至少 12 位');
    expect((await attempt(PASSWORD)).status).toBe(302);
    // Signing in is a separate count: the account was never locked for it.
    expect((await new StaffClient(app.url).signIn(team.handler.username, 'A-new-password-7')).status).toBe(302);
  });

  it('a deactivated account is signed out at once and cannot sign in', async () => {
    const { app, team } = await setup();
    const c = await signedIn(app, team.handler);
    const admin = await signedIn(app, team.admin);
    await admin.page('/admin/staff');
    expect((await admin.post(`/admin/staff/${team.handler.id}/deactivate`)).status).toBe(302);
    expect((await c.get('/admin/inbox')).status).toBe(302);
    expect((await new StaffClient(app.url).signIn(team.handler.username, PASSWORD)).status).toBe(401);
  });
});

describe('CSRF', () => {
  it('refuses state changes without the session\'s token, with a wrong one, or from another site', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_csrf');
    const c = await signedIn(app, team.handler);
    const claim = (o: Parameters<StaffClient['post']>[2]) => c.post(`/admin/inbox/${id}/claim`, {}, o);
    expect((await claim({ csrf: null })).status).toBe(403);
    expect((await claim({ csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await claim({ headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect((await claim({ headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await claim({ headers: { origin: 'null' } })).status).toBe(403);
    // Another session's token is not this session's.
    const other = await signedIn(app, team.handler2);
    expect((await claim({ csrf: other.csrf })).status).toBe(403);
    expect((await app.handoffs.openFor('o_csrf'))?.assigneeId).toBeNull();
    expect((await c.post('/admin/logout', {}, { csrf: null })).status).toBe(403);
    // With the token (as a form field or a header), it works.
    const res = await claim({ headers: { origin: app.url, 'sec-fetch-site': 'same-origin' } });
    expect(res.status).toBe(302);
    expect((await app.handoffs.openFor('o_csrf'))?.assigneeId).toBe(team.handler.id);
    const viaHeader = await c.post(`/admin/inbox/${id}/classify`, { category: 'complex' }, { csrf: null, headers: { 'x-csrf-token': c.csrf, 'x-requested-with': 'fetch' } });
    expect(await viaHeader.json()).toMatchObject({ ok: true });
  });

  it('refuses forms that are not urlencoded (no JSON or multipart side door)', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_ct');
    const c = await signedIn(app, team.handler);
    const res = await fetch(`${app.url}/admin/inbox/${id}/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `weiban_staff=${c.cookies.get('weiban_staff')}` },
      body: JSON.stringify({ _csrf: c.csrf }),
    });
    expect(res.status).toBe(415);
  });
});

describe('departments', () => {
  it('a handler cannot read or act on another department\'s conversation by changing the id', async () => {
    const { app, team, handoff } = await setup();
    const theirs = await handoff('o_other');
    await app.inbox.transfer(actorOf(team.duty), theirs, 'social-security', '');
    await app.inbox.reply(actorOf(team.ssHandler), theirs, { kind: 'image', image: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64') });
    const image = (await app.inbox.replies(theirs))[0]!.imageId!;
    const msg = (await app.conversationLog.history('o_other')).find((m) => m.direction === 'in')!;
    const c = await signedIn(app, team.handler);
    const missing = 987_654;
    const gets = [`/admin/inbox/${theirs}`, `/admin/inbox/${theirs}/fragment`, `/admin/inbox/${theirs}/images/${image}`, `/admin/events?handoff=${theirs}`];
    for (const path of gets) {
      const res = await c.get(path);
      expect(res.status, path).toBe(404);
      const body = await res.text();
      const twin = await c.get(path.replace(String(theirs), String(missing)));
      expect(twin.status).toBe(404);
      expect(await twin.text(), 'an existing id looks like a missing one').toBe(body);
    }
    const posts: [string, Record<string, string>][] = [
      ['claim', {}],
      ['assign', { staff: String(team.handler.id) }],
      ['transfer', { department: 'service-centre', note: '' }],
      ['classify', { category: 'complaint' }],
      ['reply', { kind: 'text', text: '我来答' }],
      ['close', {}],
      ['escalate', { note: '' }],
      ['reveal', { what: String(msg.id) }],
      ['reveal', { what: 'question' }],
      ['retry', { reply: '1' }],
    ];
    for (const [action, form] of posts) {
      const res = await c.post(`/admin/inbox/${theirs}/${action}`, form);
      expect(res.status, action).toBe(404);
    }
    const h = await app.db.query(`SELECT department, assignee_id, status, category FROM handoffs WHERE id = ${theirs}`);
    expect(h[0]).toMatchObject({ department: 'social-security', status: 'open', category: 'consultation' });
    expect(Number(h[0].assignee_id)).toBe(team.ssHandler.id);
    expect((await app.inbox.replies(theirs)).length).toBe(1);
    expect(await app.audit.list({ actorId: team.handler.id, action: 'unmask' })).toEqual([]);
    const list = (await c.page('/admin/inbox?view=department')).html;
    expect(list).not.toContain(`/admin/inbox/${theirs}"`);
    // Nor through a conversation of their own: an image belongs to its conversation.
    const mine = await handoff('o_mine');
    expect((await c.get(`/admin/inbox/${mine}/images/${image}`)).status).toBe(404);
    // Their own supervisor can; an administrator can.
    expect((await (await signedIn(app, team.ssSupervisor)).get(`/admin/inbox/${theirs}`)).status).toBe(200);
    expect((await (await signedIn(app, team.admin)).get(`/admin/inbox/${theirs}`)).status).toBe(200);
  });

  it('roles see their own views; only administrators manage accounts and read the audit log', async () => {
    const { app, team } = await setup();
    const tabs = async (who: StaffClient) => [...(await who.page('/admin/inbox')).html.matchAll(/<a href="\/admin\/inbox\?view=(\w+)" class="[^"]*">/g)].map((m) => m[1]);
    expect(await tabs(await signedIn(app, team.handler))).toEqual(['waiting', 'mine', 'department']);
    expect(await tabs(await signedIn(app, team.duty))).toEqual(['waiting', 'mine', 'department']);
    expect(await tabs(await signedIn(app, team.supervisor))).toEqual(['waiting', 'mine', 'department', 'escalated', 'all']);
    expect(await tabs(await signedIn(app, team.admin))).toEqual(['waiting', 'escalated', 'all']);
    const h = await signedIn(app, team.handler);
    for (const path of ['/admin/staff', '/admin/audit']) expect((await h.get(path)).status).toBe(403);
    expect((await h.post('/admin/staff', { username: 'new.one', name: '新人', role: 'admin', department: '' })).status).toBe(403);
    expect(await app.accounts.byUsername('new.one')).toBeNull();
    const admin = await signedIn(app, team.admin);
    for (const path of ['/admin/staff', '/admin/audit', '/admin/dashboard', '/admin/inbox?view=all']) expect((await admin.get(path)).status, path).toBe(200);
  });
});

describe('the panel end to end over HTTP', () => {
  it('claim, canned reply, delivery status, classify, close — and the citizen\'s phone receives the answer', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_e2e', '我家楼下的路灯坏了三天了');
    const c = await signedIn(app, team.handler);
    const list = await c.page('/admin/inbox?view=waiting');
    expect(list.html).toContain(`href="/admin/inbox/${id}"`);
    expect(list.html).toContain('我家楼下的路灯坏了三天了');
    await c.page(`/admin/inbox/${id}`);
    expect(location(await c.post(`/admin/inbox/${id}/claim`))).toBe(`/admin/inbox/${id}`);
    const page = await c.page(`/admin/inbox/${id}`);
    expect(page.html).toContain('已领取，请尽快答复。');
    expect(page.html).toContain('data-canned="您好，您的问题已收到，我们正在核实，会尽快回复您。"');
    const nonce = /name="nonce" value="([^"]+)"/.exec(page.html)![1]!;
    const form = { kind: 'text', text: '您好，已通知街道维修，预计明天修好。', nonce };
    expect((await c.post(`/admin/inbox/${id}/reply`, form)).status).toBe(302);
    expect((await c.post(`/admin/inbox/${id}/reply`, form)).status).toBe(302); // a double click
    expect((await c.page(`/admin/inbox/${id}`)).html).toContain('排队中');
    await app.jobs.runDue();
    const after = await c.page(`/admin/inbox/${id}`);
    expect(after.html).toContain('已送达');
    expect(after.html).toContain('客服消息');
    const phone = app.emulator!.platform.inbox('o_e2e').filter((i) => i.channel === 'custom');
    expect(phone.map((i) => i.message)).toEqual([{ type: 'text', content: '您好，已通知街道维修，预计明天修好。\n——行政服务中心' }]);
    await c.post(`/admin/inbox/${id}/classify`, { category: 'complex' });
    expect((await c.page(`/admin/inbox/${id}`)).html).toContain('已分类为「复杂事项」');
    expect((await c.post(`/admin/inbox/${id}/close`)).status).toBe(302);
    const closed = await c.page(`/admin/inbox/${id}`);
    expect(closed.html).toContain('会话已办结');
    expect(closed.html).not.toContain('data-composer');
    // The timeline says who did what.
    for (const word of ['领取', '回复', '分类', '办结']) expect(closed.html).toContain(`<b>${word}</b>`);
    const audit = (await app.audit.list({ target: `handoff:${id}` })).map((a) => a.action);
    expect(audit).toEqual(['close', 'classify', 'reply', 'claim', 'view']); // one view per visit (ten minutes), not per refresh
  });

  it('the conversation page reads as words: who the citizen is, their matters, what answered, colleagues by name', async () => {
    const { app, team } = await setup();
    const o = 'o_staff_view_wang';
    const act = (a: Parameters<NonNullable<TestApp['emulator']>['act']>[1]) => app.emulator!.act(o, a);
    await act({ type: 'subscribe' });
    // The citizen booked a marriage registration, giving a name and phone, then taps 人工客服 and asks.
    const day = (await app.appointments.days('marriage-registration', 'center')).find((d) => d.free > 0)!;
    const slot = day.slots.find((x) => x.bookable)!;
    await app.appointments.book({ openid: o, serviceId: 'marriage-registration', hallId: 'center', start: slot.start, contact: { name: '王秀英', phone: '13912345678' }, channel: 'h5', notify: false });
    await act({ type: 'text', content: '几点下班' });
    await act({ type: 'click', key: 'human' });
    app.clock.advance(MINUTE);
    await act({ type: 'text', content: '我们老两口结婚证丢了，补办要带户口本吗' });
    await act({ type: 'click', key: 'mine' });
    const id = (await app.handoffs.openFor(o))!.id;
    await app.inbox.claim(actorOf(team.duty), id);
    const c = await signedIn(app, team.duty);
    const page = (await c.page(`/admin/inbox/${id}`)).html;
    const text = page.replace(/<[^>]+>/g, ' ');
    expect(text).toContain('王*'); // a name the citizen gave, masked
    expect(text).toContain('139****5678');
    expect(text).not.toContain('o_staff');
    expect(page).toContain('href="/admin/halls/center"'); // their booking
    expect(text).toContain('结婚登记');
    // The question is the citizen's, not the menu's.
    expect(/<h1>[\s\S]*?<\/h1>/.exec(page)![0]).toContain('我们老两口结婚证丢了');
    // Words, not codes: what answered and which button was tapped.
    expect(text).not.toMatch(/handoff:|rule:|with-staff:|\[菜单\] (human|mine)| via /);
    expect(text).toContain('[菜单] 人工客服');
    expect(text).toContain('[菜单] 我的办事');
    expect(text).toContain('转人工');
    expect(text).toContain('关键词回复');
    // The record names colleagues, not usernames.
    expect(text).toContain(team.duty.name);
    expect(text).not.toContain(team.duty.username);
  });

  it('a conflicting action is a notice, not an error page; the conversation page tells why', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_conflict');
    const a = await signedIn(app, team.handler);
    const b = await signedIn(app, team.handler2);
    await a.page(`/admin/inbox/${id}`);
    await b.page(`/admin/inbox/${id}`);
    expect((await a.post(`/admin/inbox/${id}/claim`)).status).toBe(302);
    // Claiming from a page that still showed it waiting: a notice that it was taken, on the conversation.
    const res = await b.post(`/admin/inbox/${id}/claim`);
    expect(location(res)).toBe(`/admin/inbox/${id}`);
    expect((await b.page(`/admin/inbox/${id}`)).html).toContain('已被其他同事领取');
    expect((await b.post(`/admin/inbox/${id}/reply`, { kind: 'text', text: '我也答' })).status).toBe(403);
    const bad = await a.post(`/admin/inbox/${id}/reply`, { kind: 'link', link_url: 'javascript:alert(1)', link_title: 'x' });
    expect(location(bad)).toBe(`/admin/inbox/${id}`);
    expect((await a.page(`/admin/inbox/${id}`)).html).toContain('链接须以 http:// 或 https:// 开头');
  });

  it('showing personal data in full is a deliberate, audited action', async () => {
    const { app, team, handoff } = await setup();
    const id = await handoff('o_mask');
    await app.emulator!.act('o_mask', { type: 'text', content: '我手机13812345678，身份证310101199001011234，住在长宁路1234弄5号' });
    const c = await signedIn(app, team.handler);
    const page = (await c.page(`/admin/inbox/${id}`)).html;
    expect(page).toContain('我手机138****5678，身份证3101************34，住在长宁路****');
    expect(page).not.toMatch(/13812345678|310101199001011234|1234弄/);
    const list = (await c.page('/admin/inbox?view=waiting')).html;
    expect(list).toContain('最新：我手机138****5678');
    expect(list).not.toContain('13812345678');
    const msg = (await app.conversationLog.history('o_mask')).find((m) => m.content.startsWith('我手机'))!;
    expect(page).toContain(`name="what" value="${msg.id}"`);
    const json = await c.post(`/admin/inbox/${id}/reveal`, { what: String(msg.id) }, { headers: { 'x-requested-with': 'fetch' } });
    expect(await json.json()).toEqual({ text: '我手机13812345678，身份证310101199001011234，住在长宁路1234弄5号' });
    const full = await c.post(`/admin/inbox/${id}/reveal`, { what: String(msg.id) });
    expect(await full.text()).toContain('13812345678');
    expect((await app.audit.list({ action: 'unmask' })).map((a) => [a.actor, a.detail])).toEqual([
      ['qian.jingban', `message:${msg.id}`],
      ['qian.jingban', `message:${msg.id}`],
    ]);
    // The next plain view is masked again.
    expect((await c.page(`/admin/inbox/${id}`)).html).not.toContain('13812345678');
  });

  it('the dashboard renders its figures and an SVG chart', async () => {
    const { app, team, handoff } = await setup();
    await handoff('o_dash', '我家楼下的路灯坏了三天了');
    const c = await signedIn(app, team.supervisor);
    const page = (await c.page('/admin/dashboard')).html;
    expect(page).toContain('<svg class="chart"');
    expect(page).toContain('近 7 天的消息、转人工和答复');
    expect(page).toContain('我家楼下的路灯坏了三天了');
    expect(page).toMatch(/<span>转人工<\/span><b>1<\/b>/);
    expect(page).toMatch(/<span>当前超期未办<\/span><b>0<\/b>/);
    // The unanswered questions are the whole account's, and the page says so.
    expect(page).toContain('本周最常见的答不上的问题 <small class="muted">全账号</small>');
    expect(page).toContain('消息、服务使用和答不上的问题：全账号');
  });

  it('an administrator creates accounts in the panel; the temporary password is shown once', async () => {
    const { app, team } = await setup();
    const admin = await signedIn(app, team.admin);
    await admin.page('/admin/staff');
    const bad = await admin.post('/admin/staff', { username: 'Bad Name', name: '某', role: 'handler', department: 'service-centre' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('用户名须为');
    const noDept = await admin.post('/admin/staff', { username: 'li.jingban', name: '李经办', role: 'handler', department: '' });
    expect(await noDept.text()).toContain('须属于一个部门');
    expect((await admin.post('/admin/staff', { username: 'li.jingban', name: '李经办', role: 'handler', department: 'civil-affairs' })).status).toBe(302);
    const shown = (await admin.page('/admin/staff')).html;
    const temp = /临时密码：([A-Za-z0-9]+)/.exec(shown)![1]!;
    expect((await admin.page('/admin/staff')).html).not.toContain(temp);
    const li = new StaffClient(app.url);
    expect(location(await li.signIn('li.jingban', temp))).toBe('/admin/account/password');
    expect((await app.audit.list({ action: 'staff-create' }))[0]).toMatchObject({ actor: 'admin', detail: 'li.jingban（李经办）' });
  });
});

describe('stored XSS', () => {
  const PAYLOADS = [
    '<script>alert("xss")</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(2)">点我</a>',
    '"><svg onload=alert(3)>',
    "'><iframe src=javascript:alert(4)>",
  ];

  /**
   * The page holds the payloads only as inert text: among its real tags (escaped text has no raw
   * "<"), none is a script of anyone but ours, none carries an event handler or a javascript: URL.
   */
  function inert(page: string): void {
    const tags = page.match(/<[a-zA-Z][^>]*>/g) ?? [];
    for (const t of tags) {
      // Attributes as a browser reads them: name, and a quoted or bare value.
      for (const [, name, value] of t.slice(t.search(/\s|>/)).matchAll(/\s([^\s"'>\/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?/g)) {
        expect(name!.toLowerCase(), t).not.toMatch(/^on/);
        if (/^(href|src|action|formaction|xlink:href)$/i.test(name!)) expect((value ?? '').replace(/^["']|["']$/g, '').trim(), t).not.toMatch(/^javascript:/i);
      }
      expect(t).not.toMatch(/^<(iframe|object|embed|frame)\b/i);
      // Our own images and charts only: the composer's preview, answer-page images, server-drawn charts.
      if (/^<img\b/i.test(t)) expect(t).toMatch(/^<img (class="preview" alt="" hidden|class="thumb" src="\/admin\/inbox\/\d+\/images\/\d+" alt="[^"<>]*"|src="\/h5\/answer\/[A-Za-z0-9_-]+\/images\/\d+" alt="[^"<>]*")>$/);
      if (/^<svg\b/i.test(t)) expect(t).toMatch(/^<svg class="chart( share)?" viewBox=/);
      if (/^<script/i.test(t)) expect(t).toBe('<script src="/admin/assets/admin.js" defer>');
    }
  }

  it('citizen text, staff names and replies render inert on every page of the panel and on the answer page', async () => {
    const { app, team } = await setup();
    const admin = await signedIn(app, team.admin);
    await admin.page('/admin/staff');
    await admin.post('/admin/staff', { username: 'xss.name', name: '<img src=x onerror=alert(9)>', role: 'handler', department: 'service-centre' });
    const ids: number[] = [];
    for (const [i, p] of PAYLOADS.entries()) {
      const o = `o_xss_${i}`;
      await app.emulator!.act(o, { type: 'subscribe' });
      await app.emulator!.act(o, { type: 'text', content: p }); // unanswered → a handoff whose question is the payload
      await app.emulator!.act(o, { type: 'text', content: `补充 ${p}` });
      const h = await app.handoffs.openFor(o);
      expect(h?.question).toBe(p);
      ids.push(h!.id);
    }
    const xssStaff = (await app.accounts.byUsername('xss.name'))!;
    await app.inbox.assign(actorOf(team.duty), ids[0]!, xssStaff.id);
    await app.inbox.transfer(actorOf(team.duty), ids[1]!, 'civil-affairs', PAYLOADS[0]!);
    const r = await app.inbox.reply(actorOf(team.supervisor), ids[2]!, { kind: 'text', text: `回复 ${PAYLOADS.join(' ')}` });
    await app.inbox.escalate(actorOf(team.handler), ids[3]!, `上报：${PAYLOADS[3]}`);
    const pages = ['/admin/inbox?view=waiting', '/admin/inbox?view=all', '/admin/inbox?view=escalated', '/admin/inbox/fragment?view=all', '/admin/dashboard', '/admin/staff', '/admin/audit'];
    for (const id of ids) pages.push(`/admin/inbox/${id}`, `/admin/inbox/${id}/fragment`);
    for (const path of pages) {
      const { status, html } = await admin.page(path);
      expect(status, path).toBe(200);
      inert(html);
    }
    const detail = (await admin.page(`/admin/inbox/${ids[0]}`)).html;
    expect(detail).toContain('&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;');
    expect(detail).toContain('&lt;img src=x onerror=alert(9)&gt;'); // the assignee's name
    const answer = await (await fetch(`${app.url}/h5/answer/${r.token}`)).text();
    inert(answer);
    expect(answer).toContain('回复 &lt;script&gt;');
  });
});

for (const kv of KV_BACKENDS) {
  describe.skipIf(!available(kv))(`live updates (server-sent events) with ${kv.label}`, () => {
    it('a page\'s event stream says when its list or conversation changed', async () => {
      const { app, team, handoff } = await setup({ kv: kv.name, admin: { pulseMs: 30 } });
      const c = await signedIn(app, team.handler);
      const listPage = (await c.page('/admin/inbox')).html;
      const since = /data-pulse="([^"]+)"/.exec(listPage)![1]!;
      const ctl = new AbortController();
      const res = await fetch(`${app.url}/admin/events?since=${encodeURIComponent(since)}`, { headers: { cookie: `weiban_staff=${c.cookies.get('weiban_staff')}` }, signal: ctl.signal });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      const events: string[] = [];
      const until = async (pred: () => boolean) => {
        const dec = new TextDecoder();
        let buf = '';
        while (!pred()) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value);
          const parts = buf.split('\n\n');
          buf = parts.pop()!;
          events.push(...parts.filter((p) => p.startsWith('event:')));
        }
      };
      // Nothing changed yet: no pulse (only keep-alives). A citizen hands off: a pulse comes.
      await new Promise((r) => setTimeout(r, 100));
      expect(events).toEqual([]);
      const id = await handoff('o_live');
      // The citizen's messages are logged a moment before the handoff itself, so a first pulse may
      // carry only the messages; one that counts the new conversation must follow.
      const withHandoff = /^event: pulse\ndata: \{"v":"h\d+\.n1\.m\d+\.j\d+\.0"\}$/;
      await until(() => events.some((e) => withHandoff.test(e)));
      expect(events.every((e) => e.startsWith('event: pulse'))).toBe(true);
      // The refreshed list has the new conversation, and carries the fingerprint of a list with it.
      const frag = await c.get('/admin/inbox/fragment?view=waiting');
      expect(await frag.text()).toContain(`/admin/inbox/${id}`);
      expect(`event: pulse\ndata: {"v":"${frag.headers.get('x-pulse')}"}`).toMatch(withHandoff);
      // Signing out ends the stream.
      await c.post('/admin/logout');
      await until(() => events.some((e) => e.startsWith('event: signed-out')));
      ctl.abort();
    });

    it('a page\'s event stream keeps nothing alive: 30 idle minutes end it with signed-out', async () => {
      const { app, team, handoff } = await setup({ kv: kv.name, admin: { pulseMs: 30 } });
      const c = await signedIn(app, team.handler);
      const ctl = new AbortController();
      const res = await fetch(`${app.url}/admin/events?since=x`, { headers: { cookie: `weiban_staff=${c.cookies.get('weiban_staff')}` }, signal: ctl.signal });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      const until = async (needle: string) => {
        while (!text.includes(needle)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += dec.decode(value);
        }
      };
      await until('event: pulse');
      await handoff('o_idle_stream'); // changes keep coming: they are not the user's doing
      app.clock.advance(30 * MINUTE);
      await until('event: signed-out');
      expect(text).toContain('event: signed-out');
      ctl.abort();
      expect((await c.get('/admin/inbox')).status).toBe(302);
    });
  });
}
