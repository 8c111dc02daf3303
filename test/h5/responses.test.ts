import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/log.ts';
import { CitizenSessions } from '../../src/h5/http.ts';
import { appsClosedAfterEach } from '../helpers/app.ts';
import { JPEG, validId } from '../helpers/files.ts';
import { Visitor } from '../helpers/visitor.ts';

/**
 * What every citizen page response carries, a 404 or a refusal included: the security headers,
 * no caching of pages with personal data, a 400 (logged as one warning line) for a malformed form,
 * and a session kept under its id's hash.
 */

const startApp = appsClosedAfterEach();
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

async function setup() {
  const lines: string[] = [];
  const a = await startApp({ log: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } }) });
  const base = `http://localhost:${a.port}`;
  const citizen = (openid: string) => {
    const v = new Visitor(base);
    v.cookie('emu_openid', openid);
    return v;
  };
  return { a, base, lines, citizen };
}

describe('every response under /h5 and /admin', () => {
  it('carries the security headers, a 404 included; the citizen pages\' CSP forbids <base>', async () => {
    const { base } = await setup();
    for (const path of ['/h5/guides', '/h5/no-such-page', '/h5/answer/not-a-token/x/y']) {
      const res = await fetch(base + path);
      expect(res.headers.get('content-security-policy'), path).toContain("base-uri 'none'");
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'self'");
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    expect((await fetch(`${base}/h5/no-such-page`)).status).toBe(404);
    for (const path of ['/admin/no-such-page', '/admin/inbox/1/no-such-thing']) {
      const res = await fetch(base + path, { redirect: 'manual' });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
  });

  it('citizen pages with personal data are never cached: a booking, an application\'s draft, the cases', async () => {
    const { a, citizen } = await setup();
    const v = citizen('o_cache');
    const b = await a.appointments.book({ openid: 'o_cache', serviceId: 'residence-permit', hallId: 'center', start: cst(2026, 11, 25, 10), contact: { name: '王小明', phone: '13812345678' }, channel: 'h5', notify: false });
    await a.cases.saveDraft('o_cache', 'residence-permit', { name: '王小明', id_card: validId(), phone: '13812345678' }, []);
    const c = await a.cases.submit('o_cache', 'senior-card', { name: '李奶奶', id_card: validId(), phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.jpg', data: JPEG }]);
    for (const path of [`/h5/bookings/${b.id}`, '/h5/bookings', '/h5/apply/residence-permit', '/h5/cases', `/h5/cases/${c.id}`, `/h5/progress?no=${c.caseNo}&code=${c.queryCode}`]) {
      const page = await v.get(path);
      expect(page.status, path).toBe(200);
      expect(page.headers.get('cache-control'), path).toBe('no-store');
    }
  });
});

describe('a client\'s mistake', () => {
  it('a multipart post without a boundary is a 400 with a plain answer, logged as one warning line without a stack', async () => {
    const { citizen, lines } = await setup();
    const v = citizen('o_boundary');
    const page = await v.get('/h5/apply/residence-permit');
    expect(page.status).toBe(200);
    const res = await v.postMultipart('/h5/apply/residence-permit', `--x\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${v.csrf(page.text)}\r\n--x--\r\n`, 'multipart/form-data');
    expect(res.status).toBe(400);
    expect(res.text).toBe('表单格式不对，请返回重新提交');
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === '/h5/apply/residence-permit');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, status: 400, msg: 'request refused', reason: '表单格式不对，请返回重新提交' });
    expect(JSON.stringify(logged[0])).not.toMatch(/stack|at .*\.ts:\d+/);
    expect(lines.some((l) => JSON.parse(l).level >= 50)).toBe(false);
  });
});

describe('citizen page sessions', () => {
  it('are kept under their id\'s hash: the store holds no usable cookie', async () => {
    const { a, base } = await setup();
    const v = new Visitor(base);
    v.cookie('emu_openid', 'o_hashed');
    expect((await v.get('/h5/bookings')).status).toBe(200);
    const sid = /wb_sid=([A-Za-z0-9_-]{32})/.exec((v as unknown as { header(): string }).header())![1]!;
    expect(await a.kv.get(`h5:sid:${sid}`)).toBeNull();
    expect(await a.kv.get(CitizenSessions.key(sid))).toBe('o_hashed');
    expect(CitizenSessions.key(sid)).not.toContain(sid);
  });
});
