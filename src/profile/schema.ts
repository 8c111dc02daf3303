import { z } from 'zod';
import { faqSchema, FUNCTIONS, functionSchema, serviceSchema, synonymsSchema } from './catalogue.ts';
import { hallSchema } from './halls.ts';
import { intentsSchema } from '../chat/intent.ts';
import { weekHoursSchema } from './hours.ts';
import { validitySchema } from './validity.ts';
import { audiencesSchema, conversationSchema, handoffSchema, keywordRuleSchema, navNodeSchema, sceneSchema, type NavNode, type ReplySpec } from './conversation.ts';
import { textsSchema } from './texts.ts';
import { checkTicketReferences, ticketsSchema } from './tickets.ts';
import { bindingsSchema, checkBindings } from './bindings.ts';
import { isEmulatorUrl, LIVE_PAY_URL, paySchema } from '../pay/config.ts';
import { checkStaffReferences, DEFAULT_DEPARTMENTS, DEFAULT_INBOX, departmentSchema, inboxSchema } from './staff.ts';

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

/** Every button says which of the three functions it serves; a sub-button may inherit it. */
const fn = { function: functionSchema.optional(), ...validitySchema };
const leafButton = z.discriminatedUnion('type', [
  z.object({ type: z.literal('click'), name: z.string(), key: menuKey, ...fn }).strict(),
  z.object({ type: z.literal('view'), name: z.string(), url: linkSchema, ...fn }).strict(),
  z.object({ type: z.literal('miniprogram'), name: z.string(), url: linkSchema, appid: z.string().min(1), pagepath: z.string().min(1), ...fn }).strict(),
  z.object({ type: z.enum(['scancode_push', 'scancode_waitmsg', 'pic_sysphoto', 'pic_photo_or_album', 'pic_weixin', 'location_select']), name: z.string(), key: menuKey, ...fn }).strict(),
]);

const subButton = leafButton.superRefine((b, ctx) => {
  if (byteLength(b.name) > 60) ctx.addIssue({ code: 'custom', path: ['name'], message: 'expected a sub-menu name of at most 60 bytes (about 8 Chinese characters is the readable limit)' });
});

const buttonGroup = z
  .object({ name: z.string(), ...fn, sub_button: z.array(subButton).min(1, { message: 'expected 1 to 5 sub-buttons' }).max(5, { message: 'expected at most 5 sub-buttons' }) })
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

export const menuSchema = z
  .object({
    /** Push the menu to the platform at start-up (and again whenever an item's validity starts or ends). */
    sync_on_start: z.boolean().default(false),
    /** The 2025 survey asks every account to cover 政务公开, 办事服务 and 互动交流; set true to allow less. */
    allow_partial_functions: z.boolean().default(false),
    buttons: z.array(topButton).min(1).max(3, { message: 'expected at most 3 top-level buttons' }),
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

/**
 * A template message as the account has added it on the platform: its id, and how each field is
 * filled from a message's values ({case_no}, {step} …). Values are fitted to WeChat's limits.
 */
export const templateSchema = z
  .object({
    id: z.string().min(1).max(64),
    title: z.string().min(1).max(30),
    fields: z.record(z.string().regex(/^[a-z_]+\d*$/, { message: 'expected a field key such as thing1 or time2' }), z.string().max(200)),
    /** What the citizen sees before each value (the emulator shows them; WeChat takes them from the template). */
    labels: z.record(z.string(), z.string().max(20)).default({}),
  })
  .strict();

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
    /** When staff answer (weekends, holidays, particular dates, round the clock: see hours.ts). */
    service_hours: weekHoursSchema(true),
    /** The holiday calendar file, relative to the profile's folder. */
    calendar: z.string().min(1).default('calendar.yaml'),
    emulator: emulatorSchema.default({ enabled: false, citizens: [] }),
    /** Welcome, lists and limits of the conversation. */
    conversation: conversationSchema,
    /** The numbered navigation tree (the home list is its top level). */
    navigation: z.array(navNodeSchema).min(1).max(9, { message: 'expected at most 9 choices (one digit each)' }),
    /** Keyword auto-replies. */
    keywords: z.array(keywordRuleSchema).default([]),
    /** 人群分类: citizens pick one and see its menus. */
    audiences: audiencesSchema.optional(),
    /** Handing the conversation to staff. */
    handoff: handoffSchema,
    /** Greetings for parametric QR codes (a hall's desk, a poster). */
    scenes: z.array(sceneSchema).default([]),
    /** The service catalogue (事项); may be a file name, e.g. services.yaml. */
    services: z.array(serviceSchema).default([]),
    /** Frequently asked questions; may be a file name. */
    faq: z.array(faqSchema).default([]),
    /** Words citizens use for the same thing; may be a file name. */
    synonyms: synonymsSchema.default([]),
    /** Service halls (大厅): where they are, when they open, their windows; may be a file name. */
    halls: z.array(hallSchema).default([]),
    /** Template messages by purpose (staff_reply, progress …): reach citizens past the 48-hour window. */
    templates: z.record(z.string(), templateSchema).default({}),
    /** Departments: who handles what, their canned replies and supervisors (see staff.ts). */
    departments: z.array(departmentSchema).min(1).prefault(DEFAULT_DEPARTMENTS),
    /** The staff inbox: categories and their due rules, highlighting, the rating question. */
    inbox: inboxSchema.prefault(DEFAULT_INBOX),
    /** weiban's own sentences and words, where the department needs others (see texts.ts). */
    texts: textsSchema.prefault({}),
    /** Account binding (读者证, 机动车 …), departments' systems and the events they push (see bindings.ts). */
    bindings: bindingsSchema.prefault({}),
    /** What citizens want done (book an item …) and the words they say it with (see chat/intent.ts). */
    intents: intentsSchema.prefault({}),
    /** Complaints, help, suggestions and the leader mailbox (the 12345 loop); without it none is offered. */
    tickets: ticketsSchema.optional(),
    /** 缴费: WeChat Pay (API v3) for bills — case fees, booking fees, bills a department pushes (see pay/config.ts). */
    pay: paySchema.prefault({}),
  })
  .strict()
  .superRefine((p, ctx) => {
    p.services.forEach((s, i) => {
      if (s.appointment?.fee_fen && !p.pay.enabled) ctx.addIssue({ code: 'custom', path: ['services', i, 'appointment', 'fee_fen'], message: `expected pay.enabled: true: a booking fee is paid in WeChat right after booking (item "${s.id}")` });
    });
    if (p.pay.enabled && p.pay.base_url === 'emulator' && !p.emulator.enabled) {
      ctx.addIssue({ code: 'custom', path: ['pay', 'base_url'], message: 'expected https://api.mch.weixin.qq.com: "emulator" needs emulator.enabled: true' });
    }
    // An emulated pay platform in another process pays nothing: never for a real account's citizens.
    const realAccount = (['api_base_url', 'oauth_base_url'] as const).find((f) => p.wechat[f] !== 'emulator' && !isEmulatorUrl(p.wechat[f], /\/emulator\/?$/));
    if (p.pay.enabled && p.pay.base_url !== 'emulator' && isEmulatorUrl(p.pay.base_url) && realAccount) {
      ctx.addIssue({
        code: 'custom',
        path: ['pay', 'base_url'],
        message: `expected ${LIVE_PAY_URL} with a real WeChat account (wechat.${realAccount} is ${p.wechat[realAccount]}): an emulator's pay platform would mark bills paid that nobody paid`,
      });
    }
    for (const field of ['api_base_url', 'oauth_base_url'] as const) {
      if (p.wechat[field] === 'emulator' && !p.emulator.enabled) {
        ctx.addIssue({ code: 'custom', path: ['wechat', field], message: 'expected an http(s) URL: "emulator" needs emulator.enabled: true' });
      }
    }
    // A live profile never mounts the emulator: it would take messages signed with the live token
    // from anyone and act as any real citizen (and the demo would make its administrator).
    const live = (['api_base_url', 'oauth_base_url'] as const).find((field) => p.wechat[field] !== 'emulator');
    if (p.emulator.enabled && live) {
      ctx.addIssue({
        code: 'custom',
        path: ['emulator', 'enabled'],
        message: `expected false with a live profile (wechat.${live} is ${p.wechat[live]}): the emulator would let anyone act as a real citizen; for the demo set both wechat.api_base_url and wechat.oauth_base_url to "emulator"`,
      });
    }
    checkReferences(p as Profile, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    checkStaffReferences(p, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    if (p.tickets) checkTicketReferences(p.tickets, new Set(p.departments.map((d) => d.id)), (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    checkBindings(p.bindings, { templates: p.templates, departments: p.departments.map((d) => d.id), emulator: p.emulator.enabled }, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  });

type Report = (path: (string | number)[], message: string) => void;

/** Everything in the profile that refers to something else refers to something that exists. */
function checkReferences(p: Profile, report: Report): void {
  const unique = (ids: { id: string }[], path: string) => {
    const seen = new Set<string>();
    ids.forEach((x, i) => {
      if (seen.has(x.id)) report([path, i, 'id'], `expected a unique id; "${x.id}" is used twice`);
      seen.add(x.id);
    });
    return seen;
  };
  const services = unique(p.services, 'services');
  const faqs = unique(p.faq, 'faq');
  unique(p.keywords, 'keywords');
  const audiences = new Set(p.audiences?.options.map((a) => a.id) ?? []);
  if (p.audiences) unique(p.audiences.options, 'audiences');
  if (p.audiences?.default && !audiences.has(p.audiences.default)) report(['audiences', 'default'], `expected one of the audience ids (${[...audiences].join(', ')})`);

  const navIds = new Set<string>();
  const walk = (nodes: NavNode[], path: (string | number)[], parentFn: string | undefined) => {
    nodes.forEach((n, i) => {
      const here = [...path, i];
      if (navIds.has(n.id)) report([...here, 'id'], `expected a unique navigation id; "${n.id}" is used twice`);
      navIds.add(n.id);
      if (!n.function && !parentFn) report([...here, 'function'], `expected a function (${FUNCTIONS.join(' / ')}) on a top-level navigation node`);
      if (n.function && parentFn && n.function !== parentFn) report([...here, 'function'], `expected "${parentFn}" like its parent: a ${n.function} item does not belong under a ${parentFn} item`);
      if (n.children) walk(n.children, [...here, 'children'], n.function ?? parentFn);
    });
  };
  walk(p.navigation, ['navigation'], undefined);

  const checkAudience = (list: string[], path: (string | number)[]) =>
    list.forEach((a, i) => {
      if (!audiences.has(a)) report([...path, i], `expected an audience id defined under audiences.options${audiences.size ? ` (${[...audiences].join(', ')})` : ' (none defined)'}`);
    });
  p.services.forEach((s, i) => checkAudience(s.audience, ['services', i, 'audience']));
  p.faq.forEach((f, i) => {
    checkAudience(f.audience, ['faq', i, 'audience']);
    if (f.service && !services.has(f.service)) report(['faq', i, 'service'], `expected a service id; "${f.service}" is not in services`);
  });
  p.keywords.forEach((k, i) => checkAudience(k.audience, ['keywords', i, 'audience']));
  const eachNode = (nodes: NavNode[], path: (string | number)[], fn: (n: NavNode, path: (string | number)[]) => void) =>
    nodes.forEach((n, i) => {
      fn(n, [...path, i]);
      if (n.children) eachNode(n.children, [...path, i, 'children'], fn);
    });
  eachNode(p.navigation, ['navigation'], (n, path) => checkAudience(n.audience, [...path, 'audience']));

  const checkReply = (r: ReplySpec | undefined, path: (string | number)[]) => {
    if (!r) return;
    if (r.service && !services.has(r.service)) report([...path, 'service'], `expected a service id; "${r.service}" is not in services`);
    if (r.faq && !faqs.has(r.faq)) report([...path, 'faq'], `expected an FAQ id; "${r.faq}" is not in faq`);
    if (r.nav && !navIds.has(r.nav)) report([...path, 'nav'], `expected a navigation id; "${r.nav}" is not in navigation`);
    if (r.switch_audience && !p.audiences) report([...path, 'switch_audience'], 'expected an audiences section to switch between');
    const cats = p.inbox.categories.map((c) => c.id);
    const deps = p.departments.map((d) => d.id);
    if (r.route?.category && !cats.includes(r.route.category)) report([...path, 'route', 'category'], `expected an inbox category id (${cats.join(', ')}); got "${r.route.category}"`);
    if (r.route?.department && !deps.includes(r.route.department)) report([...path, 'route', 'department'], `expected a department id (${deps.join(', ')}); got "${r.route.department}"`);
    if (r.dialog === 'ticket' && !p.tickets) report([...path, 'dialog'], 'expected a tickets section in the profile for dialog: ticket');
    const kinds = p.tickets?.kinds.map((k) => k.id) ?? [];
    const ticketCats = p.tickets?.categories.map((c) => c.id) ?? [];
    if (r.ticket?.kind && !kinds.includes(r.ticket.kind)) report([...path, 'ticket', 'kind'], `expected a ticket kind id (${kinds.join(', ')}); got "${r.ticket.kind}"`);
    if (r.ticket?.category && !ticketCats.includes(r.ticket.category)) report([...path, 'ticket', 'category'], `expected a ticket category id (${ticketCats.join(', ')}); got "${r.ticket.category}"`);
  };
  eachNode(p.navigation, ['navigation'], (n, path) => checkReply(n.reply, [...path, 'reply']));
  p.keywords.forEach((k, i) => checkReply(k.reply, ['keywords', i, 'reply']));
  p.scenes.forEach((s, i) => checkReply(s.then, ['scenes', i, 'then']));

  const halls = unique(p.halls, 'halls');
  p.halls.forEach((h, i) =>
    h.windows.forEach((w, j) =>
      w.services.forEach((sid, k) => {
        if (!services.has(sid)) report(['halls', i, 'windows', j, 'services', k], `expected a service id; "${sid}" is not in services`);
      }),
    ),
  );
  p.services.forEach((s, i) => {
    const rule = s.appointment;
    if (!rule) return;
    rule.halls.forEach((hid, j) => {
      const hall = p.halls.find((h) => h.id === hid);
      if (!halls.has(hid) || !hall) report(['services', i, 'appointment', 'halls', j], `expected a hall id; "${hid}" is not in halls`);
      else if (!hall.windows.some((w) => w.services.includes(s.id)) && !rule.capacity_per_slot) {
        report(['services', i, 'appointment', 'halls', j], `expected a window of hall "${hid}" that handles "${s.id}" (or capacity_per_slot)`);
      }
    });
  });

  if (p.menu) {
    const clickKeys = new Set(p.keywords.flatMap((k) => k.click_keys));
    const routable = (key: string) => clickKeys.has(key) || navIds.has(key) || services.has(key) || faqs.has(key);
    const covered = new Set<string>();
    p.menu.buttons.forEach((b, i) => {
      if (!b.function) report(['menu', 'buttons', i, 'function'], `expected a function (${FUNCTIONS.join(' / ')}) on every top-level button`);
      else covered.add(b.function);
      const leaves = 'sub_button' in b ? b.sub_button.map((s, j) => [s, ['menu', 'buttons', i, 'sub_button', j]] as const) : [[b, ['menu', 'buttons', i]] as const];
      for (const [leaf, path] of leaves) {
        if ('sub_button' in b && leaf.function && b.function && leaf.function !== b.function) {
          report([...path, 'function'], `expected "${b.function}" like its parent: a ${leaf.function} item does not belong under a ${b.function} button`);
        }
        if (leaf.type === 'click' && !routable(leaf.key)) report([...path, 'key'], `expected a key that a keyword rule (click_keys), navigation node, service or FAQ answers; nothing answers "${leaf.key}"`);
      }
    });
    if (!p.menu.allow_partial_functions) {
      const missing = FUNCTIONS.filter((f) => !covered.has(f));
      if (missing.length) report(['menu', 'buttons'], `expected the menu to cover ${FUNCTIONS.join(', ')}; missing ${missing.join(', ')} (set menu.allow_partial_functions to allow it)`);
    }
  }
}

export type Profile = z.infer<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;
export type MenuButton = z.infer<typeof topButton>;
export type ProfileTemplate = z.infer<typeof templateSchema>;
