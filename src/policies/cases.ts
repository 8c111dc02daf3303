import { canSee, type StaffActor } from './roles.ts';

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
