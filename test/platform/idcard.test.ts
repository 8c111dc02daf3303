import { describe, expect, it } from 'vitest';
import { idCardCheckDigit, isValidIdCard } from '../../src/platform/idcard.ts';

/**
 * Independent check-digit computation for the tests: GB 11643 defines the weight of position i
 * (1-based, counted from the left of 18) as 2^(18-i) mod 11, and the check character as the
 * value c with (sum + c) ≡ 1 (mod 11), where 'X' stands for 10.
 */
function checkChar(first17: string): string {
  let sum = 0;
  for (let i = 1; i <= 17; i++) sum += Number(first17[i - 1]) * (2 ** (18 - i) % 11);
  const c = (12 - (sum % 11)) % 11;
  return c === 10 ? 'X' : String(c);
}

function make(region: string, birth: string, seq: string): string {
  const first17 = region + birth + seq;
  return first17 + checkChar(first17);
}

const NOW = Date.UTC(2026, 10, 24, 4, 0, 0); // 2026-11-24 12:00 China time

describe('idCardCheckDigit', () => {
  it('matches the commonly cited example 11010519491231002X', () => {
    expect(idCardCheckDigit('11010519491231002')).toBe('X');
  });

  it('agrees with an independent derivation of the weights', () => {
    const samples = ['11010519491231002', '31010419800101123', '44030420000229456', '65010219991231999', '81000019700101000'];
    for (let i = 0; i < 200; i++) {
      samples.push(String(10000000000000000n + BigInt(i) * 4398046511n).slice(0, 17));
    }
    for (const s of samples) expect(idCardCheckDigit(s), s).toBe(checkChar(s));
  });

  it('rejects anything but 17 digits', () => {
    expect(() => idCardCheckDigit('1101051949123100')).toThrow(RangeError);
    expect(() => idCardCheckDigit('110105194912310021')).toThrow(RangeError);
    expect(() => idCardCheckDigit('1101051949123100X')).toThrow(RangeError);
  });
});

describe('isValidIdCard', () => {
  it('accepts known-valid synthetic numbers', () => {
    expect(isValidIdCard('11010519491231002X', NOW)).toBe(true);
    expect(isValidIdCard('11010519491231002x', NOW)).toBe(true);
    const valid = [
      make('310104', '19800101', '123'),
      make('440304', '20000229', '456'), // leap day
      make('650102', '19991231', '999'),
      make('810000', '19700101', '000'), // Hong Kong resident permit region
      make('110105', '20261124', '001'), // born today (China time)
    ];
    for (const id of valid) expect(isValidIdCard(id, NOW), id).toBe(true);
  });

  it('refuses a wrong check digit', () => {
    const good = make('310104', '19800101', '123');
    for (const c of '0123456789X') {
      if (c === good[17]) continue;
      expect(isValidIdCard(good.slice(0, 17) + c, NOW), c).toBe(false);
    }
    expect(isValidIdCard('110105194912310021', NOW)).toBe(false);
  });

  it('refuses impossible and future birth dates', () => {
    for (const birth of ['19490230', '19491301', '19490001', '19491200', '19000229', '20261125', '20270101', '17991231']) {
      expect(isValidIdCard(make('110105', birth, '002'), NOW), birth).toBe(false);
    }
  });

  it('compares the birth date with today in China time', () => {
    const id = make('110105', '20261124', '001');
    expect(isValidIdCard(id, new Date(Date.UTC(2026, 10, 23, 16, 30)))).toBe(true); // 00:30 on the 24th in Beijing
    expect(isValidIdCard(id, new Date(Date.UTC(2026, 10, 23, 15, 59)))).toBe(false); // 23:59 on the 23rd
  });

  it('refuses wrong lengths, 15-digit numbers, bad regions and stray characters', () => {
    const good = make('310104', '19800101', '123');
    expect(isValidIdCard(good.slice(0, 17), NOW)).toBe(false);
    expect(isValidIdCard(good + '0', NOW)).toBe(false);
    expect(isValidIdCard('110105491231002', NOW)).toBe(false); // old 15-digit format: refused by design
    expect(isValidIdCard('', NOW)).toBe(false);
    expect(isValidIdCard(make('010105', '19800101', '123'), NOW)).toBe(false);
    expect(isValidIdCard(make('910105', '19800101', '123'), NOW)).toBe(false);
    expect(isValidIdCard(` ${good}`, NOW)).toBe(false);
    expect(isValidIdCard(good.slice(0, 10) + 'X' + good.slice(11), NOW)).toBe(false);
    expect(isValidIdCard('１１０１０５１９４９１２３１００２Ｘ', NOW)).toBe(false); // full-width: normalise first
  });

  it('defaults `now` to the current time', () => {
    expect(isValidIdCard('11010519491231002X')).toBe(true);
    const tomorrow = new Date(Date.now() + 2 * 86_400_000);
    const birth =
      String(tomorrow.getUTCFullYear()) +
      String(tomorrow.getUTCMonth() + 1).padStart(2, '0') +
      String(tomorrow.getUTCDate()).padStart(2, '0');
    expect(isValidIdCard(make('110105', birth, '002'))).toBe(false);
  });
});
