import { oversees, type StaffActor } from './roles.ts';

/** The panel's sections and actions that are not about one record. */
export const PANEL_ACTIONS = ['dashboard', 'cases', 'staff.manage', 'audit.read', 'deliveries.read', 'halls', 'halls.qrcode', 'tickets', 'bills'] as const;
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
  // 工单: every staff member has the section (what is in it follows the tickets' rules).
  tickets: () => true,
  // 收费: every staff member sees the department's bills (to answer a citizen about a payment).
  bills: () => true,
};

export function allowed(a: StaffActor, action: PanelAction): boolean {
  return PANEL_RULES[action](a);
}
