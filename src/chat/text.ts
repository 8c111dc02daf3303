/**
 * What a citizen typed, made comparable: full-width digits and letters become half-width (NFKC),
 * surrounding spaces (also the ideographic space) go, inner runs of spaces become one.
 */
export function normalizeInput(s: string): string {
  return s.normalize('NFKC').replace(/\s+/gu, ' ').trim();
}

export type Choice = { kind: 'number'; n: number } | { kind: 'back' } | { kind: 'home' };

const HOME_WORDS = new Set(['00', '首页', '菜单', '主菜单', '返回首页', '回到首页']);
const BACK_WORDS = new Set(['0', '返回', '上一级', '返回上一级']);
const DIGITS = ['', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
/** 一 … 十九, by value (index 0 unused). */
const SPOKEN = [...DIGITS, '十', ...DIGITS.slice(1).map((d) => `十${d}`)];

/** A navigation choice: 1–99, 0 (back), 00 / 首页 / 菜单 (home); anything else is not one. */
export function asChoice(input: string): Choice | null {
  const s = normalizeInput(input).replace(/[。.！!]$/u, '');
  if (HOME_WORDS.has(s)) return { kind: 'home' };
  if (BACK_WORDS.has(s)) return { kind: 'back' };
  if (/^[1-9]\d?$/.test(s)) return { kind: 'number', n: Number(s) };
  // Speech recognition writes a spoken number in characters: 一 … 十, 十一 … 十九.
  const spoken = SPOKEN.indexOf(s.replace(/^第/, '').replace(/[个项条]$/, ''));
  if (spoken > 0) return { kind: 'number', n: spoken };
  return null;
}

/** UTF-8 byte length: WeChat's limits are in bytes. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Split a long text into parts of at most `maxBytes` each, at line breaks where possible, never
 * inside a character or an `<a …>…</a>` link.
 */
export function splitText(s: string, maxBytes: number): string[] {
  if (byteLength(s) <= maxBytes) return [s];
  const parts: string[] = [];
  let current = '';
  const units = s.split(/(?<=\n)/u);
  const push = () => {
    if (current.trim()) parts.push(current.replace(/\n+$/u, ''));
    current = '';
  };
  for (const unit of units) {
    if (byteLength(current + unit) <= maxBytes) {
      current += unit;
      continue;
    }
    push();
    if (byteLength(unit) <= maxBytes) {
      current = unit;
      continue;
    }
    // A single line longer than the limit: cut between characters (links kept whole).
    const pieces = unit.match(/<a\b[^>]*>.*?<\/a>|[\s\S]/gu) ?? [];
    for (const piece of pieces) {
      if (byteLength(current + piece) > maxBytes) push();
      current += piece;
    }
  }
  push();
  return parts;
}
