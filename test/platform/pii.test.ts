import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MASK_DEPTH_LIMIT, maskAddress, maskCard, maskDeep, maskIdCard, maskName, maskPersonal, maskPhone, maskPlate, maskText, PERSONAL_KIND_NAMES, PERSONAL_KINDS } from '../../src/platform/pii.ts';

const CORPUS = parseYaml(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'pii-corpus.yaml'), 'utf8')) as { masked: [string, string][]; ordinary: string[] };

/** Raw personal data used throughout; none of it may survive masking. */
const PHONE = '13812345678';
const PHONE2 = '13987654321';
const ID18 = '11010519491231002X';
const ID18_DIGITS = '310104198001011236';
const HOUSE = '1234弄5号601室';

/** Ordinary text that must come through unchanged. */
const ORDINARY = [
  'WB20261124-0007',
  '案件编号 WB20261124-0007 已受理',
  '2026-11-24',
  '17:30',
  '2026-11-24 17:30',
  '2026-11-24T17:30:00.000+08:00',
  '¥12.50',
  '金额 ¥1,234.50 元',
  '回复 1',
  '请回复1或2',
  '第3页，共12页',
  '11月24号下午3点',
  '地铁2号线',
  '我知道5号要交材料',
  '距离5公里3号线',
  '办事大厅3号窗口',
  '3路公交车',
  'ts=1732435200000',
  'p=0.30000000000000004',
  'order 20261124123456',
  '192.168.1.100:8080',
  'uuid 550e8400-e29b-41d4-a716-446655440000',
  'v1.2.3',
  'version 10.4.0',
];

describe('maskPhone', () => {
  it.each([
    ['13812345678', '138****5678'],
    ['+8613812345678', '+86138****5678'],
    ['+86 138 1234 5678', '+86 138 **** 5678'],
    ['86-138-1234-5678', '86-138-****-5678'],
    ['138-1234-5678', '138-****-5678'],
    [' 13812345678 ', '138****5678'],
    ['１３８１２３４５６７８', '138****5678'],
    ['021-12345678', '021-****5678'],
    ['02112345678', '021****5678'],
    ['(021)12345678', '(021)****5678'],
    ['0755-1234567', '0755-***4567'],
    ['010 12345678', '010 ****5678'],
    ['021-12345678-801', '021-****5678-801'],
    ['021-12345678转801', '021-****5678转801'],
    ['13812345678 / 13987654321', '138****5678 / 139****4321'],
    ['400-820-8820', '***-***-8820'],
    ['95588', '95588'],
    ['', ''],
  ])('%s → %s', (input, expected) => {
    expect(maskPhone(input)).toBe(expected);
  });
});

describe('maskIdCard', () => {
  it.each([
    ['31010119900101123X', '3101************3X'],
    [ID18, '1101************2X'],
    ['11010519491231002x', '1101************2x'],
    ['110105491231002', '1101*********02'],
    ['110105 19491231 002X', '1101************2X'],
    ['E12345678', 'E*******8'],
    ['1234', '****'],
    ['', ''],
  ])('%s → %s', (input, expected) => {
    expect(maskIdCard(input)).toBe(expected);
  });
});

describe('maskAddress', () => {
  it.each([
    ['上海市长宁区长宁路1234弄5号601室', '上海市长宁区长宁路****'],
    ['长宁路1234弄5号', '长宁路****'],
    ['南京西路100号', '南京西路****'],
    ['北京市东城区东华门街道3号', '北京市东城区东华门街****'],
    ['XX村3组25号', 'XX村****'],
    ['幸福小区3栋2单元501', '幸福小区****'],
    ['上海市静安区某某大厦A座', '上海市静安区****'],
    ['Room 501, 1234 Changning Rd', 'Room****'],
    ['长宁区', '****'],
    ['北京', '****'],
    ['', ''],
  ])('%s → %s', (input, expected) => {
    expect(maskAddress(input)).toBe(expected);
  });
});

describe('maskName', () => {
  it.each([
    ['张三', '张*'],
    ['欧阳娜娜', '欧***'],
    ['李', '*'],
    ['John Smith', 'J***'],
    ['', ''],
  ])('%s → %s', (input, expected) => {
    expect(maskName(input)).toBe(expected);
  });
});

describe('maskText', () => {
  it.each([
    ['我的电话是13812345678，请回电', '我的电话是138****5678，请回电'],
    ['手机:13812345678。', '手机:138****5678。'],
    ['phone13812345678x', 'phone138****5678x'],
    ['+86 138 1234 5678', '+86 138 **** 5678'],
    ['+86-13812345678', '+86-138****5678'],
    ['8613812345678', '86138****5678'],
    ['138 1234 5678', '138 **** 5678'],
    ['打138-1234-5678或139-8765-4321', '打138-****-5678或139-****-4321'],
    ['１３８１２３４５６７８，全角', '138****5678，全角'],
    ['电话：０２１－１２３４５６７８', '电话：021-****5678'],
    ['电话021-12345678转801', '电话021-****5678转801'],
    ['(0755)1234567', '(0755)***4567'],
    ['身份证11010519491231002X', '身份证1101************2X'],
    ['身份证号310104198001011236。', '身份证号3101************36。'],
    ['id 110105 19491231 002X ok', 'id 1101** ******** **2X ok'],
    ['旧证 110105491231002', '旧证 1101*********02'],
    ['卡号6222021234567890123', '卡号6222***********0123'],
    ['卡号6222021234567890', '卡号6222********7890'],
    ['卡号 6222 0212 3456 7890', '卡号 6222 **** **** 7890'],
    ['邮箱 zhang.san@example.com.cn', '邮箱 z***@example.com.cn'],
    ['13812345678@qq.com', '1***@qq.com'],
    ['长宁路1234弄5号601室', '长宁路****'],
    ['我住在上海市长宁区长宁路1234弄5号601室，谢谢', '我住在上海市长宁区长宁路****，谢谢'],
    ['XX小区3栋2单元501', 'XX小区****'],
    ['幸福小区3-2-501有人', '幸福小区****有人'],
    ['解放大道100号', '解放大道****'],
    ['团结湖北里3号楼', '团结湖北里****'],
    ['XX村3组25号', 'XX村****'],
    ['XX大厦A座1201室', 'XX大厦****'],
    ['南京西路 100号', '南京西路****'],
  ])('%s → %s', (input, expected) => {
    expect(maskText(input)).toBe(expected);
  });

  it('leaves ordinary text unchanged', () => {
    for (const s of ORDINARY) expect(maskText(s), s).toBe(s);
    const all = ORDINARY.join('，');
    expect(maskText(all)).toBe(all);
  });

  it('masks personal data while keeping ordinary text around it', () => {
    const s = `案件 WB20261124-0007 于 2026-11-24 17:30 受理，费用¥12.50，联系人电话${PHONE}，身份证${ID18}，住长宁路${HOUSE}，回复 1 确认`;
    expect(maskText(s)).toBe(
      '案件 WB20261124-0007 于 2026-11-24 17:30 受理，费用¥12.50，联系人电话138****5678，身份证1101************2X，住长宁路****，回复 1 确认',
    );
  });

  it('returns text without digits or @ as is', () => {
    const s = '您好，请问怎么办理居住证？需要带什么材料？'.repeat(50);
    expect(maskText(s)).toBe(s);
    expect(maskText('')).toBe('');
  });

  it('is idempotent', () => {
    const inputs = [
      `电话${PHONE} ${PHONE2}`,
      `+86 138 1234 5678 021-12345678 ${ID18} ${ID18_DIGITS} 6222021234567890123 a.b@example.com`,
      `长宁路${HOUSE} XX小区3栋2单元501`,
    ];
    for (const s of inputs) {
      const once = maskText(s);
      expect(maskText(once)).toBe(once);
      expect(maskPhone(maskPhone(s))).toBe(maskPhone(s));
    }
    expect(maskAddress(maskAddress('长宁路1234弄'))).toBe('长宁路****');
    expect(maskIdCard(maskIdCard(ID18))).toBe(maskIdCard(ID18));
  });
});

describe('the corpus of real-world ways of writing personal data (test/fixtures/pii-corpus.yaml)', () => {
  it.each(CORPUS.masked)('%s', (written, shown) => {
    expect(maskText(written)).toBe(shown);
    expect(maskText(shown)).toBe(shown); // idempotent
  });

  it('never lets seven digits of a number through in a row, whatever the grouping', () => {
    // A number as written: digits (or masks) with spaces, dashes or dots between them. A country
    // code kept in front of a mobile is not part of the number.
    const numbers = (s: string) => (s.replace(/(?:\+|00)?86(?=[ \-)）]*1[3-9])/g, '').match(/[0-9Xx*](?:[ .\-·]{0,3}[0-9Xx*])*/g) ?? []).map((n) => n.replace(/[^0-9Xx*]/g, ''));
    for (const [written] of CORPUS.masked) {
      for (const n of numbers(maskText(written))) expect(n, written).not.toMatch(/[0-9]{7}/);
    }
  });

  it.each(CORPUS.ordinary)('leaves "%s" as written', (s) => {
    expect(maskText(s)).toBe(s);
  });
});

describe('maskPlate and maskCard (values known to be a plate or a card)', () => {
  it.each([
    ['沪A12345', '沪A***45'],
    ['粤B·D12345', '粤B·****45'],
    [' 京A 1234学 ', '京A ***4学'],
    ['ABC', 'A*C'],
    ['', ''],
  ])('plate %s → %s', (input, expected) => expect(maskPlate(input)).toBe(expected));

  it.each([
    ['6222021234567890123', '6222***********0123'],
    ['6222 0212 3456 7890', '6222 **** **** 7890'],
    ['12345', '*****'],
  ])('card %s → %s', (input, expected) => expect(maskCard(input)).toBe(expected));

  it('is chosen by key in maskDeep', () => {
    expect(maskDeep({ plateNo: '沪A12345', license_plate: '沪B54321', bankCard: '6222021234567890123', cardNo: 6222021234567890 })).toEqual({
      plateNo: '沪A***45',
      license_plate: '沪B***21',
      bankCard: '6222***********0123',
      cardNo: '6222********7890',
    });
  });
});

describe('maskDeep', () => {
  it('chooses the masker by key, ignoring case and snake/camel variants', () => {
    const out = maskDeep({
      phone: '13812345678',
      Mobile: '+86 139 8765 4321',
      tel: '021-12345678',
      telephone: '13812345678',
      contact_phone: '13812345678',
      mobileNumber: 13812345678,
      idcard: ID18,
      id_card: ID18,
      idCard: ID18,
      ID_CARD: ID18,
      idNumber: ID18,
      id_no: ID18,
      certNo: 'E12345678',
      address: '上海市长宁区长宁路1234弄5号601室',
      addr: '长宁路1234弄',
      home_address: '幸福小区3栋2单元501',
      name: '张三',
      realName: '欧阳娜娜',
      real_name: '李四',
      contactName: 'John',
      ipAddress: '10.0.0.1',
      remoteAddr: '10.0.0.2:5555',
      note: `请打${PHONE}`,
      caseNo: 'WB20261124-0007',
      count: 13812345678,
      ok: true,
      nothing: null,
      missing: undefined,
    });
    expect(out).toEqual({
      phone: '138****5678',
      Mobile: '+86 139 **** 4321',
      tel: '021-****5678',
      telephone: '138****5678',
      contact_phone: '138****5678',
      mobileNumber: '138****5678',
      idcard: '1101************2X',
      id_card: '1101************2X',
      idCard: '1101************2X',
      ID_CARD: '1101************2X',
      idNumber: '1101************2X',
      id_no: '1101************2X',
      certNo: 'E*******8',
      address: '上海市长宁区长宁路****',
      addr: '长宁路****',
      home_address: '幸福小区****',
      name: '张*',
      realName: '欧***',
      real_name: '李*',
      contactName: 'J***',
      ipAddress: '10.0.0.1',
      remoteAddr: '10.0.0.2:5555',
      note: '请打138****5678',
      caseNo: 'WB20261124-0007',
      count: 13812345678,
      ok: true,
      nothing: null,
      missing: undefined,
    });
  });

  it('handles arrays and nested objects, and applies a key to the values below it', () => {
    const out = maskDeep({
      citizens: [
        { name: '张三', phone: PHONE, messages: [`我的身份证是${ID18}`, '回复 1'] },
        { name: '王五', address: { city: '上海', detail: `长宁路${HOUSE}` } },
      ],
      phone: [PHONE, PHONE2],
      matrix: [[PHONE], [[ID18_DIGITS]]],
    });
    expect(out).toEqual({
      citizens: [
        { name: '张*', phone: '138****5678', messages: ['我的身份证是1101************2X', '回复 1'] },
        { name: '王*', address: { city: '****', detail: '长宁路****' } },
      ],
      phone: ['138****5678', '139****4321'],
      matrix: [['138****5678'], [['3101************36']]],
    });
  });

  it('masks property names that contain personal data', () => {
    expect(maskDeep({ [PHONE]: { state: 'waiting' } })).toEqual({ '138****5678': { state: 'waiting' } });
  });

  it('never mutates its input', () => {
    const err = new Error(`call ${PHONE} failed`);
    const input = {
      user: { name: '张三', phone: PHONE, tags: [PHONE, { idCard: ID18 }] },
      text: `电话${PHONE}`,
      when: new Date(0),
      err,
      map: new Map([['mobile', PHONE]]),
    };
    const before = structuredClone({ ...input, err: undefined });
    const stackBefore = err.stack;
    deepFreeze(input);
    const out = maskDeep(input);
    expect({ ...input, err: undefined }).toEqual(before);
    expect(err.message).toBe(`call ${PHONE} failed`);
    expect(err.stack).toBe(stackBefore);
    expect(out).not.toBe(input);
    expect(out.user).not.toBe(input.user);
    expect(out.user.tags).not.toBe(input.user.tags);
    expect(out.when).not.toBe(input.when);
    expect(out.when).toEqual(input.when);
  });

  it('replaces cycles with [Circular] but copies shared references', () => {
    const shared = { phone: PHONE };
    const a: Record<string, unknown> = { shared, again: shared, list: [] as unknown[] };
    a.self = a;
    (a.list as unknown[]).push(a, shared);
    const out = maskDeep(a) as Record<string, unknown>;
    expect(out.self).toBe('[Circular]');
    expect(out.shared).toEqual({ phone: '138****5678' });
    expect(out.again).toEqual({ phone: '138****5678' });
    expect(out.list).toEqual(['[Circular]', { phone: '138****5678' }]);
  });

  it('stops at the depth limit', () => {
    let deep: Record<string, unknown> = { phone: PHONE };
    for (let i = 0; i < 12; i++) deep = { next: deep, list: [PHONE] };
    const out = maskDeep(deep);
    const text = JSON.stringify(out);
    expect(text).not.toContain(PHONE);
    let cur: unknown = out;
    let levels = 0;
    while (typeof cur === 'object' && cur !== null) {
      cur = (cur as Record<string, unknown>).next;
      levels++;
    }
    expect(levels).toBe(MASK_DEPTH_LIMIT);
    expect(cur).toBe('[Object]');
  });

  it('summarises Buffers and typed arrays', () => {
    expect(maskDeep({ body: Buffer.from(PHONE), raw: new Uint8Array(4) })).toEqual({
      body: `[Buffer ${PHONE.length} bytes]`,
      raw: '[Uint8Array 4 bytes]',
    });
  });

  it('turns errors into masked plain objects', () => {
    class ValidationError extends Error {
      constructor(message: string, readonly phone: string) {
        super(message, { cause: new Error(`lookup ${ID18} failed`) });
        this.name = 'ValidationError';
      }
    }
    const err = new ValidationError(`bad phone ${PHONE}`, PHONE2);
    const out = maskDeep({ err }).err as unknown as Record<string, unknown>;
    expect(out.type).toBe('ValidationError');
    expect(out.message).toBe('bad phone 138****5678');
    expect(out.stack).toMatch(/^ValidationError: bad phone 138\*\*\*\*5678\n/);
    expect(out.phone).toBe('139****4321');
    expect(out.name).toBe('ValidationError');
    expect((out.cause as Record<string, unknown>).message).toBe('lookup 1101************2X failed');
    const text = JSON.stringify(out);
    expect(text).not.toContain(PHONE);
    expect(text).not.toContain(PHONE2);
    expect(text).not.toContain(ID18);
  });

  it('masks Maps, Sets and objects with toJSON', () => {
    const out = maskDeep({
      m: new Map<string, unknown>([['mobile', PHONE], ['note', `身份证${ID18}`]]),
      s: new Set([PHONE]),
      u: new URL(`https://example.com/?tel=${PHONE}`),
    });
    expect(out).toEqual({
      m: { mobile: '138****5678', note: '身份证1101************2X' },
      s: ['138****5678'],
      u: 'https://example.com/?tel=138****5678',
    });
  });

  it('with keyRules false only masks text', () => {
    expect(maskDeep({ name: 'weiban', phone: PHONE, note: `tel ${PHONE}` }, { keyRules: false })).toEqual({
      name: 'weiban',
      phone: '138****5678',
      note: 'tel 138****5678',
    });
  });

  it('passes primitives through the right masker', () => {
    expect(maskDeep(`电话${PHONE}`)).toBe('电话138****5678');
    expect(maskDeep(42)).toBe(42);
    expect(maskDeep(null)).toBe(null);
    expect(maskDeep(undefined)).toBe(undefined);
  });
});

describe('maskDeep: every key rule and every kind of value', () => {
  it('classifies keys by their whole name or their ending, ignoring case, _, -, . and spaces', () => {
    // Values only the key's own masker changes (free-text masking would leave them as they are).
    const HOTLINE = '400-820-8820';
    const CERT = 'E12345678';
    const PLACE = '北京市朝阳区某某小区';
    const key = (k: string, v: string) => (maskDeep({ [k]: v }) as Record<string, unknown>)[k];
    for (const k of ['phone', 'mobile', 'tel', 'telephone', 'telno', 'cellphone', 'home-phone', 'contact_mobile', 'mobile.no', 'PhoneNumber', 'mobileNumber', 'office_tel_no', 'HOME PHONE']) {
      expect(key(k, HOTLINE), k).toBe('***-***-8820');
    }
    for (const k of ['idcard', 'idno', 'idnumber', 'certNo', 'certNumber', 'certificate_no', 'certificateNumber', 'applicantIdCard', 'id_card_no', 'idCardNumber', 'ID-CARD']) {
      expect(key(k, CERT), k).toBe('E*******8');
    }
    for (const k of ['address', 'addr', 'home address', 'mailingAddr', 'homeAddress', 'ADDR']) expect(key(k, PLACE), k).toBe('北京市朝阳区****');
    for (const k of ['name', 'realName', 'real_name', 'contactName', 'full_name', 'trueName']) expect(key(k, '张三'), k).toBe('张*');
    for (const k of ['plate', 'plateNo', 'plate_number', 'licensePlate', 'carNo', 'car_number', 'vehicleNo', 'vehicleNumber', 'vehiclePlate']) expect(key(k, 'ABCDE'), k).toBe('A***E');
    for (const k of ['bankCard', 'bank_card_no', 'bankCardNumber', 'cardNo', 'card_number', 'bankAccount', 'bankAccountNo']) expect(key(k, '1234 5678 9012'), k).toBe('1234 **** 9012');
    // Not these: a prefix is not an ending, and other words are other things.
    for (const k of ['phoneBook', 'idcardType', 'addressee', 'nameplate', 'username', 'cardboard', 'note']) {
      expect(key(k, HOTLINE), k).toBe(HOTLINE);
      expect(key(k, CERT), k).toBe(CERT);
      expect(key(k, PLACE), k).toBe(PLACE);
    }
  });

  it('keys ending in "address" that are network or mail addresses are not places; nor is a name key a person under keyRules false', () => {
    const out = maskDeep({
      ipAddress: '10.0.0.1',
      macAddr: 'aa:bb:cc:dd:ee:ff',
      emailAddress: 'zhang.san@example.com',
      serverAddress: 'db.internal:5432',
      remoteAddress: '192.168.10.100',
      listenAddr: '0.0.0.0:3000',
      proxyAddress: '10.0.0.2',
      walletAddress: '0xabc',
      webAddress: 'https://example.org',
      homeAddress: '长宁路1234弄5号',
    });
    expect(out).toEqual({
      ipAddress: '10.0.0.1',
      macAddr: 'aa:bb:cc:dd:ee:ff',
      emailAddress: 'z***@example.com',
      serverAddress: 'db.internal:5432',
      remoteAddress: '192.168.10.100',
      listenAddr: '0.0.0.0:3000',
      proxyAddress: '10.0.0.2',
      walletAddress: '0xabc',
      webAddress: 'https://example.org',
      homeAddress: '长宁路****',
    });
  });

  it('numbers: under a phone, ID or card key they are masked into strings; elsewhere, and when there is nothing to mask, kept as numbers', () => {
    expect(maskDeep({ phone: 13812345678, idNo: 110105194912310, cardNo: 6222021234567890, name: 42, count: 13812345678, tiny: 1234 })).toEqual({
      phone: '138****5678',
      idNo: '1101*********10',
      cardNo: '6222********7890',
      name: 42,
      count: 13812345678,
      tiny: 1234,
    });
    expect(maskDeep({ phone: 95588 })).toEqual({ phone: 95588 }); // nothing to hide: stays a number
    expect(maskDeep({ mobile: 13812345678n })).toEqual({ mobile: '138****5678' });
    expect(maskDeep({ other: 13812345678n })).toEqual({ other: 13812345678n });
  });

  it('odd values: getters that throw, toJSON that throws, __proto__ keys, Maps with other keys, ArrayBuffers, deep arrays', () => {
    const hostile = {
      get phone(): string {
        throw new Error('boom');
      },
    };
    expect(maskDeep({ hostile })).toEqual({ hostile: { phone: '[Unreadable]' } });
    expect(maskDeep({ bad: { toJSON: () => { throw new Error('no'); } } })).toEqual({ bad: '[Unserializable]' });
    const proto = JSON.parse(`{"__proto__": {"phone": "${PHONE}"}}`) as Record<string, unknown>;
    const masked = maskDeep(proto) as Record<string, unknown>;
    expect(Object.prototype.hasOwnProperty.call(masked, '__proto__')).toBe(true);
    expect(JSON.stringify(masked)).toBe('{"__proto__":{"phone":"138****5678"}}');
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(maskDeep({ m: new Map<unknown, unknown>([[1, PHONE], [{ k: 1 }, 'x'], ['mobile', PHONE]]) })).toEqual({ m: { '1': '138****5678', '[object Object]': 'x', mobile: '138****5678' } });
    expect(maskDeep({ b: new ArrayBuffer(7) })).toEqual({ b: '[ArrayBuffer 7 bytes]' });
    let deep: unknown[] = [PHONE];
    for (let i = 0; i < 10; i++) deep = [deep];
    expect(JSON.stringify(maskDeep(deep))).toContain('"[Array]"');
    expect(JSON.stringify(maskDeep(deep))).not.toContain(PHONE);
    expect(maskDeep({ on: true, fn: Math.max, sym: Symbol.iterator })).toEqual({ on: true, fn: Math.max, sym: Symbol.iterator });
  });

  it('errors: the class name, or the name, or "Error"; AggregateErrors list their errors; an enumerable cause is masked once', () => {
    const anonymous = new (class extends Error {})(`x ${PHONE}`);
    expect((maskDeep({ e: anonymous }).e as unknown as Record<string, unknown>).type).toBe('Error');
    const plain = Object.assign(Object.create(null), { message: `m ${PHONE}`, stack: 'st' });
    Object.setPrototypeOf(plain, Error.prototype);
    Object.defineProperty(plain, 'constructor', { value: undefined });
    Object.defineProperty(plain, 'name', { value: 'Named' });
    expect((maskDeep({ e: plain }).e as unknown as Record<string, unknown>)).toMatchObject({ type: 'Named', message: 'm 138****5678' });
    const agg = new AggregateError([new Error(`a ${PHONE}`), new Error(`b ${PHONE2}`)], 'several');
    const out = maskDeep({ agg }).agg as unknown as { errors: { message: string }[]; message: string };
    expect(out.errors.map((e) => e.message)).toEqual(['a 138****5678', 'b 139****4321']);
    const withCause = Object.assign(new Error('top'), { cause: `c ${PHONE}` });
    expect((maskDeep({ withCause }).withCause as unknown as Record<string, unknown>).cause).toBe('c 138****5678');
    const noStack = new Error(`s ${PHONE}`);
    Object.defineProperty(noStack, 'stack', { value: 42 });
    expect((maskDeep({ noStack }).noStack as unknown as Record<string, unknown>).stack).toBeUndefined();
  });

  it('keeps classifying keys correctly after many distinct keys (the key cache is bounded)', () => {
    for (let i = 0; i < 2500; i++) maskDeep({ [`field${i}`]: 'x' });
    expect(maskDeep({ phone: PHONE, field1: PHONE, idCard: ID18 })).toEqual({ phone: '138****5678', field1: '138****5678', idCard: '1101************2X' });
  });
});

describe('folding what people and word processors put between digits', () => {
  it('full-width forms, every dash and every space fold before matching; the rest of the text stays as written', () => {
    expect(maskText('１３８‐１２３４―５６７８')).toBe('138-****-5678'); // U+2010 and U+2015
    expect(maskText('138‒1234–5678')).toBe('138-****-5678'); // U+2012, U+2013
    expect(maskText('138−1234﹣5678')).toBe('138-****-5678'); // U+2212, U+FE63
    expect(maskText('138\u00a01234\u20095678')).toBe('138 **** 5678'); // no-break and thin spaces
    expect(maskText('138\u200b1234\u200b5678')).toBe('138 **** 5678'); // zero-width spaces
    expect(maskText('138\u202f1234\u30005678')).toBe('138 **** 5678');
    expect(maskText('—— 注意 ——')).toBe('—— 注意 ——'); // dashes alone are left as they are
    // maskPhone gives what it could not place in half-width form, its own part masked.
    expect(maskPhone('分机！12345678～')).toBe('分机!****5678~');
    expect(maskPhone('ｔｅｌ：１２３４５６７')).toBe('tel:***4567');
  });
});

describe('known values at their edges', () => {
  it('maskIdCard: short certificates keep one character at each end, 10 or more keep 4 and 2; dashes and spaces dropped', () => {
    expect(maskIdCard('12345')).toBe('1***5');
    expect(maskIdCard('G12345678')).toBe('G*******8');
    expect(maskIdCard('1234567890')).toBe('1234****90');
    expect(maskIdCard('110105-19491231-002X')).toBe('1101************2X');
    expect(maskIdCard('   ')).toBe('');
    expect(maskIdCard('１１０１０５１９４９１２３１００２Ｘ')).toBe('1101************2X');
  });

  it('maskAddress: a digit before the first road word ends what is kept; short values without one hide everything', () => {
    expect(maskAddress('88号长宁路')).toBe('****');
    expect(maskAddress('示范区12栋长宁路5号')).toBe('示范区****');
    expect(maskAddress('幸福小区')).toBe('****');
    expect(maskAddress('北京市朝阳')).toBe('****');
    expect(maskAddress('北京市朝阳区某某')).toBe('北京市朝阳区****');
    expect(maskAddress('  长宁路1234弄  ')).toBe('长宁路****');
    expect(maskAddress('上海 市长宁区')).toBe('上海 市长宁****');
  });

  it('maskName: trimmed; one Chinese character becomes *', () => {
    expect(maskName('  王五  ')).toBe('王*');
    expect(maskName('   ')).toBe('');
    expect(maskName('Ann')).toBe('A***');
  });

  it('maskPhone: landline area codes of three (010, 02x) and four digits, brackets and extensions; anything else keeps its last four', () => {
    expect(maskPhone('01012345678')).toBe('010****5678');
    expect(maskPhone('029-8765432')).toBe('029-***5432');
    expect(maskPhone('0311-87654321')).toBe('0311-****4321');
    expect(maskPhone('(0311) 8765 4321')).toBe('(0311) **** 4321');
    expect(maskPhone('021-64321234 ext.12')).toBe('021-****1234 ext.12');
    expect(maskPhone('12345678')).toBe('****5678');
    expect(maskPhone('电话 1234567 或 7654321')).toBe('电话 ***4567 或 ***4321');
    expect(maskPhone('＋８６ １３８ １２３４ ５６７８')).toBe('+86 138 **** 5678');
  });

  it('maskText on full-width text keeps what is around a match as written, and returns text with nothing in it unchanged', () => {
    expect(maskText('（全角）１３８１２３４５６７８，谢谢')).toBe('（全角）138****5678，谢谢');
    expect(maskText('全角数字１２３，没有个人信息')).toBe('全角数字１２３，没有个人信息');
    expect(maskText('邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ')).toBe('邮箱z***＠ｅｘａｍｐｌｅ．ｃｏｍ');
    expect(maskText('a@b 不是邮箱')).toBe('a@b 不是邮箱');
    expect(maskText(42 as unknown as string)).toBe(42);
  });
});

describe('edges found by mutation testing', () => {
  it('every masker passes a value that is not a string through untouched, and gives "" for ""', () => {
    for (const f of [maskText, maskPhone, maskIdCard, maskAddress, maskName, maskPlate, maskCard]) {
      for (const v of [null, undefined, 42, true]) expect(f(v as unknown as string), `${f.name}(${String(v)})`).toBe(v);
      expect(f(''), f.name).toBe('');
    }
    expect(maskPlate('  ')).toBe('');
    expect(maskCard('  ')).toBe('');
  });

  it('maskAddress keeps up to each road word, when something stands between it and the number', () => {
    expect(maskAddress('长宁路北侧1号')).toBe('长宁路****');
    expect(maskAddress('胜利街北口12号')).toBe('胜利街****');
    expect(maskAddress('解放大道东段100号')).toBe('解放大道****');
    expect(maskAddress('杏花巷里面5号')).toBe('杏花巷****');
    expect(maskAddress('长乐弄内部7号')).toBe('长乐弄****');
    expect(maskAddress('桃花村东头3组')).toBe('桃花村****');
    expect(maskAddress('天山0号路口')).toBe('天山****'); // a 0 before the road word
    expect(maskAddress('天山9号路口')).toBe('天山****'); // and a 9
    expect(maskAddress('长宁路1')).toBe('****'); // four characters or fewer
    expect(maskAddress('北京市朝阳区')).toBe('****'); // six without a road word
    expect(maskAddress('幸福小区１２栋')).toBe('幸福小区****'); // full-width digits count as digits
  });

  it('a run of 18 digits that is no ID number (no birth date in it) is still masked as one; 19 as a card', () => {
    expect(maskText('账号622202123456789012')).toBe('账号6222************12');
    expect(maskText('账号6222021234567890123')).toBe('账号6222***********0123');
    expect(maskText('旧证110105491231002')).toBe('旧证1101*********02');
  });

  it('maskPlate and maskCard at their edges', () => {
    expect(maskPlate('沪A · 12345')).toBe('沪A · ***45');
    expect(maskPlate('AB')).toBe('****');
    expect(maskPlate('ABC')).toBe('A*C');
    expect(maskCard(' 1234 5678 9012 ')).toBe('1234 **** 9012');
    expect(maskCard('1234 5678 901')).toBe('**** **** ***');
  });

  it('errors: a message that is not a string, own type and message keys, keys of their own masked by kind, causes and errors only when there are', () => {
    const e = Object.assign(new Error('m'), { type: 'db', phone: '400-820-8820', note: `n ${PHONE}` });
    Object.defineProperty(e, 'message', { value: 123, enumerable: true });
    const out = maskDeep({ e }).e as unknown as Record<string, unknown>;
    expect(out.type).toBe('Error');
    expect(out.message).toBe('123');
    expect(out.phone).toBe('***-***-8820');
    expect(out.note).toBe('n 138****5678');
    expect('cause' in out).toBe(false);
    expect('errors' in out).toBe(false);
    expect(Object.keys(maskDeep({ e: new Error('x') }).e as object).sort()).toEqual(['message', 'stack', 'type']);
    // keyRules false: an error's own keys are masked as text only
    expect((maskDeep({ e }, { keyRules: false }).e as unknown as Record<string, unknown>).phone).toBe('400-820-8820');
  });

  it('depth is counted through errors, Maps and Sets too', () => {
    let err: Error = new Error(`bottom ${PHONE}`);
    for (let i = 0; i < 12; i++) err = new Error(`level ${i}`, { cause: err });
    const text = JSON.stringify(maskDeep(err));
    expect(text).toContain('"[Object]"');
    expect(text).not.toContain('bottom');
    let agg: Error = new Error('leaf');
    for (let i = 0; i < 12; i++) agg = new AggregateError([agg], `agg ${i}`);
    expect(JSON.stringify(maskDeep(agg))).toMatch(/"\[(Object|Array)\]"/);
    expect(JSON.stringify(maskDeep(agg))).not.toContain('leaf');
    let m: unknown = PHONE;
    for (let i = 0; i < 12; i++) m = new Map([['k', m]]);
    expect(JSON.stringify(maskDeep(m))).toContain('"[Object]"');
    let set: unknown = PHONE;
    for (let i = 0; i < 12; i++) set = new Set([set]);
    expect(JSON.stringify(maskDeep(set))).toBe('[[[[[[[["[Object]"]]]]]]]]');
  });

  it('a Map under a classified key passes the key\'s kind to its values', () => {
    expect(maskDeep({ phone: new Map([['home', '400-820-8820']]) })).toEqual({ phone: { home: '***-***-8820' } });
    expect(maskDeep({ list: new Map([['home', '400-820-8820']]) })).toEqual({ list: { home: '400-820-8820' } });
    expect(maskDeep({ phone: new Set(['400-820-8820']) })).toEqual({ phone: ['***-***-8820'] });
  });

  it('keys that name network places are never masked as addresses', () => {
    for (const k of ['ipAddress', 'macAddr', 'mailAddress', 'localAddress', 'hostAddress', 'urlAddress', 'bindAddress', 'socketAddr', 'netAddress', 'peerAddress', 'remoteAddr', 'serverAddr']) {
      expect((maskDeep({ [k]: '北京市朝阳区某某小区' }) as Record<string, unknown>)[k], k).toBe('北京市朝阳区某某小区');
    }
  });
});

describe('maskPersonal: a value of a kind a form field declares', () => {
  it('masks each kind with its own rule', () => {
    expect(maskPersonal('name', '欧阳娜娜')).toBe('欧***');
    expect(maskPersonal('phone', '021-64321234')).toBe('021-****1234');
    expect(maskPersonal('id_number', ID18)).toBe('1101************2X');
    expect(maskPersonal('address', '长宁路1234弄5号')).toBe('长宁路****');
  });

  it('a plate or a card of a form field is masked as plates and cards are everywhere (maskPlate, maskCard)', () => {
    expect(maskPersonal('plate', '闽D12345')).toBe('闽D***45');
    expect(maskPersonal('plate', ' 粤B·D 12345 ')).toBe('粤B****45'); // separators typed inside it are not part of it
    expect(maskPersonal('plate', '沪A-1234学')).toBe('沪A-***4学');
    expect(maskPersonal('plate', '沪Ａ１２３４５')).toBe('沪A***45');
    expect(maskPersonal('plate', '沪A123')).toBe('沪***3'); // not a plate's shape: first and last only
    for (const v of ['闽D12345', ' 粤B·D 12345 ', '沪A-1234学', '沪A12']) expect(maskPersonal('plate', v)).toBe(maskPlate(v));
    expect(maskPersonal('card', '6222021234567890123')).toBe('6222***********0123');
    expect(maskPersonal('card', '6222 0212 3456 7890')).toBe('6222 **** **** 7890');
    expect(maskPersonal('card', '６２２２０２１２３')).toBe('*********'); // too short for a card: every digit hidden
    expect(maskPersonal('card', '１２３４-５６')).toBe('****-**');
    for (const v of ['6222021234567890123', '12345678']) expect(maskPersonal('card', v)).toBe(maskCard(v));
  });

  it('names every kind for staff and the audit log', () => {
    expect(PERSONAL_KINDS.map((k) => PERSONAL_KIND_NAMES[k])).toEqual(['姓名', '电话', '证件号码', '地址', '车牌', '卡号']);
  });
});

function deepFreeze(o: unknown, seen = new Set<unknown>()): void {
  if (typeof o !== 'object' || o === null || seen.has(o)) return;
  seen.add(o);
  if (o instanceof Map) {
    for (const v of o.values()) deepFreeze(v, seen);
  }
  Object.freeze(o);
  for (const v of Object.values(o)) deepFreeze(v, seen);
}
