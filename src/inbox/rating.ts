import type { ChatRoute } from '../chat/engine.ts';
import type { Inbox } from './inbox.ts';

/** `rate-<handoff id>-<level>`: the ids of the rating menu's choices (Inbox.ratingMenu). */
const RATING_ID = /^rate-(\d{1,12})-([1-5])$/;

/**
 * The conversation's route for rating answers: a tap on the rating menu comes back as a text
 * message carrying its bizmsgmenuid. It runs early (before "staff have the conversation"), so the
 * answer is caught wherever the citizen is; it never counts as a question for search or staff.
 */
export function ratingRoute(inbox: Inbox): ChatRoute {
  return {
    name: 'a rating after staff closed the conversation (bizmsgmenu)',
    when: (m) => m.kind === 'text' && RATING_ID.test(m.bizmsgmenuid ?? ''),
    handle: async (m) => {
      const [, id, level] = RATING_ID.exec((m as { bizmsgmenuid: string }).bizmsgmenuid)!;
      const said = await inbox.rate(m.fromUser, Number(id), Number(level));
      return said ? { reply: { type: 'text', content: said }, ref: `rating:${level}` } : { reply: null, ref: 'rating:refused' };
    },
  };
}
