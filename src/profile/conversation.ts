import { z } from 'zod';
import { functionSchema, idSchema } from './catalogue.ts';
import { validitySchema } from './validity.ts';

/** Service dialogs a navigation leaf, rule or scene can start (each capability adds its own). */
export const DIALOGS = ['ask', 'bills', 'book', 'my-bookings', 'progress', 'ticket'] as const;
export type DialogName = (typeof DIALOGS)[number];

const text = (max: number) => z.string().trim().min(1).max(max);
/** A URL of ours (`/h5/...`, resolved against PUBLIC_URL) or an absolute http(s) URL. */
const link = z.string().refine((s) => s.startsWith('/') || /^https?:\/\/[^\s]+$/.test(s), { message: 'expected a path starting with "/" or an http(s) URL' });

const REPLY_KINDS = ['text', 'news', 'image', 'link', 'service', 'faq', 'nav', 'dialog', 'handoff', 'home', 'switch_audience'] as const;

/**
 * Where a handoff goes, set by the rule or menu entry that hands off (directly, or through the
 * 我要咨询 dialog): the inbox category (and so its due time), the department, urgency. An urgent
 * handoff alerts the department's supervisors (or its duty officers) at once.
 */
export const handoffRouteSchema = z
  .object({
    category: idSchema.optional(),
    department: idSchema.optional(),
    urgent: z.boolean().optional(),
    /** Who is alerted when it is urgent: the department's supervisors (default) or its duty officers. */
    alert: z.enum(['supervisors', 'duty']).optional(),
    /** Said instead of handoff.texts.queued; {when} is the promised time. */
    queued: text(300).optional(),
  })
  .strict();
export type HandoffRouteSpec = z.infer<typeof handoffRouteSchema>;

/** Message kinds the 我要咨询 dialog may take besides words (a location for 拥堵上报, a photo for 随手拍). */
export const ASK_ACCEPTS = ['location', 'image'] as const;

/**
 * What the account answers: exactly one of these. Used by navigation leaves, keyword rules and
 * scenes alike.
 */
export const replySpecSchema = z
  .object({
    /** Plain text; `<a href="…">` links allowed. */
    text: text(4000).optional(),
    /** One article (WeChat shows one in a reply). */
    news: z.object({ title: text(64), description: text(120).optional(), url: link, pic_url: link.optional() }).strict().optional(),
    /** A permanent image's media_id. */
    image: text(128).optional(),
    /** A link to a page, as a short text line. */
    link: z.object({ title: text(64), url: link, description: text(200).optional() }).strict().optional(),
    /** A service item's guide. */
    service: idSchema.optional(),
    /** An FAQ answer. */
    faq: idSchema.optional(),
    /** Open a navigation node (its numbered list). */
    nav: idSchema.optional(),
    /** Start a service dialog. */
    dialog: z.enum(DIALOGS, { message: `expected one of ${DIALOGS.join(', ')}` }).optional(),
    /** Put the conversation in the staff queue. */
    handoff: z.literal(true).optional(),
    /** The home list, with a greeting. */
    home: z.literal(true).optional(),
    /** Let the citizen choose their audience (市民 / 企业 …). */
    switch_audience: z.literal(true).optional(),
    // ---- with handoff or dialog: ask -----------------------------------------------------------
    /** Where the handoff goes and how urgent it is. */
    route: handoffRouteSchema.optional(),
    /** dialog: ask — what the citizen is asked (else texts.ask_prompt): 请告诉我们哪条路、哪个方向堵车 */
    prompt: text(300).optional(),
    /** dialog: ask — also take a sent location or photo as the report. */
    accept: z.array(z.enum(ASK_ACCEPTS)).optional(),
    // ---- with dialog: ticket -------------------------------------------------------------------
    /** dialog: ticket — what the report is (kind, category from tickets) and whether it is urgent. */
    ticket: z.object({ kind: idSchema.optional(), category: idSchema.optional(), urgent: z.boolean().optional() }).strict().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = REPLY_KINDS.filter((k) => r[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `expected exactly one of ${REPLY_KINDS.join(', ')} (got ${given.length ? given.join(', ') : 'none'})` });
    const ask = r.dialog === 'ask';
    if (r.route && !ask && !r.handoff) ctx.addIssue({ code: 'custom', path: ['route'], message: 'expected route only with handoff: true or dialog: ask (it says where a handoff goes)' });
    if (r.prompt !== undefined && !ask) ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'expected prompt only with dialog: ask' });
    if (r.accept?.length && !ask) ctx.addIssue({ code: 'custom', path: ['accept'], message: 'expected accept only with dialog: ask' });
    if (r.ticket && r.dialog !== 'ticket') ctx.addIssue({ code: 'custom', path: ['ticket'], message: 'expected ticket only with dialog: ticket' });
  });
export type ReplySpec = z.infer<typeof replySpecSchema>;

export interface NavNode {
  id: string;
  title: string;
  function?: z.infer<typeof functionSchema> | undefined;
  audience: string[];
  valid_from?: string | undefined;
  valid_until?: string | undefined;
  children?: NavNode[] | undefined;
  reply?: ReplySpec | undefined;
}

/** A node of the numbered navigation tree: a branch (children) or a leaf (reply). */
export const navNodeSchema: z.ZodType<NavNode> = z.lazy(() =>
  z
    .object({
      id: idSchema,
      title: text(30),
      /** 政务公开 / 办事服务 / 互动交流: inherited from the parent when left out, refused when different. */
      function: functionSchema.optional(),
      /** Shown only to these audiences; empty means everyone. */
      audience: z.array(idSchema).default([]),
      ...validitySchema,
      children: z.array(navNodeSchema).min(1).max(9, { message: 'expected at most 9 choices (one digit each)' }).optional(),
      reply: replySpecSchema.optional(),
    })
    .strict()
    .superRefine((n, ctx) => {
      if ((n.children === undefined) === (n.reply === undefined)) ctx.addIssue({ code: 'custom', message: 'expected either children (a branch) or reply (a leaf)' });
    }),
);

export const keywordRuleSchema = z
  .object({
    id: idSchema,
    /** exact: the whole message; contains: anywhere in it; regex: a JavaScript regular expression. */
    match: z.enum(['exact', 'contains', 'regex']),
    /** Words (or expressions) that mean the same to this rule. */
    patterns: z.array(text(100)).min(1),
    /** Higher wins when several rules match (default 0); then exact before contains before regex. */
    priority: z.number().int().min(-1000).max(1000).default(0),
    /** Menu CLICK keys this rule answers. */
    click_keys: z.array(text(128)).default([]),
    audience: z.array(idSchema).default([]),
    ...validitySchema,
    reply: replySpecSchema,
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.match !== 'regex') return;
    r.patterns.forEach((p, i) => {
      try {
        new RegExp(p, 'u');
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['patterns', i], message: `expected a valid regular expression: ${(err as Error).message}` });
      }
    });
  });
export type KeywordRule = z.infer<typeof keywordRuleSchema>;

export const conversationSchema = z
  .object({
    /** A citizen's place in the menus is forgotten after this long without a message. */
    session_idle_minutes: z.number().int().min(1).max(24 * 60).default(30),
    /** Numbered lines are tappable (weixin://bizmsgmenu), so nobody has to type the digit. */
    tappable_numbers: z.boolean().default(true),
    welcome: z
      .object({
        /** What the account does for the citizen; the numbered home list follows it. */
        text: text(600),
        /** How to search, e.g. 或直接输入关键词，如：社保、预约、进度 */
        keyword_hint: text(100),
      })
      .strict(),
    /** Title of the home list when it is shown again (00 / 首页 / 菜单). */
    home_title: text(60).default('请回复数字选择：'),
    /** Shown with a list when a number outside it was sent. */
    out_of_range_hint: text(60).default('没有这个选项，请回复列表中的数字：'),
    /** Answer to an image, a voice message without recognition, a video or a file. */
    non_text_reply: text(300),
  })
  .strict();

export const audiencesSchema = z
  .object({
    /** Where a new citizen starts; without it they are asked first. */
    default: idSchema.optional(),
    options: z
      .array(z.object({ id: idSchema, name: text(20), description: text(60).optional() }).strict())
      .min(2)
      .max(9),
    /** Words that bring up the choice again. */
    switch_keywords: z.array(text(20)).default(['切换身份', '切换']),
  })
  .strict();

export const handoffSchema = z
  .object({
    /** Words that ask for a human. */
    keywords: z.array(text(20)).min(1),
    /** Words that end the human conversation. */
    leave_keywords: z.array(text(20)).min(1),
    /** Whether keyword rules are still answered while staff have the conversation. */
    keywords_while_human: z.boolean().default(true),
    /** Unanswered questions go to staff (otherwise the default reply is given). */
    unanswered_to_staff: z.boolean().default(true),
    /**
     * bot: words are searched and only what nothing answers goes to staff. duty: a duty-officer
     * account — every message in words goes to the duty officers at once (with what search finds
     * offered beside it); numbers, menu taps and a keyword rule's own words still answer.
     */
    mode: z.enum(['bot', 'duty']).default('bot'),
    /**
     * While staff have the conversation, the citizen's messages are acknowledged (texts.received):
     * the first one after the handoff, then at most one in this many minutes.
     */
    ack_every_minutes: z.number().int().min(1).max(1440).default(10),
    /** Replaced by the category's due rule (one clock): refused with a word on what to do instead. */
    min_minutes_left_today: z
      .unknown()
      .optional()
      .superRefine((v, ctx) => {
        if (v !== undefined) ctx.addIssue({ code: 'custom', message: 'is no longer used: the citizen is promised the due time of the inbox category (inbox.categories[].due, e.g. office_hours: 4); remove this line' });
      }),
    texts: z
      .object({
        /** {when} is replaced by the promise: 今天 17:30 前 / 下一个工作日（周一）上午 … */
        queued: text(200),
        queued_unanswered: text(200),
        already_waiting: text(200),
        left: text(200),
        /** A menu tap while staff have the conversation (the bot does not start lists then). */
        menu_while_human: text(200).default('您正在和工作人员对话，留言会直接转给他们。要使用菜单，请先回复「结束人工」。'),
        /** A message while the question waits for staff (the first, then one every ack_every_minutes); {when} is the promise. */
        received: text(200).default('收到，您的留言已经转给工作人员，{when}回复您。'),
        /** The same once staff have answered, or the promised time has passed. */
        received_later: text(200).default('收到，您的留言已经转给工作人员，他们会尽快回复您。'),
        /** 结束人工 before anyone answered: the question stays with staff. */
        left_waiting: text(200).default('好的，已回到自动服务。您的问题工作人员还没有答复，我们仍会答复您，答复会发到这里。'),
        /** 转人工 again while the earlier question still waits. */
        resumed: text(200).default('好的，已重新为您接通工作人员。您的问题还在排队，会尽快回复您；可以继续补充情况。'),
        /** Before what search found for a message while the citizen waits for staff. */
        found_while_waiting: text(60).default('等待的时候，您可以先看看：'),
        /** mode: duty — a message handed to the duty officers; {when} is the promised time. */
        queued_duty: text(200).default('您的留言已转给值班人员，{when}回复您，回复会发到这里。'),
        /** mode: duty — before what search found, offered beside the handoff. */
        duty_suggestions: text(60).default('您也可以先看看：'),
      })
      .strict(),
  })
  .strict();

export const sceneSchema = z
  .object({
    /** The QR code's scene string; a trailing * matches any scene starting with the rest. */
    scene: z.string().min(1).max(64),
    greeting: text(300),
    then: replySpecSchema.optional(),
  })
  .strict();
