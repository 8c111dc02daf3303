import { createSign, type KeyObject } from 'node:crypto';

/**
 * A minimal self-signed X.509 v3 certificate (DER by hand: Node can read certificates but not make
 * them), for the emulated pay platform's "platform certificate" mode. Development and tests only.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x >>= 8) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const int = (b: Buffer) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const printable = (s: string) => tlv(0x13, Buffer.from(s, 'ascii'));
const nul = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let x = p >> 7; x > 0; x >>= 7) stack.unshift((x & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(ms: number): Buffer {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return tlv(0x17, Buffer.from(`${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`, 'ascii'));
}

/** A certificate for `publicKey`, signed with `privateKey`; `serialHex` as WeChat Pay shows it (uppercase hex). */
export function selfSignedCertificate(o: { publicKey: KeyObject; privateKey: KeyObject; serialHex: string; commonName: string; notBefore: number; notAfter: number }): string {
  const sha256WithRsa = seq(oid('1.2.840.113549.1.1.11'), nul);
  const name = seq(set(seq(oid('2.5.4.6'), printable('CN'))), set(seq(oid('2.5.4.10'), utf8('Tenpay.com (emulated)'))), set(seq(oid('2.5.4.3'), utf8(o.commonName))));
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))),
    int(Buffer.from(o.serialHex, 'hex')),
    sha256WithRsa,
    name,
    seq(utcTime(o.notBefore), utcTime(o.notAfter)),
    name,
    o.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = createSign('RSA-SHA256').update(tbs).sign(o.privateKey);
  const der = seq(tbs, sha256WithRsa, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
