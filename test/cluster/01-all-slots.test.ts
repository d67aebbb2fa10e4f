// Goal: one cloakpipe --cluster pair fronts a whole 3-master cluster for smart clients: ioredis
// (explicit per-node pipelines and auto-pipelining) and node-redis v5 (RESP2 and RESP3) write one
// key into every one of the 16384 slots through the -e end and read every key back, redis-cli -c
// follows -MOVED through the tunnel, and redis-benchmark --cluster runs to completion; in every
// case the traps on the real node ports stay silent and every connection a node sees is the -d's.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { ioredisCluster, ioredisReady, nodeRedisCluster } from '../support/cluster/clients.js';
import { keysForAllSlots, keySlot, SLOTS } from '../support/cluster/slots.js';
import {
  logTails,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { logLines, stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** Fails with the -e/-d log tails: what the tunnel said while the client failed. */
/** Check that every slot holds its key's value (directly on the nodes, not through the tunnel). */
async function assertStoredDirectly(keys: string[], value: (k: string) => string): Promise<void> {
  let found = 0;
  for (const m of await fx.cluster.masters()) {
    found += Number((await fx.cluster.exec(m.port, 'dbsize')).trim());
  }
  assert.ok(found >= SLOTS, `the nodes hold ${found} keys, expected at least ${SLOTS}`);
  const k = keys[12182]!;
  const owner = await fx.cluster.ownerOf(12182);
  assert.equal((await fx.cluster.exec(owner.port, 'get', k)).trim(), value(k));
}

test('ioredis Cluster: SET via per-node pipelines and GET auto-pipelined, one key in each of the 16384 slots', async () => {
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
      await assertStoredDirectly(keys, value);
      const check = await fx.assertTunnelOnly({ minNodeClients: 3 });
      assert.ok(check.localConns >= 3, `ioredis holds ${check.localConns} connections to -e`);
    } finally {
      auto.disconnect();
    }
  } finally {
    c.disconnect();
  }
});

for (const RESP of [2, 3] as const) {
  test(`node-redis createCluster RESP${RESP}: SET and GET one key in each of the 16384 slots`, async () => {
    const keys = keysForAllSlots(`nr${RESP}-${run}`);
    const value = (k: string): string => `r${RESP}-${k}`;
    const c = nodeRedisCluster(fx, RESP);
    c.on('error', () => {});
    try {
      await c.connect();
      const sets = await Promise.all(keys.map((k) => c.set(k, value(k))));
      assert.equal(sets.filter((r) => r !== 'OK').length, 0, `SET replies${logTails(fx, 40)}`);
      const got = await Promise.all(keys.map((k) => c.get(k)));
      const wrong = keys.filter((k, i) => got[i] !== value(k));
      assert.equal(wrong.length, 0, `${wrong.length} keys read back wrong, e.g. ${wrong[0]}`);
      await assertStoredDirectly(keys, value);
      await fx.assertTunnelOnly({ minNodeClients: 3 });
    } catch (e) {
      throw new Error(
        `${(e as Error).message}\ntrap hits: ${JSON.stringify(fx.trap.hits())}${logTails(fx, 40)}`,
        { cause: e },
      );
    } finally {
      await c.close().catch(() => {});
    }
  });
}

test('redis-cli -c through the -e port follows -MOVED to the local listeners: SET/GET in all three masters', async () => {
  const cli = requireBinary('redis-cli');
  const masters = await fx.cluster.masters();
  const before = logLines(fx.e, /./).length;
  for (const m of masters) {
    const first = m.slots.find((r) => !r.startsWith('['))!;
    const slot = Number(first.split('-')[0]);
    let n = 0;
    let key = `cli-${run}:${n}`;
    while (keySlot(key) !== slot) key = `cli-${run}:${++n}`;
    const base = [cli, '-c', '-h', fx.eHost, '-p', String(fx.ePort)];
    assert.equal((await execCapture([...base, 'set', key, `cli-${slot}`], 10_000)).trim(), 'OK');
    assert.equal((await execCapture([...base, 'get', key], 10_000)).trim(), `cli-${slot}`);
    assert.equal((await fx.cluster.exec(m.port, 'get', key)).trim(), `cli-${slot}`);
  }
  assert.ok(logLines(fx.e, /./).length > before, 'the -e end logged the connections');
  await fx.assertTunnelOnly();
});

test('redis-benchmark --cluster -t set,get -n 20000 -c 20 through the -e port exits 0 and reports rps', async () => {
  const bench = requireBinary('redis-benchmark');
  const out = await execCapture(
    [
      bench,
      '--cluster',
      '-h',
      fx.eHost,
      '-p',
      String(fx.ePort),
      '-t',
      'set,get',
      '-n',
      '20000',
      '-c',
      '20',
      '-q',
    ],
    120_000,
  ).catch((e: Error) => assert.fail(`${e.message}${logTails(fx, 40)}`));
  const rps = [...out.matchAll(/^(SET|GET): ([\d.]+) requests per second/gm)];
  assert.equal(rps.length, 2, `benchmark output:\n${out}`);
  for (const m of rps) assert.ok(Number(m[2]) > 0, m[0]);
  assert.doesNotMatch(out, /error/i);
  await fx.assertTunnelOnly();
});
