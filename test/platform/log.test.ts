import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/platform/log.ts';

const PHONE = '13812345678';
const PHONE2 = '13987654321';
const PHONE3 = '13712345678';
const ID18 = '11010519491231002X';
const ID18_DIGITS = '310104198001011236';
const HOUSE = '1234弄5号601室';
const ESTATE = '3栋2单元501';

const ORDINARY = ['WB20261124-0007', '2026-11-24', '17:30', '¥12.50', '回复 1'];

/** A destination that keeps every line. */
function capture(level = 'trace', base?: Record<string, unknown>) {
  const lines: string[] = [];
  const log = createLogger({ level, base, destination: { write: (s: string) => void lines.push(s) } });
  return {
    log,
    lines,
    text: () => lines.join(''),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    last: () => JSON.parse(lines.at(-1)!) as Record<string, unknown>,
  };
}

/** Personal data in the raw (as it would appear in a JSON line, where X is literal). */
function assertNoPersonalData(output: string): void {
  for (const raw of [PHONE, PHONE2, PHONE3, ID18, ID18.toLowerCase(), ID18_DIGITS, HOUSE, ESTATE, '1234弄', '5号601室']) {
    expect(output, `output contains ${raw}`).not.toContain(raw);
  }
  expect(output).not.toMatch(/(?<![0-9])1[3-9][0-9]{9}(?![0-9])/);
  expect(output).not.toMatch(/(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])/);
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createLogger masking', () => {
  it('masks the message string', () => {
    const c = capture();
    c.log.info(`市民来电 ${PHONE}，身份证 ${ID18}，住长宁路${HOUSE}`);
    assertNoPersonalData(c.text());
    expect(c.last().msg).toBe('市民来电 138****5678，身份证 1101************2X，住长宁路****');
  });

  it('masks printf-style arguments of every kind', () => {
    const c = capture();
    c.log.info('user %s called', PHONE);
    c.log.info('number %d and %d', Number(PHONE2), Number(PHONE3));
    c.log.info('object %o / %O / %j', { name: '张三', phone: PHONE, note: `家住XX小区${ESTATE}` }, [ID18], { idCard: ID18_DIGITS });
    c.log.info('split 138%s', '12345678');
    c.log.info({ caseNo: 'WB20261124-0007' }, 'with object, then %s and %s', PHONE, ID18);
    c.log.info('error %s', new Error(`lookup ${PHONE} failed`));
    assertNoPersonalData(c.text());
    const msgs = c.records().map((r) => r.msg);
    expect(msgs[0]).toBe('user 138****5678 called');
    expect(msgs[1]).toBe('number 139****4321 and 137****5678');
    expect(msgs[2]).toContain('"phone":"138****5678"');
    expect(msgs[2]).toContain('"name":"张*"'); // key-aware: object arguments go through maskDeep
    expect(msgs[2]).toContain('XX小区****');
    expect(msgs[3]).toBe('split 138****5678');
    expect(msgs[4]).toBe('with object, then 138****5678 and 1101************2X');
    expect(msgs[5]).toBe('error Error: lookup 138****5678 failed');
  });

  it('masks merged objects, nested objects and arrays', () => {
    const c = capture();
    const citizen = {
      name: '张三',
      phone: PHONE,
      idCard: ID18,
      address: `上海市长宁区长宁路${HOUSE}`,
      history: [{ text: `我的电话是${PHONE2}` }, [`身份证${ID18_DIGITS}`, `住XX小区${ESTATE}`]],
      deeper: { a: { b: { c: { mobile: PHONE3 } } } },
    };
    c.log.info({ citizen, caseNo: 'WB20261124-0007' }, 'citizen message');
    assertNoPersonalData(c.text());
    const rec = c.last();
    expect(rec.citizen).toEqual({
      name: '张*',
      phone: '138****5678',
      idCard: '1101************2X',
      address: '上海市长宁区长宁路****',
      history: [{ text: '我的电话是139****4321' }, ['身份证3101************36', '住XX小区****']],
      deeper: { a: { b: { c: { mobile: '137****5678' } } } },
    });
    expect(rec.caseNo).toBe('WB20261124-0007');
    // the caller's object is untouched
    expect(citizen.phone).toBe(PHONE);
    expect(citizen.history[0]).toEqual({ text: `我的电话是${PHONE2}` });
  });

  it('masks errors passed as { err } and as the first argument: message and stack', () => {
    const c = capture();
    const err = new Error(`could not reach ${PHONE} for ${ID18}`, { cause: new Error(`upstream said ${PHONE2}`) });
    (err as Error & { address?: string }).address = `长宁路${HOUSE}`;
    c.log.error({ err }, 'send failed');
    c.log.error(err);
    c.log.error({ err });
    assertNoPersonalData(c.text());
    const [withMsg, bare, noMsg] = c.records() as Array<{ msg: string; err: Record<string, unknown> }>;
    expect(withMsg!.msg).toBe('send failed');
    for (const r of [withMsg!, bare!, noMsg!]) {
      expect(r.err.type).toBe('Error');
      expect(r.err.message).toBe('could not reach 138****5678 for 1101************2X');
      expect(r.err.stack).toMatch(/^Error: could not reach 138\*\*\*\*5678 for 1101\*{12}2X\n\s+at /);
      expect(r.err.address).toBe('长宁路****');
      expect((r.err.cause as Record<string, unknown>).message).toBe('upstream said 139****4321');
    }
    // pino falls back to the error's message when no message is given: masked too
    expect(bare!.msg).toBe('could not reach 138****5678 for 1101************2X');
    expect(noMsg!.msg).toBe('could not reach 138****5678 for 1101************2X');
  });

  it('masks child-logger bindings, nested children, setBindings and msgPrefix', () => {
    const c = capture();
    const child = c.log.child({ caller: PHONE, citizen: { idCard: ID18, address: `长宁路${HOUSE}` } });
    child.info('from child');
    const grandchild = child.child({ note: `回拨 ${PHONE2}` });
    grandchild.info('from grandchild');
    grandchild.setBindings({ extra: `身份证${ID18_DIGITS}` });
    grandchild.info('after setBindings');
    const prefixed = c.log.child({}, { msgPrefix: `[${PHONE3}] ` });
    prefixed.info('prefixed');
    assertNoPersonalData(c.text());
    const [a, b, d, e] = c.records();
    expect(a!.caller).toBe('138****5678');
    expect(a!.citizen).toEqual({ idCard: '1101************2X', address: '长宁路****' });
    expect(b!.note).toBe('回拨 139****4321');
    expect(b!.caller).toBe('138****5678');
    expect(d!.extra).toBe('身份证3101************36');
    expect(e!.msg).toBe('[137****5678] prefixed');
    expect(grandchild.bindings()).toMatchObject({ caller: '138****5678', note: '回拨 139****4321' });
  });

  it('masks base fields as text, keeping names of services', () => {
    const c = capture('info', { name: 'weiban', service: 'wechat', oncall: PHONE });
    c.log.info('hello');
    assertNoPersonalData(c.text());
    expect(c.last()).toMatchObject({ name: 'weiban', service: 'wechat', oncall: '138****5678', msg: 'hello' });
  });

  it('keeps non-personal strings unchanged everywhere', () => {
    const c = capture();
    const note = ORDINARY.join(' ');
    c.log.child({ caseNo: 'WB20261124-0007' }).info({ note, list: ORDINARY, date: '2026-11-24', at: '17:30' }, `case %s at %s, fee %s, reply "%s": ${note}`, 'WB20261124-0007', '17:30', '¥12.50', '回复 1');
    const rec = c.last();
    expect(rec.caseNo).toBe('WB20261124-0007');
    expect(rec.note).toBe(note);
    expect(rec.list).toEqual(ORDINARY);
    expect(rec.date).toBe('2026-11-24');
    expect(rec.at).toBe('17:30');
    expect(rec.msg).toBe(`case WB20261124-0007 at 17:30, fee ¥12.50, reply "回复 1": ${note}`);
  });

  it('does no masking work for lines below the level', () => {
    const c = capture('info');
    let reads = 0;
    const spy = {
      get phone() {
        reads++;
        return PHONE;
      },
    };
    c.log.debug(spy, 'not emitted');
    c.log.debug('not emitted %o', spy);
    c.log.trace({ nested: spy });
    expect(reads).toBe(0);
    expect(c.lines).toHaveLength(0);
    c.log.info(spy, 'emitted');
    expect(reads).toBeGreaterThan(0);
    expect(c.last().phone).toBe('138****5678');
  });

  it('writes valid JSON lines', () => {
    const c = capture();
    c.log.info({ a: 1, s: `"quoted" ${PHONE}\n` }, 'line');
    expect(c.lines[0]!.endsWith('\n')).toBe(true);
    expect(c.last()).toMatchObject({ level: 30, a: 1, s: '"quoted" 138****5678\n', msg: 'line' });
    expect(typeof c.last().time).toBe('number');
  });
});

describe('createLogger level', () => {
  const sink = () => {
    const lines: string[] = [];
    return { lines, destination: { write: (s: string) => void lines.push(s) } };
  };

  it('defaults to info', () => {
    vi.stubEnv('LOG_LEVEL', '');
    const { lines, destination } = sink();
    const log = createLogger({ destination });
    expect(log.level).toBe('info');
    log.debug('no');
    log.info('yes');
    expect(lines).toHaveLength(1);
  });

  it('takes LOG_LEVEL from the environment', () => {
    vi.stubEnv('LOG_LEVEL', 'DEBUG');
    expect(createLogger({ destination: sink().destination }).level).toBe('debug');
    vi.stubEnv('LOG_LEVEL', 'silent');
    const { lines, destination } = sink();
    const log = createLogger({ destination });
    log.fatal('nothing');
    expect(lines).toHaveLength(0);
  });

  it('prefers an explicit level over LOG_LEVEL', () => {
    vi.stubEnv('LOG_LEVEL', 'debug');
    expect(createLogger({ level: 'warn', destination: sink().destination }).level).toBe('warn');
  });

  it('falls back to info with a warning on an unrecognised LOG_LEVEL', () => {
    vi.stubEnv('LOG_LEVEL', `verbose-${PHONE}`);
    const { lines, destination } = sink();
    const log = createLogger({ destination });
    expect(log.level).toBe('info');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec.level).toBe(40);
    expect(rec.LOG_LEVEL).toBe('verbose-138****5678');
  });

  it('writes masked JSON to stdout by default', () => {
    const script = [
      "import { createLogger } from './src/platform/log.ts';",
      `createLogger().info({ phone: '${PHONE}' }, 'call %s', '${PHONE2}');`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, LOG_LEVEL: 'info' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    assertNoPersonalData(r.stdout);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ level: 30, phone: '138****5678', msg: 'call 139****4321' });
  });
});
