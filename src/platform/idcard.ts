/**
 * Validation of mainland resident identity card numbers (居民身份证号码), GB 11643-1999.
 *
 * An 18-character number is laid out as
 *   6 digits  administrative region of first registration (first digit 1–8)
 *   8 digits  birth date YYYYMMDD
 *   3 digits  sequence number (odd = male, even = female)
 *   1 char    check digit, ISO 7064 MOD 11-2: '0'–'9' or 'X' (lower-case 'x' accepted)
 *
 * The old 15-digit numbers (YYMMDD birth date, no check digit) were withdrawn from use in 2013.
 * They are deliberately refused here: without a check digit nothing useful can be verified, and
 * every card in circulation carries the 18-character number.
 *
 * The input is checked as given: no trimming, no full-width digit folding. Callers normalise
 * user input first.
 */

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';
const ID18 = /^[1-8]\d{5}(\d{4})(\d{2})(\d{2})\d{3}[\dXx]$/;
/** Birth dates are compared as calendar dates in China Standard Time (UTC+8, no DST). */
const CST_OFFSET_MS = 8 * 60 * 60 * 1000;
const MIN_BIRTH_YEAR = 1800;

/** The ISO 7064 MOD 11-2 check character ('0'–'9' or 'X') for the first 17 digits of an ID number. */
export function idCardCheckDigit(first17: string): string {
  if (!/^\d{17}$/.test(first17)) {
    throw new RangeError('idCardCheckDigit expects exactly 17 ASCII digits');
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i]!;
  }
  return CHECK_CHARS[sum % 11]!;
}

/**
 * True when `s` is a well-formed 18-character resident ID number: region first digit 1–8, a real
 * birth date that is not later than today (China time) relative to `now`, and a correct check
 * character. 15-digit numbers are always refused (see the module comment).
 */
export function isValidIdCard(s: string, now: number | Date = Date.now()): boolean {
  if (typeof s !== 'string') return false;
  const m = ID18.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < MIN_BIRTH_YEAR || month < 1 || month > 12 || day < 1) return false;
  const birth = Date.UTC(year, month - 1, day);
  const d = new Date(birth);
  // Date.UTC rolls 0230 over into March; a real date survives the round trip.
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return false;
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const today = new Date(nowMs + CST_OFFSET_MS);
  const todayUtc = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  if (birth > todayUtc) return false;
  return idCardCheckDigit(s.slice(0, 17)) === s[17]!.toUpperCase();
}
