import { z } from 'zod';
import { weekHoursSchema } from './hours.ts';
import { idSchema } from './ids.ts';

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected a date "YYYY-MM-DD"' });

/** Opening hours by weekday; `default` covers working days not listed (and 调休 working weekends). */
export const hallHoursSchema = weekHoursSchema(true);

/**
 * Checking in by scanning a code at the hall (签到取号). A scan counts only around the booked time,
 * so a citizen scanning a photo of the code from home does not jump the queue; the code on the
 * hall's screen (叫号屏) changes every few minutes, so only someone in front of it has the current
 * one. A hall that shows it can refuse the printed, permanent code altogether.
 */
export const checkInSchema = z
  .object({
    /** How long before the booked time a scan checks in. */
    early_minutes: z.number().int().min(0).max(240).default(60),
    /** How long after the booked time a scan still checks in (later: the desk decides). */
    late_minutes: z.number().int().min(0).max(240).default(30),
    /** Whether the printed, permanent code checks in (false: only the code on the hall's screen). */
    printed_code: z.boolean().default(true),
    /** How often the code on the hall's screen changes; the one before stays good as long again. */
    screen_code_minutes: z.number().int().min(1).max(60).default(5),
  })
  .strict();

export type CheckInRule = z.infer<typeof checkInSchema>;

export const hallSchema = z
  .object({
    id: idSchema,
    name: z.string().min(1).max(40),
    /** Other names citizens use for it (天山路那个中心 is named by its road already): 市民中心, 区政务中心. */
    aliases: z.array(z.string().trim().min(2).max(20)).default([]),
    address: z.string().min(1).max(100),
    /** As WeChat's location messages give them (GCJ-02, the coordinates Chinese maps use). */
    location: z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) }).strict(),
    phone: z.string().min(1).max(40),
    /** How to get there, in a line (地铁 2 号线娄山关路站 3 号口 …). */
    transport: z.string().max(100).optional(),
    hours: hallHoursSchema,
    /** Days the hall is closed besides public holidays (maintenance, elections …). */
    closures: z.array(z.object({ from: day, until: day, reason: z.string().min(1).max(60) }).strict()).default([]),
    /** Check-in by scanning (the window around the booked time, which codes count). */
    check_in: checkInSchema.prefault({}),
    /** Counters: which service items each handles. */
    windows: z
      .array(z.object({ id: z.string().min(1).max(10), name: z.string().min(1).max(20), services: z.array(idSchema).min(1) }).strict())
      .min(1),
  })
  .strict();

export type Hall = z.infer<typeof hallSchema>;

/** Booking rules of a service item. */
export const appointmentRuleSchema = z
  .object({
    /** Halls that take bookings for it (each must have a window handling it). */
    halls: z.array(idSchema).min(1),
    slot_minutes: z.number().int().min(5).max(240).default(30),
    /** People per slot; default: the hall's windows that handle the item. */
    capacity_per_slot: z.number().int().min(1).max(100).optional(),
    /** How many working days ahead one can book (today counts when slots are left). */
    days_ahead: z.number().int().min(1).max(30).default(5),
    /** A slot cannot be booked later than this before it starts. */
    cutoff_minutes: z.number().int().min(0).max(24 * 60).default(30),
    max_per_citizen_per_day: z.number().int().min(1).max(10).default(1),
    /** A booking cannot be cancelled or moved later than this before it starts. */
    cancel_cutoff_minutes: z.number().int().min(0).max(48 * 60).default(60),
    /** e.g. three no-shows in 30 days suspend booking for 7 days. */
    no_show: z
      .object({ limit: z.number().int().min(1).max(20), within_days: z.number().int().min(1).max(365), suspend_days: z.number().int().min(1).max(365) })
      .strict()
      .default({ limit: 3, within_days: 30, suspend_days: 7 }),
    /** What the booking asks for besides the WeChat identity: no more than the item needs. */
    collect: z.array(z.enum(['name', 'phone', 'id_card'])).default([]),
    /** 挂号费 / booking fee in fen, paid in WeChat right after booking (needs the profile's pay section). */
    fee_fen: z.number().int().min(1).max(10_000_000).optional(),
    /** What the fee is called (挂号费 at a hospital): the bill reads "<item><label>". */
    fee_label: z.string().trim().min(1).max(10).default('预约费'),
    /** An unpaid booking fee releases the place after this long. */
    pay_within_minutes: z.number().int().min(5).max(24 * 60).default(30),
  })
  .strict();

export type AppointmentRule = z.infer<typeof appointmentRuleSchema>;
