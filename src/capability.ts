import type Router from '@koa/router';
import type { DataSource } from 'typeorm';
import type { Accounts } from './admin/accounts.ts';
import type { Alerts } from './alerts/index.ts';
import type { Audit } from './admin/audit.ts';
import type { PanelNav } from './admin/pages/layout.ts';
import type { PanelKit } from './admin/routes.ts';
import type { ChatRoute, Dialog } from './chat/engine.ts';
import type { ConversationLog } from './chat/log.ts';
import type { Outbox } from './chat/outbox.ts';
import type { PageKit } from './h5/kit.ts';
import type { WorkingCalendar } from './platform/calendar.ts';
import type { Clock } from './platform/clock.ts';
import type { JobQueue } from './platform/jobs.ts';
import type { Kv } from './platform/kv/index.ts';
import type { Logger } from './platform/log.ts';
import type { FileStorage } from './platform/storage.ts';
import type { DialogName } from './profile/conversation.ts';
import type { Profile } from './profile/schema.ts';
import type { Wording } from './profile/texts.ts';
import type { WeChatApi } from './wechat/api/index.ts';

/**
 * What every capability is built on: the profile and the platform (stores, jobs, the WeChat API,
 * the outbox, the calendar, staff accounts and the audit log). Opened once by the composition root
 * (`src/core.ts`) and handed to each capability's factory.
 */
export interface Core {
  env: NodeJS.ProcessEnv;
  profile: Profile;
  /** The profile's folder (files it names are relative to it). */
  profileDir: string;
  clock: Clock;
  log: Logger;
  db: DataSource;
  kv: Kv;
  jobs: JobQueue;
  api: WeChatApi;
  calendar: WorkingCalendar;
  conversationLog: ConversationLog;
  outbox: Outbox;
  accounts: Accounts;
  audit: Audit;
  /** Staff alerts: what must reach staff at once (in the panel, and to their own WeChat). */
  alerts: Alerts;
  /** Where citizens and staff reach us (links in messages): PUBLIC_URL, else http://localhost:port. */
  publicUrl: string;
  /** This instance on loopback (the emulator calls back here). */
  localUrl: string;
  /** Where uploaded files are kept (UPLOAD_DIR, else ./data/uploads). */
  storage: FileStorage;
  /** weiban's own sentences in the department's words (the profile's texts.vocabulary). */
  wording: Wording;
}

/** A capability's part in the conversation. */
export interface ChatParts {
  dialogs?: Partial<Record<DialogName, Dialog>>;
  /** Routes tried first, even for events that expect no answer (a rating answer, a check-in scan, a delivery report). */
  early?: ChatRoute[];
  /** Routes after menu clicks and numbers, before keyword rules and search (a location, 预约, 进度). */
  extra?: ChatRoute[];
}

/**
 * One citizen service or staff function, self-contained: its commands and entities live in its
 * folder, and it contributes to the shared surfaces only through these hooks. The composition root
 * (`src/server.ts`) builds each capability with one call and hands the list to the app.
 */
export interface Capability {
  readonly name: string;
  chat?: ChatParts;
  /** Citizen pages under /h5, with the pages' common kit (layout, web authorisation, CSRF). */
  pages?(r: Router, kit: PageKit): void;
  /** A section of the staff panel under /admin, behind the panel's sign-in and CSRF. */
  panel?(r: Router, kit: PanelKit): void;
  /** Its sections' places in the panel's top bar. */
  nav?: PanelNav[];
  /** Other HTTP endpoints of its own (answer pages, platform notifications, APIs). */
  routes?(): Router;
  /** Once the instance serves requests: work that needs the running platform (QR codes …). */
  started?(): Promise<void>;
  /** What staff answering a citizen may know of them from this capability (a name they gave, their matters). */
  citizen?(openid: string): Promise<CitizenFacts>;
}

/**
 * What a capability knows of a citizen, for the staff view of their conversation: a name and a
 * phone the citizen gave (as given: whoever shows them masks them), and their matters here.
 */
export interface CitizenFacts {
  name?: string | null;
  phone?: string | null;
  /** Newest first: 预约 · 居住证 11月25日 10:00 (已预约), with where staff open it. */
  items: { kind: string; label: string; href: string; at: number }[];
}
