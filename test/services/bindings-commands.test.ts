import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { JobEntity, JobQueue } from '../../src/platform/jobs.ts';
import { createLogger, type Logger } from '../../src/platform/log.ts';
import type { BindingKind } from '../../src/profile/bindings.ts';
import type { BindingsCapability } from '../../src/services/bindings/capability.ts';
import { BindingEntity, BindingRecordEntity, DeptEventEntity, PushOptOutEntity } from '../../src/services/bindings/entities.ts';
import { EventError, Events } from '../../src/services/bindings/events.ts';
import { BindingError, Bindings, keyField, maskKey, normalizeValue, sealSecret, targetHash } from '../../src/services/bindings/index.ts';
import { HttpVerifier, SIGNATURE_HEADERS, signBody, signatureMatches } from '../../src/services/bindings/verify.ts';
import { WeChatApiError } from '../../src/wechat/api/index.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { validId } from '../helpers/files.ts';
import { rejection } from '../helpers/errors.ts';

/**
 * The binding commands one by one — normalising and masking keys, bind with its checks, locks and
 * limits, unbind; the department's events (accept's checks, the push, quiet hours, opt-outs, bills);
 * the signed HTTP verifier — on the Xiamen traffic profile (vehicles and driving licences).
 */

const startApp = appsClosedAfterEach();
const TRAFFIC = join(import.meta.dirname, '..', '..', 'profiles', 'xiamen-traffic', 'profile.yaml');
const XM_KEY = 'demo-only-xiamen-tms-hmac-key-2026-please-replace';
/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0, ss = 0) => Date.UTC(y, m - 1, d, hh - 8, mm, ss);
const MIN = 60_000;

// Demo records of profiles/xiamen-traffic (the licence's file number made a secret here, so it is sealed).
const CAR = { plate: '闽D12345', engine_last6: 'A1B2C3' };
const CAR2 = { plate: '闽DD66881', engine_last6: '880217' };
const CAR3 = { plate: '闽D8K2Q6', engine_last6: 'K90311' };
const LICENCE = { licence_no: '350203198806152317', file_no: '350200123456' };

/** A logger whose lines the test reads: raw, or parsed and picked by message. */
function capture(level: 'info' | 'warn' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  return { log, lines, logged };
}

const cap = (a: TestApp) => a.capabilities.find((c) => c.name === 'bindings') as BindingsCapability;

const bindErr = (p: Promise<unknown>) => rejection(p, BindingError);
const eventErr = (p: Promise<unknown>) => rejection(p, EventError);

const rows = (a: TestApp) => a.db.getRepository(BindingEntity).find({ order: { id: 'ASC' } });
const pushJobs = (a: TestApp) => a.db.getRepository(JobEntity).findBy({ name: Events.PUSH });
/** A citizen who follows the account (so the emulator takes pushes to them). */
function follow(a: TestApp, ...openids: string[]) {
  for (const id of openids) {
    a.emulator!.platform.citizen(id);
    a.emulator!.platform.setSubscribed(id, true);
  }
}
const templatesTo = (a: TestApp, openid: string) => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template');

const inspection = (idem: string, target: string, values: Record<string, unknown> = { due: '2026-12-31' }) => ({ kind: 'inspection_due', idempotency_key: idem, target, values });
const fine = (idem: string, target: string, fen: unknown = '20000') => ({ kind: 'violation_fine', idempotency_key: idem, target, values: { violation_no: '3502001234567890', place: '厦门大桥往本岛方向', happened: '2026-11-22 08:41', fine_fen: fen } });

describe('keys: normalised, masked, hashed; secrets sealed; requests signed', () => {
  it('normalizeValue folds full-width, removes spaces, dots, dashes, underscores and middle dots, upper-cases', () => {
    expect(normalizeValue('闽Ｄ１２３４５')).toBe('闽D12345');
    expect(normalizeValue(' 闽d 12\t345\n')).toBe('闽D12345');
    expect(normalizeValue('闽D.12345')).toBe('闽D12345');
    expect(normalizeValue('闽D-12345')).toBe('闽D12345');
    expect(normalizeValue('闽D_12345')).toBe('闽D12345');
    expect(normalizeValue('闽D·12345')).toBe('闽D12345');
    expect(normalizeValue('闽D•12345')).toBe('闽D12345');
    expect(normalizeValue('3502 0319 8806 1523 1x')).toBe('35020319880615231X');
    expect(normalizeValue('a1b2c3')).toBe('A1B2C3');
    expect(normalizeValue('闽D/12345')).toBe('闽D/12345'); // other characters stay, for the pattern to refuse
  });

  it('maskKey masks by the field kind (a plate as a plate, a key without a kind as an ID number); keyField finds the key field', () => {
    const plate = { id: 'plate', label: '号牌号码', pattern: '.', hint: 'x', key: true, secret: false, personal: 'plate' as const, input: 'text' as const };
    const plain = { ...plate, personal: undefined };
    expect(maskKey(plate, '闽D12345')).toBe('闽D***45');
    expect(maskKey(plain, '3100012345')).toBe('3100****45');
    expect(maskKey(plain, '350203198806152317')).toBe('3502************17');
    const kind = { fields: [{ ...plain, id: 'engine', key: false }, plate] } as unknown as BindingKind;
    expect(keyField(kind).id).toBe('plate');
  });

  it('targetHash is sha256 of kind:key, stable, and differs by kind', () => {
    expect(targetHash('vehicle', '闽D12345')).toBe(createHash('sha256').update('vehicle:闽D12345').digest('hex'));
    expect(targetHash('vehicle', '闽D12345')).toBe(targetHash('vehicle', '闽D12345'));
    expect(targetHash('licence', '闽D12345')).not.toBe(targetHash('vehicle', '闽D12345'));
    expect(targetHash('vehicle', '闽D12346')).not.toBe(targetHash('vehicle', '闽D12345'));
  });

  it('sealSecret is a fresh salt and sha256(salt:value), never the value', () => {
    const a = sealSecret('350200123456');
    const b = sealSecret('350200123456');
    expect(a).not.toBe(b);
    const [salt, hash] = a.split(':');
    expect(salt).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(hash).toBe(createHash('sha256').update(`${salt}:350200123456`).digest('hex'));
    expect(a).not.toContain('350200123456');
  });

  it('signBody is HMAC-SHA256 over "timestamp\\nbody"; signatureMatches refuses any change', () => {
    const body = JSON.stringify({ kind: 'vehicle', fields: { plate: '闽D12345' } });
    const sig = signBody(XM_KEY, '1795000000', body);
    expect(sig).toBe(createHmac('sha256', XM_KEY).update(`1795000000\n${body}`).digest('hex'));
    expect(signatureMatches(XM_KEY, '1795000000', body, sig)).toBe(true);
    expect(signatureMatches(XM_KEY, '1795000000', body, sig.toUpperCase())).toBe(true);
    expect(signatureMatches('another-key-of-the-same-length-0000000000000', '1795000000', body, sig)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', `${body} `, sig)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000001', body, sig)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', body, sig.slice(0, 62))).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', body, `${sig}00`)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', body, `${sig.slice(0, 63)}g`)).toBe(false);
    // Hex decoding stops at the first other character: anything after the 64 digits is refused, not ignored.
    expect(signatureMatches(XM_KEY, '1795000000', body, `${sig}g`)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', body, `${sig} `)).toBe(false);
    expect(signatureMatches(XM_KEY, '1795000000', body, '')).toBe(false);
  });
});

describe('the department verifier over HTTP (HttpVerifier)', () => {
  const SECRET = 'test-only-xiamen-tms-verify-key-0123456789';
  type Answer = 'ok' | 'no' | 'hang' | 'unsigned' | 'wrongkey' | 'notjson' | 'okstring' | 404 | 500;
  async function dept(answer: () => Answer) {
    const seen: { body: string; signed: boolean; system: string; ts: string; type: string }[] = [];
    const server: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const ts = String(req.headers[SIGNATURE_HEADERS.timestamp]);
        seen.push({ body, signed: signatureMatches(SECRET, ts, body, String(req.headers[SIGNATURE_HEADERS.signature])), system: String(req.headers[SIGNATURE_HEADERS.system]), ts, type: String(req.headers['content-type']) });
        const a = answer();
        if (a === 'hang') return;
        if (typeof a === 'number') {
          // Signed, and saying yes: only the status makes it not an answer.
          res.statusCode = a;
          res.setHeader(SIGNATURE_HEADERS.timestamp, ts);
          res.setHeader(SIGNATURE_HEADERS.signature, signBody(SECRET, ts, '{"ok":true}'));
          return res.end('{"ok":true}');
        }
        const out = a === 'notjson' ? 'ok' : a === 'okstring' ? '{"ok":"yes"}' : JSON.stringify({ ok: a !== 'no' });
        if (a !== 'unsigned') {
          res.setHeader(SIGNATURE_HEADERS.timestamp, ts);
          res.setHeader(SIGNATURE_HEADERS.signature, signBody(a === 'wrongkey' ? `${SECRET}x` : SECRET, ts, out));
        }
        res.end(out);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`, seen, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }
  function verifier(url: string, o: { retries?: number; breakerFailures?: number; timeoutMs?: number } = {}) {
    const { log, lines } = capture('warn');
    const v = new HttpVerifier({ system: 'tms', url, secret: SECRET, timeoutMs: o.timeoutMs ?? 1000, retries: o.retries ?? 0, breakerFailures: o.breakerFailures ?? 20, openSeconds: 60, clock: { now: () => cst(2026, 11, 23, 10) } as never, log });
    return { v, lines };
  }

  it('sends a signed {kind, fields} and reads a signed {ok}: ok, mismatch', async () => {
    let answer: Answer = 'ok';
    const d = await dept(() => answer);
    try {
      const { v } = verifier(d.url);
      expect(await v.verify('vehicle', CAR)).toBe('ok');
      answer = 'no';
      expect(await v.verify('vehicle', CAR)).toBe('mismatch');
      expect(d.seen).toHaveLength(2);
      // Signed at the verifier's clock, in seconds; JSON said so.
      expect(d.seen[0]).toEqual({ body: JSON.stringify({ kind: 'vehicle', fields: CAR }), signed: true, system: 'tms', ts: String(cst(2026, 11, 23, 10) / 1000), type: 'application/json' });
    } finally {
      await d.close();
    }
  });

  it('answers that are not one are unavailable and not retried; a 5xx is retried `retries` times', async () => {
    let answer: Answer = 'unsigned';
    const d = await dept(() => answer);
    try {
      const { v, lines } = verifier(d.url, { retries: 2 });
      for (const a of ['unsigned', 'wrongkey', 'notjson', 'okstring', 404] as Answer[]) {
        answer = a;
        const before = d.seen.length;
        expect(await v.verify('vehicle', CAR), String(a)).toBe('unavailable');
        expect(d.seen.length - before, String(a)).toBe(1);
      }
      expect(lines.join('\n')).toContain('answer refused: status 200, not signed with the system key');
      expect(lines.join('\n')).toContain('answer refused: expected {\\"ok\\": true|false}');
      expect(lines.join('\n')).toContain('answer refused: status 404"');
      answer = 500;
      const before = d.seen.length;
      expect(await v.verify('vehicle', CAR)).toBe('unavailable');
      expect(d.seen.length - before).toBe(3);
      expect(lines.at(-1)).toContain('status 500');
    } finally {
      await d.close();
    }
  });

  it('a system that never answers times out per attempt; a refused connection is unavailable', async () => {
    const d = await dept(() => 'hang');
    try {
      const { v, lines } = verifier(d.url, { timeoutMs: 200, retries: 1 });
      const t0 = Date.now();
      expect(await v.verify('vehicle', CAR)).toBe('unavailable');
      expect(Date.now() - t0).toBeLessThan(2500);
      expect(d.seen).toHaveLength(2);
      expect(lines.at(-1)).toContain('"reason":"timed out"');
    } finally {
      await d.close();
    }
    const closed = verifier(d.url, { retries: 0 });
    expect(await closed.v.verify('vehicle', CAR)).toBe('unavailable');
    expect(closed.lines.at(-1)).toContain('request failed');
  });

  it('opens the circuit after `breakerFailures` consecutive failures: no more calls, an immediate answer', async () => {
    let answer: Answer = 'unsigned';
    const d = await dept(() => answer);
    try {
      const { v, lines } = verifier(d.url, { breakerFailures: 2 });
      expect(await v.verify('vehicle', CAR)).toBe('unavailable');
      expect(await v.verify('vehicle', CAR)).toBe('unavailable');
      answer = 'ok';
      expect(await v.verify('vehicle', CAR)).toBe('unavailable');
      expect(d.seen).toHaveLength(2);
      expect(lines.at(-1)).toContain('"reason":"circuit open"');
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ system: 'tms', msg: 'verification system unavailable' });
    } finally {
      await d.close();
    }
  });
});

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`the binding commands one by one (${db.label})`, () => {
    const traffic = (more?: (p: Record<string, any>) => void, log?: Logger) =>
      startApp({
        db: db.name,
        profileFile: TRAFFIC,
        ...(log ? { log } : {}),
        profile: (p) => {
          p.pay.enabled = false;
          p.bindings.kinds[1].fields[1].secret = true;
          more?.(p);
        },
      });

    describe('validate(): each field in turn', () => {
      it('names the empty or malformed field with its label and hint; 64 characters at most; patterns read as Unicode', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const vehicle = b.kind('vehicle')!;
        expect(b.validate(vehicle, { plate: ' 闽d·12345 ', engine_last6: 'a1b2c3' })).toEqual(CAR);
        for (const [input, field, message] of [
          [{ engine_last6: 'A1B2C3' }, 'plate', '请填写号牌号码。'],
          [{ plate: ' ·-_ ', engine_last6: 'A1B2C3' }, 'plate', '请填写号牌号码。'],
          [{ plate: '闽12345', engine_last6: 'A1B2C3' }, 'plate', '号牌号码的格式不对：例如 闽D12345（新能源车 8 位）'],
          [{ plate: '闽D12345', engine_last6: '' }, 'engine_last6', '请填写发动机号后六位。'],
          [{ plate: '闽D12345', engine_last6: 'A1B2C' }, 'engine_last6', '发动机号后六位的格式不对：行驶证上发动机号码的最后 6 位'],
        ] as const) {
          const e = (() => {
            try {
              b.validate(vehicle, input);
            } catch (err) {
              return err as BindingError;
            }
            throw new Error('expected a refusal');
          })();
          expect({ message: e.message, code: e.code, field: e.field }).toEqual({ message, code: 'invalid', field });
        }
        const open = { id: 'any', name: '任意', fields: [{ id: 'v', label: '号码', pattern: '^[A-Z0-9]+$', hint: '字母数字', key: true, secret: false, input: 'text' }] } as unknown as BindingKind;
        expect(b.validate(open, { v: 'A'.repeat(64) }).v).toHaveLength(64);
        expect(() => b.validate(open, { v: 'A'.repeat(65) })).toThrow('号码的格式不对：字母数字');
        const han = { ...open, fields: [{ ...open.fields[0]!, pattern: '^\\p{Script=Han}{2,4}$', label: '姓名', hint: '中文姓名' }] } as BindingKind;
        expect(b.validate(han, { v: '李建国' }).v).toBe('李建国');
      });
    });

    describe('bind() and unbind()', () => {
      it('binds a plate as typed, masked; again is "already"; another citizen is refused as taken; list and holder', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const first = await b.bind('o_driver_chen', 'vehicle', { plate: '闽d·12345', engine_last6: 'a1b2c3' }, true);
        expect(first.already).toBe(false);
        expect(first.binding).toMatchObject({ openid: 'o_driver_chen', kind: 'vehicle', keyValue: '闽D12345', display: '闽D***45', status: 'bound', boundAt: a.clock.now(), unboundAt: null, activeKey: 'vehicle:闽D12345' });
        const again = await b.bind('o_driver_chen', 'vehicle', CAR, true);
        expect(again).toEqual({ binding: expect.objectContaining({ id: first.binding.id }), already: true });
        const taken = await bindErr(b.bind('o_driver_lin', 'vehicle', CAR, true));
        expect({ code: taken.code, message: taken.message }).toEqual({ code: 'taken', message: '这个机动车已经绑定在另一个微信上。如果不是您本人绑定的，请带上证件到服务窗口办理解绑。' });
        expect(await rows(a)).toHaveLength(1);
        expect((await b.holder('vehicle', ' 闽d-12345'))?.openid).toBe('o_driver_chen');
        expect(await b.holder('licence', '闽D12345')).toBeNull();

        a.clock.advance(MIN);
        await b.bind('o_driver_chen', 'licence', { licence_no: '3502 0319 8806 1523 17', file_no: LICENCE.file_no }, true);
        const list = await b.list('o_driver_chen');
        expect(list.map((x) => [x.kind, x.display])).toEqual([
          ['vehicle', '闽D***45'],
          ['licence', '3502************17'],
        ]);
        expect(await b.list('o_driver_lin')).toEqual([]);
      });

      it('two binds of one key at once: by the same citizen, one binding (the other "already"); by two citizens, the second is taken', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const both = await Promise.all([b.bind('o_double_tap', 'vehicle', CAR, true), b.bind('o_double_tap', 'vehicle', CAR, true)]);
        expect(both.map((r) => r.already).sort()).toEqual([false, true]);
        expect(both[0].binding.id).toBe(both[1].binding.id);
        const race = await Promise.allSettled([b.bind('o_husband', 'vehicle', CAR2, true), b.bind('o_wife', 'vehicle', CAR2, true)]);
        expect(race.map((r) => (r.status === 'fulfilled' ? 'bound' : (r.reason as BindingError).code)).sort()).toEqual(['bound', 'taken']);
        expect((await rows(a)).map((r) => r.keyValue)).toEqual([CAR.plate, CAR2.plate]);
      });

      it('refuses an unknown kind and a missing consent before anything, and writes nothing', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const unknown = await bindErr(b.bind('o_x', 'boat', CAR, true));
        expect([unknown.code, unknown.message]).toEqual(['unknown_kind', '没有这种绑定。']);
        const consent = await bindErr(b.bind('o_x', 'vehicle', CAR, false));
        expect([consent.code, consent.message]).toEqual(['consent', '请先阅读并同意绑定说明。']);
        const format = await bindErr(b.bind('o_x', 'vehicle', { plate: 'ABC', engine_last6: 'A1B2C3' }, true));
        expect([format.code, format.field]).toEqual(['invalid', 'plate']);
        expect(await rows(a)).toEqual([]);
      });

      it('a mismatch counts down; the fifth locks this citizen for this kind for 30 minutes, even with the right details', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        for (let i = 1; i <= 4; i++) {
          const e = await bindErr(b.bind('o_guesser', 'vehicle', { plate: CAR.plate, engine_last6: `00000${i}` }, true));
          expect([e.code, e.message]).toEqual(['mismatch', `信息核对不上，请检查号牌号码和发动机号后六位。还可以再试 ${5 - i} 次。`]);
        }
        const fifth = await bindErr(b.bind('o_guesser', 'vehicle', { plate: CAR.plate, engine_last6: '000005' }, true));
        expect(fifth.message).toBe('信息核对不上，请检查号牌号码和发动机号后六位。');
        const locked = await bindErr(b.bind('o_guesser', 'vehicle', CAR, true));
        expect([locked.code, locked.message]).toEqual(['locked', '输错次数太多，为保护您的信息，请 30 分钟后再试。']);
        // Per citizen: another plate of the same kind is locked too; another kind is not.
        expect((await bindErr(b.bind('o_guesser', 'vehicle', CAR2, true))).code).toBe('locked');
        expect(await b.lockedMinutes('o_guesser', 'vehicle')).toBe(30);
        expect(await b.lockedMinutes('o_guesser', 'licence')).toBe(0);
        expect((await b.bind('o_guesser', 'licence', LICENCE, true)).already).toBe(false);
        // Another citizen may still bind the key (5 wrong on it, 10 lock it).
        expect(await b.lockedMinutes('o_owner', 'vehicle', CAR.plate)).toBe(0);
        a.clock.advance(19 * MIN + 30_000); // 10.5 minutes left: said as 11
        expect((await bindErr(b.bind('o_guesser', 'vehicle', CAR, true))).message).toBe('输错次数太多，为保护您的信息，请 11 分钟后再试。');
        a.clock.advance(10 * MIN);
        expect((await bindErr(b.bind('o_guesser', 'vehicle', CAR, true))).message).toBe('输错次数太多，为保护您的信息，请 1 分钟后再试。');
        a.clock.advance(30_000);
        expect((await b.bind('o_guesser', 'vehicle', CAR, true)).already).toBe(false);
        expect((await rows(a)).map((r) => r.kind)).toEqual(['licence', 'vehicle']);
      });

      it('ten wrong answers on one key from several citizens lock that key for everyone, and no other', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        for (const who of ['o_puppet_1', 'o_puppet_2'])
          for (let i = 0; i < 5; i++) await bindErr(b.bind(who, 'vehicle', { plate: CAR.plate, engine_last6: `99999${i}` }, true));
        expect(await b.lockedMinutes('o_owner', 'vehicle', CAR.plate)).toBe(30);
        expect(await b.lockedMinutes('o_owner', 'vehicle')).toBe(0);
        expect((await bindErr(b.bind('o_owner', 'vehicle', CAR, true))).code).toBe('locked');
        expect((await b.bind('o_owner', 'vehicle', CAR2, true)).already).toBe(false);
      });

      it('a key not in the records is a mismatch; a format error is not counted as a guess', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        for (let i = 0; i < 6; i++) await bindErr(b.bind('o_typo', 'vehicle', { plate: '闽D', engine_last6: 'A1B2C3' }, true));
        const none = await bindErr(b.bind('o_typo', 'vehicle', { plate: '闽D99999', engine_last6: 'A1B2C3' }, true));
        expect([none.code, none.message]).toEqual(['mismatch', '信息核对不上，请检查号牌号码和发动机号后六位。还可以再试 4 次。']);
        expect(await rows(a)).toEqual([]);
      });

      it('a secret field is compared by its sealed hash: right, wrong, and malformed or re-salted records refused', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const recRepo = a.db.getRepository(BindingRecordEntity);
        const rec = await recRepo.findOneByOrFail({ kind: 'licence', keyValue: LICENCE.licence_no });
        expect(rec.secrets).not.toContain(LICENCE.file_no);
        const sealed = (JSON.parse(rec.secrets) as Record<string, string>).file_no!;
        expect((await bindErr(b.bind('o_a', 'licence', { ...LICENCE, file_no: '350200123457' }, true))).code).toBe('mismatch');
        const [, hash] = sealed.split(':');
        for (const bad of ['nocolon', `:${hash}`, 'c2FsdHNhbHRzYWx0:', `c2FsdHNhbHRzYWx0:${hash}`, `${sealed.split(':')[0]}:${hash!.slice(0, 62)}`]) {
          await recRepo.update({ id: rec.id }, { secrets: JSON.stringify({ file_no: bad }) });
          expect((await bindErr(b.bind(`o_b_${bad.length}`, 'licence', LICENCE, true))).code, bad).toBe('mismatch');
        }
        await recRepo.update({ id: rec.id }, { secrets: rec.secrets });
        expect((await b.bind('o_a', 'licence', LICENCE, true)).already).toBe(false);
      });

      it('three vehicles per citizen; a fourth is refused before any check, the same one again is not', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        expect((await b.importRecords('tms', 'vehicle', [{ line: 2, values: { plate: '闽DF12345', engine_last6: 'E00001' } }])).imported).toBe(1);
        for (const car of [CAR, CAR2, CAR3]) await b.bind('o_fleet', 'vehicle', car, true);
        const fourth = await bindErr(b.bind('o_fleet', 'vehicle', { plate: '闽DF12345', engine_last6: 'WRONG1' }, true));
        expect([fourth.code, fourth.message]).toEqual(['limit', '每人最多绑定 3 个机动车，请先解绑不用的。']);
        expect(await b.lockedMinutes('o_fleet', 'vehicle')).toBe(0);
        expect((await b.bind('o_fleet', 'vehicle', CAR3, true)).already).toBe(true);
        // The limit is per kind.
        expect((await b.bind('o_fleet', 'licence', LICENCE, true)).already).toBe(false);
        // Unbinding frees a place.
        const mine = await b.list('o_fleet');
        await b.unbind('o_fleet', mine[0]!.id);
        expect((await b.bind('o_fleet', 'vehicle', { plate: '闽DF12345', engine_last6: 'E00001' }, true)).already).toBe(false);
      });

      it('the department system decides: ok binds, mismatch counts, unavailable or unconfigured says try later and counts nothing', async () => {
        const a = await traffic();
        let answer: 'ok' | 'mismatch' | 'unavailable' = 'unavailable';
        const kind = { id: 'patient', name: '就诊卡', fields: [{ id: 'card_no', label: '就诊卡号', pattern: '^\\d{8}$', hint: '8 位数字', key: true, secret: false, input: 'text' }], consent: '同意绑定就诊卡以接收提醒。', max_per_citizen: 1, verify: { by: 'http', system: 'his', url: 'http://127.0.0.1:1/verify', timeout_ms: 300, retries: 0, breaker_failures: 5, open_seconds: 30 } } as BindingKind;
        const config = { ...a.profile.bindings, kinds: [kind] };
        const log = createLogger({ level: 'silent' });
        const asked: unknown[] = [];
        const verifiers = new Map([['patient', { verify: async (k: string, f: Record<string, string>) => (asked.push([k, f]), answer) } as unknown as HttpVerifier]]);
        const b = new Bindings({ db: a.db, kv: a.kv, clock: a.clock, log, config, verifiers });
        for (let i = 0; i < 6; i++) {
          const e = await bindErr(b.bind('o_patient_he', 'patient', { card_no: '2026 1124' }, true));
          expect([e.code, e.message]).toEqual(['unavailable', '就诊卡核验系统暂时联系不上，请过几分钟再试，您的信息没有保存。']);
        }
        expect(asked[0]).toEqual(['patient', { card_no: '20261124' }]);
        expect(await b.lockedMinutes('o_patient_he', 'patient', '20261124')).toBe(0);
        answer = 'mismatch';
        expect((await bindErr(b.bind('o_patient_he', 'patient', { card_no: '20261124' }, true))).message).toBe('信息核对不上，请检查就诊卡号。还可以再试 4 次。');
        answer = 'ok';
        expect((await b.bind('o_patient_he', 'patient', { card_no: '20261124' }, true)).binding.display).toBe('2******4');
        const none = new Bindings({ db: a.db, kv: a.kv, clock: a.clock, log, config, verifiers: new Map() });
        const e = await bindErr(none.bind('o_patient_wu', 'patient', { card_no: '20261125' }, true));
        expect([e.code, e.message]).toEqual(['unavailable', '核验系统没有配置，请稍后再试。']);
        expect((await rows(a)).map((r) => r.keyValue)).toEqual(['20261124']);
      });

      it('unbind: the citizen their own, staff any; not another\'s, not twice; the key is then free', async () => {
        const a = await traffic();
        const b = cap(a).bindings;
        const { binding } = await b.bind('o_seller', 'vehicle', CAR, true);
        expect(await b.unbind('o_buyer', binding.id)).toBeNull();
        a.clock.advance(5 * MIN);
        const un = await b.unbind('o_seller', binding.id);
        expect(un).toMatchObject({ id: binding.id, status: 'unbound', unboundAt: a.clock.now(), activeKey: null });
        expect(await rows(a)).toEqual([expect.objectContaining({ status: 'unbound', unboundAt: a.clock.now(), activeKey: null })]);
        expect(await b.unbind('o_seller', binding.id)).toBeNull();
        expect(await b.list('o_seller')).toEqual([]);
        const bought = await b.bind('o_buyer', 'vehicle', CAR, true);
        expect(bought.already).toBe(false);
        expect((await b.unbind(null, bought.binding.id))?.status).toBe('unbound');
        expect(await b.holder('vehicle', CAR.plate)).toBeNull();
      });
    });

    describe('Events.accept(): the checks, the binding, the push', () => {
      it('refuses a body that is not an object, an unknown kind, a system not allowed, bad keys and targets — storing nothing', async () => {
        const a = await traffic();
        const ev = cap(a).events;
        for (const body of [null, 'inspection_due', [inspection('A', CAR.plate)], 42]) {
          const e = await eventErr(ev.accept('tms', body));
          expect([e.status, e.message]).toEqual([400, 'expected a JSON object {kind, idempotency_key, target, values}']);
        }
        for (const kind of [undefined, 7, 'fine']) expect((await eventErr(ev.accept('tms', { ...inspection('A', CAR.plate), kind }))).message).toBe('kind: expected one of inspection_due, violation_fine, licence_expiry');
        const other = await eventErr(ev.accept('ils', inspection('A', CAR.plate)));
        expect([other.status, other.message]).toEqual([403, 'kind inspection_due: system ils may not post it']);
        for (const idem of [undefined, 7, '', 'has space', 'x'.repeat(101), '违法-1']) {
          const e = await eventErr(ev.accept('tms', { ...inspection('A', CAR.plate), idempotency_key: idem }));
          expect([e.status, e.message]).toEqual([422, 'idempotency_key: expected 1–100 letters, digits or _ . : -']);
        }
        for (const target of [undefined, 35020012345, ' ·- ']) expect((await eventErr(ev.accept('tms', inspection('A', target as string)))).message).toBe('target: expected the vehicle key as a string');
        expect((await eventErr(ev.accept('tms', inspection('A', '闽12345')))).message).toBe('target: expected a 号牌号码 (例如 闽D12345（新能源车 8 位）)');
        expect(await a.db.getRepository(DeptEventEntity).count()).toBe(0);
        // A licence event's target is a licence number (an 18-digit ID number), typed as people type it.
        const lic = await ev.accept('tms', { kind: 'licence_expiry', idempotency_key: 'LIC-1', target: `${validId('35020319900101123').slice(0, 6)} ${validId('35020319900101123').slice(6)}`, values: { expires: '2027-01-01' } });
        expect(lic.status).toBe('no_binding');
        expect((await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: lic.id })).targetHash).toBe(targetHash('licence', validId('35020319900101123')));
      });

      it('checks each value: required, type, length in characters, ASCII, unknown names, a fine in fen', async () => {
        const a = await traffic();
        const ev = cap(a).events;
        const msg = async (values: unknown, kind = 'inspection_due') => (await eventErr(ev.accept('tms', { kind, idempotency_key: 'V-1', target: CAR.plate, values }))).message;
        expect(await msg('2026-12-31')).toBe('values: expected an object');
        expect(await msg(['2026-12-31'])).toBe('values: expected an object');
        expect(await msg(null)).toBe('values.due: required');
        expect(await msg({ due: '' })).toBe('values.due: required');
        expect(await msg({ due: null })).toBe('values.due: required');
        expect(await msg({ due: { y: 2026 } })).toBe('values.due: expected a string or number');
        expect(await msg({ due: true })).toBe('values.due: expected a string or number');
        expect(await msg({ due: '2026-12-310' })).toBe('values.due: expected at most 10 characters (WeChat refuses longer template values); got 11');
        expect(await msg({ due: '２０２６-12-31' })).toBe('values.due: expected ASCII only');
        expect(await msg({ due: '2026-12-31', note: 'x', extra: 'y' })).toBe('values: unexpected note, extra');
        for (const fen of ['0', '-5', '1.5', '12a', '100000001', '2e4', '0x10', '1e3', '+500', '0b11', 'Infinity', '5 00', 1e21]) {
          expect(await msg(fine('F', CAR.plate, fen).values, 'violation_fine'), String(fen)).toBe('values.fine_fen: expected an amount in fen, a positive integer');
        }
        expect(await a.db.getRepository(DeptEventEntity).count()).toBe(0);
        // At the limits: accepted (a number becomes its string; spaces trimmed; length in characters, not UTF-16 units).
        const r = await ev.accept('tms', { kind: 'violation_fine', idempotency_key: 'x'.repeat(100), target: CAR.plate, values: { violation_no: ' 3502001234567890 ', place: '🚗'.repeat(20), happened: '2026-11-22 08:41', fine_fen: 100_000_000 } });
        const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id });
        expect(JSON.parse(row.payload)).toEqual({ violation_no: '3502001234567890', place: '🚗'.repeat(20), happened: '2026-11-22 08:41', fine_fen: '100000000' });
      });

      it('an event for a key nobody bound is kept, not pushed; a bound one is queued once, and a repeat is a duplicate', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        const nobody = await ev.accept('tms', inspection('INS-1', '闽d 12345'));
        expect(nobody.status).toBe('no_binding');
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: nobody.id })).toMatchObject({ status: 'no_binding', detail: 'nobody has bound this target', openid: null, targetDisplay: '闽D***45', targetHash: targetHash('vehicle', '闽D12345'), system: 'tms', idempotencyKey: 'INS-1', receivedAt: a.clock.now() });
        expect(await pushJobs(a)).toEqual([]);

        follow(a, 'o_owner_zheng');
        await b.bind('o_owner_zheng', 'vehicle', CAR, true);
        const r = await ev.accept('tms', inspection('INS-2', CAR.plate));
        expect(r).toEqual({ id: expect.any(Number), status: 'queued', sendAt: a.clock.now() });
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'queued', openid: 'o_owner_zheng', sendAt: a.clock.now(), detail: null });
        expect(await ev.accept('tms', inspection('INS-2', CAR.plate, { due: '2027-01-01' }))).toEqual({ id: r.id, status: 'duplicate' });
        expect(await ev.accept('tms', inspection('INS-1', CAR.plate))).toEqual({ id: nobody.id, status: 'duplicate' });
        expect(await pushJobs(a)).toHaveLength(1);
        await a.jobs.runDue();
        await a.jobs.runDue();
        const got = templatesTo(a, 'o_owner_zheng');
        expect(got).toHaveLength(1);
        expect(got[0]!.message).toMatchObject({ title: '机动车检验提醒', data: { thing1: '闽D***45', date2: '2026-12-31', thing3: '请在到期前到检测站检验' } });
        expect(String(got[0]!.message.url)).toMatch(new RegExp(`^https?://[^/]+/h5/notices/${r.id}$`));
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'sent', sentAt: a.clock.now() });
      });

      it('a fine without pay says the bill waits; with a bill issuer, one bill in the transaction and the push links to pay; settled() queues one callback', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        await b.bind('o_fined', 'vehicle', CAR2, true);
        const waiting = await ev.accept('tms', fine('VIO-1', CAR2.plate));
        expect((await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: waiting.id })).detail).toBe('bill waiting: payment is not available yet');

        const bills: { openid: string; title: string; amountFen: number; reference: string; system: string; eventId: number; tx: boolean }[] = [];
        const issuer = { issueBill: async (i: Omit<(typeof bills)[0], 'tx'>, m?: unknown) => (bills.push({ ...i, tx: !!m }), { billId: `B${bills.length}`, payUrl: `/h5/pay/B${bills.length}` }) };
        const log = createLogger({ level: 'silent' });
        const jobs = new JobQueue(a.db, a.clock, log);
        const own = new Events({ db: a.db, clock: a.clock, calendar: a.calendar, jobs, api: a.api, conversationLog: a.conversationLog, log, config: a.profile.bindings, templates: a.profile.templates, bindings: b, publicUrl: 'https://jj.xm.gov.example', secrets: new Map([['tms', XM_KEY]]), bills: issuer });
        const r = await own.accept('tms', fine('VIO-2', CAR2.plate, 15050));
        expect(await own.accept('tms', fine('VIO-2', CAR2.plate, 15050))).toEqual({ id: r.id, status: 'duplicate' });
        expect(bills).toEqual([{ openid: 'o_fined', title: '闽D****81 交通违法罚款（决定书 3502001234567890）', amountFen: 15050, reference: '3502001234567890', system: 'tms', eventId: r.id, tx: true }]);
        const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id });
        expect(row.detail).toBe('bill B1');
        expect(JSON.parse(row.payload).pay_url).toBe('/h5/pay/B1');
        expect(own.message(row)).toEqual({ templateId: 'TPL_XM_VIOLATION_FINE', url: 'https://jj.xm.gov.example/h5/pay/B1', data: expect.objectContaining({ thing1: '闽D****81', amount4: '150.50元', time3: '2026-11-22 08:41' }) });
        expect(own.labelled(row)).toEqual({ 车牌号码: '闽D****81', 违法地点: '厦门大桥往本岛方向', 违法时间: '2026-11-22 08:41', 罚款金额: '150.50元', 决定书编号: '3502001234567890' });
        expect(own.shownValues(row)).toEqual({ violation_no: '3502001234567890', place: '厦门大桥往本岛方向', happened: '2026-11-22 08:41', fine_fen: '15050' });
        await own.settled(r.id, 'B1');
        await own.settled(r.id, 'B1');
        expect(await a.db.getRepository(JobEntity).findBy({ name: Events.SETTLE })).toEqual([expect.objectContaining({ uniqueKey: `settle:${r.id}` })]);
      });

      it('message(): a link of the kind filled with the values (relative under the public address, absolute as is); labelled() of an unknown kind is empty; shownValues() masks personal values', async () => {
        const a = await traffic((p) => {
          p.bindings.events[0].values.owner = { max: 10, personal: 'name', required: false };
        });
        const { bindings: b, events: ev } = cap(a);
        await b.bind('o_link', 'vehicle', CAR, true);
        const r = await ev.accept('tms', inspection('L-1', CAR.plate, { due: '2026-12-31', owner: '陈志明' }));
        const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id });
        expect(ev.shownValues(row)).toEqual({ due: '2026-12-31', owner: '陈**' });
        const kind = ev.kind('inspection_due')!;
        kind.link = '/h5/inspection?due={due}&car={target}&k={kind}&n={missing}';
        expect(ev.message(row).url).toMatch(/^https?:\/\/[^/]+\/h5\/inspection\?due=2026-12-31&car=闽D\*\*\*45&k=机动车&n=$/);
        kind.link = 'https://122.gov.cn/inspection/{due}';
        expect(ev.message(row).url).toBe('https://122.gov.cn/inspection/2026-12-31');
        expect(ev.labelled({ ...row, kind: 'gone' })).toEqual({});
        expect(ev.shownValues({ ...row, kind: 'gone' })).toEqual({ due: '2026-12-31', owner: '陈志明' });
      });

      it('opt-outs: a kind switched off is kept, not pushed; on again, pushed; a fine cannot be switched off', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        follow(a, 'o_quiet');
        await b.bind('o_quiet', 'vehicle', CAR, true);
        await ev.setOptOut('o_quiet', 'inspection_due', true);
        await ev.setOptOut('o_quiet', 'inspection_due', true);
        await ev.setOptOut('o_quiet', 'violation_fine', true);
        await ev.setOptOut('o_quiet', 'no_such_kind', true);
        expect([...(await ev.optOuts('o_quiet'))]).toEqual(['inspection_due']);
        expect(await ev.optOuts('o_other')).toEqual(new Set());
        const off = await ev.accept('tms', inspection('O-1', CAR.plate));
        expect(off.status).toBe('opted_out');
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: off.id })).toMatchObject({ status: 'opted_out', openid: 'o_quiet', detail: 'the citizen switched this kind off' });
        // A fine cannot be switched off: even a switch stored for it (say, before the profile said so) is ignored.
        await a.db.getRepository(PushOptOutEntity).insert({ openid: 'o_quiet', eventKind: 'violation_fine', createdAt: a.clock.now() });
        expect((await ev.accept('tms', fine('O-2', CAR.plate))).status).toBe('queued');
        await ev.setOptOut('o_quiet', 'inspection_due', false);
        expect(await ev.optOuts('o_quiet')).toEqual(new Set(['violation_fine']));
        const on = await ev.accept('tms', inspection('O-3', CAR.plate));
        expect(on.status).toBe('queued');
        // Switched off again between the event and its push: not sent.
        await ev.setOptOut('o_quiet', 'inspection_due', true);
        await a.jobs.runDue();
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: on.id })).toMatchObject({ status: 'opted_out', detail: 'the citizen switched this kind off' });
        expect(templatesTo(a, 'o_quiet').map((t) => t.message.title)).toEqual(['交通违法缴款通知']);
      });

      it('the push: a busy WeChat is retried 10 s later with the same client_msg_id; a refusal fails the event for good', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        follow(a, 'o_busy_line');
        await b.bind('o_busy_line', 'vehicle', CAR, true);
        const send = a.api.template.send.bind(a.api.template);
        const calls: string[] = [];
        let answer: 'busy' | 'refuse' | 'ok' = 'busy';
        vi.spyOn(a.api.template, 'send').mockImplementation(async (openid, m) => {
          calls.push(`${openid} ${m.clientMsgId}`);
          if (answer === 'busy') throw new WeChatApiError(-1, 'system error', '/cgi-bin/message/template/send');
          if (answer === 'refuse') throw new WeChatApiError(43004, 'require subscribe', '/cgi-bin/message/template/send');
          return send(openid, m);
        });
        const t0 = a.clock.now();
        const r = await ev.accept('tms', inspection('W-1', CAR.plate));
        await a.jobs.runDue();
        expect((await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id })).status).toBe('queued');
        expect(await pushJobs(a)).toEqual([expect.objectContaining({ status: 'pending', attempts: 1, runAt: t0 + 10_000 })]);
        answer = 'ok';
        a.clock.set(t0 + 10_000);
        await a.jobs.runDue();
        expect(calls).toEqual([`o_busy_line ev-${r.id}`, `o_busy_line ev-${r.id}`]);
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'sent', sentAt: t0 + 10_000 });

        answer = 'refuse';
        const refused = await ev.accept('tms', inspection('W-2', CAR.plate));
        await a.jobs.runDue();
        const row = await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: refused.id });
        expect(row.status).toBe('failed');
        expect(row.detail).toMatch(/^WeChat refused: .*require subscribe/);
        expect((await pushJobs(a)).find((j) => j.uniqueKey === `push:${refused.id}`)).toMatchObject({ status: 'failed', attempts: 1 });
        expect(templatesTo(a, 'o_busy_line')).toHaveLength(1);
      });

      it('unbound before the push: not sent', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        follow(a, 'o_sold_car', 'o_new_owner');
        const { binding } = await b.bind('o_sold_car', 'vehicle', CAR, true);
        const r = await ev.accept('tms', inspection('U-1', CAR.plate));
        await b.unbind('o_sold_car', binding.id);
        await b.bind('o_new_owner', 'vehicle', CAR, true);
        await a.jobs.runDue();
        expect(await a.db.getRepository(DeptEventEntity).findOneByOrFail({ id: r.id })).toMatchObject({ status: 'no_binding', detail: 'unbound before it was sent' });
        expect(templatesTo(a, 'o_sold_car')).toEqual([]);
        expect(templatesTo(a, 'o_new_owner')).toEqual([]);
      });

      it('sendTime: the quiet hours 21:00–08:00 hold a push to 08:00 sharp; the boundaries; a daytime window; a kind that ignores them', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        const at = (hh: number, mm: number, ss = 0, d = 24) => cst(2026, 11, d, hh, mm, ss);
        expect(ev.sendTime(at(20, 59, 59))).toBe(at(20, 59, 59));
        expect(ev.sendTime(at(21, 0))).toBe(at(8, 0, 0, 25));
        expect(ev.sendTime(at(23, 59, 59))).toBe(at(8, 0, 0, 25));
        expect(ev.sendTime(at(0, 0))).toBe(at(8, 0));
        expect(ev.sendTime(at(2, 0, 30))).toBe(at(8, 0));
        expect(ev.sendTime(at(7, 59, 59))).toBe(at(8, 0));
        expect(ev.sendTime(at(8, 0))).toBe(at(8, 0));
        expect(ev.sendTime(at(8, 0, 30))).toBe(at(8, 0, 30));
        expect(ev.sendTime(at(12, 0))).toBe(at(12, 0));
        a.profile.bindings.quiet_hours = { from: '12:00', to: '13:30' };
        expect(ev.sendTime(at(11, 59, 59))).toBe(at(11, 59, 59));
        expect(ev.sendTime(at(12, 0))).toBe(at(13, 30));
        expect(ev.sendTime(at(13, 29, 59))).toBe(at(13, 30));
        expect(ev.sendTime(at(13, 30))).toBe(at(13, 30));
        expect(ev.sendTime(at(13, 30, 30))).toBe(at(13, 30, 30));
        expect(ev.sendTime(at(22, 0))).toBe(at(22, 0));
        a.profile.bindings.quiet_hours = { from: '21:00', to: '08:00' };

        follow(a, 'o_night');
        await b.bind('o_night', 'vehicle', CAR, true);
        a.clock.set(at(2, 0, 30));
        const held = await ev.accept('tms', inspection('N-1', CAR.plate));
        expect(held.sendAt).toBe(at(8, 0));
        ev.kind('violation_fine')!.respect_quiet_hours = false;
        const now = await ev.accept('tms', fine('N-2', CAR.plate));
        expect(now.sendAt).toBe(at(2, 0, 30));
        await a.jobs.runDue();
        expect(templatesTo(a, 'o_night').map((t) => t.message.title)).toEqual(['交通违法缴款通知']);
        a.clock.set(at(8, 0));
        await a.jobs.runDue();
        expect(templatesTo(a, 'o_night')).toHaveLength(2);
      });

      it('forCitizen: only the citizen\'s own event; recent(): newest first, ties by id, limited', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        await b.bind('o_me', 'vehicle', CAR, true);
        const e1 = await ev.accept('tms', inspection('R-1', CAR.plate));
        a.clock.advance(MIN);
        const e2 = await ev.accept('tms', inspection('R-2', CAR.plate));
        const e3 = await ev.accept('tms', inspection('R-3', CAR3.plate));
        expect((await ev.forCitizen('o_me', e1.id))?.idempotencyKey).toBe('R-1');
        expect(await ev.forCitizen('o_someone_else', e1.id)).toBeNull();
        expect(await ev.forCitizen('o_me', e3.id)).toBeNull();
        expect((await ev.recent()).map((e) => e.id)).toEqual([e3.id, e2.id, e1.id]);
        expect((await ev.recent(2)).map((e) => e.id)).toEqual([e3.id, e2.id]);
      });
    });
    describe('the log, the push job and the payment callback', () => {
      const eventRow = (a: TestApp, id: number) => a.db.getRepository(DeptEventEntity).findOneByOrFail({ id });

      it('bind, a mismatch, a key taken, unbinding by the citizen and by staff, an import and an event for nobody each leave one line with kinds and ids, never a key', async () => {
        const { log, lines, logged } = capture();
        const a = await traffic(undefined, log);
        const { bindings: b, events: ev } = cap(a);
        await bindErr(b.bind('o_log_a', 'vehicle', { ...CAR, engine_last6: 'Z9Y8X7' }, true));
        expect(logged('binding refused: details do not match the records')).toEqual([expect.objectContaining({ level: 30, kind: 'vehicle', event: 'bind-mismatch' })]);
        const { binding } = await b.bind('o_log_a', 'vehicle', CAR, true);
        expect(logged('bound')).toEqual([expect.objectContaining({ level: 30, kind: 'vehicle', binding: binding.id, event: 'bound' })]);
        expect((await bindErr(b.bind('o_log_b', 'vehicle', CAR, true))).code).toBe('taken');
        expect(logged('binding refused: already bound by another citizen')).toEqual([expect.objectContaining({ level: 40, kind: 'vehicle', binding: binding.id, event: 'bind-taken' })]);
        const { binding: second } = await b.bind('o_log_b', 'vehicle', CAR2, true);
        await b.unbind('o_log_a', binding.id);
        await b.unbind(null, second.id);
        expect(logged('unbound')).toEqual([
          expect.objectContaining({ level: 30, kind: 'vehicle', binding: binding.id, event: 'unbound', by: 'citizen' }),
          expect.objectContaining({ level: 30, kind: 'vehicle', binding: second.id, event: 'unbound', by: 'staff' }),
        ]);
        await b.importRecords('tms', 'vehicle', [{ line: 1, values: { plate: '闽D77777', engine_last6: '123456' } }, { line: 2, values: { plate: '闽7', engine_last6: '1' } }]);
        // (The demo's own records were imported at start, as system "demo".)
        expect(logged('records imported').filter((l) => l.system !== 'demo')).toEqual([expect.objectContaining({ level: 30, system: 'tms', kind: 'vehicle', imported: 1, refused: 1 })]);
        const nobody = await ev.accept('tms', inspection('N-1', '闽D99999'));
        expect(logged('event for nobody bound: kept, not pushed')).toEqual([expect.objectContaining({ level: 30, event: nobody.id, kind: 'inspection_due', system: 'tms' })]);
        const all = lines.join('\n');
        for (const v of [CAR.plate, CAR.engine_last6, 'Z9Y8X7', CAR2.plate, '闽D77777', '123456', '闽D99999']) expect(all).not.toContain(v);
      });

      it('unbinding twice at once unbinds once; a save that fails for another reason than the key is not reported as bound', async () => {
        const a = await traffic();
        const { bindings: b } = cap(a);
        const { binding } = await b.bind('o_twice', 'vehicle', CAR, true);
        const both = await Promise.all([b.unbind('o_twice', binding.id), b.unbind(null, binding.id)]);
        expect(both.filter((x) => x !== null)).toEqual([expect.objectContaining({ id: binding.id, status: 'unbound' })]);
        vi.spyOn(a.db.getRepository(BindingEntity), 'save').mockRejectedValueOnce(new Error('disk full'));
        await expect(b.bind('o_twice', 'vehicle', CAR2, true)).rejects.toThrow('disk full');
        expect(await b.list('o_twice')).toEqual([]);
      });

      it('importRecords: an unknown kind, a kind the department checks itself, a row that is not an object; the key is not kept among the fields', async () => {
        const a = await traffic();
        const { bindings: b } = cap(a);
        // The licence kind checked by the department's system from now on (its demo records went in at start).
        a.profile.bindings.kinds[1]!.verify = { by: 'http', system: 'tms', url: 'http://127.0.0.1:9/verify', timeout_ms: 1000, retries: 0, breaker_failures: 5, open_seconds: 60 };
        const unknown = await bindErr(b.importRecords('tms', 'boat', []));
        expect([unknown.code, unknown.message, unknown.name]).toEqual(['unknown_kind', 'unknown binding kind', 'BindingError']);
        const checked = await bindErr(b.importRecords('tms', 'licence', []));
        expect([checked.code, checked.message]).toEqual(['invalid', "kind licence is verified by the department's system, not by imported records"]);
        // A caller's own mistake is an error, not a "bad row".
        await expect(b.importRecords('tms', 'vehicle', [{ line: 1, values: null as never }])).rejects.toThrow(TypeError);
        expect(await b.importRecords('tms', 'vehicle', [{ line: 1, values: { plate: '闽D 77777', engine_last6: 'x12345' } }])).toEqual({ imported: 1, errors: [] });
        const rec = await a.db.getRepository(BindingRecordEntity).findOneByOrFail({ kind: 'vehicle', keyValue: '闽D77777' });
        expect(JSON.parse(rec.fields)).toEqual({ engine_last6: 'X12345' });
      });

      it('the push job: a kind gone from the profile fails; a vehicle replaced by another is not sent; another citizen\'s switch-off holds nothing; a push already in the log is not sent again; a sent event is left as it is', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        follow(a, 'o_p1', 'o_p2', 'o_p3');
        await b.importRecords('tms', 'vehicle', [{ line: 1, values: { plate: '闽D77777', engine_last6: '123456' } }]);
        await b.bind('o_p1', 'vehicle', CAR, true);
        await ev.setOptOut('o_p1', 'inspection_due', true);
        await b.bind('o_p2', 'vehicle', CAR2, true);
        const { binding: sold } = await b.bind('o_p3', 'vehicle', CAR3, true);
        const forP2 = await ev.accept('tms', inspection('J-1', CAR2.plate));
        const forP3 = await ev.accept('tms', inspection('J-2', CAR3.plate));
        expect([forP2.status, forP3.status]).toEqual(['queued', 'queued']);
        // o_p3 sold that car and bound another before the push went: still a vehicle of theirs, not this one.
        await b.unbind('o_p3', sold.id);
        await b.bind('o_p3', 'vehicle', { plate: '闽D77777', engine_last6: '123456' }, true);
        const t0 = a.clock.now();
        await a.jobs.runDue();
        expect(await eventRow(a, forP2.id)).toMatchObject({ status: 'sent', sentAt: t0 });
        expect(templatesTo(a, 'o_p2')).toHaveLength(1);
        expect(await a.conversationLog.findByKey(`out:event:${forP2.id}`)).toMatchObject({ openid: 'o_p2', direction: 'out', kind: 'template', channel: 'template', ref: `event:${forP2.id}`, status: 'sent' });
        expect(await eventRow(a, forP3.id)).toMatchObject({ status: 'no_binding', detail: 'unbound before it was sent' });
        expect(templatesTo(a, 'o_p3')).toEqual([]);

        // Sent and logged, but the process died before the event was marked: the retry sends nothing more.
        await a.db.getRepository(DeptEventEntity).update({ id: forP2.id }, { status: 'queued', sentAt: null });
        a.clock.advance(MIN);
        await a.jobs.enqueue(Events.PUSH, { eventId: forP2.id }, { uniqueKey: `push:${forP2.id}:again` });
        await a.jobs.runDue();
        expect(templatesTo(a, 'o_p2')).toHaveLength(1);
        expect(await eventRow(a, forP2.id)).toMatchObject({ status: 'sent', sentAt: t0 + MIN });
        // A job for an event already sent (or gone) changes nothing and ends well.
        a.clock.advance(MIN);
        await a.jobs.enqueue(Events.PUSH, { eventId: forP2.id }, { uniqueKey: `push:${forP2.id}:third` });
        await a.jobs.enqueue(Events.PUSH, { eventId: 999_999 }, { uniqueKey: 'push:999999' });
        await a.jobs.runDue();
        expect(await eventRow(a, forP2.id)).toMatchObject({ status: 'sent', sentAt: t0 + MIN });
        expect((await pushJobs(a)).filter((j) => j.uniqueKey === `push:${forP2.id}:third` || j.uniqueKey === 'push:999999').map((j) => j.status)).toEqual(['done', 'done']);

        // The kind taken out of the profile while its push waited: failed, with the reason.
        const waiting = await ev.accept('tms', inspection('J-3', CAR2.plate));
        const kinds = a.profile.bindings.events as { id: string }[];
        kinds.splice(kinds.findIndex((k) => k.id === 'inspection_due'), 1);
        expect(ev.kind('inspection_due')).toBeUndefined();
        await a.jobs.runDue();
        expect(await eventRow(a, waiting.id)).toMatchObject({ status: 'failed', detail: 'kind no longer in the profile' });
        expect(templatesTo(a, 'o_p2')).toHaveLength(1);
      });

      it('a refusal from WeChat is kept as the event\'s detail, cut to its column', async () => {
        const a = await traffic();
        const { bindings: b, events: ev } = cap(a);
        follow(a, 'o_refused');
        await b.bind('o_refused', 'vehicle', CAR, true);
        vi.spyOn(a.api.template, 'send').mockRejectedValue(new WeChatApiError(40003, `invalid openid ${'x'.repeat(300)}`, '/cgi-bin/message/template/send'));
        const r = await ev.accept('tms', inspection('R-1', CAR.plate));
        await a.jobs.runDue();
        const row = await eventRow(a, r.id);
        expect(row.status).toBe('failed');
        expect(row.detail).toHaveLength(200);
        expect(row.detail!.startsWith('WeChat refused: WeChat /cgi-bin/message/template/send failed: 40003 invalid openid xxx')).toBe(true);
      });

      it('the payment callback: in the payment\'s transaction; signed in seconds, JSON; only a 2xx acknowledges it (a 300 is retried 15 s, then 30 s later); an event or a kind that cannot be told fails for good', async () => {
        const received: { body: string; ts: string; type: string; ok: boolean }[] = [];
        let status = 300;
        const server = createServer((req, res) => {
          let body = '';
          req.on('data', (c) => (body += c));
          req.on('end', () => {
            const ts = String(req.headers[SIGNATURE_HEADERS.timestamp]);
            received.push({ body, ts, type: String(req.headers['content-type']), ok: signatureMatches(XM_KEY, ts, body, String(req.headers[SIGNATURE_HEADERS.signature])) });
            res.statusCode = status;
            res.end();
          });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        try {
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/paid`;
          const a = await traffic((p) => void (p.bindings.systems[0].callback_url = url));
          const { bindings: b } = cap(a);
          const { log, logged } = capture();
          const jobs = new JobQueue(a.db, a.clock, log);
          const issuer = { issueBill: async () => ({ billId: 'B1', payUrl: '/h5/pay/B1' }) };
          const deps = { db: a.db, clock: a.clock, calendar: a.calendar, api: a.api, conversationLog: a.conversationLog, log, config: a.profile.bindings, templates: a.profile.templates, bindings: b, publicUrl: 'https://jj.xm.gov.example', bills: issuer };
          const own = new Events({ ...deps, jobs, secrets: new Map([['tms', XM_KEY]]) });
          await b.bind('o_paid', 'vehicle', CAR2, true);
          const r = await own.accept('tms', fine('S-1', CAR2.plate, 15050));
          const settle = (id: number) => a.db.getRepository(JobEntity).findOneByOrFail({ uniqueKey: `settle:${id}` });

          // A payment rolled back takes its callback with it.
          await expect(a.db.transaction(async (tx) => {
            await own.settled(r.id, 'B1', tx);
            throw new Error('payment rolled back');
          })).rejects.toThrow('payment rolled back');
          expect(await a.db.getRepository(JobEntity).countBy({ uniqueKey: `settle:${r.id}` })).toBe(0);
          await a.db.transaction((tx) => own.settled(r.id, 'B1', tx));

          const t0 = a.clock.now();
          await jobs.runDue();
          expect(received).toEqual([{ body: expect.any(String), ts: String(Math.floor(t0 / 1000)), type: 'application/json', ok: true }]);
          expect(await settle(r.id)).toMatchObject({ status: 'pending', attempts: 1, runAt: t0 + 15_000, lastError: expect.stringContaining('department callback answered 300') });
          a.clock.set(t0 + 15_000);
          await jobs.runDue();
          expect(await settle(r.id)).toMatchObject({ status: 'pending', attempts: 2, runAt: t0 + 45_000 });
          expect(logged('department notified of payment')).toEqual([]);
          status = 204;
          a.clock.set(t0 + 45_000);
          await jobs.runDue();
          expect(received).toHaveLength(3);
          expect(await settle(r.id)).toMatchObject({ status: 'done', attempts: 3 });
          expect((await eventRow(a, r.id)).detail).toBe('paid, department notified (bill B1)');
          expect(logged('department notified of payment')).toEqual([expect.objectContaining({ event: r.id, system: 'tms' })]);

          // Nothing to tell: an event that is not there, an event without a bill, a system without its key.
          const inspectionDue = await own.accept('tms', inspection('S-2', CAR2.plate));
          await own.settled(999_999, 'B9');
          await own.settled(inspectionDue.id, 'B8');
          await jobs.runDue();
          expect(await settle(999_999)).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('event 999999 not found') });
          expect(await settle(inspectionDue.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('system tms has no callback_url or key') });
          const other = await own.accept('tms', fine('S-3', CAR2.plate, 5000));
          const keylessJobs = new JobQueue(a.db, a.clock, log);
          const keyless = new Events({ ...deps, jobs: keylessJobs, secrets: new Map() });
          await keyless.settled(other.id, 'B3');
          await keylessJobs.runDue();
          expect(await settle(other.id)).toMatchObject({ status: 'failed', attempts: 1 });
          expect(received).toHaveLength(3);
        } finally {
          await new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          });
        }
      });

      it('names: job names are stored with queued jobs (a rename would strand them); the errors say what they are', async () => {
        expect([Events.PUSH, Events.SETTLE]).toEqual(['bindings.push', 'bindings.settle']);
        expect(new EventError(400, 'x').name).toBe('EventError');
        expect(new BindingError('x', 'invalid').name).toBe('BindingError');
      });

      it('quiet hours from a time to the same time are no quiet hours; an optional value may be left out', async () => {
        const a = await traffic((p) => {
          p.bindings.events[0].values.owner = { max: 10, required: false };
        });
        const { bindings: b, events: ev } = cap(a);
        const at = cst(2026, 11, 24, 23, 30);
        expect(ev.sendTime(at)).not.toBe(at); // the profile's quiet hours hold it
        a.profile.bindings.quiet_hours = { from: '08:00', to: '08:00' };
        expect(ev.sendTime(at)).toBe(at);
        expect(ev.sendTime(cst(2026, 11, 24, 8, 0))).toBe(cst(2026, 11, 24, 8, 0));
        await b.bind('o_optional', 'vehicle', CAR, true);
        expect((await ev.accept('tms', inspection('Q-1', CAR.plate, { due: '2026-12-31' }))).status).toBe('queued');
      });
    });
  });
}
