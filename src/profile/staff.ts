import { z } from 'zod';
import { idSchema } from './catalogue.ts';

/**
 * The staff side of the profile: departments (who handles what, their canned replies and
 * supervisors) and the inbox (request categories with their due rules, highlighting, ratings).
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const username = z.string().regex(/^[a-z0-9][a-z0-9._-]{1,31}$/, { message: 'expected a staff username (2–32 lowercase letters, digits, . _ -)' });

export const cannedReplySchema = z
  .object({
    /** What staff see on the button. */
    title: text(20),
    /** What is put into the reply box (staff may edit it before sending). */
    text: text(1000),
  })
  .strict();

export const departmentSchema = z
  .object({
    id: idSchema,
    name: text(30),
    /** What the department handles, in a phrase shown to staff choosing where to transfer. */
    description: text(120).optional(),
    /** Service items (ids from services) this department answers for. */
    handles: z.array(idSchema).default([]),
    /**
     * Usernames of the supervisors (负责人) an overdue conversation is escalated to, in order of
     * preference; without one, any active supervisor account of the department.
     */
    supervisors: z.array(username).default([]),
    /** 常用语: canned replies for this department's staff. */
    canned_replies: z.array(cannedReplySchema).max(30).default([]),
  })
  .strict();

/**
 * When a first answer is due: `hours` counted over all 24 hours of each day staff are on duty
 * (Friday 16:00 + 24 h = Monday 16:00 for a weekday desk), `office_hours` counted inside the
 * service hours only, or the end of service hours on the n-th `working_days` after the request
 * arrived. The citizen is promised the same time.
 */
export const dueRuleSchema = z
  .object({
    hours: z.number().positive().max(24 * 60).optional(),
    office_hours: z.number().positive().max(24 * 60).optional(),
    working_days: z.number().int().min(1).max(60).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = (['hours', 'office_hours', 'working_days'] as const).filter((k) => r[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `expected exactly one of hours, office_hours, working_days${given.length ? `; got ${given.join(' and ')}` : ''}` });
  })
  .transform((r): { hours: number } | { office_hours: number } | { working_days: number } =>
    r.hours !== undefined ? { hours: r.hours } : r.office_hours !== undefined ? { office_hours: r.office_hours } : { working_days: r.working_days! },
  );
export type DueRule = z.infer<typeof dueRuleSchema>;

export const categorySchema = z
  .object({
    id: idSchema,
    /** 简单咨询 / 复杂事项 / 投诉 … */
    name: text(20),
    due: dueRuleSchema,
  })
  .strict();

export const ratingLevelSchema = z.object({ level: z.number().int().min(1).max(5), label: text(10) }).strict();

export const inboxSchema = z
  .object({
    /** Where new handoffs go, until staff transfer them. */
    default_department: idSchema,
    /** The category a new handoff starts in, until staff classify it. */
    default_category: idSchema,
    categories: z.array(categorySchema).min(1),
    /** Highlight a conversation this long before its first answer is due. */
    near_due_hours: z.number().positive().max(72).default(4),
    /** A first reply within this many minutes counts as instant (即时) on the dashboard. */
    instant_minutes: z.number().int().min(1).max(240).default(10),
    /**
     * Signed under each staff reply, so the citizen knows who answered: {department} is the
     * replying department's name. Empty: unsigned.
     */
    reply_signature: z.string().max(40).default('——{department}'),
    /** Closing asks the citizen to rate the answer (自愿评价): five levels, best first. */
    rating: z
      .object({
        head: text(120),
        tail: text(120).optional(),
        levels: z
          .array(ratingLevelSchema)
          .length(5, { message: 'expected five levels (非常满意 … 非常不满意)' })
          .refine((l) => [...l.map((x) => x.level)].sort().join() === '1,2,3,4,5', { message: 'expected the levels 1 to 5, once each' }),
        thanks: text(200),
        /** Said after a rating of 1 or 2 (差评). */
        thanks_poor: text(200),
        already: text(200),
      })
      .strict(),
  })
  .strict();

export type Department = z.infer<typeof departmentSchema>;
export type Category = z.infer<typeof categorySchema>;
export type InboxSettings = z.infer<typeof inboxSchema>;

/** A profile without these sections still runs: one department, the 2025 norms as categories. */
export const DEFAULT_DEPARTMENTS: z.input<typeof departmentSchema>[] = [{ id: 'general', name: '综合服务' }];
export const DEFAULT_INBOX: z.input<typeof inboxSchema> = {
  default_department: 'general',
  default_category: 'consultation',
  categories: [
    { id: 'consultation', name: '简单咨询', due: { hours: 24 } },
    { id: 'complex', name: '复杂事项', due: { working_days: 3 } },
  ],
  rating: {
    head: '本次服务已结束。您对工作人员的答复满意吗？（自愿评价）',
    levels: [
      { level: 5, label: '非常满意' },
      { level: 4, label: '满意' },
      { level: 3, label: '基本满意' },
      { level: 2, label: '不满意' },
      { level: 1, label: '非常不满意' },
    ],
    thanks: '感谢您的评价！',
    thanks_poor: '感谢您的评价，我们会认真改进。',
    already: '您已经评价过了，感谢！',
  },
};

type Report = (path: (string | number)[], message: string) => void;

/** Departments and the inbox refer to things that exist. */
export function checkStaffReferences(
  p: { departments: Department[]; inbox: InboxSettings; services: { id: string }[] },
  report: Report,
): void {
  const departments = new Set<string>();
  p.departments.forEach((d, i) => {
    if (departments.has(d.id)) report(['departments', i, 'id'], `expected a unique id; "${d.id}" is used twice`);
    departments.add(d.id);
  });
  const services = new Set(p.services.map((s) => s.id));
  p.departments.forEach((d, i) =>
    d.handles.forEach((s, j) => {
      if (!services.has(s)) report(['departments', i, 'handles', j], `expected a service id; "${s}" is not in services`);
    }),
  );
  const handledBy = new Map<string, string>();
  p.departments.forEach((d, i) =>
    d.handles.forEach((s, j) => {
      const other = handledBy.get(s);
      if (other) report(['departments', i, 'handles', j], `expected each service to be handled by one department; "${s}" is also handled by ${other}`);
      handledBy.set(s, d.id);
    }),
  );
  if (!departments.has(p.inbox.default_department)) report(['inbox', 'default_department'], `expected a department id (${[...departments].join(', ')})`);
  const categories = new Set<string>();
  p.inbox.categories.forEach((c, i) => {
    if (categories.has(c.id)) report(['inbox', 'categories', i, 'id'], `expected a unique id; "${c.id}" is used twice`);
    categories.add(c.id);
  });
  if (!categories.has(p.inbox.default_category)) report(['inbox', 'default_category'], `expected a category id (${[...categories].join(', ')})`);
}
