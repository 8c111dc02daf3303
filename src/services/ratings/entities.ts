import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

/** What was rated: a ticket, a case, a booking, a staff conversation. */
export type RatingSubject = 'ticket' | 'case' | 'booking' | 'conversation';

/**
 * 好差评: one rating per thing handled, five levels (5 非常满意 … 1 非常不满意). The rater's openid is
 * kept for the reply (反馈) and an audited reveal; it is never shown to the staff rated.
 */
export interface RatingRow {
  id: number;
  subject: RatingSubject;
  subjectId: string;
  department: string | null;
  /** The staff member whose work was rated, where one was (a conversation's). */
  staffId: number | null;
  openid: string;
  level: number;
  comment: string | null;
  createdAt: number;
}

export const RatingEntity = new EntitySchema<RatingRow>({
  name: 'Rating',
  tableName: 'ratings',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    subject: { type: 'varchar', length: 16 },
    subjectId: { name: 'subject_id', type: 'varchar', length: 48 },
    department: { type: 'varchar', length: 48, nullable: true },
    staffId: { name: 'staff_id', type: 'integer', nullable: true },
    openid: { type: 'varchar', length: 64 },
    level: { type: 'integer' },
    comment: { type: 'text', nullable: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [
    { name: 'ux_ratings_subject', columns: ['subject', 'subjectId'], unique: true },
    { name: 'ix_ratings_department_created', columns: ['department', 'createdAt'] },
  ],
});

/** 整改: a poor rating's follow-up by the department — open → submitted → approved (or returned). */
export type RectificationStatus = 'open' | 'submitted' | 'approved' | 'returned';

export interface RectificationRow {
  id: number;
  ratingId: number;
  department: string | null;
  status: RectificationStatus;
  dueAt: number;
  /** What the department found and did. */
  report: string | null;
  submittedBy: number | null;
  submittedAt: number | null;
  reviewedBy: number | null;
  reviewedAt: number | null;
  reviewNote: string | null;
  /** When the rater was told the outcome (反馈). */
  toldAt: number | null;
  createdAt: number;
}

const t = (name: string, nullable = false) => ({ name, type: 'bigint' as const, nullable, transformer: epochMs });

export const RectificationEntity = new EntitySchema<RectificationRow>({
  name: 'Rectification',
  tableName: 'rectifications',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    ratingId: { name: 'rating_id', type: 'integer' },
    department: { type: 'varchar', length: 48, nullable: true },
    status: { type: 'varchar', length: 12 },
    dueAt: t('due_at'),
    report: { type: 'text', nullable: true },
    submittedBy: { name: 'submitted_by', type: 'integer', nullable: true },
    submittedAt: t('submitted_at', true),
    reviewedBy: { name: 'reviewed_by', type: 'integer', nullable: true },
    reviewedAt: t('reviewed_at', true),
    reviewNote: { name: 'review_note', type: 'text', nullable: true },
    toldAt: t('told_at', true),
    createdAt: t('created_at'),
  },
  indices: [
    { name: 'ux_rectifications_rating', columns: ['ratingId'], unique: true },
    { name: 'ix_rectifications_department_status', columns: ['department', 'status'] },
  ],
});
