// Goal: every way a node can name its endpoint reaches clients as an -e local listener. With
// cluster-preferred-endpoint-type hostname (announced hostnames `node-<port>.internal`, which
// nothing outside the namespace can resolve), hostname with none announced (`?:port`), and
// unknown-endpoint (`:port`, null in CLUSTER SLOTS), a fresh tunnel pair is started each time so
// the very first redirect arrives before any topology reply taught the -e end an alias: raw
// -MOVED, CLUSTER SLOTS, SHARDS and NODES through -e carry only local listeners (no hostname, no
// real port), and redis-cli -c, ioredis and node-redis RESP3 read and write keys on every master.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, type TestContext, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import {
  ioredisCluster,
  ioredisReady,
  nodeRedisCluster,
  rawRoundTrip,
  respComplete,
} from '../support/cluster/clients.js';
import { firstSlotOf } from '../support/cluster/info.js';
import { keyInSlot, keysForAllSlots } from '../support/cluster/slots.js';
import {
  logTails,
  nodeListeners,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');
/** A slot on each master, in slot order. */
let slots: number[] = [];

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0 });
  slots = (await fx.cluster.masters()).map((m) => firstSlotOf(m) + 1).sort((a, b) => a - b);
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** The address of `slot`'s master in a raw RESP2 CLUSTER SLOTS reply, as `host:port`. */
function slotsOwner(reply: string, slot: number): string | null {
  for (const r of reply.matchAll(
    /\*\d+\r\n:(\d+)\r\n:(\d+)\r\n\*4\r\n(?:\$\d+\r\n([^\r]*)|\$-1)\r\n:(\d+)\r\n/g,
  ))
    if (slot >= Number(r[1]) && slot <= Number(r[2])) return `${r[3] ?? ''}:${r[4]}`;
  return null;
}

async function checkVariant(t: TestContext, label: string, expectMoved: RegExp): Promise<void> {
  const pair = await fx.addPair();
  // Clients are made only when their step comes: ioredis connects (and asks CLUSTER SLOTS) at once.
  const made: {
    io?: ReturnType<typeof ioredisCluster>;
    nr?: ReturnType<typeof nodeRedisCluster>;
  } = {};
  try {
    const seedSlots = (await fx.cluster.topology(pair.seedPort)).find((l) =>
      l.flags.includes('myself'),
    )!.slots;
    const seedOwns = (s: number): boolean =>
      seedSlots.some((r) => {
        const [a, b = a] = r.split('-').map(Number);
        return s >= a! && s <= b!;
      });
    const away = slots.find((s) => !seedOwns(s))!;
    const key = keyInSlot(away, `ep-${label}-${run}`);
    const locals = (): Set<string> => new Set(nodeListeners(pair).map((l) => l.local));
    const raw = (cmd: string): Promise<string> =>
      rawRoundTrip(pair.eHost, pair.ePort, `${cmd}\r\n`, respComplete);
    let firstMoved = '';

    await t.test(
      'the first reply this -e end sees is a redirect: it names a local listener',
      async () => {
        const real = await fx.cluster.exec(pair.seedPort, 'get', key);
        assert.match(real, expectMoved, `the node's own redirect (${label})`);
        const moved = await raw(`GET ${key}`);
        const m = moved.match(/^-MOVED (\d+) (\S+)\r\n$/);
        assert.ok(m, `raw reply ${JSON.stringify(moved)}${logTails(pair)}`);
        assert.equal(Number(m[1]), away);
        firstMoved = m[2]!;
        assert.ok(locals().has(firstMoved), `${firstMoved} is one of ${[...locals()]}`);
      },
    );

    await t.test('redis-cli -c follows that first redirect through the tunnel', async () => {
      const cli = [requireBinary('redis-cli'), '-c', '-h', pair.eHost, '-p', String(pair.ePort)];
      const run1 = await execCapture([...cli, 'set', key, label], 10_000).catch(
        (e: Error) => `${e.message}${logTails(pair)}`,
      );
      assert.equal(run1.trim(), 'OK');
      assert.equal((await execCapture([...cli, 'get', key], 10_000)).trim(), label);
    });

    await t.test(
      'CLUSTER SLOTS, SHARDS and NODES through -e name only local listeners',
      async () => {
        const replies = {
          slots: await raw('CLUSTER SLOTS'),
          shards: await raw('CLUSTER SHARDS'),
          nodes: await raw('CLUSTER NODES'),
        };
        for (const [kind, text] of Object.entries(replies)) {
          assert.doesNotMatch(text, /\.internal/, `${kind} leaks a hostname: ${text}`);
          for (const p of fx.trap.ports)
            assert.ok(
              !new RegExp(`[:\\r\\n]${p}[@\\r]`).test(text),
              `${kind} leaks real port ${p}`,
            );
        }
        const slotNodes = [
          ...replies.slots.matchAll(/\*4\r\n(?:\$\d+\r\n([^\r]*)|\$-1)\r\n:(\d+)\r\n\$40/g),
        ].map((x) => `${x[1] ?? ''}:${x[2]}`);
        assert.equal(slotNodes.length, 3, replies.slots);
        for (const n of slotNodes) assert.ok(locals().has(n), `SLOTS names ${n}: ${[...locals()]}`);
        const lines = replies.nodes
          .split('\n')
          .slice(1)
          .map((l) => l.trim());
        for (const line of lines.filter(Boolean)) {
          const addr = line.split(' ')[1]!.split('@')[0]!;
          assert.ok(locals().has(addr), `NODES names ${addr}: ${[...locals()]}`);
        }
      },
    );

    await t.test(
      'one local address per node: MOVED and CLUSTER SLOTS agree, before and after',
      async () => {
        const slotsReply = await raw('CLUSTER SLOTS');
        const owner = slotsOwner(slotsReply, away);
        const again = (await raw(`GET ${key}`)).match(/^-MOVED \d+ (\S+)\r\n$/)?.[1];
        assert.equal(again, owner, 'the MOVED after CLUSTER SLOTS names the SLOTS address');
        assert.equal(firstMoved, owner, 'the first MOVED named the same listener as SLOTS does');
        const perNode = new Map<string, string[]>();
        for (const l of nodeListeners(pair)) {
          const port = l.node.slice(l.node.lastIndexOf(':') + 1);
          perNode.set(port, [...(perNode.get(port) ?? []), `${l.node} -> ${l.local}`]);
        }
        for (const [port, ls] of perNode)
          assert.equal(ls.length, 1, `node on port ${port} has ${ls.length} listeners: ${ls}`);
      },
    );

    await t.test('ioredis and node-redis RESP3 write and read keys on every master', async () => {
      const keys = keysForAllSlots(`epc-${label}-${run}`).filter((_, i) => i % 16 === 0);
      const i = ioredisCluster(pair);
      const n = nodeRedisCluster(pair, 3);
      made.io = i;
      made.nr = n;
      n.on('error', () => {});
      try {
        await Promise.all([ioredisReady(i), n.connect()]);
        await Promise.all(keys.map((k) => i.set(k, `${label}-${k}`)));
        const viaNr = await Promise.all(keys.map((k) => n.get(k)));
        assert.deepEqual(
          viaNr,
          keys.map((k) => `${label}-${k}`),
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}${logTails(pair)}`, { cause: e });
      }
    });

    await t.test('nothing went around the tunnel', async () => {
      await fx.assertTunnelOnly();
    });
  } finally {
    made.io?.disconnect();
    await made.nr?.close().catch(() => {});
    await pair.close();
  }
}

test('cluster-preferred-endpoint-type hostname: node-<port>.internal endpoints reach clients as local listeners', async (t) => {
  await fx.cluster.setEndpoints('hostname');
  await checkVariant(t, 'hostname', /^MOVED \d+ node-\d+\.internal:\d+$/m);
});

test('hostname preferred with none announced: "?:port" endpoints reach clients as local listeners', async (t) => {
  await fx.cluster.setEndpoints('hostname', false);
  await checkVariant(t, 'question', /^MOVED \d+ \?:\d+$/m);
});

test('cluster-preferred-endpoint-type unknown-endpoint: ":port" redirects and null SLOTS endpoints become local listeners', async (t) => {
  await fx.cluster.setEndpoints('unknown-endpoint');
  await checkVariant(t, 'unknown', /^MOVED \d+ :\d+$/m);
});

test('back to ip endpoints with hostnames still announced: NODES ",hostname" is dropped, clients work', async (t) => {
  await fx.cluster.setEndpoints('ip');
  await checkVariant(t, 'ip', /^MOVED \d+ 127\.0\.0\.1:\d+$/m);
});
