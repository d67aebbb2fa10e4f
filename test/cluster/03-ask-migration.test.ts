// Goal: a slot migrated key by key while clients read and write it stays usable through the
// tunnel. While the slot is MIGRATING/IMPORTING, -ASK replies reach clients rewritten to the
// destination's local listener (byte-identical to the address CLUSTER SLOTS gave, which node-redis
// requires) and clients follow them with ASKING through the tunnel; after the keys are MIGRATEd
// and SETSLOT NODE is set everywhere, -MOVED names the destination's listener. ioredis and
// node-redis (RESP3) see no error at all, and every key either wrote is read back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import {
  ioredisCluster,
  ioredisReady,
  nodeRedisCluster,
  rawRoundTrip,
} from '../support/cluster/clients.js';
import { firstSlotOf } from '../support/cluster/info.js';
import { keyInSlot, keySlot } from '../support/cluster/slots.js';
import {
  logTails,
  metricValue,
  nodeListeners,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { readBack, startWorkload } from '../support/cluster/workload.js';
import { freePort } from '../support/net.js';
import { execCapture } from '../support/netns.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
let metricsPort = 0;
const run = randomBytes(4).toString('hex');

before(async () => {
  metricsPort = await freePort();
  fx = await startTunnelledCluster({
    masters: 3,
    replicas: 0,
    eArgs: ['--metrics', `127.0.0.1:${metricsPort}`],
  });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** The -e end's local listener address for the node on real `port`. */
function localOf(port: number): string {
  const l = nodeListeners(fx).find((x) => x.node === `127.0.0.1:${port}`);
  assert.ok(l, `a local listener for 127.0.0.1:${port}: ${JSON.stringify(nodeListeners(fx))}`);
  return l.local;
}

test('ASK during a live migration, then MOVED after SETSLOT NODE: clients follow both through the tunnel with no error', async () => {
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
    // Keys that live in the slot before the migration starts.
    const before = Array.from({ length: 150 }, (_, i) => inSlot(i, 'pre'));
    for (const k of before) assert.equal(await io.set(k, `v-${k}`), 'OK');
    const askBefore = await metricValue(metricsPort, 'cloakpipe_cluster_rewrites_total', [
      'kind="ask"',
    ]);

    await fx.cluster.beginMigration(slot, src.port, dst.port);
    // A key absent from the source: the raw reply is -ASK naming the destination's listener.
    const absent = inSlot(0, 'absent');
    const [h, p] = [localOf(src.port), localOf(dst.port)];
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

    const askAfter = await metricValue(metricsPort, 'cloakpipe_cluster_rewrites_total', [
      'kind="ask"',
    ]);
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
    const total = before.length + 1 + wio.written.size + wnr.written.size;
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
});
