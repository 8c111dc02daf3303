import { oversees, type StaffActor } from './roles.ts';

/**
 * Tickets (工单, the 12345 loop). The dispatch desk (the profile's tickets.dispatch_department: a
 * 12345 调度 centre) accepts or refuses reports, dispatches them, merges duplicates, approves 延期
 * and records 回访; the department a ticket is dispatched to (and those helping, 协办) handles and
 * answers it, or sends it back (退单). Duty officers of a department read its tickets; its
 * handlers and supervisors move them. Administrators do everything everywhere.
 *
 * Ratings (好差评): the rectification of a poor rating is the rated department's to write and its
 * supervisor's to review; who gave the rating is shown only to supervisors and administrators,
 * through an audited reveal.
 */

export const TICKET_ACTIONS = ['view', 'unmask', 'photos', 'accept', 'reject', 'dispatch', 'merge', 'give_back', 'handle', 'answer', 'extend', 'decide_extension', 'complete', 'visit', 'export'] as const;
export type TicketAction = (typeof TICKET_ACTIONS)[number];

/** What a permission about a ticket needs to know of it. */
export interface TicketScope {
  department: string;
  coDepartments: string[];
  status: 'submitted' | 'accepted' | 'dispatched' | 'handling' | 'replied' | 'completed' | 'closed' | 'rejected' | 'merged';
}

const isDispatcher = (a: StaffActor, dispatch: string) => a.role === 'admin' || (a.department === dispatch && a.department !== null);
const handles = (a: StaffActor, t: TicketScope) => a.role === 'admin' || (a.department !== null && a.department === t.department);
const helps = (a: StaffActor, t: TicketScope) => a.department !== null && t.coDepartments.includes(a.department);
const works = (a: StaffActor) => a.role !== 'duty';

const RULES: Record<TicketAction, (a: StaffActor, t: TicketScope, dispatch: string) => boolean> = {
  view: () => true,
  unmask: () => true,
  photos: () => true,
  accept: (a, _t, d) => isDispatcher(a, d),
  reject: (a, _t, d) => isDispatcher(a, d),
  dispatch: (a, _t, d) => isDispatcher(a, d),
  merge: (a, _t, d) => isDispatcher(a, d),
  // 退单 is the receiving department's; the dispatcher takes it back by dispatching again.
  give_back: (a, t) => works(a) && handles(a, t),
  handle: (a, t) => works(a) && handles(a, t),
  answer: (a, t) => works(a) && handles(a, t),
  extend: (a, t) => works(a) && handles(a, t),
  decide_extension: (a, t, d) => (isDispatcher(a, d) && oversees(a)) || (oversees(a) && handles(a, t)),
  complete: (a, t, d) => works(a) && (handles(a, t) || isDispatcher(a, d)),
  visit: (a, _t, d) => isDispatcher(a, d),
  export: (a) => oversees(a) || a.role === 'duty',
};

/** Whether a ticket exists for the actor: the dispatch desk sees all; a department what it handles or helps with. */
export function seesTicket(a: StaffActor, t: Pick<TicketScope, 'department' | 'coDepartments'>, dispatch: string): boolean {
  return isDispatcher(a, dispatch) || handles(a, t as TicketScope) || helps(a, t as TicketScope);
}

/** Whether the actor may do this to the ticket (which must exist for them). */
export function mayTicket(a: StaffActor, action: TicketAction, t: TicketScope, dispatch: string): boolean {
  return seesTicket(a, t, dispatch) && RULES[action](a, t, dispatch);
}

/** Departments whose tickets the actor lists; null: all (administrators and the dispatch desk). */
export function ticketDepartmentsOf(a: StaffActor, dispatch: string): string[] | null {
  if (isDispatcher(a, dispatch)) return null;
  return a.department ? [a.department] : [];
}

// ---- ratings and rectifications ------------------------------------------------------------------

export const RECTIFICATION_ACTIONS = ['view', 'submit', 'review', 'reveal_rater'] as const;
export type RectificationAction = (typeof RECTIFICATION_ACTIONS)[number];

export function mayRectification(a: StaffActor, action: RectificationAction, r: { department: string | null }): boolean {
  const mine = a.role === 'admin' || (a.department !== null && a.department === r.department);
  if (!mine) return false;
  if (action === 'view') return true;
  if (action === 'submit') return works(a);
  return oversees(a);
}

/** Open311 API keys are an administrator's to issue and revoke. */
export function mayManageApiKeys(a: StaffActor): boolean {
  return a.role === 'admin';
}
