// npm run bench [-- <section> ...]: figures as ratios against baselines measured in the same run.
import { benchBooking } from './booking.ts';
import { benchCallback } from './callback.ts';
import { benchFanout } from './fanout.ts';
import { benchSearch } from './search.ts';
import { benchPay } from './pay.ts';

const sections: Record<string, () => Promise<void>> = {
  callback: benchCallback,
  booking: benchBooking,
  search: benchSearch,
  fanout: benchFanout,
  pay: benchPay,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// fanout (100,000 messages, a kill -9 and a 2-minute lease) runs only when asked for: npm run bench -- fanout
const run = wanted.length ? wanted : Object.keys(sections).filter((s) => s !== 'fanout');
console.log(`# weiban benchmarks — ${new Date().toISOString()} — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
for (const name of run) {
  const fn = sections[name];
  if (!fn) {
    console.error(`unknown section ${name}; known: ${Object.keys(sections).join(', ')}`);
    process.exit(2);
  }
  await fn();
}
