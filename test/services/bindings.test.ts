import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PhoneReply } from '../../src/emulator/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import { checkBindings, type BindingsConfig } from '../../src/profile/bindings.ts';
import { parseProfile } from '../../src/profile/load.ts';
import { systemSecrets } from '../../src/services/bindings/capability.ts';
import { signBody, signatureMatches } from '../../src/services/bindings/verify.ts';
import { appsClosedAfterEach, demoProfileRaw, type TestApp } from '../helpers/app.ts';
import { PG_URL, REDIS_URL } from '../helpers/backends.ts';
import { Visitor } from '../helpers/visitor.ts';

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles');
const LIBRARY = join(PROFILES, 'shanghai-library', 'profile.yaml');
const TRAFFIC = join(PROFILES, 'xiamen-traffic', 'profile.yaml');
const LIB_KEY = 'demo-only-library-ils-hmac-key-2026-please-replace';
const XM_KEY = 'demo-only-xiamen-tms-hmac-key-2026-please-replace';

const startApp = appsClosedAfterEach();
const textOf = (r: PhoneReply | null) => (r?.type === 'text' ? r.content : '');

/** A department system's signed POST. */
async function signed(a: TestApp, path: string, body: string, o: { system?: string; key?: string; ts?: number; type?: string } = {}) {
  const ts = String(o.ts ?? Math.floor(a.clock.now() / 1000));
  const res = await fetch(`${a.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': o.type ?? 'application/json', 'x-weiban-system': o.system ?? 'ils', 'x-weiban-timestamp': ts, 'x-weiban-signature': signBody(o.key ?? LIB_KEY, ts, body) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const loanDue = (idem: string, target: string, values: Record<string, unknown> = {}) =>
  JSON.stringify({ kind: 'loan_due', idempotency_key: idem, target, values: { title: '额尔古纳河右岸', due: '2026-11-26', branch: '上海图书馆东馆', ...values } });

async function library(o: { log?: ReturnType<typeof createLogger> } = {}) {
  const a = await startApp({ profileFile: LIBRARY, ...(o.log ? { log: o.log } : {}) });
  return a;
}

async function reader(a: TestApp, openid: string) {
  await a.emulator!.act(openid, { type: 'subscribe' });
  const v = new Visitor(`http://localhost:${a.port}`);
  v.cookie('emu_openid', openid);
  return v;
}

async function bindCard(v: Visitor, card: string, password: string, consent = true) {
  const page = await v.get('/h5/bindings/new/reader_card');
  expect(page.status).toBe(200);
  return v.post('/h5/bindings/new/reader_card', { _csrf: v.csrf(page.text), card_no: card, password, ...(consent ? { consent: '1' } : {}) });
}

const templates = (a: TestApp, openid: string) => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template');

describe('binding kinds in the profile', () => {
  const base = (): BindingsConfig => ({
    kinds: [{ id: 'card', name: '读者证', fields: [{ id: 'no', label: '证号', pattern: '^\\d{10}$', hint: '10 位', key: true, secret: false, input: 'text' }], consent: '同意后我们用证号给您发提醒。', max_per_citizen: 1, verify: { by: 'records' } }],
    systems: [{ id: 'ils', name: '系统', secret_env: 'ILS_KEY' }],
    events: [{ id: 'due', name: '到期', binding: 'card', systems: ['ils'], template: 'due', channel: 'template', values: { title: { max: 20, ascii: false, required: true } }, respect_quiet_hours: true, can_opt_out: true }],
    quiet_hours: { from: '21:00', to: '08:00' },
    max_wrong_per_citizen: 5,
    max_wrong_per_key: 10,
    lock_minutes: 30,
  });
  const problems = (b: BindingsConfig, fields: Record<string, string>, emulator = true) => {
    const out: string[] = [];
    checkBindings(b, { templates: { due: { fields } }, departments: ['d'], emulator }, (path, m) => out.push(`${path.join('.')}: ${m}`));
    return out;
  };

  it('accepts values that fit WeChat field limits', () => {
    expect(problems(base(), { thing1: '{title}', time2: '2026-11-26' })).toEqual([]);
  });

  it('refuses at start-up a template field the event values could overflow, naming field, event and lengths', () => {
    const out = problems(base(), { thing1: '您借的《{title}》快到期了' });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^bindings\.events\.0\.values: expected template "due" field thing1 to fit WeChat's 20 characters; .* may reach 29 \(title ≤ 20\)/);
  });

  it('refuses Chinese values in a character_string field and a value the template needs but the event lacks', () => {
    expect(problems(base(), { character_string1: '{title}' })[0]).toMatch(/expected only ASCII in character_string1/);
    expect(problems(base(), { thing1: '{author}' })[0]).toMatch(/expected a value for \{author\}/);
  });

  it('refuses a demo key, or demo records, with the emulator off', () => {
    const b = base();
    b.systems[0]!.demo_secret = 'x'.repeat(40);
    expect(problems(b, { thing1: '{title}' }, false)).toEqual([expect.stringMatching(/^bindings\.systems\.0\.demo_secret: expected no demo_secret with the emulator off; set ILS_KEY/)]);
  });

  it('stops the start when a system has no key in the environment, naming field, variable and length', () => {
    const raw = demoProfileRaw(LIBRARY);
    const profile = parseProfile(raw, 'test');
    const live = { ...profile, emulator: { ...profile.emulator, enabled: false } };
    expect(() => systemSecrets({ profile: live, env: {} })).toThrow(/bindings\.systems\[0\]\.secret_env \(system "ils"\): expected the environment variable WEIBAN_SYSTEM_LIB_ILS_KEY .* got nothing/);
    expect(() => systemSecrets({ profile: live, env: { WEIBAN_SYSTEM_LIB_ILS_KEY: 'short' } })).toThrow(/got 5 characters/);
    expect(systemSecrets({ profile: live, env: { WEIBAN_SYSTEM_LIB_ILS_KEY: 'k'.repeat(40) } }).get('ils')).toBe('k'.repeat(40));
  });

  it('a profile whose event names a binding kind that does not exist does not start', () => {
    const raw = demoProfileRaw(LIBRARY);
    raw.bindings.events[0].binding = 'library_card';
    expect(() => parseProfile(raw, 'test')).toThrow(/bindings\.events\[0 loan_due\]\.binding: expected a binding kind id \(reader_card\); got "library_card"/s);
  });
});

describe('binding a reader card on the page', () => {
  it('binds with the number typed as people type it, and shows it masked everywhere', async () => {
    const a = await library();
    const v = await reader(a, 'o_reader_grandma_wu');
    const r = await bindCard(v, ' 3100 0123 45 ', '246810');
    expect(r.status).toBe(200);
    expect(r.text).toContain('绑定成功');
    expect(r.text).toContain('3100****45');
    expect(r.text).not.toContain('3100012345');
    const mine = await v.get('/h5/bindings');
    expect(mine.text).toContain('3100****45');
    expect(mine.text).not.toContain('3100012345');
    // The chat shows it masked too.
    const reply = textOf((await a.emulator!.act('o_reader_grandma_wu', { type: 'text', content: '我的绑定' })).reply);
    expect(reply).toContain('读者证 3100****45');
    expect(reply).not.toContain('3100012345');
    // Binding the same card again is not an error.
    const again = await bindCard(v, '3100012345', '246810');
    expect(again.text).toContain('已经绑定过了');
  });

  it('refuses a wrong password, counts down, and locks out even the right password after five', async () => {
    const a = await library();
    const v = await reader(a, 'o_guessing_nephew');
    const first = await bindCard(v, '3100012345', '123456');
    expect(first.status).toBe(422);
    expect(first.text).toContain('信息核对不上');
    expect(first.text).toContain('还可以再试 4 次');
    expect(first.text).not.toContain('123456'); // the password is not echoed back
    for (let i = 0; i < 4; i++) await bindCard(v, '3100012345', `00000${i}`);
    const locked = await bindCard(v, '3100012345', '246810');
    expect(locked.status).toBe(429);
    expect(locked.text).toContain('输错次数太多');
    expect(locked.text).toMatch(/请 \d+ 分钟后再试/);
    a.clock.advance(31 * 60_000);
    const later = await bindCard(v, '3100012345', '246810');
    expect(later.text).toContain('绑定成功');
  });

  it('stops guessing one card from many WeChat accounts', async () => {
    const a = await library();
    for (let i = 0; i < 10; i++) {
      const v = await reader(a, `o_sock_puppet_${i}`);
      expect((await bindCard(v, '3100067890', `11111${i}`)).status).toBe(422);
    }
    const honest = await reader(a, 'o_card_owner');
    const r = await bindCard(honest, '3100067890', '135790');
    expect(r.status).toBe(429);
  });

  it("refuses another citizen's card once bound, and wrong formats and missing consent before any check", async () => {
    const a = await library();
    const owner = await reader(a, 'o_owner_li');
    expect((await bindCard(owner, '3100012345', '246810')).text).toContain('绑定成功');
    const other = await reader(a, 'o_ex_partner');
    const taken = await bindCard(other, '3100012345', '246810');
    expect(taken.status).toBe(409);
    expect(taken.text).toContain('已经绑定在另一个微信上');
    const format = await bindCard(other, '我的证号是3100', '246810');
    expect(format.status).toBe(422);
    expect(format.text).toContain('读者证号的格式不对');
    const noConsent = await bindCard(other, '3100067890', '135790', false);
    expect(noConsent.text).toContain('请先阅读并同意');
    // Format errors are not counted as guesses.
    for (let i = 0; i < 6; i++) await bindCard(other, 'abc', '1');
    expect((await bindCard(other, '3100067890', '135790')).text).toContain('绑定成功');
  });

  it('allows three cards per reader (a family) and says so at the fourth', async () => {
    const a = await library();
    const body = ['card_no,password', '3100000001,111111', '3100000002,222222', '3100000003,333333', '3100000004,444444'].join('\n');
    expect((await signed(a, '/api/records?kind=reader_card', body, { type: 'text/csv' })).body.imported).toBe(4);
    const v = await reader(a, 'o_mother_of_three');
    for (const n of [1, 2, 3]) expect((await bindCard(v, `310000000${n}`, `${n}`.repeat(6))).text).toContain('绑定成功');
    const fourth = await bindCard(v, '3100000004', '444444');
    expect(fourth.text).toContain('每人最多绑定 3 个读者证');
    // Unbinding frees a place; the card can then be bound by someone else.
    const mine = await v.get('/h5/bindings');
    const id = /action="\/h5\/bindings\/(\d+)\/unbind"/.exec(mine.text)![1]!;
    const un = await v.post(`/h5/bindings/${id}/unbind`, { _csrf: v.csrf(mine.text) });
    expect(un.text).toContain('已解除绑定');
    expect((await bindCard(v, '3100000004', '444444')).text).toContain('绑定成功');
  });

  it('chat offers the kinds as links to the form (numbers and passwords are never typed into the chat)', async () => {
    const a = await library();
    await a.emulator!.act('o_chat_reader', { type: 'subscribe' });
    const r = textOf((await a.emulator!.act('o_chat_reader', { type: 'text', content: '绑定' })).reply);
    expect(r).toContain('/h5/bindings/new/reader_card');
    const one = textOf((await a.emulator!.act('o_chat_reader', { type: 'text', content: '绑定读者证' })).reply);
    expect(one).toContain('/h5/bindings/new/reader_card');
    expect(textOf((await a.emulator!.act('o_chat_reader', { type: 'text', content: '我的绑定' })).reply)).toContain('您还没有绑定');
  });
});

describe('records import (CSV and JSON lines)', () => {
  it('imports good rows, reports bad ones by line without their values, and replaces a record by key', async () => {
    const a = await library();
    const csv = ['\uFEFFcard_no,password', '3100099001,654321', '3100099002,12345', '"3100099003","000111"', 'only-one-cell', '', '3100099001,999999'].join('\r\n');
    const r = await signed(a, '/api/records?kind=reader_card', csv, { type: 'text/csv' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ imported: 3, refused: 2 });
    expect(r.body.errors).toEqual([
      { line: 3, message: 'field password: does not match its pattern or is empty' },
      { line: 5, message: 'expected 2 cells like the header; found 1' },
    ]);
    expect(JSON.stringify(r.body)).not.toContain('12345"');
    const v = await reader(a, 'o_imported_reader');
    expect((await bindCard(v, '3100099001', '654321')).status).toBe(422); // replaced by the later line
    expect((await bindCard(v, '3100099001', '999999')).text).toContain('绑定成功');

    const jsonl = ['{"card_no":"3100099010","password":"101010"}', 'not json', '{"card_no":"3100099011","password":202020}'].join('\n');
    const j = await signed(a, '/api/records?kind=reader_card', jsonl, { type: 'application/x-ndjson' });
    expect(j.body).toMatchObject({ imported: 2, refused: 1, errors: [{ line: 2, message: 'expected one JSON object on the line' }] });
    expect((await signed(a, '/api/records?kind=reader_card', jsonl, { type: 'application/xml', ts: Math.floor(a.clock.now() / 1000) - 1 })).status).toBe(415);
    expect((await signed(a, '/api/records?kind=vehicle', csv, { type: 'text/csv', ts: Math.floor(a.clock.now() / 1000) - 2 })).status).toBe(422);
  });
});

describe('department events become pushes', () => {
  it('refuses unsigned, wrongly signed, stale and replayed requests, and changes nothing', async () => {
    const a = await library();
    const v = await reader(a, 'o_event_reader');
    await bindCard(v, '3100012345', '246810');
    const body = loanDue('ILS-LOAN-1', '3100012345');
    const plain = await fetch(`${a.url}/api/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(plain.status).toBe(401);
    expect((await signed(a, '/api/events', body, { key: 'a-key-someone-guessed-0000000000000' })).status).toBe(401);
    expect((await signed(a, '/api/events', body, { system: 'tms' })).status).toBe(401);
    const stale = await signed(a, '/api/events', body, { ts: Math.floor(a.clock.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    expect(stale.body.error).toMatch(/600 s from our clock/);
    await a.jobs.runDue();
    expect(templates(a, 'o_event_reader')).toHaveLength(0);

    const ok = await signed(a, '/api/events', body);
    expect(ok.status).toBe(202);
    const replay = await signed(a, '/api/events', body); // the very same bytes and signature
    expect(replay.status).toBe(409);
    const resent = await signed(a, '/api/events', body, { ts: Math.floor(a.clock.now() / 1000) + 1 }); // a client retry, signed anew
    expect(resent.status).toBe(200);
    expect(resent.body).toMatchObject({ id: ok.body.id, status: 'duplicate' });
    await a.jobs.runDue();
    await a.jobs.runDue();
    const got = templates(a, 'o_event_reader');
    expect(got).toHaveLength(1);
    expect(got[0]!.message).toMatchObject({ title: '图书到期提醒', data: { thing1: '额尔古纳河右岸', time2: '2026-11-26', character_string3: '3100****45', thing4: '上海图书馆东馆' } });
    expect(String(got[0]!.message.url)).toMatch(/\/h5\/notices\/\d+$/);
  });

  it('refuses bad events with a reason, and keeps an event for nobody without pushing it', async () => {
    const a = await library();
    const tooLong = await signed(a, '/api/events', loanDue('L-2', '3100012345', { title: '一本书名特别特别长的书：关于一个图书馆员和他的三十年' }));
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error).toMatch(/^values\.title: expected at most 20 characters/);
    const ts = () => Math.floor(a.clock.now() / 1000) + Math.floor(Math.random() * 100);
    expect((await signed(a, '/api/events', loanDue('L-3', '3100012345', { extra: 'x' }), { ts: ts() })).body.error).toBe('values: unexpected extra');
    expect((await signed(a, '/api/events', loanDue('L 4 with spaces', '3100012345'), { ts: ts() })).status).toBe(422);
    expect((await signed(a, '/api/events', JSON.stringify({ kind: 'fine', idempotency_key: 'x', target: '1' }), { ts: ts() })).body.error).toMatch(/^kind: expected one of loan_due, hold_ready/);
    expect((await signed(a, '/api/events', '{"kind":', { ts: ts() })).status).toBe(400);
    expect((await signed(a, '/api/events', loanDue('L-5', 'not-a-card'), { ts: ts() })).body.error).toMatch(/^target: expected a 读者证号/);
    const nobody = await signed(a, '/api/events', loanDue('L-6', '3100067890'), { ts: ts() });
    expect(nobody.status).toBe(202);
    expect(nobody.body.status).toBe('no_binding');
    expect(await a.jobs.runDue()).toBe(0);
  });

  it('holds an event that arrives at 02:00 until 08:00, then sends it once', async () => {
    const a = await library();
    const v = await reader(a, 'o_night_owl');
    await bindCard(v, 'SH2026000042', '880121');
    a.clock.set(Date.UTC(2026, 10, 24, 18, 0, 0)); // 02:00 on the 25th, China time
    const r = await signed(a, '/api/events', loanDue('NIGHT-1', 'SH2026000042'));
    expect(r.status).toBe(202);
    expect(r.body.send_at).toBe('2026-11-25T00:00:00.000Z'); // 08:00 China time
    await a.jobs.runDue();
    expect(templates(a, 'o_night_owl')).toHaveLength(0);
    a.clock.set(Date.UTC(2026, 10, 24, 23, 59, 0));
    await a.jobs.runDue();
    expect(templates(a, 'o_night_owl')).toHaveLength(0);
    a.clock.set(Date.UTC(2026, 10, 25, 0, 0, 0));
    await a.jobs.runDue();
    expect(templates(a, 'o_night_owl')).toHaveLength(1);
  });

  it('a citizen switches a kind off from the message page; the next such event is kept but not sent', async () => {
    const a = await library();
    const v = await reader(a, 'o_busy_teacher');
    await bindCard(v, '3100012345', '246810');
    await signed(a, '/api/events', loanDue('OFF-1', '3100012345'));
    await a.jobs.runDue();
    const url = String(templates(a, 'o_busy_teacher')[0]!.message.url);
    const page = await v.get(new URL(url).pathname);
    expect(page.status).toBe(200);
    expect(page.text).toContain('额尔古纳河右岸');
    expect(page.text).toContain('3100****45');
    const off = await v.post('/h5/pushes', { _csrf: v.csrf(page.text), kind: 'loan_due', off: '1', back: new URL(url).pathname });
    expect(off.status).toBe(302);
    const second = await signed(a, '/api/events', loanDue('OFF-2', '3100012345'), { ts: Math.floor(a.clock.now() / 1000) + 3 });
    expect(second.body.status).toBe('opted_out');
    await a.jobs.runDue();
    expect(templates(a, 'o_busy_teacher')).toHaveLength(1);
    // Another citizen's notice page does not exist for this one.
    const stranger = await reader(a, 'o_stranger_peek');
    expect((await stranger.get(new URL(url).pathname)).status).toBe(404);
  });

  it('never writes the card number, a password or a name into the log', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const a = await library({ log });
    const v = await reader(a, 'o_log_reader');
    await bindCard(v, '3100012345', '000000');
    await bindCard(v, '3100012345', '246810');
    await signed(a, '/api/events', loanDue('LOG-1', '3100012345'));
    await signed(a, '/api/events', loanDue('LOG-2', '3100067890'), { ts: Math.floor(a.clock.now() / 1000) + 1 });
    await signed(a, '/api/events', loanDue('LOG-3', '3100012345', { title: 'x'.repeat(40) }), { ts: Math.floor(a.clock.now() / 1000) + 2 });
    await a.jobs.runDue();
    const all = lines.join('\n');
    expect(all).toContain('binding refused');
    expect(all).toContain('event for nobody');
    expect(all).not.toMatch(/\b(3100012345|3100067890|246810)\b/);
    expect(all).not.toContain('"000000"');
  });
});

describe('verification by the department system (signed call, timeout, retry, circuit breaker)', () => {
  const SECRET = 'test-only-hospital-his-key-0123456789abcdef';
  async function hisServer(answer: (body: string, req: IncomingMessage) => 'ok' | 'no' | 'hang' | 'unsigned' | 500) {
    let hits = 0;
    const server: Server = createServer((req, res) => {
      hits++;
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const a = answer(body, req);
        if (a === 'hang') return; // never answers
        if (a === 500) {
          res.statusCode = 500;
          return res.end('oops');
        }
        const out = JSON.stringify({ ok: a === 'ok' });
        const ts = String(req.headers['x-weiban-timestamp']);
        if (a !== 'unsigned') {
          res.setHeader('x-weiban-timestamp', ts);
          res.setHeader('x-weiban-signature', signBody(SECRET, ts, out));
        }
        res.setHeader('content-type', 'application/json');
        res.end(out);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`, hits: () => hits, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }
  const patientProfile = (url: string) => (p: Record<string, any>) => {
    p.bindings = {
      kinds: [
        {
          id: 'patient_card',
          name: '就诊卡',
          fields: [
            { id: 'card_no', label: '就诊卡号', key: true, pattern: '^\\d{8,12}$', hint: '卡背面的 8–12 位数字' },
            { id: 'phone', label: '预留手机号', personal: 'phone', input: 'tel', pattern: '^1\\d{10}$', hint: '办卡时留的手机号' },
          ],
          consent: '绑定后，检查报告出来、复诊前一天会提醒您。',
          verify: { by: 'http', system: 'his', url, timeout_ms: 300, retries: 1, breaker_failures: 3, open_seconds: 60 },
        },
      ],
      systems: [{ id: 'his', name: '医院信息系统', secret_env: 'WEIBAN_SYSTEM_HIS_KEY', demo_secret: SECRET }],
    };
  };
  async function bindPatient(v: Visitor, card: string, phone: string) {
    const page = await v.get('/h5/bindings/new/patient_card');
    return v.post('/h5/bindings/new/patient_card', { _csrf: v.csrf(page.text), card_no: card, phone, consent: '1' });
  }

  it('binds when the system says yes, refuses when it says no, and checks the signature both ways', async () => {
    const seen: string[] = [];
    const his = await hisServer((body, req) => {
      seen.push(String(signatureMatches(SECRET, String(req.headers['x-weiban-timestamp']), body, String(req.headers['x-weiban-signature']))));
      return JSON.parse(body).fields.phone === '13912345678' ? 'ok' : 'no';
    });
    try {
      const a = await startApp({ profile: patientProfile(his.url) });
      const v = await reader(a, 'o_patient_old_zhao');
      const no = await bindPatient(v, '20261124', '13800000000');
      expect(no.status).toBe(422);
      const yes = await bindPatient(v, '2026 1124', '139 1234 5678');
      expect(yes.text).toContain('绑定成功');
      expect(seen).toEqual(['true', 'true']);
    } finally {
      await his.close();
    }
  });

  it('a system that hangs, errs or answers unsigned gives a clear "try later", not counted as a guess; the breaker then stops calling it', async () => {
    let mode: 'hang' | 500 | 'unsigned' = 'hang';
    const his = await hisServer(() => mode);
    try {
      const a = await startApp({ profile: patientProfile(his.url) });
      const v = await reader(a, 'o_patient_in_a_hurry');
      const t0 = Date.now();
      const r = await bindPatient(v, '20261124', '13912345678');
      expect(r.status).toBe(503);
      expect(r.text).toContain('暂时联系不上');
      expect(Date.now() - t0).toBeLessThan(3000); // two attempts of 300 ms and a backoff, not a stalled request
      expect(his.hits()).toBe(2); // the first try and one retry
      mode = 'unsigned';
      expect((await bindPatient(v, '20261124', '13912345678')).status).toBe(503);
      expect(his.hits()).toBe(3); // an answer that is not one is not retried
      mode = 500;
      // Three consecutive failures opened the circuit: no more calls for a while, and an immediate answer.
      const fast = await bindPatient(v, '20261124', '13912345678');
      expect(fast.status).toBe(503);
      expect(his.hits()).toBe(3);
      // None of this counted as a wrong guess.
      expect(fast.text).not.toContain('输错次数太多');
    } finally {
      await his.close();
    }
  });
});

describe('Xiamen traffic: vehicles and fines', () => {
  const XM = { system: 'tms', key: XM_KEY };
  const fine = (idem: string, plate: string, fen: unknown = 20000) =>
    JSON.stringify({ kind: 'violation_fine', idempotency_key: idem, target: plate, values: { violation_no: '3502001234567890', place: '厦门大桥往本岛方向', happened: '2026-11-22 08:41', fine_fen: fen } });

  async function driver(a: TestApp, openid: string) {
    const v = await reader(a, openid);
    const page = await v.get('/h5/bindings/new/vehicle');
    return { v, bound: await v.post('/h5/bindings/new/vehicle', { _csrf: v.csrf(page.text), plate: '闽d·12345', engine_last6: 'a1b2c3', consent: '1' }) };
  }

  it('binds a plate typed in lower case with a separator, and pushes a fine with its amount (no pay link while pay is off)', async () => {
    const a = await startApp({ profileFile: TRAFFIC, profile: (p) => void (p.pay.enabled = false) });
    const { bound } = await driver(a, 'o_taxi_driver_wang');
    expect(bound.text).toContain('绑定成功');
    expect(bound.text).toContain('闽D***45');
    const r = await signed(a, '/api/events', fine('VIO-1', '闽D12345'), XM);
    expect(r.status).toBe(202);
    await a.jobs.runDue();
    const [msg] = templates(a, 'o_taxi_driver_wang');
    expect(msg!.message).toMatchObject({ title: '交通违法缴款通知', data: { thing1: '闽D***45', thing2: '厦门大桥往本岛方向', amount4: '200.00元', character_string5: '3502001234567890' } });
    expect(String(msg!.message.url)).toMatch(/\/h5\/notices\/\d+$/);
    // A fine in the wrong unit or shape is refused.
    for (const bad of ['200元', -5, 0, 1.5]) {
      const res = await signed(a, '/api/events', fine(`VIO-BAD-${String(bad)}`, '闽D12345', bad), { ...XM, ts: Math.floor(a.clock.now() / 1000) + Math.floor(Math.random() * 200) });
      expect(res.status, String(bad)).toBe(422);
    }
    // A fine cannot be switched off.
    const page = await (await driver(a, 'o_other_driver')).v.get(new URL(String(msg!.message.url)).pathname);
    expect(page.status).toBe(404);
  });

  it('a system may post only its own kinds', async () => {
    const a = await startApp({ profileFile: TRAFFIC });
    const r = await signed(a, '/api/events', fine('VIO-9', '闽D12345'), { system: 'tms', key: LIB_KEY });
    expect(r.status).toBe(401);
  });
});

describe('the fine joined to payment through the narrow BillIssuer door', () => {
  it('an event with a fine asks for one bill in its transaction, links the push to pay, and tells the department when paid, retrying until acknowledged', async () => {
    const { Bindings } = await import('../../src/services/bindings/index.ts');
    const { Events } = await import('../../src/services/bindings/events.ts');
    const { JobQueue } = await import('../../src/platform/jobs.ts');
    const { DeptEventEntity } = await import('../../src/services/bindings/entities.ts');
    const received: { body: string; ok: boolean }[] = [];
    let answer = 500;
    const dept = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ body, ok: signatureMatches(XM_KEY, String(req.headers['x-weiban-timestamp']), body, String(req.headers['x-weiban-signature'])) });
        res.statusCode = answer;
        res.end();
      });
    });
    await new Promise<void>((r) => dept.listen(0, '127.0.0.1', () => r()));
    const callback = `http://127.0.0.1:${(dept.address() as AddressInfo).port}/paid`;
    try {
      const a = await startApp({ profileFile: TRAFFIC, profile: (p) => void (p.bindings.systems[0].callback_url = callback) });
      const v = await reader(a, 'o_fined_driver');
      const page = await v.get('/h5/bindings/new/vehicle');
      await v.post('/h5/bindings/new/vehicle', { _csrf: v.csrf(page.text), plate: '闽DD66881', engine_last6: '880217', consent: '1' });

      // What pay's bills command will be; here a stand-in that records what it was asked.
      const bills: { openid: string; title: string; amountFen: number; reference: string; inTransaction: boolean }[] = [];
      const issuer = {
        async issueBill(input: { openid: string; title: string; amountFen: number; reference: string }, manager?: unknown) {
          bills.push({ openid: input.openid, title: input.title, amountFen: input.amountFen, reference: input.reference, inTransaction: !!manager });
          return { billId: `B${bills.length}`, payUrl: `/h5/pay/B${bills.length}` };
        },
      };
      const log = createLogger({ level: 'silent' });
      const jobs = new JobQueue(a.db, a.clock, log);
      const config = a.profile.bindings;
      const bindings = new Bindings({ db: a.db, kv: a.kv, clock: a.clock, log, config, verifiers: new Map() });
      const events = new Events({ db: a.db, clock: a.clock, calendar: a.calendar, jobs, api: a.api, conversationLog: a.conversationLog, log, config, templates: a.profile.templates, bindings, publicUrl: 'https://gov.example', secrets: new Map([['tms', XM_KEY]]), bills: issuer });

      const body = { kind: 'violation_fine', idempotency_key: 'VIO-PAY-1', target: '闽DD66881', values: { violation_no: '3502009876543210', place: '湖滨南路与金榜路口', happened: '2026-11-21 17:05', fine_fen: '10000' } };
      const res = await events.accept('tms', body);
      expect(res.status).toBe('queued');
      expect(await events.accept('tms', body)).toMatchObject({ status: 'duplicate' });
      expect(bills).toEqual([{ openid: 'o_fined_driver', title: '闽D****81 交通违法罚款（决定书 3502009876543210）', amountFen: 10000, reference: '3502009876543210', inTransaction: true }]);
      await jobs.runDue();
      const [msg] = templates(a, 'o_fined_driver');
      expect(msg!.message.url).toBe('https://gov.example/h5/pay/B1'); // one tap from the message to the pay page
      expect(msg!.message.data).toMatchObject({ amount4: '100.00元' });

      // Paid (pay calls this): the department hears it, signed, until it answers 2xx.
      await events.settled(res.id, 'B1');
      await events.settled(res.id, 'B1'); // a repeated payment notification: one callback job
      await jobs.runDue();
      expect(received).toHaveLength(1);
      answer = 200;
      a.clock.advance(15_000);
      await jobs.runDue();
      expect(received).toHaveLength(2);
      expect(received.every((r) => r.ok)).toBe(true);
      expect(JSON.parse(received[1]!.body)).toMatchObject({ type: 'bill.paid', idempotency_key: 'VIO-PAY-1', reference: '3502009876543210', bill_id: 'B1', amount_fen: 10000 });
      const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: res.id });
      expect(row.detail).toBe('paid, department notified (bill B1)');
      a.clock.advance(3_600_000);
      expect(await jobs.runDue()).toBe(0);
    } finally {
      await new Promise<void>((r) => dept.close(() => r()));
    }
  });
});

describe.each([
  { db: 'postgres' as const, kv: 'redis' as const, ok: !!PG_URL && !!REDIS_URL, label: PG_URL && REDIS_URL ? 'postgres + redis' : 'postgres + redis (SKIPPED: DATABASE_URL or REDIS_URL is not set)' },
])('on $label', ({ db, kv, ok }) => {
  it.skipIf(!ok)('binds, locks guesses, takes an event once, pushes it, imports records and unbinds', async () => {
    const a = await startApp({ profileFile: LIBRARY, db, kv });
    const v = await reader(a, 'o_pg_reader');
    expect((await bindCard(v, '3100012345', '000000')).text).toContain('还可以再试 4 次');
    expect((await bindCard(v, '3100012345', '246810')).text).toContain('绑定成功');
    const other = await reader(a, 'o_pg_other');
    expect((await bindCard(other, '3100012345', '246810')).status).toBe(409);
    const body = loanDue('PG-1', '3100012345');
    expect((await signed(a, '/api/events', body)).status).toBe(202);
    expect((await signed(a, '/api/events', body)).status).toBe(409);
    expect((await signed(a, '/api/events', body, { ts: Math.floor(a.clock.now() / 1000) + 1 })).body.status).toBe('duplicate');
    await a.jobs.runDue();
    expect(templates(a, 'o_pg_reader')).toHaveLength(1);
    const csv = ['card_no,password', '3100099001,654321', '3100099001,111111'].join('\n');
    expect((await signed(a, '/api/records?kind=reader_card', csv, { type: 'text/csv', ts: Math.floor(a.clock.now() / 1000) + 2 })).body.imported).toBe(2);
    const mine = await v.get('/h5/bindings');
    const id = /action="\/h5\/bindings\/(\d+)\/unbind"/.exec(mine.text)![1]!;
    expect((await v.post(`/h5/bindings/${id}/unbind`, { _csrf: v.csrf(mine.text) })).text).toContain('已解除绑定');
    expect((await bindCard(other, '3100012345', '246810')).text).toContain('绑定成功');
  });
});

describe('staff and subscription messages', () => {
  it('a social-security handler unbinds a card at the counter (audited); another department does not see it; the citizen may bind again', async () => {
    const { makeTeam, signedIn } = await import('../admin/client.ts');
    const a = await startApp();
    const v = await reader(a, 'o_ss_citizen');
    const page = await v.get('/h5/bindings/new/sscard');
    const bound = await v.post('/h5/bindings/new/sscard', { _csrf: v.csrf(page.text), ss_no: '31010719800918381x', name: '李建国', consent: '1' });
    expect(bound.text).toContain('绑定成功');
    const team = await makeTeam(a);
    const duty = await signedIn(a, team.duty);
    const other = await duty.page('/admin/bindings');
    expect(other.status).toBe(404); // a department without binding kinds sees none
    const ss = await signedIn(a, team.ssHandler);
    const list = await ss.page('/admin/bindings');
    expect(list.html).toContain('3101************1X');
    expect(list.html).not.toContain('31010719800918381X');
    const id = /action="\/admin\/bindings\/(\d+)\/unbind"/.exec(list.html)![1]!;
    expect((await duty.post(`/admin/bindings/${id}/unbind`)).status).toBe(404);
    const res = await ss.post(`/admin/bindings/${id}/unbind`);
    expect(res.status).toBe(302);
    expect(await a.audit.list({ action: 'binding-unbind' })).toEqual([expect.objectContaining({ actor: team.ssHandler.username, target: `binding:${id}`, detail: '社保卡 3101************1X' })]);
    expect((await v.get('/h5/bindings')).text).toContain('还没有绑定');
    const again = await v.get('/h5/bindings/new/sscard');
    expect((await v.post('/h5/bindings/new/sscard', { _csrf: v.csrf(again.text), ss_no: '31010719800918381X', name: '李建国', consent: '1' })).text).toContain('绑定成功');
  });

  it('an event kind sent as a subscription message (bizsend) reaches the citizen as one', async () => {
    const a = await startApp({ profileFile: LIBRARY, profile: (p) => void (p.bindings.events[1].channel = 'subscribe') });
    const v = await reader(a, 'o_sub_reader');
    await bindCard(v, '3100012345', '246810');
    const body = JSON.stringify({ kind: 'hold_ready', idempotency_key: 'HOLD-1', target: '3100012345', values: { title: '人类群星闪耀时', branch: '东馆 2 楼预约取书架', keep_until: '2026-11-30' } });
    expect((await signed(a, '/api/events', body)).status).toBe(202);
    await a.jobs.runDue();
    const got = a.emulator!.platform.inbox('o_sub_reader').filter((i) => i.channel === 'subscribe');
    expect(got).toHaveLength(1);
    expect(got[0]!.message).toMatchObject({ title: '预约图书到馆通知', data: { thing1: '人类群星闪耀时', thing2: '东馆 2 楼预约取书架', time3: '2026-11-30' } });
  });
});
