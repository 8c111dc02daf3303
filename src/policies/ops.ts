import { oversees, type StaffActor } from './roles.ts';

/**
 * Running the account (运营): the figures, the self-check and the content staff edit.
 *  - 运营数据 (use per item, reply speed, satisfaction, exports): supervisors and administrators —
 *    per staff member figures and citizens' comments are theirs to read; a supervisor sees their
 *    department's requests, an administrator every department's.
 *  - 内容维护 (notices, policy interpretations, FAQ answers, guides' texts): supervisors and
 *    administrators; every change is audited and can be rolled back.
 *  - 发布和撤下 (a new notice or policy interpretation in a 政务公开 list, taking one down): the
 *    same people — what goes out under the account's name is a supervisor's or an administrator's
 *    call; audited and rolled back like an edit.
 *  - 体检 (the self-check against the rubric): supervisors and administrators read it; running
 *    it follows every link, so only administrators start it from the panel.
 */
export const OPS_ACTIONS = ['ops.read', 'content.edit', 'content.publish', 'check.read', 'check.run'] as const;
export type OpsAction = (typeof OPS_ACTIONS)[number];

const OPS_RULES: Record<OpsAction, (a: StaffActor) => boolean> = {
  'ops.read': (a) => oversees(a),
  'content.edit': (a) => oversees(a),
  'content.publish': (a) => oversees(a),
  'check.read': (a) => oversees(a),
  'check.run': (a) => a.role === 'admin',
};

export function mayOps(a: StaffActor, action: OpsAction): boolean {
  return OPS_RULES[action](a);
}
