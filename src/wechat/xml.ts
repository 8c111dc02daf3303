import { Parser } from 'xml2js';

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
 * WeChat's documents are a bare `<xml>` root: an optional XML declaration and whitespace may come
 * before it, nothing else. A DOCTYPE (and with it any ENTITY declaration), processing instruction or
 * comment in the prolog is refused before a parser sees it.
 */
const PROLOG = /^\uFEFF?\s*(<\?xml\s[^?]*\?>)?\s*<xml[\s>]/;

export function assertSafePrologue(xml: string): void {
  if (!PROLOG.test(xml)) {
    if (/<!DOCTYPE|<!ENTITY/i.test(xml.slice(0, 2048))) throw new XmlError('DOCTYPE and entity declarations are not accepted');
    throw new XmlError('expected an <xml> document');
  }
}

/**
 * Parse a WeChat XML document into a plain object (root element dropped, CDATA as text, repeated
 * elements as arrays). Undeclared entities are errors (strict mode), so nothing is expanded.
 */
export async function parseWeChatXml(xml: string): Promise<XmlObject> {
  assertSafePrologue(xml);
  const parser = new Parser({
    explicitArray: false,
    explicitRoot: false,
    trim: false,
    normalize: false,
    strict: true,
    async: false,
    emptyTag: '',
  });
  let out: unknown;
  try {
    out = await parser.parseStringPromise(xml);
  } catch (err) {
    throw new XmlError(`malformed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!out || typeof out !== 'object') throw new XmlError('empty <xml> document');
  return out as XmlObject;
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
