import { canSee, oversees, type StaffActor } from './roles.ts';

export const BILL_ACTIONS = ['view', 'refund', 'close', 'reconcile', 'export'] as const;
export type BillAction = (typeof BILL_ACTIONS)[number];

/** What a permission about a bill needs to know of it. */
export interface BillScope {
  department: string | null;
  status: string;
}

/**
 * 收费: every staff member of the department sees its bills and orders (to answer a citizen's
 * question about a payment); refunds, closing a bill and the day's reconciliation are the
 * supervisor's (or an administrator's); exports too, as they list every payer (masked).
 */
const BILL_RULES: Record<BillAction, (a: StaffActor, b: BillScope) => boolean> = {
  view: () => true,
  refund: (a, b) => oversees(a) && ['paid', 'partially_refunded'].includes(b.status),
  close: (a, b) => oversees(a) && (b.status === 'unpaid' || b.status === 'paying'),
  reconcile: (a) => oversees(a),
  export: (a) => oversees(a),
};

/** Whether the actor may do this to the bill (a bill outside their department does not exist for them). */
export function mayBill(a: StaffActor, action: BillAction, b: BillScope): boolean {
  return canSee(a, b) && BILL_RULES[action](a, b);
}

/** Reconciliation and exports are of the whole merchant account: supervisors and administrators. */
export function mayReconcile(a: StaffActor): boolean {
  return oversees(a);
}
