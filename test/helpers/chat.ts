import type { PhoneReply } from '../../src/emulator/index.ts';

/** The text of a reply on the emulated phone ('' for none); any other kind fails the test. */
export function textOf(r: PhoneReply | null): string {
  if (!r) return '';
  if (r.type !== 'text') throw new Error(`expected text, got ${r.type}`);
  return r.content;
}

/** The labels of a reply's numbered lines, without the tappable link markup. */
export function choices(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('回复 ') && !l.startsWith('回复 0'))
    .map((l) => l.replace(/<[^>]+>/g, '').replace(/^回复 \d+\s+/, ''));
}

/** A moment in China time (UTC+8, no daylight saving), as epoch ms. */
export const cst = (y: number, m: number, d: number, hh = 10, mm = 0): number => Date.UTC(y, m - 1, d, hh - 8, mm);
