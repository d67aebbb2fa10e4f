// Goal: every property `npm run fuzz` runs for minutes (scripts/fuzz-properties.ts: the packet
// framer and opener, the compact framer under both engines, the handshake, the route line reader
// and the RESP scanners) also holds for a short random run on every test run, so CI catches a
// parser that throws, hangs or breaks its contract on random input; and the list covers the
// compact framer under every engine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ENGINE_NAMES } from '../../src/crypto/engine.js';
import { FUZZ_PROPERTIES } from '../../scripts/fuzz-properties.js';

/** Runs per property: enough to hit short and long inputs, small enough for every test run. */
const RUNS = 300;

test('the fuzz list holds the compact framer properties for every engine', () => {
  const names = FUZZ_PROPERTIES.map(([name]) => name);
  for (const engine of ENGINE_NAMES)
    assert.equal(
      names.filter((n) => n.startsWith(`compact framer (${engine})`)).length,
      2,
      `two compact framer properties for ${engine}: ${names.join('; ')}`,
    );
});

for (const [name, property] of FUZZ_PROPERTIES) {
  test(`fuzz (${RUNS} runs): ${name}`, () => {
    fc.assert(property, { numRuns: RUNS });
  });
}
