/**
 * Who may do what — the roles, and what every capability's rules share. Each capability's rules
 * live beside this file (inbox.ts, cases.ts, panel.ts …) and index.ts exports them together: every
 * permission is decided in this folder and nowhere else. Routes and commands ask; they never
 * compare roles themselves.
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
 * Department scoping: a record (conversation, case …) outside the actor's department does not exist
 * for them — routes answer 404 whether it exists or not, so ids cannot be probed.
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


export const isStaff = (a: Actor): a is StaffActor => a.kind === 'staff';
/** Supervisors and administrators oversee their departments (every department, for administrators). */
export const oversees = (a: StaffActor): boolean => a.role === 'supervisor' || a.role === 'admin';
/** Whether a role holds conversations of its own (is assigned them, claims them, has "mine"). */
export const holdsConversations = (role: Role): boolean => role !== 'admin';

/** Whether a record of a department exists for the actor at all (its department is theirs, or they administer). */
export function canSee(a: Actor, c: { department: string | null }): boolean {
  if (!isStaff(a)) return true;
  return a.role === 'admin' || (a.department !== null && a.department === c.department);
}

/** Departments whose records the actor sees; null means all of them. */
export function departmentsOf(a: StaffActor): string[] | null {
  if (a.role === 'admin') return null;
  return a.department ? [a.department] : [];
}
