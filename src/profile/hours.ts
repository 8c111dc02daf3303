import { z } from 'zod';

export const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'expected a time "HH:MM"' });
export const intervalSchema = z.tuple([hhmm, hhmm]).refine(([a, b]) => a < b, { message: 'expected the start before the end' });

const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** Hours by weekday, with `default` for working days not listed (and 调休 working weekends). */
export function weekHoursSchema<R extends boolean>(defaultRequired: R) {
  const list = z.array(intervalSchema);
  return z
    .object({
      default: defaultRequired ? list.min(1) : list.optional(),
      ...Object.fromEntries(days.map((d) => [d, list.optional()])),
    } as { default: z.ZodArray<typeof intervalSchema> } & Record<(typeof days)[number], z.ZodOptional<z.ZodArray<typeof intervalSchema>>>)
    .strict();
}
