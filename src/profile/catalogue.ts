import { z } from 'zod';
import { applicationSchema } from './application.ts';
import { appointmentRuleSchema } from './halls.ts';
import { idSchema } from './ids.ts';
import { validitySchema } from './validity.ts';

/** The three functions the 2025 survey asks every account's menu to cover. */
export const FUNCTIONS = ['政务公开', '办事服务', '互动交流'] as const;
export type MenuFunction = (typeof FUNCTIONS)[number];
export const functionSchema = z.enum(FUNCTIONS, { message: `expected one of ${FUNCTIONS.join(' / ')}` });

export { idSchema } from './ids.ts';

const text = (max: number) => z.string().trim().min(1).max(max);

/** 办事指南: what a citizen needs to know before going. */
export const guideSchema = z
  .object({
    /** Who can apply for what, in one or two plain sentences. */
    summary: text(300),
    /** 办理条件. */
    conditions: z.array(text(200)).default([]),
    /** 申请材料. */
    materials: z.array(text(200)).min(1),
    /** 收费标准, e.g. 免费 or 工本费 20 元. */
    fee: text(100),
    /** 办理地点. */
    where: text(200),
    /** 办理时间. */
    when: text(200),
    /** 承诺时限, e.g. 即来即办 / 15 个工作日. */
    time_limit: text(100),
    /** 设定依据. */
    legal_basis: z.array(text(200)).default([]),
    /** 办理流程, in steps. */
    process: z.array(text(200)).default([]),
    /** 咨询电话. */
    phone: text(40).optional(),
  })
  .strict();

/** A service item (事项). Later capabilities add appointment rules, forms, fees and steps. */
export const serviceSchema = z
  .object({
    id: idSchema,
    name: text(30),
    /** Audience ids this item is for; empty means everyone. */
    audience: z.array(idSchema).default([]),
    /** The department that handles it. */
    department: text(40).optional(),
    keywords: z.array(text(20)).default([]),
    synonyms: z.array(text(20)).default([]),
    guide: guideSchema,
    /** Booking a visit to a hall for it (预约). */
    appointment: appointmentRuleSchema.optional(),
    /** Applying online for it (网上申请): form, fee, time limit, steps. */
    application: applicationSchema.optional(),
    ...validitySchema,
  })
  .strict();

export const faqSchema = z
  .object({
    id: idSchema,
    question: text(100),
    answer: text(1500),
    keywords: z.array(text(20)).default([]),
    synonyms: z.array(text(20)).default([]),
    audience: z.array(idSchema).default([]),
    /** The service item this answer belongs to, if any. */
    service: idSchema.optional(),
    ...validitySchema,
  })
  .strict();

/** Groups of words citizens use for the same thing: 社保 = 社会保险 = 养老保险 … */
export const synonymsSchema = z.array(z.array(text(20)).min(2));

export type Service = z.infer<typeof serviceSchema>;
export type Faq = z.infer<typeof faqSchema>;
export type Guide = z.infer<typeof guideSchema>;
