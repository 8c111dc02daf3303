import { describe, expect, it } from 'vitest';
import { clip } from '../../src/platform/text.ts';

describe('clip: at most n characters, as a citizen counts them', () => {
  it('keeps a short text as it is, and cuts a long one at n characters', () => {
    expect(clip('', 3)).toBe('');
    expect(clip('办证', 3)).toBe('办证');
    expect(clip('办身份证', 3)).toBe('办身份');
    expect(clip('abc', 0)).toBe('');
  });

  it('never cuts an emoji or a rare character (outside the BMP) in half', () => {
    expect(clip('好👍👍', 2)).toBe('好👍');
    expect(clip('𠮷野家', 1)).toBe('𠮷');
    expect(clip('👍👍👍', 2)).toBe('👍👍');
    expect(clip('👍👍', 2)).toBe('👍👍'); // 4 UTF-16 units, 2 characters: nothing to cut
    const cut = clip(`${'a'.repeat(9)}😀x`, 10);
    expect(cut).toBe(`${'a'.repeat(9)}😀`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/); // no lone high surrogate
  });
});
