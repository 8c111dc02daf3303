/** What a WeChat error code means for the caller. */
export type WeChatErrorKind =
  | 'busy' // -1: try again later
  | 'token_invalid' // 40001, 42001, 40014: refresh the token and retry once
  | 'out_of_window' // 45015: past the 48-hour customer-service window
  | 'quota_exceeded' // 45047: too many customer-service messages in the window
  | 'user_unsubscribed' // 43004: the citizen no longer follows
  | 'invalid_argument' // 40003 openid, 40037 template id, 47001 data, 47003 value too long, 40018 menu ...
  | 'too_many_articles' // 45008
  | 'forbidden' // 48001 api unauthorised
  | 'rate_limited' // 45009 daily limit
  | 'oauth_code_invalid' // 40029, 40163 code used
  | 'http' // transport failure or non-JSON answer
  | 'other';

const KINDS: Record<number, WeChatErrorKind> = {
  [-1]: 'busy',
  40001: 'token_invalid',
  42001: 'token_invalid',
  40014: 'token_invalid',
  45015: 'out_of_window',
  45047: 'quota_exceeded',
  43004: 'user_unsubscribed',
  40003: 'invalid_argument',
  40037: 'invalid_argument',
  47001: 'invalid_argument',
  47003: 'invalid_argument',
  40016: 'invalid_argument',
  40017: 'invalid_argument',
  40018: 'invalid_argument',
  40019: 'invalid_argument',
  40023: 'invalid_argument',
  40024: 'invalid_argument',
  40025: 'invalid_argument',
  40026: 'invalid_argument',
  40027: 'invalid_argument',
  45008: 'too_many_articles',
  48001: 'forbidden',
  45009: 'rate_limited',
  40029: 'oauth_code_invalid',
  40163: 'oauth_code_invalid',
};

export class WeChatApiError extends Error {
  readonly kind: WeChatErrorKind;
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
    readonly api: string,
  ) {
    super(`WeChat ${api} failed: ${errcode} ${errmsg}`);
    this.name = 'WeChatApiError';
    this.kind = errcode === 0 ? 'http' : (KINDS[errcode] ?? 'other');
  }

  /** Worth trying again later (busy platform, network trouble). */
  get retryable(): boolean {
    return this.kind === 'busy' || this.kind === 'http' || this.kind === 'token_invalid';
  }
}

export function isWeChatError(err: unknown, kind?: WeChatErrorKind): err is WeChatApiError {
  return err instanceof WeChatApiError && (kind === undefined || err.kind === kind);
}
