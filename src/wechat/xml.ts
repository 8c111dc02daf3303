export class XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlError';
  }
}

export type XmlObject = { [key: string]: XmlValue };
export type XmlValue = string | XmlObject | XmlValue[];

/** Text that may go inside CDATA: `]]>` is split across two sections. */
export function cdataSafe(s: string): string {
  return s.replaceAll(']]>', ']]]]><![CDATA[>');
}

export function cdata(s: string): string {
  return `<![CDATA[${cdataSafe(s)}]]>`;
}

/**
 * WeChat's documents are a bare `<xml>` root: an optional BOM, XML declaration and whitespace may
 * come before it, nothing else. A DOCTYPE (and with it any ENTITY declaration), processing
 * instruction or comment in the prolog is refused.
 */
const PROLOG = /^\uFEFF?\s*(<\?xml\s[^?]*\?>)?\s*(?=<xml[\s>/])/;

export function assertSafePrologue(xml: string): number {
  const m = PROLOG.exec(xml);
  if (!m) {
    if (/<!DOCTYPE|<!ENTITY/i.test(xml.slice(0, 2048))) throw new XmlError('DOCTYPE and entity declarations are not accepted');
    throw new XmlError('expected an <xml> document');
  }
  return m[0].length;
}

const MAX_DEPTH = 16;
const NAME = /[A-Za-z_:][\w:.-]*/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * A small, strict parser for the documents WeChat exchanges, giving the same shape as xml2js with
 * `explicitArray: false` (which the test suite checks it against, document by document): an
 * element with only text becomes its text (CDATA and entities joined), one with children an object
 * (repeated children become arrays, attributes go under `$`, other text under `_`). Only the five
 * predefined and numeric character references exist; anything else is an error, so nothing can be
 * expanded. It replaced xml2js on the callback path: see bench/README.md for the measurement.
 */
class XmlReader {
  private i: number;
  constructor(
    private readonly s: string,
    start: number,
  ) {
    this.i = start;
  }

  fail(what: string): never {
    throw new XmlError(`malformed XML: ${what} at offset ${this.i}`);
  }

  document(): XmlValue {
    const root = this.element(0);
    this.skipMisc();
    if (this.i !== this.s.length) this.fail('content after the root element');
    return root.value;
  }

  private skipMisc(): void {
    for (;;) {
      while (isSpace(this.s.charCodeAt(this.i))) this.i++; // NaN past the end
      if (this.s.startsWith('<!--', this.i)) this.comment();
      else return;
    }
  }

  private comment(): void {
    const end = this.s.indexOf('-->', this.i + 4);
    if (end < 0) this.fail('unterminated comment');
    this.i = end + 3;
  }

  private name(): string {
    NAME.lastIndex = this.i;
    const m = NAME.exec(this.s);
    if (!m) this.fail('expected a name');
    this.i += m[0].length;
    return m[0];
  }

  private element(depth: number): { name: string; value: XmlValue } {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    if (this.s.charCodeAt(this.i) !== 60 /* < */) this.fail('expected an element');
    this.i++;
    const name = this.name();
    let attrs: XmlObject | null = null;
    for (;;) {
      const before = this.i;
      while (isSpace(this.s.charCodeAt(this.i))) this.i++;
      const c = this.s.charCodeAt(this.i);
      if (c === 62 /* > */) {
        this.i++;
        break;
      }
      if (c === 47 /* / */ && this.s.charCodeAt(this.i + 1) === 62) {
        this.i += 2;
        return { name, value: attrs ? { $: attrs } : '' };
      }
      if (this.i === before) this.fail('expected whitespace before an attribute');
      const attr = this.name();
      while (isSpace(this.s.charCodeAt(this.i))) this.i++;
      if (this.s.charCodeAt(this.i) !== 61 /* = */) this.fail('expected = after an attribute name');
      this.i++;
      while (isSpace(this.s.charCodeAt(this.i))) this.i++;
      const q = this.s[this.i];
      if (q !== '"' && q !== "'") this.fail('expected a quoted attribute value');
      const end = this.s.indexOf(q, this.i + 1);
      if (end < 0) this.fail('unterminated attribute value');
      const raw = this.s.slice(this.i + 1, end);
      if (raw.includes('<')) this.fail('< in an attribute value');
      (attrs ??= {})[attr] = decodeEntities(raw, this);
      this.i = end + 1;
    }
    let text = '';
    let children: XmlObject | null = null;
    for (;;) {
      const lt = this.s.indexOf('<', this.i);
      if (lt < 0) this.fail(`unclosed element <${name}>`);
      if (lt > this.i) text += decodeEntities(this.s.slice(this.i, lt), this);
      this.i = lt;
      const next = this.s.charCodeAt(lt + 1);
      if (next === 47 /* / */) {
        this.i += 2;
        const closing = this.name();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`);
        while (isSpace(this.s.charCodeAt(this.i))) this.i++;
        if (this.s.charCodeAt(this.i) !== 62) this.fail('expected > after a closing tag');
        this.i++;
        break;
      }
      if (next === 33 /* ! */) {
        if (this.s.startsWith('<![CDATA[', lt)) {
          const end = this.s.indexOf(']]>', lt + 9);
          if (end < 0) this.fail('unterminated CDATA section');
          text += this.s.slice(lt + 9, end);
          this.i = end + 3;
          continue;
        }
        if (this.s.startsWith('<!--', lt)) {
          this.comment();
          continue;
        }
        this.fail('declarations are not accepted inside the document');
      }
      if (next === 63 /* ? */) this.fail('processing instructions are not accepted');
      const child = this.element(depth + 1);
      children ??= {};
      const existing = children[child.name];
      // An element's value is text or an object, never an array: an array means "repeated".
      if (existing === undefined) children[child.name] = child.value;
      else if (Array.isArray(existing)) existing.push(child.value);
      else children[child.name] = [existing, child.value];
    }
    if (!children && !attrs) return { name, value: text };
    const obj: XmlObject = {};
    if (text.trim() !== '') obj._ = text;
    if (attrs) obj.$ = attrs;
    if (children) Object.assign(obj, children);
    return { name, value: obj };
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function decodeEntities(raw: string, r: XmlReader): string {
  if (raw.indexOf('&') < 0) return raw;
  return raw.replace(/&([^;&\s]{0,12});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) r.fail('an & that does not start a character reference');
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || !/^#(x[0-9a-fA-F]+|X[0-9a-fA-F]+|[0-9]+)$/.test(ref)) r.fail(`invalid character reference ${whole}`);
      return String.fromCodePoint(code);
    }
    const v = PREDEFINED[ref];
    if (v === undefined) r.fail(`undeclared entity ${whole}`);
    return v;
  });
}

/**
 * Parse a WeChat XML document into a plain object (root element dropped, CDATA as text, repeated
 * elements as arrays). Undeclared entities are errors, so nothing is expanded.
 */
export function parseWeChatXml(xml: string): XmlObject {
  const start = assertSafePrologue(xml);
  const value = new XmlReader(xml, start).document();
  if (typeof value === 'string' || Array.isArray(value)) throw new XmlError('empty <xml> document');
  return value;
}

/** A field as text ('' when missing or not text). */
export function text(o: XmlObject, key: string): string {
  const v = o[key];
  return typeof v === 'string' ? v : '';
}

export function child(o: XmlObject, key: string): XmlObject {
  const v = o[key];
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

export function list(v: XmlValue | undefined): XmlValue[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
