import { fitBytes } from '../bills/capability.ts';
import type { Bills } from '../bills/index.ts';
import type { BillIssuer, Events } from './events.ts';

/** The bill's `pays.ref` for an event's fine: the event's own id, whose idempotency key already guards replays. */
const REF = /^event-(\d{1,12})$/;

/**
 * A fine pushed by a department's system becomes a bill through pay's one command (`Bills.issue`),
 * inside the event's transaction; once it is paid, the department is told (`Events.settled`).
 */
export function finesThroughBills(bills: Bills): { issuer: BillIssuer; join(events: Events): void } {
  return {
    issuer: {
      async issueBill(input, manager) {
        const bill = await bills.issue({ openid: input.openid, amountFen: input.amountFen, description: fitBytes(input.title), pays: { kind: 'event', ref: `event-${input.eventId}` } }, manager);
        return { billId: String(bill.id), payUrl: bills.link(bill) };
      },
    },
    join(events) {
      bills.onPaid(async (bill, tx) => {
        const m = bill.paysKind === 'event' ? REF.exec(bill.paysRef) : null;
        if (m) await events.settled(Number(m[1]), String(bill.id), tx);
      });
    },
  };
}
