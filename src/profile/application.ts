import { z } from 'zod';
import { PERSONAL_KINDS, type PersonalKind } from '../platform/pii.ts';

const fieldId = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, { message: 'expected a field id of lowercase letters, digits and _' });
const label = z.string().trim().min(1).max(30);

/** The kinds of data a file field may take, told apart by their content (not their name). */
export const FILE_KINDS = ['image/jpeg', 'image/png', 'application/pdf'] as const;

/**
 * The kind of personal data a field holds (name, phone, id_number, address, plate, card): lists,
 * pages and exports mask it by its kind, showing it in full is audited naming the kinds. phone,
 * id_card and address fields hold their kind without saying so; `none` says a field holds none.
 */
const personal = z.enum([...PERSONAL_KINDS, 'none'], { error: (i) => `expected one of ${[...PERSONAL_KINDS, 'none'].join(', ')}; got ${JSON.stringify(i.input)}` }).optional();
const base = { id: fieldId, label, required: z.boolean().default(true), hint: z.string().max(80).optional(), personal };

/** One field of an application form. Each type is checked on the page and on the server. */
export const formFieldSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('text'), max: z.number().int().min(1).max(500).default(50) }).strict(),
  z.object({ ...base, type: z.literal('number'), min: z.number().optional(), max: z.number().optional(), integer: z.boolean().default(true) }).strict(),
  z.object({ ...base, type: z.literal('date'), not_after_today: z.boolean().default(false) }).strict(),
  z.object({ ...base, type: z.literal('select'), options: z.array(z.string().min(1).max(30)).min(2).max(20) }).strict(),
  z.object({ ...base, type: z.literal('phone') }).strict(),
  /** A resident ID number, check digit verified. */
  z.object({ ...base, type: z.literal('id_card') }).strict(),
  z.object({ ...base, type: z.literal('address') }).strict(),
  z
    .object({
      ...base,
      type: z.literal('file'),
      accept: z.array(z.enum(FILE_KINDS)).min(1),
      max_kb: z.number().int().min(10).max(20 * 1024).default(5 * 1024),
      /** How many files (photos of several pages …). */
      max_files: z.number().int().min(1).max(9).default(1),
    })
    .strict(),
]);
export type FormField = z.infer<typeof formFieldSchema>;

/** The kind of personal data in a field: what it declares, else what its type implies (phone, id_card, address). */
export function personalKind(f: FormField): PersonalKind | null {
  if (f.personal) return f.personal === 'none' ? null : f.personal;
  return f.type === 'phone' ? 'phone' : f.type === 'id_card' ? 'id_number' : f.type === 'address' ? 'address' : null;
}

export const stepSchema = z
  .object({
    id: fieldId,
    name: z.string().min(1).max(5, { message: 'expected a step name of at most 5 characters (it goes into a template message)' }),
    /** What the case is while at this step (受理 → 受理中 by default; 报名成功, 煎药中 stay as they are). */
    status: z.string().trim().min(1).max(10).optional(),
  })
  .strict();

/**
 * Applying online (网上申请) for an item: the form, what to bring, the fee, the promised time limit
 * (承诺时限) and the steps a case goes through. Default steps: 受理 → 审核 → 办结; 补正 (asking for
 * more material) and 不予受理 (refusal) are possible on the way unless the item switches them off.
 */
export const applicationSchema = z
  .object({
    form: z.array(formFieldSchema).min(1).max(30),
    /** 申请材料 the citizen should have ready (photos of them go in file fields). */
    materials: z.array(z.string().trim().min(1).max(100)).default([]),
    /** 收费, in fen, paid in WeChat (the profile's pay section); absent when free. */
    fee_fen: z.number().int().min(1).max(100_000_000).optional(),
    /** When the fee's bill is issued: when the handler accepts the case (default), or at submission. */
    fee_at: z.enum(['accept', 'submit']).default('accept'),
    /** 承诺时限 in working days from acceptance. */
    time_limit_days: z.number().int().min(1).max(365),
    steps: z.array(stepSchema).min(2).max(8).default([
      { id: 'accept', name: '受理' },
      { id: 'review', name: '审核' },
      { id: 'complete', name: '办结' },
    ]),
    /** 补正: handlers may ask the citizen for more material (pausing the clock). */
    correction: z.boolean().default(true),
    /** 不予受理: handlers may refuse a case, with the reason and its basis. */
    refusal: z.boolean().default(true),
    /** The department that handles the cases (a department id of the staff panel). */
    department: z.string().min(1).max(48).optional(),
    /** A permit valid for this long after completion gets a renewal reminder. */
    validity_days: z.number().int().min(1).max(3650).optional(),
    /**
     * Remind this many days before the validity ends (fewer than validity_days). Unset: 30 days,
     * or a quarter of a validity shorter than 120 days.
     */
    renewal_reminder_days: z.number().int().min(1).max(365).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const seen = new Set<string>();
    a.form.forEach((f, i) => {
      if (seen.has(f.id)) ctx.addIssue({ code: 'custom', path: ['form', i, 'id'], message: `expected a unique field id; "${f.id}" is used twice` });
      seen.add(f.id);
    });
    if (a.validity_days !== undefined && a.renewal_reminder_days !== undefined && a.renewal_reminder_days >= a.validity_days) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewal_reminder_days'],
        message: `expected fewer days (${a.renewal_reminder_days}) than validity_days (${a.validity_days}), or the renewal reminder would be due before the permit is even issued`,
      });
    }
    const steps = new Set<string>();
    a.steps.forEach((s, i) => {
      if (steps.has(s.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `expected a unique step id; "${s.id}" is used twice` });
      steps.add(s.id);
    });
  })
  .transform((a) => ({ ...a, renewal_reminder_days: a.renewal_reminder_days ?? Math.max(1, Math.min(30, Math.floor((a.validity_days ?? 120) / 4))) }));
export type Application = z.infer<typeof applicationSchema>;
