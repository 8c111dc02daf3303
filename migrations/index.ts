import type { MigrationInterface } from 'typeorm';
import { Foundation1764000000000 } from './1764000000000-foundation.ts';
import { Conversation1764100000000 } from './1764100000000-conversation.ts';
import { Appointments1764200000000 } from './1764200000000-appointments.ts';
import { Cases1764300000000 } from './1764300000000-cases.ts';
import { Inbox1764400000000 } from './1764400000000-inbox.ts';
import { AttachmentReplaced1764500000000 } from './1764500000000-attachment-replaced.ts';
import { CaseEscalatedTo1764510000000 } from './1764510000000-case-escalated-to.ts';
import { CitizenLastMessage1764520000000 } from './1764520000000-citizen-last-message.ts';
import { StaffAlerts1765000000000 } from './1765000000000-staff-alerts.ts';
import { CleanFileNames1765200000000 } from './1765200000000-clean-file-names.ts';
import { HandoffCitizenLeft1765400000000 } from './1765400000000-handoff-citizen-left.ts';
import { HandoffUrgent1765500000000 } from './1765500000000-handoff-urgent.ts';
import { Bills1765600000000 } from './1765600000000-bills.ts';
import { Tickets1765700000000 } from './1765700000000-tickets.ts';
import { Ratings1765710000000 } from './1765710000000-ratings.ts';
import { Bindings1765800000000 } from './1765800000000-bindings.ts';
import { Notices1765810000000 } from './1765810000000-notices.ts';
import { ContentEdits1765900000000 } from './1765900000000-content-edits.ts';
import { PageViews1765910000000 } from './1765910000000-page-views.ts';
import { BookingServedBy1766200000000 } from './1766200000000-booking-served-by.ts';
import { DropMessagesRefIndex1766400000000 } from './1766400000000-drop-messages-ref-index.ts';

/** Every migration, oldest first. Add new ones at the end; never edit one that has shipped. */
export const migrations: (new () => MigrationInterface)[] = [Foundation1764000000000, Conversation1764100000000, Appointments1764200000000, Cases1764300000000, Inbox1764400000000, AttachmentReplaced1764500000000, CaseEscalatedTo1764510000000, CitizenLastMessage1764520000000, StaffAlerts1765000000000, CleanFileNames1765200000000, HandoffCitizenLeft1765400000000, HandoffUrgent1765500000000, Bills1765600000000, Tickets1765700000000, Ratings1765710000000, Bindings1765800000000, Notices1765810000000, ContentEdits1765900000000, PageViews1765910000000, BookingServedBy1766200000000, DropMessagesRefIndex1766400000000];
