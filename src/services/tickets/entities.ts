import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

/**
 * Where a ticket is in the 12345 loop: 待受理 → 已受理 → 已派单 → 办理中 → 已答复 → 已办结 → (回访) 已结案;
 * or 不予受理, or 已合并 into another report of the same problem.
 */
export type TicketStatus = 'submitted' | 'accepted' | 'dispatched' | 'handling' | 'replied' | 'completed' | 'closed' | 'rejected' | 'merged';
export type TicketChannel = 'chat' | 'snap' | 'mailbox' | 'open311';

export interface TicketRow {
  id: number;
  /** GD20261124-0007: what the citizen and staff say. */
  ticketNo: string;
  /** Needed, with the number, by anyone but the reporter to see the progress. */
  queryCode: string;
  /** The reporter (null: filed through Open311 by another system). */
  openid: string | null;
  channel: TicketChannel;
  kind: string;
  category: string;
  /** A letter to a leader mailbox: which one. */
  mailbox: string | null;
  urgent: boolean;
  /** Filed without name or phone. */
  anonymous: boolean;
  /** The department handling it (first the category's, then as dispatched). */
  department: string;
  /** 协办: other departments helping (JSON array of ids). */
  coDepartments: string;
  status: TicketStatus;
  /** What the citizen wrote (personal data: masked wherever shown). */
  description: string;
  lat: number | null;
  lng: number | null;
  /** The place as named (a picked location's label, a typed address). */
  address: string | null;
  /** The nearest area of the profile to the location. */
  area: string | null;
  contactName: string | null;
  phone: string | null;
  /** The writer agreed to the letter and its answer being listed publicly (masked). */
  publish: boolean;
  /** The answer given to the citizen (答复). */
  answer: string | null;
  answeredAt: number | null;
  filedAt: number;
  /** 办理时限: working days of its kind from filing, moved by approved 延期. */
  dueAt: number;
  completedAt: number | null;
  /** 督办: when it went past its due time. */
  escalatedAt: number | null;
  /** 回访: solved / unsolved, and when. */
  visitResult: 'solved' | 'unsolved' | null;
  visitedAt: number | null;
  mergedInto: number | null;
  /** Open311: the key that filed it, and the reporter's system's ids. */
  apiKeyId: number | null;
  deviceId: string | null;
  mediaUrl: string | null;
  updatedAt: number;
}

const t = (name: string, nullable = false) => ({ name, type: 'bigint' as const, nullable, transformer: epochMs });
const coord = (name: string) => ({ name, type: 'double precision' as const, nullable: true, transformer: { to: (v: number | null) => v, from: (v: string | number | null) => (v === null ? null : Number(v)) } });

export const TicketEntity = new EntitySchema<TicketRow>({
  name: 'Ticket',
  tableName: 'tickets',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    ticketNo: { name: 'ticket_no', type: 'varchar', length: 20, unique: true },
    queryCode: { name: 'query_code', type: 'varchar', length: 8 },
    openid: { type: 'varchar', length: 64, nullable: true },
    channel: { type: 'varchar', length: 16 },
    kind: { type: 'varchar', length: 48 },
    category: { type: 'varchar', length: 48 },
    mailbox: { type: 'varchar', length: 48, nullable: true },
    urgent: { type: 'boolean', default: false },
    anonymous: { type: 'boolean', default: false },
    department: { type: 'varchar', length: 48 },
    coDepartments: { name: 'co_departments', type: 'text' },
    status: { type: 'varchar', length: 16 },
    description: { type: 'text' },
    lat: coord('lat'),
    lng: coord('lng'),
    address: { type: 'varchar', length: 200, nullable: true },
    area: { type: 'varchar', length: 48, nullable: true },
    contactName: { name: 'contact_name', type: 'varchar', length: 40, nullable: true },
    phone: { type: 'varchar', length: 20, nullable: true },
    publish: { type: 'boolean', default: false },
    answer: { type: 'text', nullable: true },
    answeredAt: t('answered_at', true),
    filedAt: t('filed_at'),
    dueAt: t('due_at'),
    completedAt: t('completed_at', true),
    escalatedAt: t('escalated_at', true),
    visitResult: { name: 'visit_result', type: 'varchar', length: 10, nullable: true },
    visitedAt: t('visited_at', true),
    mergedInto: { name: 'merged_into', type: 'integer', nullable: true },
    apiKeyId: { name: 'api_key_id', type: 'integer', nullable: true },
    deviceId: { name: 'device_id', type: 'varchar', length: 64, nullable: true },
    mediaUrl: { name: 'media_url', type: 'varchar', length: 500, nullable: true },
    updatedAt: t('updated_at'),
  },
  indices: [
    { name: 'ix_tickets_openid', columns: ['openid', 'filedAt'] },
    { name: 'ix_tickets_department_status', columns: ['department', 'status'] },
    { name: 'ix_tickets_category_filed', columns: ['category', 'filedAt'] },
  ],
});

export type TicketEventKind =
  | 'filed'
  | 'accepted'
  | 'rejected'
  | 'dispatched'
  | 'returned'
  | 'handling'
  | 'answered'
  | 'extension_requested'
  | 'extension_approved'
  | 'extension_refused'
  | 'escalated'
  | 'completed'
  | 'visit_asked'
  | 'solved'
  | 'reopened'
  | 'merged'
  | 'note';

export interface TicketEventRow {
  id: number;
  ticketId: number;
  kind: TicketEventKind;
  note: string | null;
  /** citizen · staff:<username> · system · api:<key id> */
  actor: string;
  /** The department it concerns (dispatched to, returned from). */
  department: string | null;
  /** 延期: the working days asked for. */
  days: number | null;
  createdAt: number;
  /** When the reporter(s) were told (null: not yet, or nothing to tell). */
  pushedAt: number | null;
}

export const TicketEventEntity = new EntitySchema<TicketEventRow>({
  name: 'TicketEvent',
  tableName: 'ticket_events',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    ticketId: { name: 'ticket_id', type: 'integer' },
    kind: { type: 'varchar', length: 24 },
    note: { type: 'text', nullable: true },
    actor: { type: 'varchar', length: 64 },
    department: { type: 'varchar', length: 48, nullable: true },
    days: { type: 'integer', nullable: true },
    createdAt: t('created_at'),
    pushedAt: t('pushed_at', true),
  },
  indices: [{ name: 'ix_ticket_events_ticket', columns: ['ticketId', 'id'] }],
});

export interface TicketPhotoRow {
  id: number;
  ticketId: number;
  /** upload: stored here (storageKey); wechat: a photo sent in chat (its PicUrl). */
  source: 'upload' | 'wechat';
  url: string | null;
  storageKey: string | null;
  mime: string | null;
  size: number | null;
  createdAt: number;
}

export const TicketPhotoEntity = new EntitySchema<TicketPhotoRow>({
  name: 'TicketPhoto',
  tableName: 'ticket_photos',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    ticketId: { name: 'ticket_id', type: 'integer' },
    source: { type: 'varchar', length: 10 },
    url: { type: 'varchar', length: 1000, nullable: true },
    storageKey: { name: 'storage_key', type: 'varchar', length: 128, nullable: true },
    mime: { type: 'varchar', length: 40, nullable: true },
    size: { type: 'integer', nullable: true },
    createdAt: t('created_at'),
  },
  indices: [{ name: 'ix_ticket_photos_ticket', columns: ['ticketId'] }],
});

export interface TicketCounterRow {
  day: string;
  lastNo: number;
}

export const TicketCounterEntity = new EntitySchema<TicketCounterRow>({
  name: 'TicketCounter',
  tableName: 'ticket_counters',
  columns: {
    day: { type: 'varchar', length: 8, primary: true },
    lastNo: { name: 'last_no', type: 'integer', default: 0 },
  },
});

/** An Open311 API key an administrator issued (only its hash is kept). */
export interface ApiKeyRow {
  id: number;
  name: string;
  keyHash: string;
  createdBy: number;
  createdAt: number;
  revokedAt: number | null;
}

export const ApiKeyEntity = new EntitySchema<ApiKeyRow>({
  name: 'Open311Key',
  tableName: 'open311_keys',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 60 },
    keyHash: { name: 'key_hash', type: 'varchar', length: 64, unique: true },
    createdBy: { name: 'created_by', type: 'integer' },
    createdAt: t('created_at'),
    revokedAt: t('revoked_at', true),
  },
});
