import type { Capability, Core } from '../capability.ts';
import { Handoffs } from '../chat/handoff.ts';
import { answerRoutes } from './answer-page.ts';
import { Inbox, type InboxDeps } from './inbox.ts';
import { InboxReader } from './queries.ts';
import { ratingRoute } from './rating.ts';
import { Stats } from './stats.ts';

export interface InboxCapability extends Capability {
  inbox: Inbox;
  handoffs: Handoffs;
  reader: InboxReader;
  stats: Stats;
}

/**
 * The staff inbox (人工): conversations the bot hands off, their due times on the working-day
 * calendar and 督办, staff replies delivered inside the 48-hour window or as a template with an
 * answer page past it, and the rating asked after closing. Its pages are the staff panel's home
 * (`src/admin/routes.ts`); the answer pages and the rating route are its own.
 */
export async function inboxCapability(core: Core, needs: { handBack(openid: string): Promise<void>; onRated?: InboxDeps['onRated'] }): Promise<InboxCapability> {
  const { profile } = core;
  const inbox = new Inbox({
    db: core.db,
    clock: core.clock,
    calendar: core.calendar,
    profile,
    jobs: core.jobs,
    outbox: core.outbox,
    conversationLog: core.conversationLog,
    accounts: core.accounts,
    audit: core.audit,
    alerts: core.alerts,
    publicUrl: core.publicUrl,
    logger: core.log.child({ component: 'inbox' }),
    handBack: needs.handBack,
    ...(needs.onRated ? { onRated: needs.onRated } : {}),
  });
  await inbox.adopt();
  const handoffs = new Handoffs(core.db, core.clock, inbox.intake);
  return {
    name: 'inbox',
    inbox,
    handoffs,
    reader: new InboxReader(core.db, core.clock, core.accounts, inbox),
    stats: new Stats(core.db, core.clock, core.calendar, profile, handoffs),
    chat: { early: [ratingRoute(inbox)] },
    routes: () =>
      answerRoutes({
        db: core.db,
        calendar: core.calendar,
        accountName: profile.account.name,
        departmentName: (id) => inbox.departmentName(id),
        rating: { levels: inbox.settings.rating.levels, rate: (openid, handoffId, level) => inbox.rate(openid, handoffId, level) },
      }),
  };
}
