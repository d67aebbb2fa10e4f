// Goal: per-connection state survives the cluster tunnel: SUBSCRIBE/PUBLISH and sharded
// SSUBSCRIBE/SPUBLISH (one shard channel on each master, RESP2 and RESP3 subscribers) deliver
// every message through the -e end, MULTI/EXEC on hash-tagged keys runs on each master, and the
// replies that carry node addresses inside a transaction (a queued -MOVED, a CLUSTER SLOTS in EXEC)
// reach the client rewritten to the -e end's local listeners.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  ioredisCluster,
  ioredisReady,
  nodeRedisCluster,
  rawRoundTrip,
} from '../support/cluster/clients.js';
import { firstSlotOf } from '../support/cluster/info.js';
import { pollUntil } from '../support/cluster/harness.js';
import { multiExecOnEachMaster, pubSubInOrder } from '../support/cluster/scenarios.js';
import { keyInSlot, keySlot } from '../support/cluster/slots.js';
import {
  logTails,
  nodeListeners,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');
/** For each master (in slot order): a slot it serves, the first of its first range. */
let slots: number[] = [];

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0 });
  slots = (await fx.cluster.masters()).map((m) => firstSlotOf(m)).sort((a, b) => a - b);
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('SUBSCRIBE/PUBLISH: ioredis (RESP2) and node-redis (RESP3) subscribers each get every message, in order', () =>
  pubSubInOrder(fx, run));

test('SSUBSCRIBE/SPUBLISH: a shard channel on each master reaches node-redis RESP2, RESP3 and ioredis sharded subscribers', async () => {
  const channels = slots.map((s) => keyInSlot(s, `shard-${run}`));
  const subs = [nodeRedisCluster(fx, 2), nodeRedisCluster(fx, 3)];
  const io = ioredisCluster(fx, { shardedSubscribers: true });
  const pub = nodeRedisCluster(fx, 3);
  const got = new Map<string, string[]>();
  const record = (who: string, ch: string, m: string): void => {
    const k = `${who} ${ch}`;
    got.set(k, [...(got.get(k) ?? []), m]);
  };
  for (const c of [...subs, pub]) c.on('error', () => {});
  try {
    await Promise.all([...subs.map((c) => c.connect()), pub.connect(), ioredisReady(io)]);
    for (const [i, c] of subs.entries())
      for (const ch of channels) await c.sSubscribe(ch, (m) => record(`nr${i}`, ch, m));
    io.on('smessage', (ch: string, m: string) => record('io', ch, m));
    for (const ch of channels) await io.ssubscribe(ch);
    // Each shard channel is served by its slot's master: SPUBLISH goes there (after -MOVED if needed).
    for (const ch of channels) for (let i = 0; i < 10; i++) await pub.sPublish(ch, `${ch}#${i}`);
    const want = 3 * channels.length;
    await pollUntil(
      'every subscriber has every shard message',
      async () => [...got.values()].filter((v) => v.length === 10).length === want,
      10_000,
      20,
    ).catch((e: Error) =>
      assert.fail(`${e.message}: ${JSON.stringify([...got.entries()])}${logTails(fx)}`),
    );
    for (const ch of channels)
      for (const who of ['nr0', 'nr1', 'io'])
        assert.deepEqual(
          got.get(`${who} ${ch}`),
          Array.from({ length: 10 }, (_, i) => `${ch}#${i}`),
          `${who} on ${ch} (slot ${keySlot(ch)})`,
        );
    // The SSUBSCRIBEs sit on the owning masters, on connections that came from the -d end.
    for (const ch of channels) {
      const owner = await fx.cluster.ownerOf(keySlot(ch));
      const list = await fx.cluster.exec(owner.port, 'client', 'list');
      assert.match(list, /ssub=[1-9]/, `a sharded subscriber on ${owner.port}`);
    }
    await fx.assertTunnelOnly({ minNodeClients: 6 });
  } finally {
    for (const c of [...subs, pub]) await c.close().catch(() => {});
    io.disconnect();
  }
});

test('MULTI/EXEC on hash-tagged keys: each master runs its transaction atomically (ioredis and node-redis)', () =>
  multiExecOnEachMaster(fx, run, slots));

test('inside MULTI: a queued command answered -MOVED and a CLUSTER SLOTS in EXEC name only local listeners', async () => {
  const seedSlots = (await fx.cluster.topology(fx.seedPort)).find((l) =>
    l.flags.includes('myself'),
  )!.slots;
  const seedOwns = (s: number): boolean =>
    seedSlots.some((r) => {
      const [a, b = a] = r.split('-').map(Number);
      return s >= a! && s <= b!;
    });
  const elsewhere = slots.find((s) => !seedOwns(s))!;
  const key = keyInSlot(elsewhere, `mv-${run}`);
  const moved = await rawRoundTrip(fx.eHost, fx.ePort, `MULTI\r\nSET ${key} v\r\nEXEC\r\n`, (t) =>
    /EXECABORT[^\r]*\r\n$/.test(t),
  );
  const m = moved.match(/^\+OK\r\n-MOVED (\d+) ([^\r]+):(\d+)\r\n-EXECABORT/);
  assert.ok(m, `reply: ${JSON.stringify(moved)}`);
  assert.equal(Number(m[1]), elsewhere);
  const locals = new Set(nodeListeners(fx).map((l) => l.local));
  assert.ok(locals.has(`${m[2]}:${m[3]}`), `${m[2]}:${m[3]} is one of ${[...locals]}`);

  const execd = await rawRoundTrip(
    fx.eHost,
    fx.ePort,
    'MULTI\r\nCLUSTER SLOTS\r\nEXEC\r\n',
    (t) =>
      /^\+OK\r\n\+QUEUED\r\n\*1\r\n\*3\r\n/.test(t) && (t.match(/\$40\r\n/g) ?? []).length >= 3,
  );
  const nodes = [...execd.matchAll(/\$\d+\r\n([^\r]*)\r\n:(\d+)\r\n\$40\r\n/g)].map(
    (x) => `${x[1]}:${x[2]}`,
  );
  assert.equal(nodes.length, 3, JSON.stringify(execd));
  const after = new Set(nodeListeners(fx).map((l) => l.local));
  for (const n of nodes) assert.ok(after.has(n), `${n} is a local listener (${[...after]})`);
  for (const p of fx.trap.ports) assert.ok(!execd.includes(`:${p}\r\n`), `real port ${p} leaked`);
  await fx.assertTunnelOnly();
});
