// Goal: the cluster harness itself is sound before any scenario relies on it: a real 3-master
// cluster forms inside its own network namespace within seconds, the test's key→slot function
// agrees with the servers, a client in the default namespace cannot reach a node's real port
// (only the trap answers, and the trap records it), and a PLAIN cloakpipe pair carries Redis
// traffic from the default namespace to a node inside it through nothing but a UNIX socket; and,
// as a negative control, a smart client behind that PLAIN pair reaches past it into the traps, so
// the traps do catch what the cluster mode exists to prevent.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { ioredisCluster } from '../support/cluster/clients.js';
import { pollUntil } from '../support/cluster/harness.js';
import { keysForAllSlots, keySlot, SLOTS } from '../support/cluster/slots.js';
import { startTunnelledCluster, type TunnelledCluster } from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
let formedMs = 0;

before(async () => {
  const t0 = Date.now();
  fx = await startTunnelledCluster({ masters: 3, replicas: 0 });
  formedMs = Date.now() - t0;
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('a 3-master cluster forms inside the namespace within 15 s, every slot served', async () => {
  assert.ok(formedMs < 15_000, `cluster + tunnel took ${formedMs} ms`);
  const info = await fx.cluster.exec(fx.seedPort, 'cluster', 'info');
  assert.match(info, /cluster_state:ok/);
  assert.match(info, new RegExp(`cluster_slots_ok:${SLOTS}`));
  assert.match(info, /cluster_known_nodes:3/);
  assert.equal((await fx.cluster.masters()).length, 3);
  for (const n of fx.cluster.nodes) assert.match(n.id, /^[0-9a-f]{40}$/);
});

test('keySlot() agrees with CLUSTER KEYSLOT, hash tags included, and keysForAllSlots covers 16384', async () => {
  const keys = keysForAllSlots('slot');
  assert.equal(new Set(keys.map(keySlot)).size, SLOTS);
  const sample = [
    'foo',
    'bar',
    '{user1000}.following',
    '{}x',
    'a{b}c{d}',
    '',
    keys[0]!,
    keys[16383]!,
  ];
  for (const k of sample) {
    const server = Number((await fx.cluster.exec(fx.seedPort, 'cluster', 'keyslot', k)).trim());
    assert.equal(keySlot(k), server, `slot of ${JSON.stringify(k)}`);
  }
});

test('namespace isolation: a direct connection to a node real port from here reaches only the trap', async () => {
  const port = fx.seedPort;
  const before = fx.trap.hits().length;
  const got = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      data += d.toString();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(data));
  });
  assert.equal(got, '', 'the trap answers nothing');
  await new Promise((r) => setTimeout(r, 50));
  const hits = fx.trap.hits().slice(before);
  assert.equal(hits.length, 1);
  assert.equal(hits[0]!.address, `127.0.0.1:${port}`);
  // Inside the namespace the same address is the real node.
  assert.equal((await fx.cluster.exec(port, 'ping')).trim(), 'PONG');
  // redis-cli from here also lands in the trap, never in the node.
  await execCapture([requireBinary('redis-cli'), '-p', String(port), 'ping'], 5000).catch(() => '');
  assert.equal(fx.trap.hits().length, before + 2);
});

test('plain (non-cluster) cloakpipe pair: redis-cli -p <-e port> ping reaches a node inside the namespace over a UNIX socket only', async () => {
  const plain = await startTunnelledCluster({ masters: 1, clusterE: false, clusterD: false });
  try {
    assert.ok(plain.dSocket.startsWith('/'), 'the ends meet through a UNIX socket');
    const out = await execCapture(
      [requireBinary('redis-cli'), '-h', plain.eHost, '-p', String(plain.ePort), 'ping'],
      10_000,
    );
    assert.equal(out.trim(), 'PONG');
    const set = await execCapture(
      ['redis-cli', '-h', plain.eHost, '-p', String(plain.ePort), 'set', 'through', 'tunnel'],
      10_000,
    );
    assert.equal(set.trim(), 'OK');
    assert.equal((await plain.cluster.exec(plain.seedPort, 'get', 'through')).trim(), 'tunnel');
    const check = await plain.assertTunnelOnly();
    assert.equal(check.localConns, 0);
  } finally {
    await plain.close();
  }
  // The cleanup deleted the namespace.
  const list = await execCapture(['ip', 'netns', 'list']);
  assert.doesNotMatch(list, new RegExp(plain.ns.name));
});

test('negative control: ioredis behind a PLAIN pair follows the real node addresses into the traps', async () => {
  const plain = await fx.addPair({ clusterE: false, clusterD: false });
  const before = fx.trap.hits().length;
  const c = ioredisCluster(plain, { clusterRetryStrategy: () => 200 });
  c.on('error', () => {});
  try {
    // The seed answers CLUSTER SLOTS with the real 127.0.0.1:<node port> addresses, untouched.
    c.set(keysForAllSlots('nc')[0]!, 'x').catch(() => {});
    await pollUntil(
      'the traps see a connection',
      async () => fx.trap.hits().length > before,
      5000,
      20,
    );
    const hits = fx.trap.hits().slice(before);
    assert.ok(hits.length > 0, 'the traps saw the client dial a real node address');
    assert.ok(
      hits.every((h) => fx.trap.ports.includes(Number(h.address.split(':').pop()))),
      JSON.stringify(hits),
    );
    await assert.rejects(fx.assertTunnelOnly(), /around the tunnel/);
  } finally {
    c.disconnect();
    await plain.close();
  }
});
