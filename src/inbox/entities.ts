import { EntitySchema } from 'typeorm';
import { epochMs } from '../platform/db.ts';

/** A staff answer to a handed-off conversation, and how it travels (its outbox job). */
export interface StaffReplyRow {
  id: number;
  handoffId: number;
  openid: string;
  staffId: number;
  kind: 'text' | 'image' | 'link';
  /** The text (for an image or a link: the words that go with it, may be empty). */
  body: string;
  linkUrl: string | null;
  linkTitle: string | null;
  imageId: number | null;
  /** Unguessable: the citizen's answer page is /h5/answer/<token>. */
  token: string;
  /** The form's one-time value: the same submission twice is one reply. */
  nonce: string | null;
  /** The outbox job that delivers it (its state is the delivery's). */
  jobId: number | null;
  createdAt: number;
}

export const StaffReplyEntity = new EntitySchema<StaffReplyRow>({
  name: 'StaffReply',
  tableName: 'staff_replies',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    handoffId: { name: 'handoff_id', type: 'integer' },
    openid: { type: 'varchar', length: 64 },
    staffId: { name: 'staff_id', type: 'integer' },
    kind: { type: 'varchar', length: 16 },
    body: { type: 'text' },
    linkUrl: { name: 'link_url', type: 'text', nullable: true },
    linkTitle: { name: 'link_title', type: 'varchar', length: 64, nullable: true },
    imageId: { name: 'image_id', type: 'integer', nullable: true },
    token: { type: 'varchar', length: 64, unique: true },
    nonce: { type: 'varchar', length: 64, nullable: true },
    jobId: { name: 'job_id', type: 'integer', nullable: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [
    { name: 'ix_staff_replies_handoff', columns: ['handoffId'] },
    { name: 'ux_staff_replies_nonce', columns: ['handoffId', 'nonce'], unique: true },
  ],
});

/** An image staff attach to a reply; kept in the database so every instance can serve it. */
export interface InboxImageRow {
  id: number;
  handoffId: number;
  staffId: number;
  /** image/png, image/jpeg, image/gif or image/webp, from the file's own bytes. */
  mime: string;
  /** Base64 (portable across SQLite and PostgreSQL as text). */
  data: string;
  size: number;
  createdAt: number;
}

export const InboxImageEntity = new EntitySchema<InboxImageRow>({
  name: 'InboxImage',
  tableName: 'inbox_images',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    handoffId: { name: 'handoff_id', type: 'integer' },
    staffId: { name: 'staff_id', type: 'integer' },
    mime: { type: 'varchar', length: 32 },
    data: { type: 'text' },
    size: { type: 'integer' },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ix_inbox_images_handoff', columns: ['handoffId'] }],
});
