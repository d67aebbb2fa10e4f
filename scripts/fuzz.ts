/**
 * `npm run fuzz [-- --minutes N]`: long-running fast-check properties over the untrusted-input
 * parsers (./fuzz-properties.ts; CI runs the same properties briefly, in
 * test/unit/fuzz-properties.test.ts). Each property gets random bytes and random split points; it
 * must never throw, never hang, and keep its contract. Prints runs per property and exits 1 with
 * the counterexample on the first failure.
 */
import fc from 'fast-check';
import { FUZZ_PROPERTIES as properties } from './fuzz-properties.js';

const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] || 2);
const deadline = Date.now() + minutes * 60_000;

let failed = false;
for (const [i, [name, prop]] of properties.entries()) {
  // Split what time is left evenly among the properties still to run (at least 2 s each).
  const until = Date.now() + Math.max(2000, (deadline - Date.now()) / (properties.length - i));
  let runs = 0;
  const t0 = Date.now();
  while (Date.now() < until) {
    const r = fc.check(prop, { numRuns: 500, seed: Date.now() ^ runs });
    runs += r.numRuns;
    if (r.failed) {
      process.stderr.write(`FAIL ${name}\n${fc.defaultReportMessage(r)}\n`);
      failed = true;
      break;
    }
  }
  process.stdout.write(
    `${failed ? 'FAIL' : 'ok  '} ${runs.toString().padStart(9)} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s  ${name}\n`,
  );
  if (failed) break;
}
process.exit(failed ? 1 : 0);
