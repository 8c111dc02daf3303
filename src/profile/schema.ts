import { z } from 'zod';

/**
 * The department profile: everything a department changes to run its own account.
 * Each capability adds its section here; cross-references are checked in `refineProfile`.
 */

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');
const maxBytes = (n: number, what: string) =>
  z.string().min(1).refine((s) => byteLength(s) <= n, { message: `expected ${what} of at most ${n} bytes (a Chinese character is 3)` });

/** A URL of ours (`/h5/...`, resolved against PUBLIC_URL) or an absolute http(s) URL. */
export const linkSchema = z
  .string()
  .refine((s) => s.startsWith('/') || /^https?:\/\/[^\s]+$/.test(s), { message: 'expected a path starting with "/" or an http(s) URL' });

const menuKey = maxBytes(128, 'a key');

const leafButton = z.discriminatedUnion('type', [
  z.object({ type: z.literal('click'), name: z.string(), key: menuKey }),
  z.object({ type: z.literal('view'), name: z.string(), url: linkSchema }),
  z.object({ type: z.literal('miniprogram'), name: z.string(), url: linkSchema, appid: z.string().min(1), pagepath: z.string().min(1) }),
  z.object({ type: z.enum(['scancode_push', 'scancode_waitmsg', 'pic_sysphoto', 'pic_photo_or_album', 'pic_weixin', 'location_select']), name: z.string(), key: menuKey }),
]);

const subButton = leafButton.superRefine((b, ctx) => {
  if (byteLength(b.name) > 60) ctx.addIssue({ code: 'custom', path: ['name'], message: 'expected a sub-menu name of at most 60 bytes (about 8 Chinese characters is the readable limit)' });
});

const buttonGroup = z
  .object({ name: z.string(), sub_button: z.array(subButton).min(1, { message: 'expected 1 to 5 sub-buttons' }).max(5, { message: 'expected at most 5 sub-buttons' }) })
  .strict();

/**
 * Choose the schema by the value's shape (a group has sub_button), so errors point into the branch
 * the author meant instead of a bare "invalid input" from a union.
 */
function chooseBy<T extends z.ZodType, U extends z.ZodType>(isFirst: (v: Record<string, unknown>) => boolean, first: T, second: U) {
  return z.unknown().transform((v, ctx): z.infer<T> | z.infer<U> => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: 'expected an object' });
      return z.NEVER;
    }
    const r = (isFirst(v as Record<string, unknown>) ? first : second).safeParse(v);
    if (r.success) return r.data as z.infer<T> | z.infer<U>;
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as (string | number)[] });
    return z.NEVER;
  });
}

const topButton = chooseBy((v) => 'sub_button' in v, buttonGroup, leafButton).superRefine((b, ctx) => {
  if (byteLength(b.name) > 16) ctx.addIssue({ code: 'custom', path: ['name'], message: 'expected a top-level menu name of at most 16 bytes (4 Chinese characters)' });
});

export const menuSchema = z.object({
  /** Push the menu to the platform at start-up. */
  sync_on_start: z.boolean().default(false),
  buttons: z.array(topButton).min(1).max(3, { message: 'expected at most 3 top-level buttons' }),
});

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'expected a time "HH:MM"' });
const interval = z.tuple([hhmm, hhmm]);
export const weekHoursSchemaLoose = z
  .object({
    default: z.array(interval).optional(),
    mon: z.array(interval).optional(),
    tue: z.array(interval).optional(),
    wed: z.array(interval).optional(),
    thu: z.array(interval).optional(),
    fri: z.array(interval).optional(),
    sat: z.array(interval).optional(),
    sun: z.array(interval).optional(),
  })
  .strict();

const apiBase = z.union([z.literal('emulator'), z.string().url({ message: 'expected "emulator" or an http(s) URL' })]);

export const wechatSchema = z
  .object({
    /** 原始ID (gh_…): the ToUserName of messages to this account. */
    original_id: z.string().min(1),
    appid: z.string().regex(/^wx[0-9a-zA-Z]{6,30}$/, { message: 'expected an appid such as "wx1234567890abcdef"' }),
    appsecret: z.string().min(8),
    token: z.string().regex(/^[A-Za-z0-9]{3,32}$/, { message: 'expected a token of 3–32 letters or digits' }),
    aes_key: z
      .string()
      .regex(/^[A-Za-z0-9]{43}$/, { message: 'expected an EncodingAESKey of exactly 43 letters or digits' })
      .optional(),
    /** plain: 明文模式; compatible: 兼容模式; safe: 安全模式. */
    encoding: z.enum(['plain', 'compatible', 'safe']).default('safe'),
    /** Refuse plain (unencrypted) POSTs even in compatible mode. */
    require_encryption: z.boolean().default(false),
    api_base_url: apiBase.default('https://api.weixin.qq.com'),
    oauth_base_url: apiBase.default('https://open.weixin.qq.com'),
    /** Answer `success` and send the reply by customer-service message after this long. */
    reply_timeout_ms: z.number().int().min(100).max(4800).default(4000),
    max_body_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
    /** Refuse callbacks whose timestamp is further than this from our clock; 0 turns the check off. */
    max_clock_skew_seconds: z.number().int().min(0).default(300),
    /** How long a reply is kept for retries (WeChat retries within ~15 s); the log stops later repeats. */
    dedup_ttl_seconds: z.number().int().min(20).max(86_400).default(30),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.encoding !== 'plain' && !w.aes_key) ctx.addIssue({ code: 'custom', path: ['aes_key'], message: `expected an EncodingAESKey when encoding is "${w.encoding}"` });
    if (w.require_encryption && w.encoding === 'plain') ctx.addIssue({ code: 'custom', path: ['require_encryption'], message: 'expected encoding "safe" or "compatible" when require_encryption is true' });
  });

export const emulatorSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Citizens the phone page offers. */
    citizens: z.array(z.object({ openid: z.string().regex(/^[A-Za-z0-9_-]{6,64}$/), nickname: z.string().min(1) }).strict()).default([]),
  })
  .strict();

export const profileSchema = z
  .object({
    account: z
      .object({
        name: z.string().min(1).max(30),
        /** What the account does for citizens, in their words (not a description of the department). */
        introduction: z.string().min(10),
      })
      .strict(),
    wechat: wechatSchema,
    menu: menuSchema.optional(),
    replies: z
      .object({
        /** Answer when nothing else does. */
        default: z.string().min(1),
        /** Answer when something went wrong on our side. */
        error: z.string().min(1),
      })
      .strict(),
    /** Office hours for staff replies; working days come from the calendar. */
    service_hours: weekHoursSchemaLoose,
    /** The holiday calendar file, relative to the profile's folder. */
    calendar: z.string().min(1).default('calendar.yaml'),
    emulator: emulatorSchema.default({ enabled: false, citizens: [] }),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const field of ['api_base_url', 'oauth_base_url'] as const) {
      if (p.wechat[field] === 'emulator' && !p.emulator.enabled) {
        ctx.addIssue({ code: 'custom', path: ['wechat', field], message: 'expected an http(s) URL: "emulator" needs emulator.enabled: true' });
      }
    }
  });

export type Profile = z.infer<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;
export type MenuButton = z.infer<typeof topButton>;
