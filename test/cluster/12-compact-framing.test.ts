// Goal: the cluster mode works the same over compact framing (DESIGN.md §9) as over spiped's: with
// `--framing compact` on both ends of one --cluster pair, the key scenarios of 01–03 pass
// unchanged: ioredis (per-node pipelines, auto-pipelining) and node-redis RESP2 and RESP3 write and
// read one key in every one of the 16384 slots, SUBSCRIBE/PUBLISH delivers every message in order,
// MULTI/EXEC runs on each master, and a live slot migration's -ASK and -MOVED are followed with no
// client error; the -e end reports compact framing and neither end logs a framing mismatch.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { firstSlotOf } from '../support/cluster/info.js';
import {
  allSlotsViaIoredis,
  allSlotsViaNodeRedis,
  askThenMovedDuringMigration,
  multiExecOnEachMaster,
  pubSubInOrder,
} from '../support/cluster/scenarios.js';
import {
  logTails,
  metricValue,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { freePort } from '../support/net.js';
import { logLines, stopAll } from '../support/procs.js';

const COMPACT = ['--framing', 'compact'];

let fx: TunnelledCluster;
let metricsPort = 0;
const run = randomBytes(4).toString('hex');

before(async () => {
  metricsPort = await freePort();
  fx = await startTunnelledCluster({
    masters: 3,
    replicas: 0,
    eArgs: [...COMPACT, '--metrics', `127.0.0.1:${metricsPort}`],
    dArgs: COMPACT,
  });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('the -e end runs compact framing (its /metrics says so)', async () => {
  assert.equal(
    await metricValue(metricsPort, 'cloakpipe_build_info', ['framing="compact"']),
    1,
    `build_info with framing="compact"${logTails(fx)}`,
  );
});

test('compact: ioredis Cluster, per-node pipelines and auto-pipelining, one key in each of the 16384 slots', () =>
  allSlotsViaIoredis(fx, run));

for (const RESP of [2, 3] as const) {
  test(`compact: node-redis createCluster RESP${RESP}, one key in each of the 16384 slots`, () =>
    allSlotsViaNodeRedis(fx, run, RESP));
}

test('compact: SUBSCRIBE/PUBLISH reaches ioredis (RESP2) and node-redis (RESP3) subscribers in order', () =>
  pubSubInOrder(fx, run));

test('compact: MULTI/EXEC on hash-tagged keys runs on each master', async () => {
  const slots = (await fx.cluster.masters()).map((m) => firstSlotOf(m)).sort((a, b) => a - b);
  await multiExecOnEachMaster(fx, run, slots);
});

test('compact: -ASK during a live migration, then -MOVED, followed by both clients with no error', () =>
  askThenMovedDuringMigration(fx, run, metricsPort));

test('compact: no connection failed on framing, MAC or length on either end', () => {
  for (const [name, proc] of [
    ['-e', fx.e],
    ['-d', fx.d],
  ] as const)
    for (const reason of ['EFRAMING', 'EBADPACKET', 'EBADLEN', 'EBADMAC'])
      assert.equal(
        logLines(proc, /./, { reason }).length,
        0,
        `${name} logged ${reason}${logTails(fx)}`,
      );
});
