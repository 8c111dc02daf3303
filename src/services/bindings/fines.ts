import type { Bills } from '../bills/index.ts';
import type { BillIssuer, Events } from './events.ts';

/** The bill's `pays.ref` for an event's fine: the event's own id, whose idempotency key already guards replays. */
const REF = /^event-(\d{1,12})$/;

/** At most `max` bytes of UTF-8 (WeChat Pay's description limit), never cutting a character. */
function fitBytes(s: string, max = 127): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

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
