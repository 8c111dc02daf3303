/**
 * At most `max` characters of `s`, counted as a citizen counts them (Unicode code points): a
 * `slice` by UTF-16 units cut an emoji or a rare character (𠮷) in half at the limit and stored a
 * lone surrogate, shown as �.
 */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let units = 0;
  let chars = 0;
  for (const ch of s) {
    if (chars === max) break;
    units += ch.length;
    chars++;
  }
  return s.slice(0, units);
}
