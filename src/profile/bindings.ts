import { z } from 'zod';
import { PERSONAL_KINDS } from '../platform/pii.ts';

/**
 * Account binding and department events in the profile:
 *
 * - `kinds`: what a citizen may bind (a reader card, a vehicle, a social-security card): its fields
 *   and their validation, the consent text, how many per citizen, how a binding is verified
 *   (against records the department imported, or by a signed call to the department's system).
 * - `systems`: the department's own systems that post events and records; each signs with its own
 *   HMAC key, read from the environment (only a demo key may be written here, with the emulator on).
 * - `events`: what each kind of event becomes: the binding it targets and the message (template or
 *   subscription message) it is pushed as, with each value's length declared so WeChat's field
 *   limits are checked at start-up rather than by a 47003 on the day.
 */

const idSchema = z.string().regex(/^[a-z][a-z0-9_]{1,31}$/, { message: 'expected an id of 2–32 lower-case letters, digits or _' });
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'expected a time such as "21:00"' });

export const bindingFieldSchema = z
  .object({
    id: idSchema,
    label: z.string().min(1).max(12),
    /** A regular expression the value (spaces removed, letters upper-cased) must match. */
    pattern: z.string().min(1).refine(
      (s) => {
        try {
          new RegExp(s, 'u');
          return true;
        } catch {
          return false;
        }
      },
      { message: 'expected a valid regular expression' },
    ),
    /** Said when the value does not match: what it looks like and where to find it. */
    hint: z.string().min(1).max(60),
    /** The field that identifies the bound thing (the card number, the plate): exactly one per kind. */
    key: z.boolean().default(false),
    /** A password or the like: never stored, shown or logged; compared by hash. */
    secret: z.boolean().default(false),
    /** How the value is masked where shown (card, plate, phone …); the key is always masked. */
    personal: z.enum(PERSONAL_KINDS).optional(),
    input: z.enum(['text', 'number', 'password', 'tel']).default('text'),
  })
  .strict();

export const bindingKindSchema = z
  .object({
    id: idSchema,
    /** What it is called (读者证, 机动车, 社保卡). */
    name: z.string().min(1).max(12),
    /** The department that keeps these records (staff of it see the bindings). */
    department: z.string().min(1).optional(),
    fields: z.array(bindingFieldSchema).min(1).max(4),
    /** Shown before binding; the citizen agrees to it. */
    consent: z.string().min(10).max(300),
    max_per_citizen: z.number().int().min(1).max(20).default(1),
    verify: z.discriminatedUnion('by', [
      /** Against records the department's system imported (POST /api/records). */
      z.object({ by: z.literal('records') }).strict(),
      /** A signed call to the department's system, which answers {ok, display?}. */
      z
        .object({
          by: z.literal('http'),
          system: idSchema,
          url: z.string().url(),
          timeout_ms: z.number().int().min(200).max(10_000).default(3000),
          retries: z.number().int().min(0).max(3).default(1),
          /** Consecutive failures that open the circuit (then calls fail fast for `open_seconds`). */
          breaker_failures: z.number().int().min(1).max(50).default(5),
          open_seconds: z.number().int().min(5).max(3600).default(30),
        })
        .strict(),
    ]),
    /** Demo records loaded at start when the emulator is on (a CSV file beside the profile). */
    demo_records: z.string().min(1).optional(),
  })
  .strict();

export const eventSystemSchema = z
  .object({
    id: idSchema,
    name: z.string().min(1).max(30),
    /** The environment variable holding this system's HMAC key (at least 32 characters). */
    secret_env: z.string().regex(/^[A-Z][A-Z0-9_]{2,63}$/, { message: 'expected an environment variable name such as WEIBAN_SYSTEM_ILS_KEY' }),
    /** The emulator demo's key: accepted only with emulator.enabled, and only when the variable is unset. */
    demo_secret: z.string().min(32).optional(),
    /** Where outgoing signed callbacks go (a fine paid): the system acknowledges with 2xx. */
    callback_url: z.string().url().optional(),
  })
  .strict();

/** A value an event carries: its length (characters) and whether it must be plain ASCII. */
export const eventValueSchema = z
  .object({
    max: z.number().int().min(1).max(200),
    ascii: z.boolean().default(false),
    /** A personal value (a name, a plate): masked in the log and in staff lists. */
    personal: z.enum(PERSONAL_KINDS).optional(),
    required: z.boolean().default(true),
  })
  .strict();

export const eventKindSchema = z
  .object({
    id: idSchema,
    name: z.string().min(1).max(20),
    /** The binding kind whose key the event names (`target` in the posted event). */
    binding: idSchema,
    /** The systems that may post it. */
    systems: z.array(idSchema).min(1),
    /** The profile's template (by its purpose under `templates`) the event becomes. */
    template: z.string().min(1),
    /** A template message, or a subscription message (订阅通知, bizsend). */
    channel: z.enum(['template', 'subscribe']).default('template'),
    /** The values the event carries, by name, used as {name} in the template's fields. */
    values: z.record(idSchema, eventValueSchema).default({}),
    /** Where the message opens (a path of ours or an http(s) URL); {name} values may be used. */
    link: z.string().min(1).max(200).optional(),
    /** Held until the quiet hours end (an event at 02:00 is sent at 08:00). */
    respect_quiet_hours: z.boolean().default(true),
    /** The citizen may switch this kind off (退订). */
    can_opt_out: z.boolean().default(true),
    /** A fine or bill: the event creates a bill to pay (amount in fen, from the named value). */
    bill: z
      .object({
        amount_value: idSchema,
        /** What the bill is for ({name} values), e.g. "{plate} 交通违法罚款". */
        title: z.string().min(1).max(40),
        /** The event value naming the department's own reference (the violation number). */
        reference_value: idSchema,
      })
      .strict()
      .optional(),
  })
  .strict();

export const bindingsSchema = z
  .object({
    kinds: z.array(bindingKindSchema).default([]),
    systems: z.array(eventSystemSchema).default([]),
    events: z.array(eventKindSchema).default([]),
    /** No pushes between these times (China time); held until `to`. */
    quiet_hours: z.object({ from: clock, to: clock }).strict().default({ from: '21:00', to: '08:00' }),
    /** Wrong binding guesses before a pause: per citizen and kind, and per bound key from anyone. */
    max_wrong_per_citizen: z.number().int().min(1).max(50).default(5),
    max_wrong_per_key: z.number().int().min(1).max(100).default(10),
    lock_minutes: z.number().int().min(1).max(1440).default(30),
  })
  .strict();

export type BindingsConfig = z.infer<typeof bindingsSchema>;
export type BindingKind = z.infer<typeof bindingKindSchema>;
export type BindingField = z.infer<typeof bindingFieldSchema>;
export type EventKind = z.infer<typeof eventKindSchema>;
export type EventSystem = z.infer<typeof eventSystemSchema>;

/** WeChat's value limits by template field type (47003 beyond), as in WECHAT-NOTES. */
export function fieldLimit(key: string): { max: number; ascii?: boolean; chineseOnly?: boolean } | null {
  if (/^thing\d*$/.test(key)) return { max: 20 };
  if (/^character_string\d*$/.test(key)) return { max: 32, ascii: true };
  if (/^phrase\d*$/.test(key)) return { max: 5, chineseOnly: true };
  if (/^name\d*$/.test(key)) return { max: 10 };
  if (/^car_number\d*$/.test(key)) return { max: 8 };
  if (/^(number|amount)\d*$/.test(key)) return { max: 32 };
  if (/^(time|date)\d*$/.test(key)) return { max: 32 };
  return null;
}

/** Values every event has without declaring them. */
export const BUILTIN_VALUES: Record<string, { max: number; ascii: boolean }> = {
  /** The bound key, masked (a card 3101****0042, a plate 闽D****66). */
  target: { max: 20, ascii: false },
  /** The binding kind's name. */
  kind: { max: 12, ascii: false },
  /** A bill's amount in yuan ("200.00元"), for events with `bill`. */
  amount: { max: 12, ascii: false },
};

type Report = (path: (string | number)[], message: string) => void;

/**
 * Cross-checks of the bindings section against the rest of the profile: ids unique, references
 * resolve, and every template field an event fills fits WeChat's limit for its type with the
 * longest values the event may carry.
 */
export function checkBindings(
  b: BindingsConfig,
  ctx: { templates: Record<string, { fields: Record<string, string> }>; departments: string[]; emulator: boolean },
  report: Report,
): void {
  const uniq = (list: { id: string }[], path: string) => {
    const seen = new Set<string>();
    list.forEach((x, i) => {
      if (seen.has(x.id)) report(['bindings', path, i, 'id'], `expected a unique id; "${x.id}" is used twice`);
      seen.add(x.id);
    });
    return seen;
  };
  const kinds = uniq(b.kinds, 'kinds');
  const systems = uniq(b.systems, 'systems');
  uniq(b.events, 'events');
  b.kinds.forEach((k, i) => {
    const keys = k.fields.filter((f) => f.key);
    if (keys.length !== 1) report(['bindings', 'kinds', i, 'fields'], `expected exactly one field with key: true in kind "${k.id}"; found ${keys.length}`);
    if (keys[0]?.secret) report(['bindings', 'kinds', i, 'fields'], `expected the key field of "${k.id}" not to be secret`);
    if (k.department && !ctx.departments.includes(k.department)) report(['bindings', 'kinds', i, 'department'], `expected a department id (${ctx.departments.join(', ')}); got "${k.department}"`);
    if (k.verify.by === 'http' && !systems.has(k.verify.system)) report(['bindings', 'kinds', i, 'verify', 'system'], `expected a system id under bindings.systems; got "${k.verify.system}"`);
    if (k.demo_records && !ctx.emulator) report(['bindings', 'kinds', i, 'demo_records'], 'expected no demo records with the emulator off (a live account imports real records through /api/records)');
  });
  b.systems.forEach((s, i) => {
    if (s.demo_secret && !ctx.emulator) report(['bindings', 'systems', i, 'demo_secret'], `expected no demo_secret with the emulator off; set ${s.secret_env} in the environment`);
  });
  b.events.forEach((e, i) => {
    const here = ['bindings', 'events', i];
    if (!kinds.has(e.binding)) report([...here, 'binding'], `expected a binding kind id (${[...kinds].join(', ') || 'none defined'}); got "${e.binding}"`);
    e.systems.forEach((s, j) => {
      if (!systems.has(s)) report([...here, 'systems', j], `expected a system id (${[...systems].join(', ') || 'none defined'}); got "${s}"`);
    });
    if (e.bill) {
      for (const v of [e.bill.amount_value, e.bill.reference_value]) if (!e.values[v]) report([...here, 'bill'], `expected "${v}" among the event's values`);
    }
    const tpl = ctx.templates[e.template];
    if (!tpl) {
      report([...here, 'template'], `expected a template purpose under templates (${Object.keys(ctx.templates).join(', ')}); got "${e.template}"`);
      return;
    }
    // The masked key is ASCII when the key's pattern admits nothing else (a card number, not a plate).
    const keyPattern = b.kinds.find((k) => k.id === e.binding)?.fields.find((f) => f.key)?.pattern ?? '';
    const target = { max: BUILTIN_VALUES.target!.max, ascii: !/[^\x00-\x7f]/.test(keyPattern) && !/\\p\{/.test(keyPattern) };
    const values: Record<string, { max: number; ascii: boolean }> = { ...BUILTIN_VALUES, target, ...e.values };
    for (const [field, pattern] of Object.entries(tpl.fields)) {
      const used = [...pattern.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const literal = pattern.replace(/\{\w+\}/g, '');
      const missing = used.filter((u) => !values[u]);
      if (missing.length) {
        report([...here, 'values'], `expected a value for {${missing.join('}, {')}} used by template "${e.template}" field ${field}`);
        continue;
      }
      const limit = fieldLimit(field);
      if (!limit) continue;
      const longest = [...literal].length + used.reduce((n, u) => n + values[u]!.max, 0);
      if (longest > limit.max) {
        report([...here, 'values'], `expected template "${e.template}" field ${field} to fit WeChat's ${limit.max} characters; "${pattern}" may reach ${longest} (${used.map((u) => `${u} ≤ ${values[u]!.max}`).join(', ')})`);
      }
      if (limit.ascii) {
        const wide = used.filter((u) => !values[u]!.ascii);
        if (wide.length || /[^\x20-\x7e]/.test(literal)) report([...here, 'values'], `expected only ASCII in ${field} (WeChat refuses Chinese in character_string); declare ${wide.map((u) => `{${u}}`).join(', ') || 'the literal text'} ascii: true or use a thing field`);
      }
    }
  });
}
