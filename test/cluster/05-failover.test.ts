// Goal: failovers behind the tunnel are survivable for clients that only ever talk to the -e end.
// On a 3+3 cluster, a graceful CLUSTER FAILOVER on a replica and then a kill -9 of a master (its
// replica promoted after the 2 s node timeout) happen while clients write and read (ioredis and
// node-redis RESP3 for the graceful one; ioredis for kill -9, see there); the clients follow the
// new topology through the -e end's listeners, errors occur only inside the failover window,
// writes succeed again after it, and every acknowledged key is read back (for kill -9, the
// writers pause only while the replica catches up just before the kill, so a write lost to
// asynchronous replication, which is Redis's behaviour, not the tunnel's, cannot make the test
// flaky). The master killed is the -d end's seed node, so a client that connects afterwards
// proves the main -e listener still bootstraps while its seed is dead.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, type TestContext, test } from 'node:test';
import { ioredisCluster, ioredisReady, nodeRedisCluster } from '../support/cluster/clients.js';
import { parseInfo } from '../support/cluster/info.js';
import { pollUntil } from '../support/cluster/harness.js';
import {
  logTails,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { readBack, startWorkload, type Workload } from '../support/cluster/workload.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 1 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** Clients and their workloads for one scenario. */
async function clients(tag: string) {
  const io = ioredisCluster(fx);
  const nr = nodeRedisCluster(fx, 3);
  nr.on('error', () => {});
  await Promise.all([ioredisReady(io), nr.connect()]);
  const wio = startWorkload({
    name: 'io',
    set: (k, v) => io.set(k, v),
    get: (k) => io.get(k),
    key: (i) => `${tag}-${run}:io:${i}`,
  });
  const wnr = startWorkload({
    name: 'nr',
    set: (k, v) => nr.set(k, v),
    get: (k) => nr.get(k),
    key: (i) => `${tag}-${run}:nr:${i}`,
  });
  return {
    io,
    nr,
    ws: [wio, wnr],
    async close() {
      await Promise.all([wio.stop(), wnr.stop()]);
      io.disconnect();
      await nr.close().catch(() => {});
    },
  };
}

/** Errors outside [from, to], and a summary of those inside for the test's diagnostics. */
function outsideWindow(t: TestContext, ws: Workload[], from: number, to: number): string[] {
  const out: string[] = [];
  for (const w of ws) {
    const inside = w.errors.filter((e) => e.at >= from && e.at <= to);
    t.diagnostic(
      `${w.name}: ${w.ops()} ops, ${w.written.size} writes acknowledged, ${inside.length} errors in the ${to - from} ms window${inside[0] ? ` (first: ${inside[0].message})` : ''}`,
    );
    for (const e of w.errors)
      if (e.at < from || e.at > to)
        out.push(`${w.name} ${e.op} ${e.key} at ${e.at - from} ms: ${e.message}`);
  }
  return out;
}

/**
 * A live master with a live replica: with `seed` 'avoid', neither is the -d end's seed (-t);
 * with 'prefer', the master is the seed if the seed is such a master.
 */
async function masterWithReplica(
  seed: 'avoid' | 'prefer',
): Promise<{ master: number; replica: number }> {
  const lines = await fx.cluster.topology();
  const pairs: { master: number; replica: number }[] = [];
  for (const m of lines.filter((l) => l.flags.includes('master') && l.slots.length > 0)) {
    const r = lines.find(
      (l) => l.master === m.id && !l.flags.includes('fail') && !l.flags.includes('fail?'),
    );
    if (r && !m.flags.includes('fail')) pairs.push({ master: m.port, replica: r.port });
  }
  const isSeed = (p: { master: number; replica: number }): boolean =>
    p.master === fx.seedPort || p.replica === fx.seedPort;
  const pick =
    seed === 'avoid'
      ? pairs.find((p) => !isSeed(p))
      : (pairs.find((p) => p.master === fx.seedPort) ?? pairs[0]);
  if (!pick) throw new Error(`no master with a live replica (seed ${seed})`);
  return pick;
}

test('graceful CLUSTER FAILOVER under load: clients move to the promoted replica through the tunnel; every key reads back', async (t) => {
  const c = await clients('gf');
  try {
    await new Promise((r) => setTimeout(r, 400));
    const { master, replica } = await masterWithReplica('avoid');
    const from = Date.now();
    await fx.cluster.failover(replica);
    const to = Date.now() + 2000;
    await pollUntil(
      'both clients write again after the failover',
      async () => c.ws.every((w) => w.okSince(to) > 30),
      20_000,
    ).catch((e: Error) => assert.fail(`${e.message}${logTails(fx)}`));
    await Promise.all(c.ws.map((w) => w.stop()));
    const topo = await fx.cluster.topology();
    assert.ok(topo.find((l) => l.port === replica)!.flags.includes('master'));
    assert.ok(topo.find((l) => l.port === master)!.flags.includes('slave'));
    assert.deepEqual(
      outsideWindow(t, c.ws, from, to),
      [],
      `errors outside the window${logTails(fx)}`,
    );
    for (const w of c.ws) {
      assert.deepEqual(await readBack(w, (k) => c.io.get(k)), [], `${w.name} via ioredis`);
      assert.deepEqual(await readBack(w, (k) => c.nr.get(k)), [], `${w.name} via node-redis`);
    }
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } finally {
    await c.close();
  }
});

test('kill -9 of a master under load: its replica is promoted, ioredis recovers through the tunnel; every acknowledged key reads back', async (t) => {
  // node-redis v5 rediscovers only on -MOVED/-ASK, so it never leaves a dead master on its own:
  // measured without any tunnel (node-redis directly on the cluster, inside the namespace), its
  // commands for the dead master's slots hang forever after a kill -9. So the live writer here is
  // ioredis (which refreshes on connection errors), and node-redis is checked as a client that
  // connects after the promotion.
  const io = ioredisCluster(fx);
  await ioredisReady(io);
  const w = startWorkload({
    name: 'io',
    set: (k, v) => io.set(k, v),
    get: (k) => io.get(k),
    key: (i) => `k9-${run}:io:${i}`,
    concurrency: 3,
  });
  try {
    await new Promise((r) => setTimeout(r, 400));
    // The seed (-d's -t) is the master killed: the main -e listener must still bootstrap new
    // clients (the -d end dials another member while its seed is down).
    const { master, replica } = await masterWithReplica('prefer');
    assert.equal(master, fx.seedPort, 'the seed is a master with a live replica');
    // Pause the writers until the replica has every acknowledged write, then kill at once.
    await w.hold();
    await pollUntil(
      `replica ${replica} has caught up with ${master}`,
      async () => {
        const m = parseInfo(await fx.cluster.exec(master, 'info', 'replication'));
        const r = parseInfo(await fx.cluster.exec(replica, 'info', 'replication'));
        return m.master_repl_offset === r.slave_repl_offset;
      },
      10_000,
      20,
    );
    const from = Date.now();
    const killed = fx.cluster.killMaster(master);
    w.release();
    const promoted = await killed;
    assert.equal(promoted.port, replica);
    const to = Date.now() + 3000;
    await pollUntil(
      'ioredis writes again after the promotion',
      async () => w.okSince(to) > 50,
      30_000,
    ).catch((e: Error) =>
      assert.fail(`${e.message}; last errors ${JSON.stringify(w.errors.slice(-3))}${logTails(fx)}`),
    );
    await w.stop();
    assert.deepEqual(
      outsideWindow(t, [w], from, to),
      [],
      `errors outside the window${logTails(fx)}`,
    );
    assert.deepEqual(await readBack(w, (k) => io.get(k)), [], 'via ioredis');
    const nr = nodeRedisCluster(fx, 3);
    nr.on('error', () => {});
    try {
      await nr.connect(); // its only root node is the -e main listener, whose seed is dead
      assert.equal(
        await fx.cluster.exec(master, 'ping').catch(() => 'down'),
        'down',
        'the seed is still down',
      );
      assert.deepEqual(await readBack(w, (k) => nr.get(k)), [], 'via a new node-redis client');
      assert.equal(await nr.set(`k9-${run}:after`, 'x'), 'OK');
    } finally {
      await nr.close().catch(() => {});
    }
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } finally {
    await w.stop();
    io.disconnect();
  }
});
