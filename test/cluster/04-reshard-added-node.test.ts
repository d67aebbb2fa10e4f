// Goal: a node added to the cluster and given slots while clients write (redis-cli --cluster
// add-node + reshard, run directly against the cluster inside the namespace, never through the
// tunnel) becomes reachable through the tunnel: the -e end opens a listener for it on demand the
// first time a reply names it, ioredis and node-redis follow -ASK/-MOVED to that listener, the
// -d end dials the new node (a member it learned from the cluster), and every key written before,
// during and after the reshard is read back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ioredisCluster, ioredisReady, nodeRedisCluster } from '../support/cluster/clients.js';
import { pollUntil } from '../support/cluster/harness.js';
import {
  logTails,
  nodeListeners,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { readBack, startWorkload } from '../support/cluster/workload.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0, spare: 1 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('reshard to a node added under load: the client reaches it through a listener opened on demand; every key reads back', async () => {
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
});
