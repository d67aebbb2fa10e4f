/**
 * Failover scenarios shared by the test files that run them against differently started pairs
 * (one process per end, or --workers); test/cluster/05-failover.test.ts says what they show.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { ioredisCluster, ioredisReady, nodeRedisCluster } from './clients.js';
import { pollUntil } from './harness.js';
import { parseInfo } from './info.js';
import { logTails, type TunnelledCluster } from './tunnel.js';
import { readBack, startWorkload, type Workload } from './workload.js';

/** Clients and their workloads for one scenario. */
async function clients(fx: TunnelledCluster, run: string, tag: string) {
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
  fx: TunnelledCluster,
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

/** A graceful CLUSTER FAILOVER (not of the seed) under ioredis and node-redis load. */
export async function gracefulFailover(
  fx: TunnelledCluster,
  run: string,
  t: TestContext,
): Promise<void> {
  const c = await clients(fx, run, 'gf');
  try {
    await new Promise((r) => setTimeout(r, 400));
    const { master, replica } = await masterWithReplica(fx, 'avoid');
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
}

/** kill -9 of the seed master under ioredis load; a new client bootstraps while it is down. */
export async function killSeedMaster(
  fx: TunnelledCluster,
  run: string,
  t: TestContext,
): Promise<void> {
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
    const { master, replica } = await masterWithReplica(fx, 'prefer');
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
}
