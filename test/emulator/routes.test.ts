import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

describe('the phone API refuses what WeChat would never send', () => {
  it('checks an action before building XML from it', async () => {
    app = await startTestApp();
    const act = (action: unknown) =>
      fetch(`${app!.url}/emulator/phone/api/act`, { method: 'POST', body: JSON.stringify({ openid: 'o_demo_zhang_ayi', action }) });
    expect((await act({ type: 'subscribe' })).status).toBe(200);
    const injected = await act({ type: 'text', content: 'hi', bizmsgmenuid: '1</bizmsgmenuid><MsgType>event</MsgType><x>' });
    expect(injected.status).toBe(400);
    expect((await act({ type: 'location', latitude: '31</Location_X><Evil/>', longitude: 121 })).status).toBe(400);
    expect((await act({ type: 'teleport' })).status).toBe(400);
    expect((await fetch(`${app.url}/emulator/phone/api/act`, { method: 'POST', body: '{not json' })).status).toBe(400);
    const inbox = app.emulator!.platform.inbox('o_demo_zhang_ayi');
    expect(inbox.filter((i) => i.channel === 'citizen')).toHaveLength(1);
  });

  it('reading the state does not invent citizens, and says which emulator boot it is', async () => {
    app = await startTestApp();
    const st = (await (await fetch(`${app.url}/emulator/phone/api/state?openid=o_nobody_here`)).json()) as { citizen: unknown; boot: string };
    expect(st.citizen).toBeNull();
    expect(st.boot).toBe(app.emulator!.boot);
    expect(app.emulator!.platform.findCitizen('o_nobody_here')).toBeUndefined();
  });

  it('opens only the account\'s own pages, setting the identity where they live', async () => {
    app = await startTestApp();
    const open = (host: string, url: string) => fetch(`http://${host}:${app!.port}/emulator/phone/open?openid=o_demo_zhang_ayi&url=${encodeURIComponent(url)}`, { redirect: 'manual' });
    const elsewhere = await open('127.0.0.1', '/healthz');
    expect(elsewhere.status).toBe(302);
    expect(elsewhere.headers.get('location')).toBe(`http://localhost:${app.port}/emulator/phone/open?openid=o_demo_zhang_ayi&url=%2Fhealthz`);
    const here = await open('localhost', '/healthz');
    expect(here.headers.get('location')).toBe('/healthz');
    expect(here.headers.get('set-cookie')).toMatch(/emu_openid=o_demo_zhang_ayi/);
    expect((await open('localhost', 'https://evil.example/phish')).status).toBe(400);
  });
});
