import { describe, expect, it } from 'vitest';
import { formFieldSchema } from '../../src/profile/application.ts';
import { acceptedWords, checkForm, cleanFileName, type Upload } from '../../src/services/cases/forms.ts';
import { BIG_JPEG, EXE_AS_JPG, JPEG, PDF, validId, wrongCheckDigit } from '../helpers/files.ts';

/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

describe('the form checks, field by field, in the words the citizen reads', () => {
  const NOW = cst(2026, 11, 23, 10);
  const field = (f: Record<string, unknown>) => formFieldSchema.parse({ id: 'f', label: '字段', ...f });
  const one = (f: Record<string, unknown>, value: string, o: { partial?: boolean; addressExample?: string } = {}) => checkForm([field(f)], { f: value }, [], { now: NOW, ...o });
  const error = (f: Record<string, unknown>, value: string, o: { partial?: boolean; addressExample?: string } = {}) => one(f, value, o).errors.f ?? null;
  const value = (f: Record<string, unknown>, v: string) => {
    const r = one(f, v);
    expect(r.errors).toEqual({});
    return r.values.f;
  };

  it('required and optional fields; a draft (partial) may leave any out; text is trimmed, line ends made \n', () => {
    expect(error({ type: 'text' }, '  ')).toBe('请填写字段。');
    expect(error({ type: 'text', required: false }, '')).toBeNull();
    expect(checkForm([field({ type: 'text' })], {}, [], { now: NOW }).errors).toEqual({ f: '请填写字段。' });
    expect(error({ type: 'text' }, '', { partial: true })).toBeNull();
    expect(one({ type: 'text' }, '').values).toEqual({});
    expect(value({ type: 'text', max: 20 }, ' 第一行\r\n第二行\r第三行 ')).toBe('第一行\n第二行\n第三行');
    expect(error({ type: 'text' }, 'a\u0007b')).toBe('字段里有不能识别的字符。');
    expect(error({ type: 'text' }, 'a\u000bb')).toBe('字段里有不能识别的字符。');
    expect(error({ type: 'text' }, 'a\u007fb')).toBe('字段里有不能识别的字符。');
    expect(value({ type: 'text' }, 'a\tb')).toBe('a\tb');
  });

  it('text: at most max characters, counting each character once (also those outside the basic plane)', () => {
    expect(value({ type: 'text', max: 3 }, '𠀀𠀁𠀂')).toBe('𠀀𠀁𠀂');
    expect(error({ type: 'text', max: 3 }, '𠀀𠀁𠀂𠀃')).toBe('字段最多 3 个字。');
  });

  it('numbers: digits only, whole unless allowed otherwise, within min and max', () => {
    expect(error({ type: 'number' }, '十二')).toBe('字段请填数字。');
    expect(error({ type: 'number' }, '1e3')).toBe('字段请填数字。');
    expect(error({ type: 'number' }, '12abc')).toBe('字段请填数字。');
    expect(error({ type: 'number' }, 'abc12')).toBe('字段请填数字。');
    expect(error({ type: 'number' }, '1.5')).toBe('字段请填整数。');
    expect(value({ type: 'number', integer: false }, '1.5')).toBe(1.5);
    expect(value({ type: 'number', integer: false }, '1.25')).toBe(1.25);
    expect(value({ type: 'number', min: -5, max: 10 }, '-5')).toBe(-5);
    expect(value({ type: 'number', min: -5, max: 10 }, '10')).toBe(10);
    expect(error({ type: 'number', min: -5, max: 10 }, '-6')).toBe('字段不能小于 -5。');
    expect(error({ type: 'number', min: -5, max: 10 }, '11')).toBe('字段不能大于 10。');
  });

  it('dates: a real calendar day, written YYYY-MM-DD; not after today (China time) when so configured', () => {
    expect(value({ type: 'date' }, '2024-02-29')).toBe('2024-02-29');
    for (const bad of ['2026-02-29', '2026-13-01', '2026-04-31', '2026/11/23', '26-11-23', '12026-11-23', '2026-11-23x']) expect(error({ type: 'date' }, bad), bad).toBe('字段请填正确的日期。');
    expect(value({ type: 'date', not_after_today: true }, '2026-11-23')).toBe('2026-11-23');
    expect(error({ type: 'date', not_after_today: true }, '2026-11-24')).toBe('字段不能晚于今天。');
    expect(value({ type: 'date' }, '2026-11-24')).toBe('2026-11-24');
    // Just after midnight in China the new day is today, though it is still yesterday in UTC.
    expect(checkForm([field({ type: 'date', not_after_today: true })], { f: '2026-11-24' }, [], { now: cst(2026, 11, 24, 0) }).errors).toEqual({});
    expect(checkForm([field({ type: 'date', not_after_today: true })], { f: '2026-11-24' }, [], { now: cst(2026, 11, 24, 0) - 1 }).errors).toEqual({ f: '字段不能晚于今天。' });
  });

  it('a choice from the list, a phone number, an ID number (kept in capitals)', () => {
    expect(value({ type: 'select', options: ['甲', '乙'] }, '乙')).toBe('乙');
    expect(error({ type: 'select', options: ['甲', '乙'] }, '丙')).toBe('请从列表里选择字段。');
    for (const ok of ['13812345678', '021-12345678', '02112345678', '0571-1234567']) expect(value({ type: 'phone' }, ok), ok).toBe(ok);
    for (const bad of ['12812345678', '138123456789', '913812345678', '021-123456', '21-12345678', '9021-12345678', '021-123456789']) expect(error({ type: 'phone' }, bad), bad).toBe('字段请填 11 位手机号或带区号的固定电话。');
    const id = validId();
    expect(error({ type: 'id_card' }, id.slice(0, 17))).toBe('字段应是 18 位，最后一位可能是 X。');
    expect(error({ type: 'id_card' }, `x${id}`)).toBe('字段应是 18 位，最后一位可能是 X。');
    expect(error({ type: 'id_card' }, `${id}1`)).toBe('字段应是 18 位，最后一位可能是 X。');
    expect(error({ type: 'id_card' }, wrongCheckDigit(id))).toBe('字段不正确（校验位不对），请核对后再填。');
    let withX = '';
    for (let n = 100; n < 1000 && !withX; n++) if (validId(`31010519800101${n}`).endsWith('X')) withX = validId(`31010519800101${n}`);
    expect(value({ type: 'id_card' }, withX.toLowerCase())).toBe(withX);
  });

  it('an address: 5 to 100 characters with some Chinese, explained with the profile\'s example', () => {
    expect(value({ type: 'address' }, '天山路 1 号')).toBe('天山路 1 号');
    expect(value({ type: 'address' }, '天山路1号')).toBe('天山路1号'); // five characters are enough
    expect(value({ type: 'address' }, '天' + 'x'.repeat(99))).toHaveLength(100);
    const why = '字段请写到门牌号，例如：幸福路 100 弄 2 号 301 室。';
    for (const bad of ['天山路1', 'Main Street 1', '天' + 'x'.repeat(100)]) expect(error({ type: 'address' }, bad), bad).toBe(why);
    expect(error({ type: 'address' }, 'abc', { addressExample: '例如：长宁路 1 号。' })).toBe('字段请写到门牌号，例如：长宁路 1 号。');
    expect(error({ type: 'address' }, 'abc', { addressExample: '例如：长宁路 1 号' })).toBe('字段请写到门牌号，例如：长宁路 1 号。');
    expect(error({ type: 'address' }, 'abc', { addressExample: '例如：淮海中路 1.5 号.' })).toBe('字段请写到门牌号，例如：淮海中路 1.5 号。');
  });

  it('files: type by content, size, number, required; kept ones count; empty ones are ignored', () => {
    const photo = { type: 'file', accept: ['image/jpeg', 'image/png'], max_kb: 2048, max_files: 2 };
    const up = (data: Buffer, fileName = 'a.jpg', truncated = false): Upload => ({ fieldId: 'f', fileName, data, ...(truncated ? { truncated } : {}) });
    const check = (uploads: Upload[], f: Record<string, unknown> = photo, o: { kept?: Record<string, number>; partial?: boolean } = {}) => checkForm([field(f)], {}, uploads, { now: NOW, ...o });
    const ok = check([up(JPEG, ' 证件/照.jpg ')]);
    expect(ok.errors).toEqual({});
    expect(ok.files.f!.map((x) => [x.upload.fileName, x.mime])).toEqual([['证件_照.jpg', 'image/jpeg']]);
    expect(check([up(JPEG), up(JPEG), up(JPEG)]).errors.f).toBe('字段最多传 2 个文件。');
    expect(check([up(JPEG), up(JPEG)], photo, { kept: { f: 1 } }).errors.f).toBe('字段最多传 2 个文件。已上传的可以先点「删除」，再传新的。');
    expect(check([up(JPEG)], photo, { kept: { f: 1 } }).errors).toEqual({});
    expect(check([up(BIG_JPEG, 'big.jpg')]).errors.f).toBe('字段「big.jpg」太大了，不能超过 2 MB。');
    expect(check([up(Buffer.concat([JPEG, Buffer.alloc(1024 * 1024)]), 'kb.jpg')], { ...photo, max_kb: 1000 }).errors.f).toBe('字段「kb.jpg」太大了，不能超过 1000 KB。');
    const edge = Buffer.concat([JPEG, Buffer.alloc(10 * 1024 - JPEG.length)]);
    expect(check([up(edge, 'edge.jpg')], { ...photo, max_kb: 10 }).errors).toEqual({}); // exactly 10 KB
    expect(check([up(Buffer.concat([edge, Buffer.alloc(1)]), 'edge.jpg')], { ...photo, max_kb: 10 }).errors.f).toBe('字段「edge.jpg」太大了，不能超过 10 KB。');
    expect(check([up(Buffer.concat([JPEG, Buffer.alloc(1024 * 1024)]), 'mb.jpg')], { ...photo, max_kb: 1024 }).errors.f).toBe('字段「mb.jpg」太大了，不能超过 1 MB。');
    expect(check([up(JPEG, 'cut.jpg', true)]).errors.f).toBe('字段「cut.jpg」太大了，不能超过 2 MB。');
    expect(check([up(EXE_AS_JPG, 'x.jpg')]).errors.f).toBe('字段「x.jpg」不是 JPG 或 PNG 图片，请换一个文件。');
    expect(check([up(PDF, 'x.pdf')]).errors.f).toBe('字段「x.pdf」不是 JPG 或 PNG 图片，请换一个文件。');
    expect(check([up(JPEG), up(PDF, 'x.pdf')]).files.f).toBeUndefined();
    expect(check([]).errors.f).toBe('请上传字段。');
    expect(check([up(Buffer.alloc(0))]).errors.f).toBe('请上传字段。');
    expect(check([], photo, { kept: { f: 1 } }).errors).toEqual({});
    expect(check([], photo, { partial: true }).errors).toEqual({});
    expect(check([], { ...photo, required: false }).errors).toEqual({});
    // Uploads for another field are not this one's.
    expect(check([{ fieldId: 'other', fileName: 'a.jpg', data: JPEG }]).errors.f).toBe('请上传字段。');
  });

  it('what a file field takes, said as a citizen would', () => {
    expect(acceptedWords(['image/jpeg'])).toBe('JPG 图片');
    expect(acceptedWords(['image/jpeg', 'image/png'])).toBe('JPG 或 PNG 图片');
    expect(acceptedWords(['application/pdf'])).toBe('PDF 文件');
    expect(acceptedWords(['image/jpeg', 'application/pdf'])).toBe('JPG 图片或 PDF 文件');
    expect(acceptedWords(['image/jpeg', 'image/png', 'application/pdf'])).toBe('JPG 或 PNG 图片或 PDF 文件');
  });

  it('a file\'s name: no path, nothing invisible, composed, trimmed, at most 200 characters, never empty', () => {
    expect(cleanFileName('a/b\\c.pdf')).toBe('a_b_c.pdf');
    expect(cleanFileName('\u202egpj.exe')).toBe('gpj.exe');
    expect(cleanFileName('e\u0301.jpg')).toBe('\u00e9.jpg');
    expect(cleanFileName('  x.jpg  ')).toBe('x.jpg');
    expect(cleanFileName('𠀀'.repeat(250))).toBe('𠀀'.repeat(200));
    expect(cleanFileName('\u200b\u0000')).toBe('file');
  });
});
