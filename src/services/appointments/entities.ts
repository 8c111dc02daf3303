import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

export interface SlotCountRow {
  id: number;
  hallId: string;
  serviceId: string;
  startsAt: number;
  capacity: number;
  booked: number;
}

/** One row per slot that has ever been booked: the counter that is never allowed past capacity. */
export const SlotCountEntity = new EntitySchema<SlotCountRow>({
  name: 'SlotCount',
  tableName: 'slot_counts',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    hallId: { name: 'hall_id', type: 'varchar', length: 48 },
    serviceId: { name: 'service_id', type: 'varchar', length: 48 },
    startsAt: { name: 'starts_at', type: 'bigint', transformer: epochMs },
    capacity: { type: 'integer' },
    booked: { type: 'integer', default: 0 },
  },
  uniques: [{ name: 'uq_slot_counts_slot', columns: ['hallId', 'serviceId', 'startsAt'] }],
});

export type BookingStatus = 'booked' | 'checked_in' | 'served' | 'no_show' | 'cancelled';

export interface BookingRow {
  id: number;
  /** Short and unambiguous (no 0/O, 1/I): read out at a window. */
  code: string;
  openid: string;
  serviceId: string;
  hallId: string;
  startsAt: number;
  endsAt: number;
  status: BookingStatus;
  /** What the item asked for (name, phone …), JSON; shown masked. */
  contact: string | null;
  channel: 'chat' | 'h5' | 'staff';
  /** 取号: the queue number given at check-in. */
  queueNo: number | null;
  rescheduledFrom: number | null;
  createdAt: number;
  updatedAt: number;
  checkedInAt: number | null;
  cancelledAt: number | null;
  /** The staff member who marked it served at the hall's desk (the one its 好差评 rates). */
  servedBy: number | null;
}

export const BookingEntity = new EntitySchema<BookingRow>({
  name: 'Booking',
  tableName: 'bookings',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    code: { type: 'varchar', length: 8, unique: true },
    openid: { type: 'varchar', length: 64 },
    serviceId: { name: 'service_id', type: 'varchar', length: 48 },
    hallId: { name: 'hall_id', type: 'varchar', length: 48 },
    startsAt: { name: 'starts_at', type: 'bigint', transformer: epochMs },
    endsAt: { name: 'ends_at', type: 'bigint', transformer: epochMs },
    status: { type: 'varchar', length: 16 },
    contact: { type: 'text', nullable: true },
    channel: { type: 'varchar', length: 8 },
    queueNo: { name: 'queue_no', type: 'integer', nullable: true },
    rescheduledFrom: { name: 'rescheduled_from', type: 'integer', nullable: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    updatedAt: { name: 'updated_at', type: 'bigint', transformer: epochMs },
    checkedInAt: { name: 'checked_in_at', type: 'bigint', nullable: true, transformer: epochMs },
    cancelledAt: { name: 'cancelled_at', type: 'bigint', nullable: true, transformer: epochMs },
    servedBy: { name: 'served_by', type: 'integer', nullable: true },
  },
  indices: [
    { name: 'ix_bookings_openid_start', columns: ['openid', 'startsAt'] },
    { name: 'ix_bookings_hall_start', columns: ['hallId', 'startsAt'] },
  ],
});

export interface QueueCounterRow {
  hallId: string;
  day: string;
  lastNo: number;
}

export const QueueCounterEntity = new EntitySchema<QueueCounterRow>({
  name: 'QueueCounter',
  tableName: 'queue_counters',
  columns: {
    hallId: { name: 'hall_id', type: 'varchar', length: 48, primary: true },
    day: { type: 'varchar', length: 10, primary: true },
    lastNo: { name: 'last_no', type: 'integer', default: 0 },
  },
});
