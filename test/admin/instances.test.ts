import { afterEach, describe, expect, it } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { dropSchema } from '../../src/platform/db.ts';
import { MONDAY_10AM, startTestApp, type TestApp } from '../helpers/app.ts';
import { PG_URL, REDIS_URL, uniqueName } from '../helpers/backends.ts';
import { makeTeam, PASSWORD, StaffClient } from './client.ts';

/**
 * Two instances on one PostgreSQL database and one Redis, as a department runs them behind a load
 * balancer: a session begun on one works on the other, a lock-out holds on both, two staff claiming
 * the same conversation on different instances get one winner, and a page served by one instance
 * hears of a change made through the other.
 */
const skip = !PG_URL || !REDIS_URL;
const label = skip ? 'two instances (SKIPPED: needs DATABASE_URL=postgres://… and REDIS_URL)' : 'two instances on PostgreSQL and Redis';

const apps: TestApp[] = [];
let schema = '';
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  if (schema) await dropSchema(PG_URL!, schema);
  schema = '';
});

describe.skipIf(skip)(label, () => {
  it('share sessions, lock-outs, claims and live updates', async () => {
    schema = uniqueName('two');
    const clock = new FakeClock(MONDAY_10AM);
    const a = await startTestApp({ db: 'postgres', kv: 'redis', shared: schema, clock, admin: { pulseMs: 30 } });
    apps.push(a);
    const b = await startTestApp({ db: 'postgres', kv: 'redis', shared: schema, clock, admin: { pulseMs: 30 } });
    apps.push(b);
    const team = await makeTeam(a);

    // A session begun on A is good on B; signing out on B ends it on A.
    const onA = new StaffClient(a.url);
    expect((await onA.signIn(team.handler.username, PASSWORD)).status).toBe(302);
    const onB = new StaffClient(b.url);
    onB.cookies.set('weiban_staff', onA.cookies.get('weiban_staff')!);
    expect((await onB.page('/admin/inbox')).status).toBe(200);

    // A lock-out earned on A holds on B.
    const guess = async (app: TestApp, password: string) => {
      const c = new StaffClient(app.url);
      await c.page('/admin/login');
      return (await c.post('/admin/login', { username: team.handler2.username, password })).status;
    };
    for (let i = 0; i < 5; i++) await guess(a, 'wrong-password-1');
    expect(await guess(b, PASSWORD)).toBe(429);

    // A citizen hands off through A's callback; B's event stream hears of it.
    const res = await fetch(`${b.url}/admin/events?since=x`, { headers: { cookie: `weiban_staff=${onA.cookies.get('weiban_staff')}` } });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value); // the retry line and the first pulse
    await a.emulator!.act('o_two', { type: 'subscribe' });
    await a.emulator!.act('o_two', { type: 'text', content: '转人工' });
    const id = (await a.handoffs.openFor('o_two'))!.id;
    let seen = first;
    while (!/"v":"h\d+\.n1\./.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();

    // Two colleagues claim at once, one on each instance: one wins.
    const results = await Promise.allSettled([a.inbox.claim(actorOf(team.handler), id), b.inbox.claim(actorOf(team.handler2), id)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const h = await b.handoffs.openFor('o_two');
    const winner = results[0]!.status === 'fulfilled' ? team.handler.id : team.handler2.id;
    expect(h?.assigneeId).toBe(winner);

    // The deadline job is run by one instance only.
    clock.advance(24 * 3_600_000);
    // Every due job (the escalation, and others such as the day's pay reconciliation) runs once in all.
    const due = (await a.jobs.list({ status: 'pending' })).filter((j) => j.runAt <= clock.now());
    expect(due.map((j) => j.name)).toContain('inbox.escalate');
    const [ranA, ranB] = await Promise.all([a.jobs.runDue(), b.jobs.runDue()]);
    expect(ranA + ranB).toBe(due.length);
    expect(await a.audit.list({ target: `handoff:${id}`, action: 'escalate' })).toHaveLength(1);

    await onB.post('/admin/logout');
    expect((await onA.get('/admin/inbox')).status).toBe(302);
  });
});
