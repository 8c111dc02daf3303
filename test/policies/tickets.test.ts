import { describe, expect, it } from 'vitest';
import { mayManageApiKeys, mayRectification, mayTicket, seesTicket, TICKET_ACTIONS, ticketDepartmentsOf, type StaffActor, type TicketScope } from '../../src/policies/index.ts';

const staff = (role: StaffActor['role'], department: string | null, id = 1): StaffActor => ({ kind: 'staff', id, username: `${role}.${department}`, name: role, role, department });
const DESK = 'hotline';
const t = (o: Partial<TicketScope> = {}): TicketScope => ({ department: 'roads', coDepartments: [], status: 'dispatched', ...o });
const allowedOn = (a: StaffActor, s: TicketScope) => TICKET_ACTIONS.filter((x) => mayTicket(a, x, s, DESK));

describe('who may do what to a ticket', () => {
  it('the dispatch desk accepts, refuses, dispatches, merges, decides 延期 (its supervisor) and calls back; it does not answer for the department', () => {
    expect(allowedOn(staff('duty', DESK), t())).toEqual(['view', 'unmask', 'photos', 'accept', 'reject', 'dispatch', 'merge', 'visit', 'export']);
    expect(allowedOn(staff('supervisor', DESK), t())).toEqual(['view', 'unmask', 'photos', 'accept', 'reject', 'dispatch', 'merge', 'decide_extension', 'complete', 'visit', 'export']);
  });

  it('the department handles, answers, sends back and asks for 延期; its duty officer only reads; a helping department reads', () => {
    expect(allowedOn(staff('handler', 'roads'), t())).toEqual(['view', 'unmask', 'photos', 'give_back', 'handle', 'answer', 'extend', 'complete']);
    expect(allowedOn(staff('supervisor', 'roads'), t())).toEqual(['view', 'unmask', 'photos', 'give_back', 'handle', 'answer', 'extend', 'decide_extension', 'complete', 'export']);
    expect(allowedOn(staff('duty', 'roads'), t())).toEqual(['view', 'unmask', 'photos', 'export']);
    expect(allowedOn(staff('handler', 'street'), t({ coDepartments: ['street'] }))).toEqual(['view', 'unmask', 'photos']);
  });

  it('another department: the ticket does not exist for it; administrators see and do everything', () => {
    expect(allowedOn(staff('supervisor', 'social'), t())).toEqual([]);
    expect(seesTicket(staff('handler', null), t(), DESK)).toBe(false);
    expect(allowedOn(staff('admin', null), t())).toEqual([...TICKET_ACTIONS]);
    expect(ticketDepartmentsOf(staff('admin', null), DESK)).toBeNull();
    expect(ticketDepartmentsOf(staff('duty', DESK), DESK)).toBeNull();
    expect(ticketDepartmentsOf(staff('handler', 'roads'), DESK)).toEqual(['roads']);
  });

  it('rectifications: the rated department writes, its supervisor reviews and may reveal the rater; Open311 keys are the administrator\'s', () => {
    const r = { department: 'roads' };
    expect(['view', 'submit', 'review', 'reveal_rater'].filter((x) => mayRectification(staff('handler', 'roads'), x as never, r))).toEqual(['view', 'submit']);
    expect(['view', 'submit', 'review', 'reveal_rater'].filter((x) => mayRectification(staff('supervisor', 'roads'), x as never, r))).toEqual(['view', 'submit', 'review', 'reveal_rater']);
    expect(['view', 'submit', 'review', 'reveal_rater'].filter((x) => mayRectification(staff('supervisor', 'social'), x as never, r))).toEqual([]);
    expect(mayManageApiKeys(staff('supervisor', DESK))).toBe(false);
    expect(mayManageApiKeys(staff('admin', null))).toBe(true);
  });
});
