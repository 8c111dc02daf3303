/**
 * Who may do what: every permission of the staff panel and the inbox commands is decided here and
 * nowhere else. Routes and commands ask; they never compare roles themselves.
 *
 * Roles:
 *  - 值班员 duty: the first line. Answers and dispatches (assigns, transfers) the department's
 *    queue.
 *  - 经办人 handler: answers the department's conversations — the ones waiting and their own.
 *  - 负责人 supervisor: everything in the department, including others' conversations; receives
 *    escalations (督办).
 *  - 管理员 admin: every department; manages accounts; reads the audit log. Oversees conversations
 *    but holds none: nobody assigns them one, they have no "mine" view, and so they do not claim
 *    one either (nor by answering a waiting one, which claims it for anyone else).
 *
 * Department scoping: a conversation outside the actor's department does not exist for them —
 * routes answer 404 whether it exists or not, so ids cannot be probed.
 */

export const ROLES = ['duty', 'handler', 'supervisor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_NAMES: Record<Role, string> = { duty: '值班员', handler: '经办人', supervisor: '负责人', admin: '管理员' };

/** Roles that work inside one department (an administrator may have none). */
export const needsDepartment = (role: Role): boolean => role !== 'admin';

/** Someone acting: a signed-in staff member, or the system itself (deadline jobs). */
export type Actor =
  | { kind: 'staff'; id: number; username: string; name: string; role: Role; department: string | null }
  | { kind: 'system' };

export type StaffActor = Extract<Actor, { kind: 'staff' }>;

export const SYSTEM: Actor = { kind: 'system' };

/** What a permission about a conversation needs to know of it. */
export interface ConversationScope {
  department: string | null;
  status: 'open' | 'closed';
  assigneeId: number | null;
  escalatedAt: number | null;
}

export const INBOX_ACTIONS = ['view', 'unmask', 'claim', 'assign', 'transfer', 'classify', 'reply', 'close', 'escalate', 'retry_delivery'] as const;
export type InboxAction = (typeof INBOX_ACTIONS)[number];

const isStaff = (a: Actor): a is StaffActor => a.kind === 'staff';
const open = (c: ConversationScope) => c.status === 'open';
const mine = (a: StaffActor, c: ConversationScope) => c.assigneeId === a.id;
const free = (c: ConversationScope) => c.assigneeId === null;
const oversees = (a: StaffActor) => a.role === 'supervisor' || a.role === 'admin';
/** Whether a role holds conversations of its own (is assigned them, claims them, has "mine"). */
export const holdsConversations = (role: Role): boolean => role !== 'admin';

/** Whether the conversation exists for the actor at all (its department is theirs, or they administer). */
export function canSee(a: Actor, c: Pick<ConversationScope, 'department'>): boolean {
  if (!isStaff(a)) return true;
  return a.role === 'admin' || (a.department !== null && a.department === c.department);
}

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

/** Departments whose conversations the actor sees; null means all of them. */
export function departmentsOf(a: StaffActor): string[] | null {
  if (a.role === 'admin') return null;
  return a.department ? [a.department] : [];
}

// ---- the rest of the panel ---------------------------------------------------------------------

export const PANEL_ACTIONS = ['dashboard', 'cases', 'staff.manage', 'audit.read', 'deliveries.read', 'halls', 'halls.qrcode'] as const;
export type PanelAction = (typeof PANEL_ACTIONS)[number];

const PANEL_RULES: Record<PanelAction, (a: StaffActor) => boolean> = {
  dashboard: () => true,
  cases: () => true,
  'staff.manage': (a) => a.role === 'admin',
  'audit.read': (a) => a.role === 'admin',
  'deliveries.read': () => true,
  // 大厅: any staff member may keep a hall's desk (today's bookings, arrived / not come / handled);
  // a hall's check-in code is the supervisor's or the administrator's to print.
  halls: () => true,
  'halls.qrcode': (a) => oversees(a),
};

export function allowed(a: StaffActor, action: PanelAction): boolean {
  return PANEL_RULES[action](a);
}

// ---- cases (applications) ------------------------------------------------------------------------

export const CASE_ACTIONS = ['view', 'unmask', 'files', 'accept', 'correct', 'advance', 'refuse'] as const;
export type CaseAction = (typeof CASE_ACTIONS)[number];

/** What a permission about a case needs to know of it. */
export interface CaseScope {
  department: string | null;
  status: 'submitted' | 'in_progress' | 'correction' | 'completed' | 'refused';
}

const openCase = (c: CaseScope) => c.status === 'submitted' || c.status === 'in_progress' || c.status === 'correction';

/**
 * Cases: the department's handlers and supervisors move them (受理, 补正, 下一步/办结, 不予受理); the duty
 * officer reads them (to answer citizens' questions about them); an administrator does everything.
 */
const CASE_RULES: Record<CaseAction, (a: StaffActor, c: CaseScope) => boolean> = {
  view: () => true,
  unmask: () => true,
  files: () => true,
  accept: (a, c) => a.role !== 'duty' && c.status === 'submitted',
  correct: (a, c) => a.role !== 'duty' && (c.status === 'submitted' || c.status === 'in_progress'),
  advance: (a, c) => a.role !== 'duty' && c.status === 'in_progress',
  refuse: (a, c) => a.role !== 'duty' && openCase(c),
};

/** Whether the actor may do this to the case (a case outside their department does not exist for them). */
export function mayCase(a: StaffActor, action: CaseAction, c: CaseScope): boolean {
  return canSee(a, c) && CASE_RULES[action](a, c);
}
