import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

export type CaseStatus = 'submitted' | 'in_progress' | 'correction' | 'completed' | 'refused';

export interface CaseRow {
  id: number;
  /** WB20261124-0007: what the citizen and the staff say. */
  caseNo: string;
  /** Needed (with the number) by anyone but the applicant to see the case. */
  queryCode: string;
  openid: string;
  serviceId: string;
  department: string | null;
  status: CaseStatus;
  /** The current step (受理, 审核 …) of the item's steps. */
  step: string;
  /** While waiting for 补正: the step to return to. */
  stepBeforeCorrection: string | null;
  /** The form as submitted (personal data: shown masked). */
  formData: string;
  feeFen: number | null;
  submittedAt: number;
  acceptedAt: number | null;
  /** 承诺时限: due this time (working days from acceptance, extended by time waiting for the citizen). */
  dueAt: number | null;
  /** Waiting for the citizen since (补正): the clock is paused. */
  pausedAt: number | null;
  /** What is missing, as told to the citizen. */
  correctionRequest: string | null;
  completedAt: number | null;
  /** A permit valid until (renewal reminder before it). */
  validUntil: number | null;
  /** 督办: when the case went past its due time, and the supervisor it went to (a staff id; null: the administrators). */
  escalatedAt: number | null;
  escalatedTo: number | null;
  updatedAt: number;
}

const t = (name: string, nullable = false) => ({ name, type: 'bigint' as const, nullable, transformer: epochMs });

export const CaseEntity = new EntitySchema<CaseRow>({
  name: 'Case',
  tableName: 'cases',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    caseNo: { name: 'case_no', type: 'varchar', length: 20, unique: true },
    queryCode: { name: 'query_code', type: 'varchar', length: 8 },
    openid: { type: 'varchar', length: 64 },
    serviceId: { name: 'service_id', type: 'varchar', length: 48 },
    department: { type: 'varchar', length: 48, nullable: true },
    status: { type: 'varchar', length: 16 },
    step: { type: 'varchar', length: 32 },
    stepBeforeCorrection: { name: 'step_before_correction', type: 'varchar', length: 32, nullable: true },
    formData: { name: 'form_data', type: 'text' },
    feeFen: { name: 'fee_fen', type: 'integer', nullable: true },
    submittedAt: t('submitted_at'),
    acceptedAt: t('accepted_at', true),
    dueAt: t('due_at', true),
    pausedAt: t('paused_at', true),
    correctionRequest: { name: 'correction_request', type: 'text', nullable: true },
    completedAt: t('completed_at', true),
    validUntil: t('valid_until', true),
    escalatedAt: t('escalated_at', true),
    escalatedTo: { name: 'escalated_to', type: 'integer', nullable: true },
    updatedAt: t('updated_at'),
  },
  indices: [
    { name: 'ix_cases_openid', columns: ['openid', 'submittedAt'] },
    { name: 'ix_cases_department_status', columns: ['department', 'status'] },
  ],
});

export type CaseEventKind = 'submitted' | 'accepted' | 'advanced' | 'correction_requested' | 'corrected' | 'refused' | 'completed' | 'escalated' | 'renewal_reminded';

export interface CaseEventRow {
  id: number;
  caseId: number;
  kind: CaseEventKind;
  /** The step the case is at after the event. */
  step: string | null;
  note: string | null;
  /** citizen · staff:<account> · system */
  actor: string;
  createdAt: number;
  /** When the citizen was told (null: not yet, or not a thing to tell). */
  pushedAt: number | null;
}

export const CaseEventEntity = new EntitySchema<CaseEventRow>({
  name: 'CaseEvent',
  tableName: 'case_events',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    caseId: { name: 'case_id', type: 'integer' },
    kind: { type: 'varchar', length: 24 },
    step: { type: 'varchar', length: 32, nullable: true },
    note: { type: 'text', nullable: true },
    actor: { type: 'varchar', length: 64 },
    createdAt: t('created_at'),
    pushedAt: t('pushed_at', true),
  },
  indices: [{ name: 'ix_case_events_case', columns: ['caseId', 'id'] }],
});

export interface AttachmentRow {
  id: number;
  openid: string;
  serviceId: string;
  /** null while it belongs to a draft. */
  caseId: number | null;
  fieldId: string;
  fileName: string;
  /** What the content is (sniffed), not what the name says. */
  mime: string;
  size: number;
  sha256: string;
  storageKey: string;
  createdAt: number;
  /** A case's file replaced by one sent with a 补正: kept for the record, no longer counted. */
  replacedAt: number | null;
}

export const AttachmentEntity = new EntitySchema<AttachmentRow>({
  name: 'Attachment',
  tableName: 'attachments',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    serviceId: { name: 'service_id', type: 'varchar', length: 48 },
    caseId: { name: 'case_id', type: 'integer', nullable: true },
    fieldId: { name: 'field_id', type: 'varchar', length: 32 },
    fileName: { name: 'file_name', type: 'varchar', length: 200 },
    mime: { type: 'varchar', length: 40 },
    size: { type: 'integer' },
    sha256: { type: 'varchar', length: 64 },
    storageKey: { name: 'storage_key', type: 'varchar', length: 128, unique: true },
    createdAt: t('created_at'),
    replacedAt: t('replaced_at', true),
  },
  indices: [
    { name: 'ix_attachments_case', columns: ['caseId'] },
    { name: 'ix_attachments_owner', columns: ['openid', 'serviceId'] },
  ],
});

export interface DraftRow {
  openid: string;
  serviceId: string;
  /** The fields typed so far (JSON). */
  data: string;
  updatedAt: number;
}

export const DraftEntity = new EntitySchema<DraftRow>({
  name: 'ApplicationDraft',
  tableName: 'application_drafts',
  columns: {
    openid: { type: 'varchar', length: 64, primary: true },
    serviceId: { name: 'service_id', type: 'varchar', length: 48, primary: true },
    data: { type: 'text' },
    updatedAt: t('updated_at'),
  },
});

export interface CaseCounterRow {
  day: string;
  lastNo: number;
}

export const CaseCounterEntity = new EntitySchema<CaseCounterRow>({
  name: 'CaseCounter',
  tableName: 'case_counters',
  columns: {
    day: { type: 'varchar', length: 8, primary: true },
    lastNo: { name: 'last_no', type: 'integer', default: 0 },
  },
});
