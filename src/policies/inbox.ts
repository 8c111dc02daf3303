import { canSee, holdsConversations, isStaff, oversees, type Actor, type Role, type StaffActor } from './roles.ts';

/** What a permission about a conversation needs to know of it. */
export interface ConversationScope {
  department: string | null;
  status: 'open' | 'closed';
  assigneeId: number | null;
  escalatedAt: number | null;
}

export const INBOX_ACTIONS = ['view', 'unmask', 'claim', 'assign', 'transfer', 'classify', 'reply', 'close', 'escalate', 'retry_delivery'] as const;
export type InboxAction = (typeof INBOX_ACTIONS)[number];

const open = (c: ConversationScope) => c.status === 'open';
const mine = (a: StaffActor, c: ConversationScope) => c.assigneeId === a.id;
const free = (c: ConversationScope) => c.assigneeId === null;

const INBOX_RULES: Record<InboxAction, (a: StaffActor, c: ConversationScope) => boolean> = {
  view: () => true,
  // Showing personal data in full is open to anyone who may read the conversation, and audited.
  unmask: () => true,
  claim: (a, c) => open(c) && free(c) && holdsConversations(a.role),
  // Dispatching (派单) to a colleague: the duty officer, the supervisor, an administrator.
  assign: (a, c) => open(c) && (a.role === 'duty' || oversees(a)),
  transfer: (a, c) => open(c) && (a.role === 'duty' || oversees(a) || mine(a, c) || free(c)),
  classify: (a, c) => open(c) && (a.role === 'duty' || oversees(a) || mine(a, c) || free(c)),
  // Replying to a waiting conversation claims it (if the actor may claim); another's conversation is theirs to answer.
  reply: (a, c) => open(c) && (mine(a, c) || free(c) || oversees(a)),
  close: (a, c) => open(c) && (mine(a, c) || oversees(a) || (free(c) && a.role === 'duty')),
  // Asking the supervisor to step in (上报) — not for supervisors themselves.
  escalate: (a, c) => open(c) && c.escalatedAt === null && a.role !== 'supervisor' && a.role !== 'admin',
  retry_delivery: (a, c) => mine(a, c) || free(c) || oversees(a) || a.role === 'duty',
};

/** Whether the actor may do this to the conversation (which it must be able to see). */
export function may(a: Actor, action: InboxAction, c: ConversationScope): boolean {
  if (!isStaff(a)) return action === 'escalate' && open(c) && c.escalatedAt === null;
  return canSee(a, c) && INBOX_RULES[action](a, c);
}

/** Whom a conversation may be assigned to: active staff of its department who answer conversations. */
export function assignable(target: { role: Role; department: string | null; active: boolean }, c: Pick<ConversationScope, 'department'>): boolean {
  return target.active && holdsConversations(target.role) && target.department !== null && target.department === c.department;
}

// ---- the inbox views ----------------------------------------------------------------------------

export const VIEWS = ['waiting', 'mine', 'department', 'escalated', 'all'] as const;
export type InboxView = (typeof VIEWS)[number];

export const VIEW_NAMES: Record<InboxView, string> = { waiting: '待领取', mine: '我的', department: '本部门', escalated: '督办', all: '全部' };

const VIEW_RULES: Record<InboxView, (a: StaffActor) => boolean> = {
  waiting: () => true,
  mine: (a) => holdsConversations(a.role),
  department: (a) => a.role !== 'admin',
  escalated: (a) => oversees(a),
  // supervisors: the department's conversations, open and closed; administrators: every department's.
  all: (a) => oversees(a),
};

export function views(a: StaffActor): InboxView[] {
  return VIEWS.filter((v) => VIEW_RULES[v](a));
}
