import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { actorOf } from '../../src/admin/accounts.ts';
import type { OpsCapability } from '../../src/ops/capability.ts';
import { isInternal, metrics } from '../../src/ops/metrics.ts';
import { makeTeam, openHandoff } from '../admin/client.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';

const startApp = appsClosedAfterEach();
const ops = (app: TestApp) => app.capabilities.find((c) => c.name === 'ops') as OpsCapability;

/** The value of one sample in a Prometheus text answer. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('GET /metrics', () => {
  it('callback outcomes, messages, open and overdue requests, jobs and WeChat error codes, database and store timings', async () => {
    const app = await startApp();
    const team = await makeTeam(app);
    await app.emulator!.act('o_m1', { type: 'subscribe' });
    await app.emulator!.act('o_m1', { type: 'text', content: '社保卡丢了怎么补办' });
    const id = await openHandoff(app, 'o_m2');
    // WeChat busy on the customer-service send: the job waits to retry, with the error code.
    app.emulator!.platform.injectFault('/cgi-bin/message/custom/send', -1, 5, 'system error');
    await app.inbox.reply(actorOf(team.handler), id, { kind: 'text', text: '您好，请问具体是什么情况？' });
    await app.jobs.runDue();
    const stranger = await fetch(`${app.url}/wechat?signature=bad&timestamp=1&nonce=2`, { method: 'POST', body: '<xml></xml>' });
    expect(stranger.status).toBeGreaterThanOrEqual(400);
    await openHandoff(app, 'o_m3'); // never answered
    app.clock.advance(2 * 86_400_000);

    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    if (process.env.SHOW_METRICS) console.log(text.split('\n').filter((l) => !l.startsWith('#') && !l.includes('_bucket')).join('\n'));
    expect(sample(text, 'weiban_callback_duration_seconds_count', 'outcome="refused"')).toBe(1);
    expect(sample(text, 'weiban_callback_duration_seconds_count', 'outcome="answered"')).toBeGreaterThanOrEqual(4);
    expect(sample(text, 'weiban_messages_in', 'kind="subscribe"')).toBe(3);
    expect(sample(text, 'weiban_messages_in', 'kind="text"')).toBe(3);
    expect(sample(text, 'weiban_handoffs_open')).toBe(2);
    expect(sample(text, 'weiban_requests_overdue', 'source="conversation"')).toBe(1); // o_m3; o_m2 was answered (its delivery is retrying)
    expect(sample(text, 'weiban_wechat_errors', 'errcode="-1",api="/cgi-bin/message/custom/send"')).toBe(1);
    expect(sample(text, 'weiban_jobs', 'status="pending"')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'weiban_db_ping_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'weiban_kv_ping_seconds', 'backend="memory"')).toBeGreaterThanOrEqual(0);
  });

  it('with METRICS_TOKEN set, only the bearer of the token reads them', async () => {
    const app = await startApp();
    const m = metrics({ ...(app as never as object), env: { METRICS_TOKEN: 'a-long-random-token-from-the-vault' } } as never, ops(app).operations);
    const koa = new Koa().use(m.routes().routes());
    const server = koa.listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(url, { headers: { Authorization: 'Bearer a-long-random-token-from-the-vault' } })).status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('without a token, this machine and private networks only', () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.2.3.4', '172.16.0.9', '172.31.255.1', '192.168.1.20', 'fd12:3456::1']) expect(isInternal(ip), ip).toBe(true);
    for (const ip of ['8.8.8.8', '172.32.0.1', '172.15.0.1', '192.169.0.1', '::ffff:1.2.3.4', '2001:db8::1', '']) expect(isInternal(ip), ip).toBe(false);
  });
});
