import type { EntitySchema } from 'typeorm';
import { HandoffEntity, UnansweredEntity } from './chat/handoff.ts';
import { CitizenEntity, MessageEntity } from './chat/log.ts';
import { JobEntity } from './platform/jobs.ts';
import { BookingEntity, QueueCounterEntity, SlotCountEntity } from './services/appointments/entities.ts';
import { AttachmentEntity, CaseCounterEntity, CaseEntity, CaseEventEntity, DraftEntity } from './services/cases/entities.ts';
import { StaffEntity } from './admin/accounts.ts';
import { AuditEntity } from './admin/audit.ts';
import { AlertEntity } from './alerts/index.ts';
import { InboxImageEntity, StaffReplyEntity } from './inbox/entities.ts';
import { RatingEntity, RectificationEntity } from './services/ratings/entities.ts';
import { ApiKeyEntity, TicketCounterEntity, TicketEntity, TicketEventEntity, TicketPhotoEntity } from './services/tickets/entities.ts';
import { bindingEntities } from './services/bindings/entities.ts';
import { NoticeEntity, NoticeRecipientEntity } from './services/notices/index.ts';
import { BillCounterEntity, BillEntity, BillEventEntity, PayOrderEntity, RefundEntity } from './services/bills/entities.ts';
import { ContentEditEntity } from './ops/content.ts';
import { PageViewEntity } from './services/catalogue/views.ts';

/** Every entity the application maps; the schema itself comes only from migrations/. */
export const entities: EntitySchema<any>[] = [
  JobEntity,
  CitizenEntity,
  MessageEntity,
  HandoffEntity,
  UnansweredEntity,
  SlotCountEntity,
  BookingEntity,
  QueueCounterEntity,
  CaseEntity,
  CaseEventEntity,
  AttachmentEntity,
  DraftEntity,
  CaseCounterEntity,
  StaffEntity,
  StaffReplyEntity,
  InboxImageEntity,
  AuditEntity,
  AlertEntity,
  TicketEntity,
  TicketEventEntity,
  TicketPhotoEntity,
  TicketCounterEntity,
  ApiKeyEntity,
  RatingEntity,
  RectificationEntity,
  ...bindingEntities,
  NoticeEntity,
  NoticeRecipientEntity,
  BillEntity,
  PayOrderEntity,
  RefundEntity,
  BillEventEntity,
  BillCounterEntity,
  ContentEditEntity,
  PageViewEntity,
];
