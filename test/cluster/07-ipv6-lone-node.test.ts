// Goal: the address forms at the edges work end to end. A 3-master cluster on ::1 (its redirects
// read `-MOVED <slot> ::1:<port>`, no brackets) behind an -e end on [::1]:P with the default
// --cluster-ports (the 64 ports after P): redirects name ::1 listeners in P+1..P+64, and ioredis,
// node-redis and redis-cli -c work over every slot. A lone node that serves all 16384 slots
// reports an empty IP for itself in CLUSTER SLOTS: through -e it becomes a local listener and
// clients work (ioredis skips a node whose host is empty, so an empty host must never pass).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import {
  ioredisCluster,
  ioredisReady,
  nodeRedisCluster,
  rawRoundTrip,
  respComplete,
} from '../support/cluster/clients.js';
import { keyInSlot, keysForAllSlots } from '../support/cluster/slots.js';
import { logTails, nodeListeners, startTunnelledCluster } from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { stopAll } from '../support/procs.js';

after(stopAll);

/** A port P in 10000–19999 such that P..P+64 are free on `host` here (probed, then released). */
async function freeRun(host: string, n = 65): Promise<number> {
  const listen = (port: number): Promise<Server | null> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(null));
      s.listen({ host, port, exclusive: true }, () => resolve(s));
    });
  for (let attempt = 0; attempt < 30; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (10_000 - n));
    const held: Server[] = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      const s = await listen(p);
      if (s) held.push(s);
      else ok = false;
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error(`no run of ${n} free ports on ${host}`);
}

test('a 3-master cluster on ::1 behind -e on [::1]:P: redirects name ::1 listeners in P+1..P+64; ioredis, node-redis and redis-cli -c work over every slot', async () => {
  const P = await freeRun('::1');
  const fx = await startTunnelledCluster({
    host: '::1',
    masters: 3,
    replicas: 0,
    eSource: `[::1]:${P}`,
  });
  try {
    assert.equal(fx.eHost, '::1');
    assert.equal(fx.ePort, P);
    const masters = await fx.cluster.masters();
    const away = masters.find((m) => m.port !== fx.seedPort)!;
    const slot = Number(away.slots[0]!.split('-')[0]);
    const key = keyInSlot(slot, 'v6');
    assert.equal(
      (await fx.cluster.exec(fx.seedPort, 'get', key)).trim(),
      `MOVED ${slot} ::1:${away.port}`,
      'the node itself names ::1 without brackets',
    );
    const raw = await rawRoundTrip('::1', P, `GET ${key}\r\n`, respComplete);
    const m = raw.match(/^-MOVED (\d+) ::1:(\d+)\r\n$/);
    assert.ok(m, `raw reply through -e: ${JSON.stringify(raw)}${logTails(fx)}`);
    const local = Number(m[2]);
    assert.ok(local > P && local <= P + 64, `listener port ${local} is in ${P + 1}-${P + 64}`);

    const cli = [requireBinary('redis-cli'), '-c', '-h', '::1', '-p', String(P)];
    assert.equal((await execCapture([...cli, 'set', key, 'six'], 10_000)).trim(), 'OK');
    assert.equal((await execCapture([...cli, 'get', key], 10_000)).trim(), 'six');

    const keys = keysForAllSlots('v6all');
    const io = ioredisCluster(fx);
    const nr = nodeRedisCluster(fx, 2);
    nr.on('error', () => {});
    try {
      await Promise.all([ioredisReady(io), nr.connect()]);
      await Promise.all(keys.map((k) => io.set(k, `6-${k}`)));
      const got = await Promise.all(keys.map((k) => nr.get(k)));
      assert.equal(keys.filter((k, i) => got[i] !== `6-${k}`).length, 0);
      for (const l of nodeListeners(fx)) {
        assert.match(l.local, /^::1:\d+$|^\[::1\]:\d+$/, `listener ${JSON.stringify(l)}`);
        const port = Number(l.local.slice(l.local.lastIndexOf(':') + 1));
        assert.ok(port > P && port <= P + 64, `listener ${l.local} in the default range`);
      }
      await fx.assertTunnelOnly({ minNodeClients: 3 });
    } finally {
      io.disconnect();
      await nr.close().catch(() => {});
    }
  } finally {
    await fx.close();
  }
});

test('a lone node serving all slots reports an empty IP; through -e it is a local listener and clients work', async () => {
  const fx = await startTunnelledCluster({ masters: 1 });
  try {
    const direct = await fx.cluster.exec(fx.seedPort, 'cluster', 'slots');
    assert.match(direct, /^0\n16383\n\n\d+\n[0-9a-f]{40}/, `the node reports "" for itself`);
    const raw = await rawRoundTrip(fx.eHost, fx.ePort, 'CLUSTER SLOTS\r\n', respComplete);
    const m = raw.match(/^\*1\r\n\*3\r\n:0\r\n:16383\r\n\*4\r\n\$(\d+)\r\n([^\r]*)\r\n:(\d+)\r\n/);
    assert.ok(m, JSON.stringify(raw));
    assert.equal(m[2], '127.0.0.1', 'never an empty host');
    assert.equal(Number(m[1]), m[2]!.length);
    assert.ok(nodeListeners(fx).some((l) => l.local === `127.0.0.1:${m[3]}`));
    const keys = keysForAllSlots('lone').slice(0, 2000);
    const io = ioredisCluster(fx);
    const nr = nodeRedisCluster(fx, 3);
    nr.on('error', () => {});
    try {
      await Promise.all([ioredisReady(io), nr.connect()]);
      await Promise.all(keys.map((k) => io.set(k, k)));
      const got = await Promise.all(keys.map((k) => nr.get(k)));
      assert.deepEqual(got, keys);
      assert.equal(Number(await fx.cluster.exec(fx.seedPort, 'dbsize')), keys.length);
      await fx.assertTunnelOnly({ minNodeClients: 1 });
    } catch (e) {
      throw new Error(`${(e as Error).message}${logTails(fx)}`, { cause: e });
    } finally {
      io.disconnect();
      await nr.close().catch(() => {});
    }
  } finally {
    await fx.close();
  }
});
