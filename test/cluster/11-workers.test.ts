// Goal: a cluster-mode pair with `--workers 2` on both ends fronts a whole cluster exactly as one
// process per end does: every slot through ioredis and node-redis (RESP2 and RESP3), pub/sub and
// MULTI, a live ASK migration, and a reshard to an added node (the shared scenarios of 01–04).
// Connections demonstrably reach both workers of each end (the pid on their log lines); each node
// has one listener, opened by the -e primary, whose address every worker rewrites to; a killed -e
// worker's replacement gets the whole map back and no address changes; and nothing reaches a real
// node port around the tunnel (the traps and `ss`, workers' sockets included).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { nodeRedisCluster, rawRoundTrip, respComplete } from '../support/cluster/clients.js';
import { pollUntil } from '../support/cluster/harness.js';
import { firstSlotOf } from '../support/cluster/info.js';
import {
  allSlotsViaIoredis,
  allSlotsViaNodeRedis,
  askThenMovedDuringMigration,
  multiExecOnEachMaster,
  pubSubInOrder,
  reshardToAddedNode,
} from '../support/cluster/scenarios.js';
import { keysForAllSlots, SLOTS } from '../support/cluster/slots.js';
import {
  logTails,
  nodeListeners,
  startTunnelledCluster,
  type TunnelledCluster,
  type TunnelPair,
  withDescendants,
} from '../support/cluster/tunnel.js';
import { fetchMetrics, sampleValue } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { logLines, stopAll } from '../support/procs.js';

const WORKERS = ['--workers', '2'];
let fx: TunnelledCluster;
/** Each end's one /metrics, merged by its primary over both workers. */
let eMetrics = 0;
let dMetrics = 0;
const run = randomBytes(4).toString('hex');

before(async () => {
  eMetrics = await freePort();
  dMetrics = await freePort();
  fx = await startTunnelledCluster({
    masters: 3,
    replicas: 0,
    spare: 1,
    eArgs: [...WORKERS, '--metrics', `127.0.0.1:${eMetrics}`],
    dArgs: [...WORKERS, '--metrics', `127.0.0.1:${dMetrics}`],
  });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** The live worker pids of an end (its process's children). */
function workerPids(p: TunnelPair['e']): number[] {
  return [...withDescendants([p.child.pid])].filter((x) => x !== p.child.pid);
}

/** Distinct pids on an end's `connection established` lines, from its `since`-th line on. */
function servingPids(p: TunnelPair['e'], since = 0): Set<number> {
  return new Set(logLines(p, /^connection established$/, {}, since).map((l) => Number(l.pid)));
}

test('both ends run a primary and two workers', () => {
  assert.equal(workerPids(fx.e).length, 2, `-e workers${logTails(fx, 20)}`);
  assert.equal(workerPids(fx.d).length, 2, `-d workers${logTails(fx, 20)}`);
});

test('ioredis Cluster through --workers 2 ends: one key in each of the 16384 slots', async () => {
  await allSlotsViaIoredis(fx, run);
});

for (const RESP of [2, 3] as const) {
  test(`node-redis createCluster RESP${RESP} through --workers 2 ends: one key in each slot`, async () => {
    await allSlotsViaNodeRedis(fx, run, RESP);
  });
}

test('SUBSCRIBE/PUBLISH through --workers 2 ends: every message, in order', async () => {
  await pubSubInOrder(fx, run);
});

test('MULTI/EXEC through --workers 2 ends: each master runs its transaction', async () => {
  const slots = (await fx.cluster.masters()).map((m) => firstSlotOf(m)).sort((a, b) => a - b);
  await multiExecOnEachMaster(fx, run, slots);
});

test("ASK migration through --workers 2 ends: -ASK then -MOVED name the primary's listener; no client error", async () => {
  await askThenMovedDuringMigration(fx, run, eMetrics);
});

/** Prometheus text of an end's /metrics (-d listens inside the cluster's network namespace). */
async function scrapeEnd(end: '-e' | '-d'): Promise<string> {
  if (end === '-e') return fetchMetrics(eMetrics);
  const get = `fetch('http://127.0.0.1:${dMetrics}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
  return fx.ns.run(process.execPath, ['-e', get]);
}

/** The value of the series `name{…}` in `text` (NaN if absent). */
function seriesValue(text: string, name: string): number {
  return sampleValue(text, `${name}{`) ?? NaN;
}

test("each end's /metrics is the whole end's: two workers, the primary's cluster gauges (after the clients above)", async () => {
  for (const end of ['-e', '-d'] as const) {
    const text = await scrapeEnd(end);
    assert.equal(seriesValue(text, 'cloakpipe_workers'), 2, `${end} workers`);
    assert.ok(seriesValue(text, 'cloakpipe_cluster_nodes') >= 3, `${end} knows the 3 masters`);
    assert.ok(
      seriesValue(text, 'cloakpipe_connections_accepted_total') > 0,
      `${end} counted the tunnels its workers carried`,
    );
  }
});

test('connections reached both workers of each end; each node has one listener, opened by the -e primary', () => {
  const e = servingPids(fx.e);
  const d = servingPids(fx.d);
  for (const w of workerPids(fx.e)) assert.ok(e.has(w), `-e worker ${w} served none of ${[...e]}`);
  for (const w of workerPids(fx.d)) assert.ok(d.has(w), `-d worker ${w} served none of ${[...d]}`);
  const opened = logLines(fx.e, /^cluster node listener opened$/);
  assert.ok(opened.length >= 3, JSON.stringify(nodeListeners(fx)));
  assert.ok(
    opened.every((l) => l.pid === fx.e.child.pid),
    'only the primary opens node listeners',
  );
  const nodes = opened.map((l) => String(l.node));
  assert.equal(new Set(nodes).size, nodes.length, `one listener per node: ${nodes.join(' ')}`);
  // -d: one poller, in the primary.
  const polls = logLines(fx.d, /^cluster members learned$/);
  assert.ok(
    polls.length > 0 && polls.every((l) => l.pid === fx.d.child.pid),
    'only the -d primary polls',
  );
});

test('a killed -e worker is replaced; the new one gets the whole map back and no address changes', async () => {
  const [victim, survivor] = workerPids(fx.e);
  assert.ok(victim && survivor);
  const listenersBefore = nodeListeners(fx);
  const since = fx.e.logs().length;
  process.kill(victim, 'SIGKILL');
  const fresh = await pollUntil(
    'the -e primary has started a new worker',
    async () => workerPids(fx.e).find((p) => p !== survivor && p !== victim),
    15_000,
  );
  await pollUntil(
    'the new worker listens',
    async () => logLines(fx.e, /^listening on /, { pid: fresh }, since).length > 0,
    15_000,
  );
  try {
    // Enough connections (a client per key batch) that round robin hands some to the new worker.
    for (let round = 0; round < 4 && !servingPids(fx.e, since).has(fresh); round++) {
      const c = nodeRedisCluster(fx, 2);
      c.on('error', () => {});
      await c.connect();
      const keys = keysForAllSlots(`wk${round}-${run}`).slice(0, 2000);
      await Promise.all(keys.map((k) => c.set(k, k)));
      await c.close();
    }
    assert.ok(
      servingPids(fx.e, since).has(fresh),
      `the new worker ${fresh} served connections${logTails(fx, 30)}`,
    );
    // CLUSTER SLOTS through the entry (served by either worker) names only the old addresses.
    const known = new Set(listenersBefore.map((l) => Number(l.local.split(':').pop())));
    for (let i = 0; i < 4; i++) {
      const reply = await rawRoundTrip(fx.eHost, fx.ePort, 'CLUSTER SLOTS\r\n', respComplete);
      const ports = [...reply.matchAll(/^:(\d+)\r$/gm)]
        .map((m) => Number(m[1]))
        .filter((n) => n >= SLOTS);
      assert.ok(ports.length >= 3, reply);
      for (const p of ports) assert.ok(known.has(p), `port ${p} is one of ${[...known]}`);
    }
    assert.deepEqual(nodeListeners(fx), listenersBefore, 'no listener opened or changed');
  } finally {
    await fx.assertTunnelOnly();
  }
});

test('reshard to a node added under load, through --workers 2 ends', async () => {
  await reshardToAddedNode(fx, run);
});

test('SIGTERM: both ends drain every worker and exit 0; the -e node listeners stop accepting', async () => {
  const ports = nodeListeners(fx).map((l) => Number(l.local.split(':').pop()));
  const [e, d] = await Promise.all([fx.e.stop('SIGTERM'), fx.d.stop('SIGTERM')]);
  assert.deepEqual([e, d], [0, 0], `exit codes${logTails(fx, 30)}`);
  for (const port of ports)
    await assert.rejects(rawRoundTrip(fx.eHost, port, 'PING\r\n', respComplete, 2000));
});
