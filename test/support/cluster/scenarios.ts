/**
 * Cluster scenarios shared by the test files that run them under different settings (the default
 * spiped framing in test/cluster/01–04, compact framing in 12, --workers in 11): each takes a running
 * TunnelledCluster, drives real clients through its -e end, and fails with an assertion (carrying
 * the -e/-d log tails where they help) if any reply is wrong or anything reached around the tunnel.
 * `run` is a per-file random tag so keys never collide with an earlier run's.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { requireBinary } from '../bins.js';
import { execCapture } from '../netns.js';
import { ioredisCluster, ioredisReady, nodeRedisCluster, rawRoundTrip } from './clients.js';
import { pollUntil } from './harness.js';
import { firstSlotOf } from './info.js';
import { keyInSlot, keysForAllSlots, keySlot, SLOTS } from './slots.js';
import { logTails, metricValue, nodeListeners, type TunnelledCluster } from './tunnel.js';
import { readBack, startWorkload } from './workload.js';

/** Check that every slot holds its key's value (directly on the nodes, not through the tunnel). */
async function assertStoredDirectly(
  fx: TunnelledCluster,
  keys: string[],
  value: (k: string) => string,
): Promise<void> {
  let found = 0;
  for (const m of await fx.cluster.masters()) {
    found += Number((await fx.cluster.exec(m.port, 'dbsize')).trim());
  }
  assert.ok(found >= SLOTS, `the nodes hold ${found} keys, expected at least ${SLOTS}`);
  const k = keys[12182]!;
  const owner = await fx.cluster.ownerOf(12182);
  assert.equal((await fx.cluster.exec(owner.port, 'get', k)).trim(), value(k));
}

/**
 * ioredis Cluster writes one key into each of the 16384 slots with one real pipeline per node
 * (each node a local listener of the -e end, never a real node port), reads every key back with
 * auto-pipelining, and the keys are on the nodes.
 */
export async function allSlotsViaIoredis(fx: TunnelledCluster, run: string): Promise<void> {
  const keys = keysForAllSlots(`io-${run}`);
  const value = (k: string): string => `v-${k}`;
  const c = ioredisCluster(fx);
  try {
    await ioredisReady(c);
    // Group by the node ioredis believes serves the slot: each group is one real pipeline.
    const groups = new Map<string, string[]>();
    for (const k of keys) {
      const node = c.slots[keySlot(k)]?.[0];
      assert.ok(node, `ioredis knows a node for slot ${keySlot(k)}`);
      assert.doesNotMatch(node, new RegExp(`:(${fx.trap.ports.join('|')})$`), 'a real node port');
      groups.set(node, [...(groups.get(node) ?? []), k]);
    }
    assert.equal(groups.size, 3, `three masters, three local listeners: ${[...groups.keys()]}`);
    for (const [node, ks] of groups) {
      const p = c.pipeline();
      for (const k of ks) p.set(k, value(k));
      const res = await p.exec();
      assert.ok(res, `pipeline to ${node}`);
      const errs = res.filter(([e]) => e !== null);
      assert.deepEqual(errs, [], `pipeline to ${node} had errors${logTails(fx, 40)}`);
    }
    const auto = ioredisCluster(fx, { enableAutoPipelining: true });
    try {
      await ioredisReady(auto);
      const got = await Promise.all(keys.map((k) => auto.get(k)));
      const wrong = keys.filter((k, i) => got[i] !== value(k));
      assert.equal(wrong.length, 0, `${wrong.length} keys read back wrong, e.g. ${wrong[0]}`);
      await assertStoredDirectly(fx, keys, value);
      const check = await fx.assertTunnelOnly({ minNodeClients: 3 });
      assert.ok(check.localConns >= 3, `ioredis holds ${check.localConns} connections to -e`);
    } finally {
      auto.disconnect();
    }
  } finally {
    c.disconnect();
  }
}

/** node-redis createCluster (protocol `resp`) SETs and GETs one key in each of the 16384 slots. */
export async function allSlotsViaNodeRedis(
  fx: TunnelledCluster,
  run: string,
  resp: 2 | 3,
): Promise<void> {
  const keys = keysForAllSlots(`nr${resp}-${run}`);
  const value = (k: string): string => `r${resp}-${k}`;
  const c = nodeRedisCluster(fx, resp);
  c.on('error', () => {});
  try {
    await c.connect();
    const sets = await Promise.all(keys.map((k) => c.set(k, value(k))));
    assert.equal(sets.filter((r) => r !== 'OK').length, 0, `SET replies${logTails(fx, 40)}`);
    const got = await Promise.all(keys.map((k) => c.get(k)));
    const wrong = keys.filter((k, i) => got[i] !== value(k));
    assert.equal(wrong.length, 0, `${wrong.length} keys read back wrong, e.g. ${wrong[0]}`);
    await assertStoredDirectly(fx, keys, value);
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\ntrap hits: ${JSON.stringify(fx.trap.hits())}${logTails(fx, 40)}`,
      { cause: e },
    );
  } finally {
    await c.close().catch(() => {});
  }
}

/**
 * SUBSCRIBE/PUBLISH: an ioredis (RESP2) and a node-redis (RESP3) subscriber each get 25 messages
 * from one publisher connection, every one, in order.
 */
export async function pubSubInOrder(fx: TunnelledCluster, run: string): Promise<void> {
  const channel = `news-${run}`;
  const sent = Array.from({ length: 25 }, (_, i) => `m${i}`);
  const sub = ioredisCluster(fx);
  const sub3 = nodeRedisCluster(fx, 3);
  // One publisher connection (to the seed, through -e) so the cluster bus keeps the order; a
  // Cluster client would PUBLISH through a random node each time.
  const pub = new Redis({ host: fx.eHost, port: fx.ePort, lazyConnect: true });
  sub3.on('error', () => {});
  const got: string[] = [];
  const got3: string[] = [];
  try {
    await Promise.all([ioredisReady(sub), pub.connect(), sub3.connect()]);
    sub.on('message', (ch: string, m: string) => {
      if (ch === channel) got.push(m);
    });
    await sub.subscribe(channel);
    await sub3.subscribe(channel, (m) => got3.push(m));
    for (const m of sent) await pub.publish(channel, m);
    await pollUntil(
      'both subscribers have every message',
      async () => got.length === sent.length && got3.length === sent.length,
      10_000,
      20,
    ).catch((e: Error) =>
      assert.fail(`${e.message}: ${got.length}, ${got3.length}${logTails(fx)}`),
    );
    assert.deepEqual(got, sent);
    assert.deepEqual(got3, sent);
    await fx.assertTunnelOnly({ minNodeClients: 2 });
  } finally {
    sub.disconnect();
    pub.disconnect();
    await sub3.close().catch(() => {});
  }
}

/**
 * MULTI/EXEC on hash-tagged keys in each of `slots` (one slot per master): ioredis and node-redis
 * (RESP3) transactions run atomically on the owning master.
 */
export async function multiExecOnEachMaster(
  fx: TunnelledCluster,
  run: string,
  slots: readonly number[],
): Promise<void> {
  const io = ioredisCluster(fx);
  const nr = nodeRedisCluster(fx, 3);
  nr.on('error', () => {});
  try {
    await Promise.all([ioredisReady(io), nr.connect()]);
    for (const slot of slots) {
      const tag = `{${keyInSlot(slot, `tx-${run}`)}}`;
      const res = await io
        .multi()
        .set(`${tag}:a`, '1')
        .incrby(`${tag}:n`, 5)
        .rpush(`${tag}:l`, 'x', 'y')
        .get(`${tag}:a`)
        .exec();
      assert.deepEqual(res, [
        [null, 'OK'],
        [null, 5],
        [null, 2],
        [null, '1'],
      ]);
      const res3 = await nr
        .multi()
        .incrBy(`${tag}:n`, 2)
        .lRange(`${tag}:l`, 0, -1)
        .del(`${tag}:a`)
        .exec();
      assert.deepEqual(res3, [7, ['x', 'y'], 1]);
      const owner = await fx.cluster.ownerOf(keySlot(`${tag}:n`));
      assert.equal((await fx.cluster.exec(owner.port, 'get', `${tag}:n`)).trim(), '7');
    }
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } finally {
    io.disconnect();
    await nr.close().catch(() => {});
  }
}

/** -ASK rewrites the -e end counted (0, unchecked, without --metrics). */
function askRewrites(metricsPort: number | null): Promise<number> {
  return metricsPort === null
    ? Promise.resolve(0)
    : metricValue(metricsPort, 'cloakpipe_cluster_rewrites_total', ['kind="ask"']);
}

/** The -e end's local listener address for the node on real `port`. */
function localOf(fx: TunnelledCluster, port: number): string {
  const l = nodeListeners(fx).find((x) => x.node === `127.0.0.1:${port}`);
  assert.ok(l, `a local listener for 127.0.0.1:${port}: ${JSON.stringify(nodeListeners(fx))}`);
  return l.local;
}

/**
 * A slot migrated key by key from the first master to the second while ioredis and node-redis
 * (RESP3) write and read it: the raw -ASK names the destination's listener, redis-cli -c follows
 * it, the clients see no error, -ASK rewrites are counted on the -e end's metrics (served on
 * 127.0.0.1:`metricsPort`; null: not checked, as with --workers before aggregated metrics), and after SETSLOT NODE the source's -MOVED names the destination's
 * listener; every key either client wrote is read back and sits on the destination.
 */
export async function askThenMovedDuringMigration(
  fx: TunnelledCluster,
  run: string,
  metricsPort: number | null,
): Promise<void> {
  const masters = await fx.cluster.masters();
  const src = masters[0]!;
  const dst = masters[1]!;
  const slot = firstSlotOf(src) + 7;
  const tag = keyInSlot(slot, `ask-${run}`);
  const inSlot = (i: number, who: string): string => `{${tag}}:${who}:${i}`;
  assert.equal(keySlot(inSlot(0, 'x')), slot);

  const io = ioredisCluster(fx);
  const nr = nodeRedisCluster(fx, 3);
  nr.on('error', () => {});
  const cli = [requireBinary('redis-cli'), '-h', fx.eHost];
  try {
    await Promise.all([ioredisReady(io), nr.connect()]);
    // Keys an earlier scenario on the same cluster left in the slot move with the rest.
    const earlier = Number(
      await fx.cluster.exec(src.port, 'cluster', 'countkeysinslot', String(slot)),
    );
    // Keys that live in the slot before the migration starts.
    const before = Array.from({ length: 150 }, (_, i) => inSlot(i, 'pre'));
    for (const k of before) assert.equal(await io.set(k, `v-${k}`), 'OK');
    const askBefore = await askRewrites(metricsPort);

    await fx.cluster.beginMigration(slot, src.port, dst.port);
    // A key absent from the source: the raw reply is -ASK naming the destination's listener.
    const absent = inSlot(0, 'absent');
    const [h, p] = [localOf(fx, src.port), localOf(fx, dst.port)];
    const srcLocal = h.slice(h.lastIndexOf(':') + 1);
    const raw = await rawRoundTrip(fx.eHost, Number(srcLocal), `GET ${absent}\r\n`, (t) =>
      t.endsWith('\r\n'),
    );
    assert.equal(raw, `-ASK ${slot} ${p}\r\n`, `raw reply on ${h}`);
    // redis-cli -c follows it (ASKING + the command on the destination's listener).
    assert.equal(
      (
        await execCapture([...cli, '-c', '-p', srcLocal, 'set', inSlot(0, 'cli'), 'c'], 10_000)
      ).trim(),
      'OK',
    );
    // (An IMPORTING node answers a plain GET with -MOVED; list the slot's keys instead.)
    assert.match(
      await fx.cluster.exec(dst.port, 'cluster', 'getkeysinslot', String(slot), '1000'),
      new RegExp(`^\\{${tag}\\}:cli:0$`, 'm'),
    );

    // Live clients while the keys move ten at a time.
    const wio = startWorkload({
      name: 'io',
      set: (k, v) => io.set(k, v),
      get: (k) => io.get(k),
      key: (i) => inSlot(i, 'io'),
    });
    const wnr = startWorkload({
      name: 'nr',
      set: (k, v) => nr.set(k, v),
      get: (k) => nr.get(k),
      key: (i) => inSlot(i, 'nr'),
    });
    const moved = await fx.cluster.migrateKeys(slot, src.port, dst.port, {
      batch: 10,
      pauseMs: 40,
    });
    assert.ok(moved >= before.length, `moved ${moved} keys`);
    // Reads of the pre-existing keys now take the ASK path too.
    const mid = await Promise.all(before.slice(0, 50).map((k) => nr.get(k)));
    assert.deepEqual(
      mid,
      before.slice(0, 50).map((k) => `v-${k}`),
    );
    await fx.cluster.finishMigration(slot, src.port, dst.port);
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([wio.stop(), wnr.stop()]);

    const askAfter = await askRewrites(metricsPort);
    if (metricsPort !== null)
      assert.ok(askAfter - askBefore >= 2, `-ASK rewrites counted: ${askAfter - askBefore}`);
    assert.deepEqual(wio.errors, [], `ioredis errors${logTails(fx)}`);
    assert.deepEqual(wnr.errors, [], `node-redis errors${logTails(fx)}`);
    assert.ok(wio.written.size > 20 && wnr.written.size > 20, `${wio.ops()} / ${wnr.ops()} ops`);

    // After SETSLOT NODE: the source answers -MOVED naming the destination's listener.
    const movedRaw = await rawRoundTrip(fx.eHost, Number(srcLocal), `GET ${before[0]}\r\n`, (t) =>
      t.endsWith('\r\n'),
    );
    assert.equal(movedRaw, `-MOVED ${slot} ${p}\r\n`);
    // Every key: through both clients, and directly on the destination.
    for (const w of [wio, wnr]) {
      assert.deepEqual(await readBack(w, (k) => io.get(k)), [], `${w.name} via ioredis`);
      assert.deepEqual(await readBack(w, (k) => nr.get(k)), [], `${w.name} via node-redis`);
    }
    const total = earlier + before.length + 1 + wio.written.size + wnr.written.size;
    assert.equal(
      Number(await fx.cluster.exec(dst.port, 'cluster', 'countkeysinslot', String(slot))),
      total,
    );
    assert.equal(
      Number(await fx.cluster.exec(src.port, 'cluster', 'countkeysinslot', String(slot))),
      0,
    );
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } finally {
    io.disconnect();
    await nr.close().catch(() => {});
  }
}

/**
 * A node added to the cluster and given 1200 slots (redis-cli inside the namespace, never through
 * the tunnel) while ioredis and node-redis (RESP2) write: the -e end opens a listener for it on
 * demand, both clients reach it, the -d end dials it, and every key written reads back.
 */
export async function reshardToAddedNode(fx: TunnelledCluster, run: string): Promise<void> {
  const io = ioredisCluster(fx);
  const nr = nodeRedisCluster(fx, 2);
  nr.on('error', () => {});
  try {
    await Promise.all([ioredisReady(io), nr.connect()]);
    const listenersBefore = nodeListeners(fx).length;
    assert.equal(listenersBefore, 3, JSON.stringify(nodeListeners(fx)));
    const wio = startWorkload({
      name: 'io',
      set: (k, v) => io.set(k, v),
      get: (k) => io.get(k),
      key: (i) => `rs-${run}:io:${i}`,
    });
    const wnr = startWorkload({
      name: 'nr',
      set: (k, v) => nr.set(k, v),
      get: (k) => nr.get(k),
      key: (i) => `rs-${run}:nr:${i}`,
    });
    await new Promise((r) => setTimeout(r, 300));
    const added = await fx.cluster.addNode();
    const addedReal = `127.0.0.1:${added.port}`;
    // 1200 slots, taken from every master, moved key by key by redis-cli inside the namespace.
    await fx.cluster.reshard(added.id, 1200);
    const owned = (await fx.cluster.masters()).find((m) => m.id === added.id);
    assert.ok(owned && owned.slots.length > 0, 'the new node serves slots');
    // Writes keep landing after the reshard, some of them on the new node.
    const t = Date.now();
    await pollUntil(
      'both clients have written to the new node',
      async () =>
        wio.okSince(t) > 50 &&
        wnr.okSince(t) > 50 &&
        Number(await fx.cluster.exec(added.port, 'dbsize')) > 0,
      20_000,
    ).catch((e: Error) =>
      assert.fail(
        `${e.message}; errors ${JSON.stringify(wio.errors.slice(0, 3))} ${JSON.stringify(wnr.errors.slice(0, 3))}${logTails(fx)}`,
      ),
    );
    await Promise.all([wio.stop(), wnr.stop()]);

    const l = nodeListeners(fx).find((x) => x.node === addedReal);
    assert.ok(
      l,
      `the -e end opened a listener for ${addedReal}: ${JSON.stringify(nodeListeners(fx))}`,
    );
    assert.notEqual(Number(l.local.split(':').pop()), added.port);
    assert.deepEqual(wio.errors, [], `ioredis errors${logTails(fx)}`);
    assert.deepEqual(wnr.errors, [], `node-redis errors${logTails(fx)}`);
    for (const w of [wio, wnr]) {
      assert.deepEqual(await readBack(w, (k) => io.get(k)), [], `${w.name} via ioredis`);
      assert.deepEqual(await readBack(w, (k) => nr.get(k)), [], `${w.name} via node-redis`);
    }
    // The new node's clients came through the -d end (and nothing hit a trap, its port included).
    const list = await fx.cluster.exec(added.port, 'client', 'list');
    assert.ok(list.split('\n').filter(Boolean).length >= 2, list);
    await fx.assertTunnelOnly({ minNodeClients: 4 });
  } finally {
    io.disconnect();
    await nr.close().catch(() => {});
  }
}
