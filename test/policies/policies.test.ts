import { describe, expect, it } from 'vitest';
import { mayBill, type BillAction } from '../../src/policies/index.ts';
import { allowed, assignable, CASE_ACTIONS, canSee, departmentsOf, ROLE_NAMES, VIEW_NAMES, isStaff, holdsConversations, INBOX_ACTIONS, may, mayCase, needsDepartment, oversees, PANEL_ACTIONS, SYSTEM, views, type Actor, type CaseAction, type CaseScope, type ConversationScope, type InboxAction, type Role } from '../../src/policies/index.ts';

const staff = (id: number, role: Role, department: string | null): Extract<Actor, { kind: 'staff' }> => ({ kind: 'staff', id, username: `u${id}`, name: `n${id}`, role, department });
const duty = staff(1, 'duty', 'a');
const handler = staff(2, 'handler', 'a');
const colleague = staff(3, 'handler', 'a');
const supervisor = staff(4, 'supervisor', 'a');
const admin = staff(5, 'admin', null);
const elsewhere = staff(6, 'supervisor', 'b');

const conv = (o: Partial<ConversationScope> = {}): ConversationScope => ({ department: 'a', status: 'open', assigneeId: null, escalatedAt: null, ...o });
const allowedActions = (a: Actor, c: ConversationScope) => INBOX_ACTIONS.filter((x) => may(a, x, c));

describe('who may do what to a conversation', () => {
  it('outside the department nothing is allowed, not even seeing it', () => {
    for (const c of [conv(), conv({ assigneeId: 6 }), conv({ status: 'closed' })]) {
      expect(canSee(elsewhere, c)).toBe(false);
      expect(allowedActions(elsewhere, c)).toEqual([]);
    }
    expect(canSee(staff(7, 'handler', null), conv())).toBe(false); // no department, no conversations
    expect(canSee(admin, conv({ department: 'z' }))).toBe(true);
  });

  it('a waiting conversation', () => {
    const c = conv();
    const table: [Actor, InboxAction[]][] = [
      [duty, ['view', 'unmask', 'claim', 'assign', 'transfer', 'classify', 'reply', 'close', 'escalate', 'retry_delivery']],
      [handler, ['view', 'unmask', 'claim', 'transfer', 'classify', 'reply', 'escalate', 'retry_delivery']],
      [supervisor, ['view', 'unmask', 'claim', 'assign', 'transfer', 'classify', 'reply', 'close', 'retry_delivery']],
      // Administrators hold no conversations (no "mine", never assigned one), so they do not claim.
      [admin, ['view', 'unmask', 'assign', 'transfer', 'classify', 'reply', 'close', 'retry_delivery']],
    ];
    for (const [a, expected] of table) expect(allowedActions(a, c), (a as { role: string }).role).toEqual(expected);
  });

  it('a colleague\'s conversation: a handler may only read it; the duty officer dispatches; the supervisor may do all', () => {
    const c = conv({ assigneeId: colleague.id });
    expect(allowedActions(handler, c)).toEqual(['view', 'unmask', 'escalate']);
    expect(allowedActions(colleague, c)).toEqual(['view', 'unmask', 'transfer', 'classify', 'reply', 'close', 'escalate', 'retry_delivery']);
    expect(allowedActions(duty, c)).toEqual(['view', 'unmask', 'assign', 'transfer', 'classify', 'escalate', 'retry_delivery']);
    expect(allowedActions(supervisor, c)).toEqual(['view', 'unmask', 'assign', 'transfer', 'classify', 'reply', 'close', 'retry_delivery']);
  });

  it('a closed conversation is read-only (a failed delivery may still be sent again)', () => {
    const c = conv({ status: 'closed', assigneeId: handler.id });
    expect(allowedActions(handler, c)).toEqual(['view', 'unmask', 'retry_delivery']);
    expect(allowedActions(supervisor, c)).toEqual(['view', 'unmask', 'retry_delivery']);
  });

  it('escalation happens once; the system may only escalate', () => {
    expect(may(handler, 'escalate', conv({ escalatedAt: 1 }))).toBe(false);
    expect(allowedActions(SYSTEM, conv())).toEqual(['escalate']);
    expect(may(SYSTEM, 'escalate', conv({ escalatedAt: 1 }))).toBe(false);
    expect(may(SYSTEM, 'escalate', conv({ status: 'closed' }))).toBe(false);
  });

  it('assignment goes only to active, non-administrator staff of the conversation\'s department', () => {
    expect(assignable({ role: 'handler', department: 'a', active: true }, conv())).toBe(true);
    expect(assignable({ role: 'handler', department: 'a', active: false }, conv())).toBe(false);
    expect(assignable({ role: 'handler', department: 'b', active: true }, conv())).toBe(false);
    expect(assignable({ role: 'admin', department: 'a', active: true }, conv())).toBe(false);
  });
});

describe('views and pages by role', () => {
  it('tabs', () => {
    expect(views(duty)).toEqual(['waiting', 'mine', 'department']);
    expect(views(handler)).toEqual(['waiting', 'mine', 'department']);
    expect(views(supervisor)).toEqual(['waiting', 'mine', 'department', 'escalated', 'all']);
    expect(views(admin)).toEqual(['waiting', 'escalated', 'all']);
  });
  it('accounts and the audit log are for administrators', () => {
    for (const a of [duty, handler, supervisor]) {
      expect(allowed(a, 'staff.manage')).toBe(false);
      expect(allowed(a, 'audit.read')).toBe(false);
      expect(allowed(a, 'dashboard')).toBe(true);
    }
    expect(allowed(admin, 'staff.manage')).toBe(true);
    expect(allowed(admin, 'audit.read')).toBe(true);
  });
});

describe('who may do what to a case', () => {
  const kase = (status: CaseScope['status'], department: string | null = 'a'): CaseScope => ({ department, status });
  const caseActions = (a: Extract<Actor, { kind: 'staff' }>, c: CaseScope) => CASE_ACTIONS.filter((x) => mayCase(a, x, c));

  it('the duty officer reads a case (to answer the citizen) but never moves it: no 受理, 补正, next step or 不予受理', () => {
    for (const status of ['submitted', 'in_progress', 'correction', 'completed', 'refused'] as const) {
      expect(caseActions(duty, kase(status)), status).toEqual(['view', 'unmask', 'files']);
    }
    expect(mayCase(duty, 'refuse', kase('submitted'))).toBe(false);
    expect(mayCase(duty, 'refuse', kase('in_progress'))).toBe(false);
  });

  it('handlers, supervisors and administrators move it, each move only from the states it belongs to', () => {
    const table: [CaseScope['status'], CaseAction[]][] = [
      ['submitted', ['view', 'unmask', 'files', 'accept', 'correct', 'refuse']],
      ['in_progress', ['view', 'unmask', 'files', 'correct', 'advance', 'refuse']],
      // Waiting for the citizen: nothing to accept or advance, and no second 补正; 不予受理 stays open.
      ['correction', ['view', 'unmask', 'files', 'refuse']],
      ['completed', ['view', 'unmask', 'files']],
      ['refused', ['view', 'unmask', 'files']],
    ];
    for (const a of [handler, supervisor, admin]) {
      for (const [status, expected] of table) expect(caseActions(a, kase(status)), `${a.role} ${status}`).toEqual(expected);
    }
  });

  it('outside the department a case does not exist, whatever the role; an administrator sees every department', () => {
    for (const status of ['submitted', 'in_progress'] as const) {
      expect(caseActions(elsewhere, kase(status))).toEqual([]);
      expect(caseActions(staff(8, 'duty', 'b'), kase(status))).toEqual([]);
      expect(caseActions(staff(9, 'handler', null), kase(status))).toEqual([]);
    }
    expect(caseActions(admin, kase('submitted', 'z'))).toEqual(['view', 'unmask', 'files', 'accept', 'correct', 'refuse']);
  });
});

describe('roles', () => {
  it('who oversees, who holds conversations, who needs a department, whose departments', () => {
    expect([duty, handler, supervisor, admin].map(oversees)).toEqual([false, false, true, true]);
    expect((['duty', 'handler', 'supervisor', 'admin'] as const).map(holdsConversations)).toEqual([true, true, true, false]);
    expect((['duty', 'handler', 'supervisor', 'admin'] as const).map(needsDepartment)).toEqual([true, true, true, false]);
    expect(departmentsOf(handler)).toEqual(['a']);
    expect(departmentsOf(admin)).toBeNull();
    expect(departmentsOf(staff(7, 'handler', null))).toEqual([]);
  });

  it('every panel action, by role', () => {
    const table: [Extract<Actor, { kind: 'staff' }>, string[]][] = [
      [duty, ['dashboard', 'cases', 'deliveries.read', 'halls', 'tickets', 'bills']],
      [handler, ['dashboard', 'cases', 'deliveries.read', 'halls', 'tickets', 'bills']],
      [supervisor, ['dashboard', 'cases', 'deliveries.read', 'halls', 'halls.qrcode', 'tickets', 'bills']],
      [admin, ['dashboard', 'cases', 'staff.manage', 'audit.read', 'deliveries.read', 'halls', 'halls.qrcode', 'tickets', 'bills']],
    ];
    for (const [a, expected] of table) expect(PANEL_ACTIONS.filter((x) => allowed(a, x)), a.role).toEqual(expected);
  });

  it('bills: everyone in the department sees them; refunds and closing are the supervisor\'s, only in the right state; another department\'s bill does not exist', () => {
    const paid = { department: supervisor.department, status: 'paid' };
    const unpaid = { department: supervisor.department, status: 'unpaid' };
    const refunded = { department: supervisor.department, status: 'refunded' };
    const elsewhere = { department: 'no-such-department', status: 'paid' };
    const table: [Extract<Actor, { kind: 'staff' }>, BillAction, { department: string | null; status: string }, boolean][] = [
      [duty, 'view', paid, true],
      [handler, 'view', paid, true],
      [handler, 'refund', paid, false],
      [handler, 'close', unpaid, false],
      [supervisor, 'refund', paid, true],
      [supervisor, 'refund', unpaid, false],
      [supervisor, 'refund', refunded, false],
      [supervisor, 'close', unpaid, true],
      [supervisor, 'close', paid, false],
      [supervisor, 'view', elsewhere, false],
      [supervisor, 'refund', elsewhere, false],
      [admin, 'refund', elsewhere, true],
    ];
    for (const [a, action, b, expected] of table) expect(mayBill(a, action, b), `${a.role} ${action} ${b.status} ${b.department}`).toBe(expected);
  });
});

describe('the edges of the rules', () => {
  it('nobody without a department is assigned anything, and nothing without a department is assigned', () => {
    expect(assignable({ role: 'handler', department: null, active: true }, conv({ department: null }))).toBe(false);
    expect(assignable({ role: 'duty', department: 'a', active: true }, conv())).toBe(true);
    expect(assignable({ role: 'supervisor', department: 'a', active: true }, conv({ department: null }))).toBe(false);
  });

  it('the system sees everything and only escalates open, not yet escalated conversations', () => {
    expect(isStaff(SYSTEM)).toBe(false);
    expect(isStaff(duty)).toBe(true);
    expect(canSee(SYSTEM, conv({ department: 'z' }))).toBe(true);
    expect(INBOX_ACTIONS.filter((x) => may(SYSTEM, x, conv({ department: null })))).toEqual(['escalate']);
  });

  it('a handler without a department sees no conversation, whoever holds it', () => {
    const nowhere = staff(10, 'handler', null);
    expect(canSee(nowhere, conv({ department: null }))).toBe(false);
    expect(allowedActions(nowhere, conv({ department: null, assigneeId: 10 }))).toEqual([]);
  });

  it('what staff read: the names of the roles and of the inbox tabs', () => {
    expect(ROLE_NAMES).toEqual({ duty: '值班员', handler: '经办人', supervisor: '负责人', admin: '管理员' });
    expect(VIEW_NAMES).toEqual({ waiting: '待领取', mine: '我的', department: '本部门', escalated: '督办', all: '全部' });
  });
});
