import { canSee, oversees, type StaffActor } from './roles.ts';

export const BINDING_ACTIONS = ['view', 'events', 'unbind', 'notices.compose', 'notices.send'] as const;
export type BindingAction = (typeof BINDING_ACTIONS)[number];

/**
 * Bindings and pushes in the panel: any staff member of the kind's department sees its bindings
 * (masked) and the events its systems sent; a notice to many citizens is composed by a supervisor
 * or an administrator and sent by them (what reaches thousands is not a duty officer's call).
 */
const RULES: Record<BindingAction, (a: StaffActor) => boolean> = {
  view: () => true,
  events: () => true,
  // At the counter, for a citizen whose card someone else bound (they show their ID): not the duty officer's alone.
  unbind: (a) => a.role !== 'duty',
  'notices.compose': (a) => oversees(a),
  'notices.send': (a) => oversees(a),
};

/** Whether the actor may do this about bindings of a kind kept by `department` (null: the whole account). */
export function mayBindings(a: StaffActor, action: BindingAction, department: string | null): boolean {
  if (department !== null && !canSee(a, { department })) return false;
  return RULES[action](a);
}
