// Goal: with --workers, the primary's node table and allow-list are the only ones, and every
// worker's replica agrees with them: an `ensure` resolves only once the primary's listener
// accepts, concurrent ensures (one worker or two) open one listener, every change reaches every
// worker, a restarted worker gets the whole table back, node-listener connections are spread
// over the workers, and a -d worker admits exactly the members the primary's single poller knows.
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import {
  CLUSTER_IPC_NS,
  type DecryptIpc,
  type EncryptIpc,
} from '../../../src/daemon/ipc-messages.js';
import { DecryptHub, EncryptHub } from '../../../src/daemon/cluster-primary.js';
import { MemberReplica, NodeReplica } from '../../../src/daemon/cluster-worker.js';
import { IpcPeer } from '../../../src/daemon/ipc.js';
import type { Route } from '../../../src/protocol/route.js';
import { memoryPair } from './ipc-pair.js';

const log = pino({ level: 'silent' });
const nilGauges = { nodesKnown() {}, listenersOpen() {} };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tick = (): Promise<void> => sleep(20);

/** Whether a TCP connection to 127.0.0.1:`port` is accepted right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(port, '127.0.0.1');
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

/** A worker: its replica, what it was handed, and how to kill it. */
interface FakeWorker {
  readonly map: NodeReplica;
  readonly adopted: Route[];
  readonly id: number;
  kill(): void;
}

let nextId = 1;
function joinWorker(hub: EncryptHub): FakeWorker {
  const pair = memoryPair();
  const id = nextId++;
  hub.attach({ id, endpoint: pair[0] });
  const adopted: Route[] = [];
  const map = new NodeReplica(new IpcPeer<EncryptIpc>(pair[1], CLUSTER_IPC_NS), log, (s, r) => {
    adopted.push(r);
    s.destroy();
  });
  return {
    map,
    adopted,
    id,
    kill() {
      pair.cut();
      hub.detach(id);
    },
  };
}

function encryptHub(): EncryptHub {
  return new EncryptHub({
    bindHost: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    ports: null,
    log,
    metrics: nilGauges,
  });
}

test('-e: ensure resolves only once the primary listens; every worker gets the same address; concurrent ensures open one listener', async () => {
  const hub = encryptHub();
  const [a, b] = [joinWorker(hub), joinWorker(hub)];
  try {
    await Promise.all([a.map.start(), b.map.start()]);
    const node = { host: '10.0.0.1', port: 7000 };
    // The listener accepts at the moment the reply could be released, not later.
    const local = await a.map.ensure(node).then(async (l) => {
      assert.ok(l);
      assert.ok(await accepts(l.port), 'the listener accepts when ensure resolves');
      return l;
    });
    assert.deepEqual(a.map.lookup(node), local);
    await tick();
    assert.deepEqual(b.map.lookup(node), local, 'the broadcast reached the other worker');
    // Two ensures in flight on one worker, one on another, for a new node: one listener.
    const other = { host: '10.0.0.2', port: 7001 };
    const got = await Promise.all([a.map.ensure(other), a.map.ensure(other), b.map.ensure(other)]);
    assert.ok(got[0]);
    assert.deepEqual(got[1], got[0]);
    assert.deepEqual(got[2], got[0]);
    assert.notEqual(got[0].port, local.port);
    assert.deepEqual(hub.stats(), { nodesKnown: 2, listenersOpen: 2 });
  } finally {
    hub.close();
  }
});

test("-e: an alias told by one worker is the primary's and every worker's; a restarted worker gets the whole table back", async () => {
  const hub = encryptHub();
  const a = joinWorker(hub);
  let b = joinWorker(hub);
  try {
    await Promise.all([a.map.start(), b.map.start()]);
    const ip = { host: '10.0.0.3', port: 7002 };
    const local = await a.map.ensure(ip);
    assert.ok(local);
    a.map.alias('node-3.example', 7002, ip.host, ip.port);
    assert.deepEqual(
      a.map.canonical('node-3.example', 7002),
      ip,
      'at once on the worker that saw it',
    );
    await tick();
    assert.deepEqual(b.map.canonical('node-3.example', 7002), ip);
    // The name, asked for directly, shares the IP's listener (the primary adopted it).
    assert.deepEqual(await b.map.ensure({ host: 'node-3.example', port: 7002 }), local);
    b.kill();
    b = joinWorker(hub);
    assert.equal(b.map.lookup(ip), null, 'an empty replica before it joins');
    await b.map.start();
    assert.deepEqual(b.map.lookup(ip), local, 'the restarted worker has the address back');
    assert.deepEqual(b.map.canonical('node-3.example', 7002), ip);
    assert.equal(hub.stats().listenersOpen, 1);
  } finally {
    hub.close();
  }
});

test('-e: node-listener connections go round robin to the workers that joined; none to a draining or dead one', async () => {
  const hub = encryptHub();
  const [a, b, late] = [joinWorker(hub), joinWorker(hub), joinWorker(hub)];
  try {
    await Promise.all([a.map.start(), b.map.start()]); // `late` never says hello
    const node = { host: '10.0.0.4', port: 7003 };
    const local = await a.map.ensure(node);
    assert.ok(local);
    const connect = async (): Promise<void> => {
      const c = createConnection(local.port, '127.0.0.1');
      c.on('error', () => {});
      await new Promise((r) => c.on('close', r));
    };
    for (let i = 0; i < 4; i++) await connect();
    assert.deepEqual([a.adopted.length, b.adopted.length, late.adopted.length], [2, 2, 0]);
    assert.deepEqual(a.adopted[0], node);
    b.map.close(); // draining
    await tick();
    for (let i = 0; i < 2; i++) await connect();
    assert.deepEqual([a.adopted.length, b.adopted.length], [4, 2]);
    a.kill();
    late.kill();
    await tick();
    // b drains and the others are gone: the listeners close, as one process closes them on drain.
    assert.equal(await accepts(local.port), false);
  } finally {
    hub.close();
  }
});

/**
 * A TCP server answering -d's membership query with a CLUSTER NODES bulk listing `ports`;
 * `queries` counts the queries.
 */
function nodesServer(ports: () => number[]): Promise<Server & { queries: number }> {
  const srv = Object.assign(
    createServer((c: Socket) => {
      c.on('error', () => {});
      c.once('data', () => {
        srv.queries++;
        const text = ports()
          .map(
            (p, i) => `id${p} 127.0.0.1:${p}@1${p} ${i ? 'slave' : 'master'} - 0 1 1 connected\n`,
          )
          .join('');
        c.end(`+OK\r\n$${Buffer.byteLength(text)}\r\n${text}\r\n`);
      });
    }),
    { queries: 0 },
  );
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

test('-d: one poller for all workers; a worker admits the members it learned and only those the primary admits', async () => {
  let ports: number[] = [];
  const seed = await nodesServer(() => ports);
  const seedPort = (seed.address() as { port: number }).port;
  ports = [seedPort, 7101];
  const hub = new DecryptHub({
    seed: { host: '127.0.0.1', port: seedPort },
    refreshSeconds: 0,
    auth: null,
    log,
    metrics: { nodesKnown() {} },
  });
  const refused: string[] = [];
  const workers = [0, 1, 2].map((i) => {
    const pair = memoryPair();
    hub.attach({ id: 100 + i, endpoint: pair[0] });
    return new MemberReplica(
      { host: '127.0.0.1', port: seedPort },
      new IpcPeer<DecryptIpc>(pair[1], CLUSTER_IPC_NS),
      (r) => refused.push(r),
    );
  });
  try {
    await hub.membership.refresh();
    await Promise.all(workers.map((w) => w.start()));
    assert.equal(seed.queries, 1, 'three workers, one CLUSTER NODES query');
    for (const w of workers)
      assert.deepEqual(await w.resolve({ host: '127.0.0.1', port: 7101 }), {
        host: '127.0.0.1',
        port: 7101,
      });
    // A node the cluster does not report: the worker asks, the primary refreshes once and refuses.
    await sleep(1100); // on-demand refreshes are at most one a second
    const verdict = await workers[0]!.resolve({ host: '10.9.9.9', port: 6379 });
    assert.equal(verdict, '10.9.9.9:6379 is not a member of the cluster');
    assert.deepEqual(refused, ['not-a-member']);
    assert.equal(seed.queries, 2, 'the on-demand refresh ran once, in the primary');
    // The cluster grows: the primary learns it on demand and every worker gets the new list.
    ports = [seedPort, 7101, 7102];
    await sleep(1100);
    assert.deepEqual(await workers[1]!.resolve({ host: '127.0.0.1', port: 7102 }), {
      host: '127.0.0.1',
      port: 7102,
    });
    await tick();
    const before = seed.queries;
    assert.deepEqual(await workers[2]!.resolve({ host: '127.0.0.1', port: 7102 }), {
      host: '127.0.0.1',
      port: 7102,
    });
    assert.equal(seed.queries, before, 'known from the broadcast: no query');
    assert.deepEqual(
      workers[2]!.seedCandidates().map((m) => m.port),
      [seedPort, 7101, 7102],
    );
  } finally {
    hub.close();
    seed.close();
  }
});

test('-d: a worker whose primary is gone refuses what its copy does not hold', async () => {
  const pair = memoryPair();
  const w = new MemberReplica(
    { host: '127.0.0.1', port: 7000 },
    new IpcPeer<DecryptIpc>(pair[1], CLUSTER_IPC_NS, 50),
    () => {},
  );
  const verdict = await w.resolve({ host: '10.0.0.9', port: 7000 });
  assert.match(String(verdict), /^10\.0\.0\.9:7000 could not be checked/);
  assert.deepEqual(await w.resolve({ host: '-', port: 0 }), { host: '127.0.0.1', port: 7000 });
});
