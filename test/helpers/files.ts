import { idCardCheckDigit } from '../../src/platform/idcard.ts';

/** Small real-looking files: the first bytes are what counts. */
export const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF'), Buffer.alloc(2000, 7)]);
export const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(1500, 3)]);
export const PDF = Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');
/** A Windows program wearing a photo's name. */
export const EXE_AS_JPG = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(3000, 0x90)]);
export const BIG_JPEG = Buffer.concat([JPEG, Buffer.alloc(3 * 1024 * 1024, 1)]);

/** A valid resident ID number (synthetic; the check digit computed). */
export function validId(first17 = '31010519800101123'): string {
  return first17 + idCardCheckDigit(first17);
}

export function wrongCheckDigit(id: string): string {
  const last = id.at(-1)!;
  return id.slice(0, -1) + (last === '0' ? '1' : '0');
}
