/**
 * Masking of personal data (个人信息脱敏) for logs, lists and exports.
 *
 * Project rule: phone numbers, ID-card numbers and addresses never leave the process unmasked in a
 * log line, a list or an export — including when they sit inside free text such as a citizen's
 * chat message. The functions here are the single implementation of that rule:
 *
 *  - `maskPhone`, `maskIdCard`, `maskAddress`, `maskName` mask a value that is *known* to be of that
 *    kind (a database column, a form field);
 *  - `maskText` finds and masks personal data inside arbitrary text;
 *  - `maskDeep` produces a masked deep copy of any value for logging, choosing the masker by key.
 *
 * Masking is one-way and idempotent: masking already-masked output changes nothing, so layers may
 * overlap (the logger masks both the merged object and the final message).
 *
 * Full-width ASCII variants (１３８…, ＠, －, the ideographic space) are recognised, because Chinese
 * input methods produce them. A masked fragment is emitted in half-width form; text around it is
 * left exactly as it was.
 */

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/** Any ASCII or full-width digit, or an at-sign: text without one of these holds nothing to mask. */
const MAYBE_PII = /[0-9@\uFF10-\uFF19\uFF20]|[一幺][三四五六七八九]/;
/**
/** A mobile in Chinese numerals, as speech recognition and some elderly citizens write it: 一三八一二三四五六七八. */
const CN_DIGIT = '[〇零一二三四五六七八九幺两]';
const CN_MOBILE = `(?<!${CN_DIGIT})[一幺][三四五六七八九](?:[ ]?${CN_DIGIT}){9}(?!${CN_DIGIT})`;

/**
 * Characters folded before matching: full-width ASCII and the ideographic space (Chinese input
 * methods), the other dashes people and word processors put between digit groups (‐ ‑ ‒ – — ―
 * − ﹣), and the other spaces (no-break, thin, figure, zero-width …), which become '-' and ' '.
 */
const FOLDABLE = /[\uFF01-\uFF5E\u3000\u2010-\u2015\u2212\uFE63\u00A0\u2000-\u200D\u202F\u205F\u2060\uFEFF]/;
const FOLDABLE_G = new RegExp(FOLDABLE.source, 'g');

function fold(c: string): string {
  const code = c.charCodeAt(0);
  if (code >= 0xff01 && code <= 0xff5e) return String.fromCharCode(code - 0xfee0);
  if ((code >= 0x2010 && code <= 0x2015) || code === 0x2212 || code === 0xfe63) return '-';
  return ' ';
}

/** Folds the characters above to ASCII, one code unit for one: UTF-16 offsets are kept. */
function toHalfWidth(s: string): string {
  if (!FOLDABLE.test(s)) return s;
  return s.replace(FOLDABLE_G, fold);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Replaces with '*' every digit of `seg` whose index among the digits of `seg` lies in
 * [from, to). Separators and other characters are kept. (An ID number's check character X is
 * always last, after every range masked, so it needs no counting here.)
 */
function starDigits(seg: string, from: number, to: number): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < seg.length; i++) {
    if (isDigit(seg.charCodeAt(i))) {
      out += n >= from && n < to ? '*' : seg[i];
      n++;
    } else {
      out += seg[i];
    }
  }
  return out;
}

function countDigits(seg: string, xIsDigit = false): number {
  let n = 0;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (isDigit(c) || (xIsDigit && (c === 88 || c === 120))) n++;
  }
  return n;
}

/** 138 1234 5678 → 138 **** 5678; a country prefix (+86 / 86 / 0086 / 0) is kept as written. */
function maskMobileSeg(seg: string): string {
  const n = countDigits(seg);
  return starDigits(seg, n - 8, n - 4);
}

/** 021-12345678 → 021-****5678: keep the area code and the last four digits. */
function maskLandlineSeg(seg: string): string {
  const n = countDigits(seg);
  const firstDigit = seg.search(/[0-9]/);
  // Area codes 010 and 020–029 have three digits, all others four.
  const second = seg[firstDigit + 1];
  const area = second === '1' || second === '2' ? 3 : 4;
  return starDigits(seg, area, n - 4);
}

/** ID numbers keep the first four and the last two characters. */
function maskIdSeg(seg: string): string {
  const n = countDigits(seg, true);
  return starDigits(seg, 4, n - 2);
}

/** Bank-card-like runs keep the first four and the last four digits. */
function maskCardSeg(seg: string): string {
  const n = countDigits(seg);
  return starDigits(seg, 4, n - 4);
}

/** 一三八一二三四五六七八 → 一三八****五六七八 (spaces kept). */
function maskCnMobileSeg(seg: string): string {
  let n = 0;
  let out = '';
  for (const c of seg) {
    if (c === ' ') out += c;
    else {
      const i = n++;
      out += i >= 3 && i < 7 ? '*' : c;
    }
  }
  return out;
}

/** A plate keeps its province and city (沪A) and its last two characters: 沪A***45, 沪A·D***45. */
function maskPlateSeg(seg: string): string {
  const chars = Array.from(seg);
  let out = chars[0]! + chars[1]!;
  const rest = chars.slice(2);
  const body = rest.findIndex((c) => /[A-Za-z0-9挂学警港澳领]/.test(c));
  out += rest.slice(0, body).join('');
  const tail = rest.slice(body);
  return out + '*'.repeat(tail.length - 2) + tail.slice(-2).join('');
}

// ---------------------------------------------------------------------------------------------
// Patterns (all run on half-width text)
// ---------------------------------------------------------------------------------------------

/** Not preceded by a digit, nor by "digit ." (the fraction part of a decimal number). */
const NB = '(?<![0-9])(?<![0-9][.])';
/** Not followed by a digit. */
const NE = '(?![0-9])';

/** What people put between the digit groups of a number: spaces, a dash or a dot (spaced or not). */
const SEP = '(?:[ ]{1,3}|[ ]?[-.][ ]?)';
/** The same without the dot (ID and card numbers are not written with dots; IP addresses are). */
const SEP_NO_DOT = '(?:[ ]{1,3}|[ ]?-[ ]?)';
/** Tokens (one character class each) joined so that a separator may stand between any two. */
const spaced = (tokens: string[], sep: string) => tokens.join(`${sep}?`);

/**
 * A mainland mobile: 1, then 3–9, then nine digits, grouped as people write them — 138 1234 5678,
 * 138-1234-5678, 138.1234.5678, 1381 234 5678, 138 123 45678 — with a separator only where a
 * group may end (after the 3rd, 4th, 6th or 7th digit), so that IP addresses and decimals do not
 * read as phones.
 */
const MOBILE_CORE = `1[3-9][0-9]${SEP}?[0-9]${SEP}?[0-9]{2}${SEP}?[0-9]${SEP}?[0-9]{4}`;
const MOBILE_PREFIX = '(?:(?:\\+[ ]?|00)?86[ ]{0,2}-?[ ]{0,2}|\\([ ]?\\+?86[ ]?\\)[ ]{0,2}-?[ ]{0,2}|0)?';
const MOBILE = `${MOBILE_PREFIX}${MOBILE_CORE}`;
/** Area code 010 / 02x (3 digits) or 03xx–09xx (4 digits), optionally in brackets, then 7–8 digits (or 3–4 + 4). */
const AREA = '0(?:10|2[0-9]|[3-9][0-9]{2})';
const LANDLINE = `(?:\\([ ]?${AREA}[ ]?\\)|${AREA})${SEP}?(?:[0-9]{7,8}|[0-9]{3,4}${SEP}[0-9]{4})`;

/**
 * An 18-character resident ID number written in groups of any kind (6-8-4, 6-4-4-4, 3-3-4-4-4,
 * 4-4-4-4-2, with spaces or dashes): region, a birth date of 19xx/20xx, sequence, check
 * character. The date makes a run of grouped digits an ID number rather than a table of numbers.
 */
const ID_GROUPED = spaced(
  ['[1-8]', ...Array<string>(5).fill('[0-9]'), '(?:1', '9|2', '0)', '[0-9]', '[0-9]', '(?:0', '[1-9]|1', '[0-2])', '(?:0', '[1-9]|[12]', '[0-9]|3', '[01])', '[0-9]', '[0-9]', '[0-9]', '[0-9Xx]'],
  SEP_NO_DOT,
);
/** Bank cards in groups of four (6222 0212 3456 7890 123) or 6 + the rest (622202 1234567890123). */
const CARD_GROUPED = `(?:[0-9]{4}(?:${SEP_NO_DOT}[0-9]{4}){3}(?:${SEP_NO_DOT}[0-9]{1,4})?|[0-9]{6}${SEP_NO_DOT}[0-9]{10,13})`;

/**
 * A vehicle plate: the province's character, the city's letter, then five characters (six on a new
 * energy vehicle) or four and 挂/学/警/港/澳/领 — 沪A12345, 沪A·D12345, 粤B 1234学.
 */
const PLATE_PROVINCE = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';
const PLATE = `(?<![A-Za-z0-9])[${PLATE_PROVINCE}][A-Za-z][ ]?[·•.\\-]?[ ]?(?=[A-Za-z]{0,5}[0-9])(?:[A-Za-z0-9]{5,6}|[A-Za-z0-9]{4}[挂学警港澳领])(?![A-Za-z0-9])`;

/** The house-number tail of a Chinese address follows one of these. "知道" and "公里" are not addresses. */
const ADDR_ANCHOR = '(?:(?<!知)道|路|街|巷|弄|村|组|段|胡同|(?<![公这那哪])里|小区|公寓|宿舍|大厦|大楼|广场|花园|家园|苑|园|庄|屯|城|府|湾|郡|社区|期|号院)';
const ADDR_UNIT = '(?:号楼|号院|号|支弄|弄|栋|幢|座|单元|门|楼|层|室|户|组|排|期|区)';
const ADDR_NUM = '(?:[0-9]+[A-Za-z]?|[A-Za-z])';
const ADDR_TAIL =
  `[ ]?(?:(?:${ADDR_NUM}[ ]?${ADDR_UNIT}[ ]?)+(?:[0-9]+(?:-[0-9]+)?[A-Za-z]?)?` +
  `|[0-9]{1,3}(?:-[0-9]{1,4}){1,3}${ADDR_UNIT}?)`;
/**
 * Without a street before it, a flat is still recognisable by two numbered parts at least one of
 * which only a building has: 3栋2单元501, 5号楼3单元, 12幢301室 (but not 3号窗口 or 2号线).
 */
const BUILDING_UNIT = '(?:号楼|栋|幢|单元|室)';
const ADDR_BUILDING =
  `(?:${ADDR_NUM}[ ]?${BUILDING_UNIT}[ ]?${ADDR_NUM}[ ]?${ADDR_UNIT}|${ADDR_NUM}[ ]?${ADDR_UNIT}[ ]?${ADDR_NUM}[ ]?${BUILDING_UNIT})` +
  `(?:[ ]?${ADDR_NUM}[ ]?${ADDR_UNIT})*(?:[ ]?[0-9]+(?:-[0-9]+)?[A-Za-z]?)?`;

/** Number-shaped personal data; all share the leading boundary, evaluated once per position. */
const NUMBER_ALTERNATIVES = [
  // 18-character ID number, also written in groups
  `(?<idg>${ID_GROUPED}${NE})`,
  // bank card written in groups
  `(?<cardg>${CARD_GROUPED}${NE})`,
  // 18-character ID ending in X, or any run of 15–19 digits (ID numbers, bank cards)
  `(?<long>(?:[0-9]{17}[Xx]|[0-9]{15,19})${NE})`,
  `(?<mobile>${MOBILE}${NE})`,
  `(?<landline>${LANDLINE}${NE})`,
  // a flat without its street: the whole of it goes
  `(?<flat>${ADDR_BUILDING})`,
];
/** The anchor is matched (and kept); the tail after it is replaced. */
const ADDR_ALTERNATIVE = `(?<addr>(?<anchor>${ADDR_ANCHOR})${ADDR_TAIL})`;
const TEXT_ALTERNATIVES = [`${NB}(?:${NUMBER_ALTERNATIVES.join('|')})`, ADDR_ALTERNATIVE, `(?<plate>${PLATE})`, `(?<cnmobile>${CN_MOBILE})`];
const EMAIL_ALTERNATIVE =
  '(?<email>(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}(?=@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}))';

const TEXT_RE = new RegExp([EMAIL_ALTERNATIVE, ...TEXT_ALTERNATIVES].join('|'), 'g');
const LANDLINE_FULL = new RegExp(`^(${LANDLINE})((?:-|转|ext\\.?|x)[0-9]{1,6})$`);

const PLATE_FULL = new RegExp(`^${PLATE}$`);
const DIGIT_RUN_G = /[0-9](?:[ -]?[0-9]){6,}/g;

type Groups = Partial<Record<'email' | 'idg' | 'cardg' | 'long' | 'mobile' | 'landline' | 'flat' | 'plate' | 'cnmobile' | 'addr' | 'anchor', string>>;

function maskMatch(seg: string, g: Groups): string {
  if (g.email !== undefined) return seg[0] + '***';
  if (g.idg !== undefined) return maskIdSeg(seg);
  if (g.cardg !== undefined) return maskCardSeg(seg);
  if (g.long !== undefined) return seg.length === 15 || seg.length === 18 ? maskIdSeg(seg) : maskCardSeg(seg);
  if (g.mobile !== undefined) return maskMobileSeg(seg);
  if (g.landline !== undefined) return maskLandlineSeg(seg);
  if (g.plate !== undefined) return maskPlateSeg(seg);
  if (g.cnmobile !== undefined) return maskCnMobileSeg(seg);
  return (g.anchor ?? '') + '****'; // an address keeps its anchor (路, 小区 …); a flat without one goes whole
}

// ---------------------------------------------------------------------------------------------
// Public maskers
// ---------------------------------------------------------------------------------------------

/**
 * Finds and masks personal data inside free text: mainland mobiles (grouped with spaces, dashes or
 * dots, with a +86 / 86 / 0086 prefix), landlines with an area code, 15/18-character ID numbers
 * (also in groups of any kind), bank-card-like runs of 15–19 digits (also grouped), vehicle plates,
 * the local part of e-mail addresses, and the house-number part of Chinese addresses
 * ("长宁路1234弄5号601室" → "长宁路****", "XX小区3栋2单元501" → "XX小区****", a bare "3栋2单元501"
 * → "****"). test/fixtures/pii-corpus.yaml holds the ways of writing them that are checked.
 *
 * Ordinary text is left alone: case numbers ("WB20261124-0007"), dates, times, amounts, decimal
 * numbers, 13-digit epoch timestamps and short numbers. Text without a digit or an at-sign returns
 * immediately.
 */
export function maskText(s: string): string {
  if (typeof s !== 'string' || !MAYBE_PII.test(s)) return s;
  // Match on the half-width copy (same offsets); copy unmatched text from the original.
  const norm = toHalfWidth(s);
  let out = '';
  let last = 0;
  TEXT_RE.lastIndex = 0;
  for (let m = TEXT_RE.exec(norm); m !== null; m = TEXT_RE.exec(norm)) {
    out += s.slice(last, m.index) + maskMatch(m[0], m.groups as Groups);
    last = m.index + m[0].length;
  }
  return out + s.slice(last);
}

/**
 * Masks a value known to be a phone number. Mobiles 13812345678 → 138****5678 (a +86 / 86 prefix
 * and spaces or dashes are kept as written: "+86 138 1234 5678" → "+86 138 **** 5678");
 * landlines 021-12345678 → 021-****5678 (an extension is kept). Anything else: phone numbers found
 * by `maskText` are masked, then every remaining run of 7+ digits keeps only its last four.
 */
export function maskPhone(s: string): string {
  if (typeof s !== 'string') return s;
  const raw = s.trim();
  // A landline with its extension as a whole: the extension is not part of the number.
  const ll = LANDLINE_FULL.exec(toHalfWidth(raw));
  if (ll) return maskLandlineSeg(ll[1]!) + ll[2]!;
  return toHalfWidth(maskText(raw)).replace(DIGIT_RUN_G, (run) => starDigits(run, 0, countDigits(run) - 4));
}

/**
 * Masks a value known to be an ID number (resident ID, or another certificate number): keeps the
 * first four and the last two characters, 3101************3X. Values of 5–9 characters keep one
 * character at each end; shorter ones become '****'. Spaces and dashes inside the value are dropped.
 */
export function maskIdCard(s: string): string {
  if (typeof s !== 'string') return s;
  const chars = Array.from(toHalfWidth(s).replace(/[\s-]+/g, ''));
  const n = chars.length;
  if (n === 0) return '';
  if (n <= 4) return '****';
  const head = n >= 10 ? 4 : 1;
  const tail = n >= 10 ? 2 : 1;
  return chars.slice(0, head).join('') + '*'.repeat(n - head - tail) + chars.slice(n - tail).join('');
}

/**
 * Masks a value known to be a vehicle plate: 沪A12345 → 沪A***45, 粤B·D12345 → 粤B·D***45.
 * Anything not shaped like a plate keeps its first and last character only.
 */
export function maskPlate(s: string): string {
  if (typeof s !== 'string') return s;
  const v = toHalfWidth(s.trim());
  if (v === '') return '';
  if (PLATE_FULL.test(v)) return maskPlateSeg(v);
  // Separators typed inside a plate (粤B·D 12345, 沪A-1234学) are not part of it.
  const bare = v.replace(/[\s·•.-]+/g, '');
  if (PLATE_FULL.test(bare)) return maskPlateSeg(bare);
  const chars = Array.from(v.replace(/\s+/g, ''));
  return chars.length <= 2 ? '****' : chars[0] + '*'.repeat(chars.length - 2) + chars[chars.length - 1];
}

/** Masks a value known to be a bank card number: the first four and the last four digits stay. */
export function maskCard(s: string): string {
  if (typeof s !== 'string') return s;
  const v = toHalfWidth(s.trim());
  return countDigits(v) < 12 ? v.replace(/[0-9]/g, '*') : maskCardSeg(v);
}

const ROAD_MARKERS = new Set(['路', '街', '道', '巷', '弄', '村']);
const ADDRESS_FALLBACK_KEEP = 6;

/**
 * Masks a value known to be an address: keeps the leading part up to and including the first
 * 路/街/道/巷/弄/村 — or, without such a marker, the first six characters — but never a digit
 * (the kept part stops before the first digit), and replaces the rest with '****'.
 * "上海市长宁区长宁路1234弄5号" → "上海市长宁区长宁路****"; "幸福小区3栋2单元" → "幸福小区****".
 * Values of six characters or fewer without a marker, and values of four or fewer, become '****'.
 */
export function maskAddress(s: string): string {
  if (typeof s !== 'string') return s;
  const chars = Array.from(toHalfWidth(s).trim());
  if (chars.length === 0) return '';
  if (chars.length <= 4) return '****';
  let keep = chars.findIndex((c) => ROAD_MARKERS.has(c)) + 1;
  if (keep === 0) {
    if (chars.length <= ADDRESS_FALLBACK_KEEP) return '****';
    keep = ADDRESS_FALLBACK_KEEP;
  }
  const firstDigit = chars.findIndex((c) => c >= '0' && c <= '9');
  if (firstDigit >= 0 && firstDigit < keep) keep = firstDigit;
  return chars.slice(0, keep).join('').trimEnd() + '****';
}

const HAN = /\p{Script=Han}/u;

/** Masks a personal name: 张三 → 张*, 欧阳娜娜 → 欧***; non-Chinese names keep the first character: J***. */
export function maskName(s: string): string {
  if (typeof s !== 'string') return s;
  const chars = Array.from(s.trim());
  if (chars.length === 0) return '';
  if (HAN.test(chars[0]!)) return chars.length === 1 ? '*' : chars[0] + '*'.repeat(chars.length - 1);
  return chars[0] + '***';
}

// ---------------------------------------------------------------------------------------------
// maskDeep
// ---------------------------------------------------------------------------------------------

type Kind = 'phone' | 'idcard' | 'address' | 'name' | 'plate' | 'card';

const PHONE_KEYS = new Set(['phone', 'mobile', 'tel', 'telephone', 'telno', 'cellphone']);
const PHONE_SUFFIXES = ['phone', 'mobile', 'phoneno', 'phonenumber', 'mobileno', 'mobilenumber', 'telno'];
const IDCARD_KEYS = new Set(['idcard', 'idno', 'idnumber', 'certno', 'certnumber', 'certificateno', 'certificatenumber']);
const IDCARD_SUFFIXES = ['idcard', 'idcardno', 'idcardnumber'];
const ADDRESS_KEYS = new Set(['address', 'addr']);
const ADDRESS_SUFFIXES = ['address', 'addr'];
/** Keys ending in "address" that are network or mail addresses, not places. */
const NOT_PLACE_ADDRESS = /(ip|mac|email|mail|remote|local|server|host|url|web|wallet|bind|listen|socket|net|proxy|peer)(address|addr)$/;
const NAME_KEYS = new Set(['name', 'realname', 'contactname', 'fullname', 'truename']);
const PLATE_KEYS = new Set(['plate', 'plateno', 'platenumber', 'licenseplate', 'carno', 'carnumber', 'vehicleno', 'vehiclenumber', 'vehicleplate']);
const CARD_KEYS = new Set(['bankcard', 'bankcardno', 'bankcardnumber', 'cardno', 'cardnumber', 'bankaccount', 'bankaccountno']);

const kindCache = new Map<string, Kind | null>();
const KIND_CACHE_MAX = 2000;

function keyKind(key: string): Kind | undefined {
  const cached = kindCache.get(key);
  // Stryker disable next-line all: the cache only saves work; every key is classified the same without it
  if (cached !== undefined) return cached ?? undefined;
  const k = key.toLowerCase().replace(/[_\-\s.]/g, '');
  let kind: Kind | null = null;
  if (PHONE_KEYS.has(k) || PHONE_SUFFIXES.some((x) => k.endsWith(x))) kind = 'phone';
  else if (IDCARD_KEYS.has(k) || IDCARD_SUFFIXES.some((x) => k.endsWith(x))) kind = 'idcard';
  else if (ADDRESS_KEYS.has(k) || (ADDRESS_SUFFIXES.some((x) => k.endsWith(x)) && !NOT_PLACE_ADDRESS.test(k))) kind = 'address';
  else if (NAME_KEYS.has(k)) kind = 'name';
  else if (PLATE_KEYS.has(k)) kind = 'plate';
  else if (CARD_KEYS.has(k)) kind = 'card';
  // Stryker disable next-line all: bounds the cache's memory; classification is the same either way
  if (kindCache.size >= KIND_CACHE_MAX) kindCache.clear();
  kindCache.set(key, kind);
  return kind ?? undefined;
}

function maskString(s: string, kind: Kind | undefined): string {
  switch (kind) {
    case 'phone':
      return maskPhone(s);
    case 'idcard':
      return maskIdCard(s);
    case 'address':
      return maskAddress(s);
    case 'name':
      return maskName(s);
    case 'plate':
      return maskPlate(s);
    case 'card':
      return maskCard(s);
    default:
      return maskText(s);
  }
}

/** Containers nested deeper than this are replaced by '[Object]' / '[Array]'. */
export const MASK_DEPTH_LIMIT = 8;

export interface MaskDeepOptions {
  /**
   * Choose the masker by property name (default true). With false every string — and every
   * property name — only goes through `maskText`: for trusted configuration such as a logger's
   * base fields, where a `name` key is a service name, not a person.
   */
  keyRules?: boolean;
}

interface Ctx {
  keyRules: boolean;
  ancestors: Set<object>;
}

function setProp(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    out[key] = value;
  }
}

function read(obj: object, key: string | symbol): unknown {
  try {
    return (obj as Record<string | symbol, unknown>)[key];
  } catch {
    return '[Unreadable]';
  }
}

function errorType(e: Error): string {
  const ctor = read(e, 'constructor');
  if (typeof ctor === 'function' && ctor.name) return ctor.name;
  const name = read(e, 'name');
  return typeof name === 'string' ? name : 'Error';
}

function maskError(e: Error, depth: number, ctx: Ctx): Record<string, unknown> {
  const message = read(e, 'message');
  const stack = read(e, 'stack');
  const out: Record<string, unknown> = {
    type: errorType(e),
    message: maskText(typeof message === 'string' ? message : String(message)),
    stack: typeof stack === 'string' ? maskText(stack) : undefined,
  };
  for (const key of Object.keys(e)) {
    if (key === 'message' || key === 'stack' || key === 'type') continue;
    // An error's own `name` is a class name ("ValidationError"), not a person's name.
    const kind = ctx.keyRules && key !== 'name' ? keyKind(key) : undefined;
    setProp(out, maskText(key), maskAny(read(e, key), kind, depth + 1, ctx));
  }
  const cause = read(e, 'cause');
  if (cause !== undefined && !Object.prototype.propertyIsEnumerable.call(e, 'cause')) {
    out.cause = maskAny(cause, undefined, depth + 1, ctx);
  }
  if (e instanceof AggregateError && !Object.prototype.propertyIsEnumerable.call(e, 'errors')) {
    out.errors = maskAny(read(e, 'errors'), undefined, depth + 1, ctx);
  }
  return out;
}

function maskObjectProps(
  src: object,
  keys: Iterable<string>,
  inherited: Kind | undefined,
  depth: number,
  ctx: Ctx,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const kind = ctx.keyRules ? (keyKind(key) ?? inherited) : undefined;
    setProp(out, maskText(key), maskAny(read(src, key), kind, depth + 1, ctx));
  }
  return out;
}

function maskAny(v: unknown, kind: Kind | undefined, depth: number, ctx: Ctx): unknown {
  switch (typeof v) {
    case 'string':
      return maskString(v, kind);
    case 'number':
    case 'bigint': {
      if (kind !== 'phone' && kind !== 'idcard' && kind !== 'card') return v;
      const s = String(v);
      const masked = maskString(s, kind);
      return masked === s ? v : masked;
    }
    case 'object':
      break;
    default:
      return v; // boolean, undefined, symbol, function: nothing to mask
  }
  if (v === null) return v;
  if (ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
  if (v instanceof ArrayBuffer) return `[ArrayBuffer ${v.byteLength} bytes]`;
  if (ctx.ancestors.has(v)) return '[Circular]';
  if (depth >= MASK_DEPTH_LIMIT) return Array.isArray(v) ? '[Array]' : '[Object]';
  if (v instanceof Date) return new Date(v.getTime());
  ctx.ancestors.add(v);
  try {
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) out.push(maskAny(read(v, String(i)), kind, depth + 1, ctx));
      return out;
    }
    if (v instanceof Error) return maskError(v, depth, ctx);
    if (v instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, val] of v) {
        const key = String(k);
        const kk = ctx.keyRules && typeof k === 'string' ? (keyKind(k) ?? kind) : undefined;
        setProp(out, maskText(key), maskAny(val, kk, depth + 1, ctx));
      }
      return out;
    }
    if (v instanceof Set) {
      return Array.from(v, (item) => maskAny(item, kind, depth + 1, ctx));
    }
    const toJSON = read(v, 'toJSON');
    if (typeof toJSON === 'function') {
      let json: unknown;
      try {
        json = (toJSON as () => unknown).call(v);
      } catch {
        return '[Unserializable]';
      }
      return maskAny(json, kind, depth, ctx);
    }
    return maskObjectProps(v, Object.keys(v), kind, depth, ctx);
  } finally {
    ctx.ancestors.delete(v);
  }
}

/**
 * Returns a masked deep copy of `value` for logging; the input is never modified.
 *
 * The masker is chosen by property name (case-insensitive; `_`, `-` and `.` ignored, so snake_case
 * and camelCase variants match):
 *   phone, mobile, tel, telephone, cellphone, …phone, …mobile, …phoneNo/Number   → maskPhone
 *   idCard, id_card, idNo, id_no, idNumber, certNo, certNumber, …idCard           → maskIdCard
 *   address, addr, …address, …addr (not ipAddress, emailAddress, remoteAddr, …)   → maskAddress
 *   name, realName, real_name, contactName, fullName, trueName                     → maskName
 *   plate, plateNo, licensePlate, carNo, vehicleNo …                               → maskPlate
 *   bankCard, cardNo, cardNumber, bankAccount …                                   → maskCard
 *   any other string                                                               → maskText
 * A classified key also applies to the strings nested below it (`address: { detail: … }`,
 * `phone: ['…', '…']`). Numbers under phone / ID / card keys are masked into strings; other numbers
 * are kept. Property names themselves go through `maskText`.
 *
 * Arrays, Maps (→ objects), Sets (→ arrays) and nested objects are copied; objects with a `toJSON`
 * method are masked in their JSON form; Dates are copied. Cycles become '[Circular]', containers
 * deeper than MASK_DEPTH_LIMIT become '[Object]' / '[Array]', Buffers and typed arrays become
 * '[Buffer n bytes]' / '[Uint8Array n bytes]', and an Error becomes
 * `{ type, message, stack, …own enumerable properties, cause?, errors? }`, all masked.
 */
export function maskDeep<T>(value: T, opts: MaskDeepOptions = {}): T {
  return maskAny(value, undefined, 0, { keyRules: opts.keyRules !== false, ancestors: new Set() }) as T;
}

// ---------------------------------------------------------------------------------------------
// Values whose kind is known (a form field that declares it)
// ---------------------------------------------------------------------------------------------

/** The kinds of personal data a form field may hold; masking, reveal and audit follow the kind. */
export const PERSONAL_KINDS = ['name', 'phone', 'id_number', 'address', 'plate', 'card'] as const;
export type PersonalKind = (typeof PERSONAL_KINDS)[number];

/** What staff and audit entries call each kind. */
export const PERSONAL_KIND_NAMES: Record<PersonalKind, string> = { name: '姓名', phone: '电话', id_number: '证件号码', address: '地址', plate: '车牌', card: '卡号' };

/**
 * A value of a known kind, masked by the masker of that kind (maskName, maskPhone, maskIdCard,
 * maskAddress, maskPlate, maskCard): one way of masking each kind, wherever it is shown.
 */
export function maskPersonal(kind: PersonalKind, s: string): string {
  switch (kind) {
    case 'name':
      return maskName(s);
    case 'phone':
      return maskPhone(s);
    case 'id_number':
      return maskIdCard(s);
    case 'address':
      return maskAddress(s);
    case 'plate':
      return maskPlate(s);
    case 'card':
      return maskCard(s);
  }
}
