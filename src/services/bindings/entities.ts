import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

/** A record the department imported (a reader card, a vehicle) that bindings are verified against. */
export interface BindingRecordRow {
  id: number;
  kind: string;
  /** The key field's value, normalised (spaces removed, upper-case). */
  keyValue: string;
  /** The other non-secret fields, normalised, as JSON. */
  fields: string;
  /** Secret fields as salted hashes, as JSON ({field: "salt:hash"}). */
  secrets: string;
  system: string;
  importedAt: number;
}

export const BindingRecordEntity = new EntitySchema<BindingRecordRow>({
  name: 'BindingRecord',
  tableName: 'binding_records',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    kind: { type: 'varchar', length: 32 },
    keyValue: { name: 'key_value', type: 'varchar', length: 64 },
    fields: { type: 'text' },
    secrets: { type: 'text' },
    system: { type: 'varchar', length: 32 },
    importedAt: { name: 'imported_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ux_binding_records_kind_key', columns: ['kind', 'keyValue'], unique: true }],
});

export interface BindingRow {
  id: number;
  openid: string;
  kind: string;
  keyValue: string;
  /** The key as shown (masked): 3101****0042, 闽D****66. */
  display: string;
  status: 'bound' | 'unbound';
  boundAt: number;
  unboundAt: number | null;
  /** `kind:key` while bound, null after: one citizen per card or vehicle at a time. */
  activeKey: string | null;
}

export const BindingEntity = new EntitySchema<BindingRow>({
  name: 'Binding',
  tableName: 'bindings',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    kind: { type: 'varchar', length: 32 },
    keyValue: { name: 'key_value', type: 'varchar', length: 64 },
    display: { type: 'varchar', length: 64 },
    status: { type: 'varchar', length: 16 },
    boundAt: { name: 'bound_at', type: 'bigint', transformer: epochMs },
    unboundAt: { name: 'unbound_at', type: 'bigint', nullable: true, transformer: epochMs },
    activeKey: { name: 'active_key', type: 'varchar', length: 100, nullable: true },
  },
  indices: [
    { name: 'ix_bindings_openid', columns: ['openid', 'status'] },
    { name: 'ux_bindings_active_key', columns: ['activeKey'], unique: true },
  ],
});

export type EventStatus = 'queued' | 'sent' | 'no_binding' | 'opted_out' | 'failed';

/** An event a department's system posted; (system, idempotency key) is unique. */
export interface DeptEventRow {
  id: number;
  system: string;
  idempotencyKey: string;
  kind: string;
  /** sha256 of kind:key, so the log finds an event's binding without holding the card number. */
  targetHash: string;
  /** The target masked. */
  targetDisplay: string;
  /** The event's values as JSON (kept for the push; personal values are masked in every view). */
  payload: string;
  status: EventStatus;
  openid: string | null;
  detail: string | null;
  receivedAt: number;
  sendAt: number | null;
  sentAt: number | null;
}

export const DeptEventEntity = new EntitySchema<DeptEventRow>({
  name: 'DeptEvent',
  tableName: 'dept_events',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    system: { type: 'varchar', length: 32 },
    idempotencyKey: { name: 'idempotency_key', type: 'varchar', length: 100 },
    kind: { type: 'varchar', length: 32 },
    targetHash: { name: 'target_hash', type: 'varchar', length: 64 },
    targetDisplay: { name: 'target_display', type: 'varchar', length: 64 },
    payload: { type: 'text' },
    status: { type: 'varchar', length: 16 },
    openid: { type: 'varchar', length: 64, nullable: true },
    detail: { type: 'varchar', length: 200, nullable: true },
    receivedAt: { name: 'received_at', type: 'bigint', transformer: epochMs },
    sendAt: { name: 'send_at', type: 'bigint', nullable: true, transformer: epochMs },
    sentAt: { name: 'sent_at', type: 'bigint', nullable: true, transformer: epochMs },
  },
  indices: [
    { name: 'ux_dept_events_system_key', columns: ['system', 'idempotencyKey'], unique: true },
    { name: 'ix_dept_events_received', columns: ['receivedAt'] },
  ],
});

export interface PushOptOutRow {
  id: number;
  openid: string;
  eventKind: string;
  createdAt: number;
}

export const PushOptOutEntity = new EntitySchema<PushOptOutRow>({
  name: 'PushOptOut',
  tableName: 'push_optouts',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    eventKind: { name: 'event_kind', type: 'varchar', length: 32 },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ux_push_optouts', columns: ['openid', 'eventKind'], unique: true }],
});

export const bindingEntities = [BindingRecordEntity, BindingEntity, DeptEventEntity, PushOptOutEntity];
