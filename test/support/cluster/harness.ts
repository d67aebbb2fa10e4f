/**
 * A real Redis Cluster for tests, the benchmark and the scripts, built in a few seconds from
 * Debian's redis-server and redis-cli, optionally inside a network namespace (see ../netns.ts).
 * tunnel.ts puts a cloakpipe pair in front of it.
 *
 * The servers are not daemonized: the harness owns their processes, kills them in stop(), and the
 * namespace deletion kills anything left. Administration (`redis-cli --cluster create | add-node |
 * reshard`, `CLUSTER SETSLOT`, `MIGRATE`, `CLUSTER FAILOVER`) runs directly against the nodes,
 * inside the namespace, never through the tunnel (MIGRATE and MEET carry real addresses).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary } from '../bins.js';
import { execCapture, type Netns } from '../netns.js';
import { sleep } from '../procs.js';
import { tempDir } from '../system.js';
import { type NodeLine, parseClusterNodes, parseInfo } from './info.js';
import { SLOTS } from './slots.js';

// ---------------------------------------------------------------------------------------------
// The cluster

/** A redis-server the harness started. */
export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Node ID (40 hex), from CLUSTER MYID. */
  readonly id: string;
  readonly dir: string;
  /** False once killed or stopped. */
  readonly alive: boolean;
  /** The server's log so far. */
  log(): string;
}

/** Options for startCluster(). */
export interface ClusterOptions {
  /** Masters (default 3; 1 makes a lone node that serves 0-16383 via CLUSTER ADDSLOTSRANGE). */
  readonly masters?: number;
  /** Replicas per master (default 1, i.e. 3+3). */
  readonly replicas?: number;
  /** Bind address: '127.0.0.1' (default) or '::1'. */
  readonly host?: '127.0.0.1' | '::1';
  /** Ports for the nodes, in order (startCluster needs masters × (1+replicas) of them). */
  readonly ports: readonly number[];
  /** Ports kept for addNode(), in order. */
  readonly sparePorts?: readonly number[];
  /** Run servers and redis-cli inside this namespace (default: the current one). */
  readonly ns?: Netns | null;
  /** --cluster-node-timeout in ms (default 2000). */
  readonly nodeTimeoutMs?: number;
  /** requirepass and masterauth of every node (redis-cli gets it as REDISCLI_AUTH). */
  readonly password?: string;
}

/** A running cluster. Every method that changes topology waits until all live nodes agree. */
export interface RedisCluster {
  readonly host: string;
  /** Every node started (including added and killed ones); see `alive`. */
  readonly nodes: readonly ClusterNode[];
  /** `host:port` of `port` as redis-cli and CLUSTER MEET spell it. */
  addr(port: number): string;
  /** Run `redis-cli -h host -p port args…` (inside the namespace); resolves its raw output. */
  exec(port: number, ...args: string[]): Promise<string>;
  /** Run any command (inside the namespace); resolves stdout. */
  run(cmd: string, ...args: string[]): Promise<string>;
  /** Send `signal` (default SIGKILL) to the node on `port` and wait for it to exit. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** CLUSTER NODES as seen by `port` (default: the first live node). */
  topology(port?: number): Promise<NodeLine[]>;
  /** The live masters that own slots (as the first live node sees them). */
  masters(): Promise<NodeLine[]>;
  /** The live master serving `slot`. */
  ownerOf(slot: number): Promise<NodeLine>;
  /** Wait until cluster_state:ok on every live node and all agree (see waitAgreement). */
  waitHealthy(ms?: number): Promise<void>;
  /** Start one more empty master on the next spare port and join it (redis-cli --cluster add-node). */
  addNode(): Promise<ClusterNode>;
  /** Move `slots` slots to node `toId` from `fromIds` (default all): redis-cli --cluster reshard. */
  reshard(toId: string, slots: number, fromIds?: readonly string[]): Promise<string>;
  /** CLUSTER FAILOVER on the replica at `replicaPort`; resolves once it is master everywhere. */
  failover(replicaPort: number): Promise<void>;
  /** kill -9 the master at `masterPort`; resolves with the replica promoted in its place. */
  killMaster(masterPort: number): Promise<ClusterNode>;
  /** Start migrating `slot` from `src` to `dst` (SETSLOT IMPORTING on dst, MIGRATING on src). */
  beginMigration(slot: number, srcPort: number, dstPort: number): Promise<void>;
  /**
   * MIGRATE every key of `slot` from `src` to `dst`, `batch` keys at a time (default 100) with
   * `pauseMs` between batches (default 0, so live clients can see the slot half-moved); returns
   * how many moved.
   */
  migrateKeys(
    slot: number,
    srcPort: number,
    dstPort: number,
    opts?: { batch?: number; pauseMs?: number },
  ): Promise<number>;
  /** CLUSTER SETSLOT slot NODE dst on dst, src and every other master; waits for agreement. */
  finishMigration(slot: number, srcPort: number, dstPort: number): Promise<void>;
  /**
   * Announce `node-<port>.internal` as every node's hostname (or clear it with `hostnames` false)
   * and set cluster-preferred-endpoint-type; waits until every node sees every hostname.
   */
  setEndpoints(type: 'ip' | 'hostname' | 'unknown-endpoint', hostnames?: boolean): Promise<void>;
  /** Kill every server and remove the data directories. */
  stop(): Promise<void>;
}

interface NodeState {
  host: string;
  port: number;
  pid: number;
  id: string;
  dir: string;
  alive: boolean;
  child: ChildProcess;
  out: string;
  exited: Promise<void>;
  log(): string;
}

/** Poll `check` until it resolves a truthy value; rejects after `ms` with `what` and the last detail. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | false | null | undefined>,
  ms = 20_000,
  every = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = '';
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting until ${what}; last error: ${last}`);
    await sleep(every);
  }
}

/**
 * Start `masters × (1 + replicas)` cluster-enabled redis-servers on `ports` and form a cluster
 * (redis-cli --cluster create … --cluster-replicas R --cluster-yes); resolves once every node
 * reports cluster_state:ok, all 16384 slots ok, every node known, the same current epoch, and
 * every replica's link up. Rejects (after killing what it started) if a server does not come up
 * within 10 s or the cluster does not converge within 30 s.
 */
export async function startCluster(o: ClusterOptions): Promise<RedisCluster> {
  requireBinary('redis-server');
  requireBinary('redis-cli');
  const host = o.host ?? '127.0.0.1';
  const masters = o.masters ?? 3;
  const replicas = masters === 1 ? 0 : (o.replicas ?? 1);
  const count = masters * (1 + replicas);
  if (o.ports.length < count)
    throw new RangeError(`expected ${count} ports, got ${o.ports.length}`);
  if (masters === 2) throw new RangeError('redis-cli --cluster create needs at least 3 masters');
  const ns = o.ns ?? null;
  const wrap = (argv: string[]): string[] => (ns ? ns.wrap(argv) : argv);
  const root = tempDir('cloakpipe-cluster-');
  const spare = [...(o.sparePorts ?? [])];
  const nodes: NodeState[] = [];
  const addr = (port: number): string => `${host}:${port}`;
  const authed = (argv: string[]): string[] =>
    o.password !== undefined && argv[0] === 'redis-cli'
      ? ['env', `REDISCLI_AUTH=${o.password}`, ...argv]
      : argv;
  const run = (cmd: string, ...args: string[]): Promise<string> =>
    execCapture(wrap(authed([cmd, ...args])), 120_000);
  const exec = (port: number, ...args: string[]): Promise<string> =>
    execCapture(wrap(authed(['redis-cli', '-h', host, '-p', String(port), ...args])), 60_000);
  const live = (): NodeState[] => nodes.filter((n) => n.alive);
  const byPort = (port: number): NodeState => {
    const n = nodes.find((x) => x.port === port);
    if (!n) throw new RangeError(`no node on port ${port}`);
    return n;
  };

  const startServer = async (port: number): Promise<NodeState> => {
    const dir = join(root, String(port));
    mkdirSync(dir, { recursive: true });
    const args = [
      '--port',
      String(port),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(o.nodeTimeoutMs ?? 2000),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--bind',
      host,
      '--enable-debug-command',
      'yes',
      // Replicas sync at once (the default waits 5 s for more replicas to share a diskless sync).
      '--repl-diskless-sync-delay',
      '0',
      // A replica's offset stays 0 (so CLUSTER SLOTS leaves it out) until the master's first
      // replication PING; the default period is 10 s.
      '--repl-ping-replica-period',
      '1',
      ...(o.password !== undefined
        ? ['--requirepass', o.password, '--masterauth', o.password]
        : []),
    ];
    const [cmd, ...rest] = wrap(['redis-server', ...args]);
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    const n: NodeState = {
      host,
      port,
      pid: child.pid ?? -1,
      id: '',
      dir,
      alive: true,
      child,
      out: '',
      exited: new Promise((r) => child.once('exit', () => r())),
      log: () => n.out,
    };
    const onData = (d: Buffer): void => {
      n.out += d.toString();
      if (n.out.length > 1_000_000) n.out = n.out.slice(-500_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      n.alive = false;
    });
    nodes.push(n);
    await pollUntil(
      `redis-server on ${addr(port)} is ready`,
      async () => {
        if (!n.alive) throw new Error(`redis-server ${port} exited:\n${n.out}`);
        return /Ready to accept connections/.test(n.out);
      },
      10_000,
      20,
    );
    n.id = (await exec(port, 'cluster', 'myid')).trim();
    assert.match(n.id, /^[0-9a-f]{40}$/, `CLUSTER MYID on ${port}`);
    return n;
  };

  const topology = async (port?: number): Promise<NodeLine[]> =>
    parseClusterNodes(await exec(port ?? live()[0]!.port, 'cluster', 'nodes'));

  /** Normalised view of the configuration one node has of the live cluster. */
  const view = (lines: NodeLine[]): string =>
    lines
      .filter((l) => !l.flags.includes('fail') && !l.flags.includes('fail?'))
      .map((l) => {
        const flags = l.flags.filter((f) => f !== 'myself').join(',');
        const slots = l.slots.filter((r) => !r.startsWith('[')).join(' ');
        return `${l.id} ${flags} ${l.master} ${slots}`;
      })
      .sort()
      .join('\n');

  const waitHealthy = async (ms = 30_000): Promise<void> => {
    await pollUntil(
      'the cluster is ok and every node agrees',
      async () => {
        const alive = live();
        const views = new Set<string>();
        const epochs = new Set<string>();
        for (const n of alive) {
          const info = parseInfo(await exec(n.port, 'cluster', 'info'));
          if (info.cluster_state !== 'ok')
            throw new Error(`${n.port}: cluster_state ${info.cluster_state}`);
          if (info.cluster_slots_ok !== String(SLOTS))
            throw new Error(`${n.port}: cluster_slots_ok ${info.cluster_slots_ok}`);
          epochs.add(info.cluster_current_epoch ?? '');
          const lines = await topology(n.port);
          for (const other of alive)
            if (!lines.some((l) => l.id === other.id && !l.flags.includes('handshake')))
              throw new Error(`${n.port} does not know ${other.port} yet`);
          for (const dead of nodes.filter((x) => !x.alive && x.id))
            if (lines.some((l) => l.id === dead.id && !l.flags.includes('fail')))
              throw new Error(`${n.port} does not see ${dead.port} as failed yet`);
          const me = lines.find((l) => l.flags.includes('myself'));
          if (me?.flags.includes('slave')) {
            const repl = parseInfo(await exec(n.port, 'info', 'replication'));
            if (repl.master_link_status !== 'up')
              throw new Error(`${n.port}: replica link ${repl.master_link_status}`);
            if (repl.slave_repl_offset === '0') throw new Error(`${n.port}: replica offset 0`);
          }
          views.add(view(lines));
        }
        if (epochs.size !== 1) throw new Error(`epochs differ: ${[...epochs].join(' ')}`);
        if (views.size !== 1) throw new Error(`views differ:\n${[...views].join('\n--\n')}`);
        return true;
      },
      ms,
      100,
    );
  };

  const stop = async (): Promise<void> => {
    for (const n of nodes) if (n.alive) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    const ports = o.ports.slice(0, count);
    await Promise.all(ports.map((p) => startServer(p)));
    nodes.sort((a, b) => a.port - b.port);
    if (masters === 1) {
      await exec(ports[0]!, 'cluster', 'addslotsrange', '0', String(SLOTS - 1));
    } else {
      await run(
        'redis-cli',
        '--cluster',
        'create',
        ...ports.map(addr),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      );
    }
    await waitHealthy();
  } catch (e) {
    await stop();
    throw e;
  }

  const cluster: RedisCluster = {
    host,
    get nodes(): readonly ClusterNode[] {
      return nodes;
    },
    addr,
    exec,
    run,
    async kill(port, signal = 'SIGKILL') {
      const n = byPort(port);
      if (n.alive) n.child.kill(signal);
      await n.exited;
    },
    topology,
    async masters() {
      return (await topology()).filter(
        (l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.length > 0,
      );
    },
    async ownerOf(slot) {
      for (const m of await cluster.masters())
        for (const r of m.slots) {
          if (r.startsWith('[')) continue;
          const [a, b = a] = r.split('-').map(Number);
          if (slot >= a! && slot <= b!) return m;
        }
      throw new Error(`no master serves slot ${slot}`);
    },
    waitHealthy,
    async addNode() {
      const port = spare.shift();
      if (port === undefined) throw new RangeError('no spare port left for addNode()');
      const n = await startServer(port);
      const seed = live().find((x) => x !== n)!;
      await run('redis-cli', '--cluster', 'add-node', addr(port), addr(seed.port));
      await waitHealthy();
      return n;
    },
    async reshard(toId, slots, fromIds) {
      const seed = live()[0]!;
      const out = await run(
        'redis-cli',
        '--cluster',
        'reshard',
        addr(seed.port),
        '--cluster-from',
        fromIds ? fromIds.join(',') : 'all',
        '--cluster-to',
        toId,
        '--cluster-slots',
        String(slots),
        '--cluster-yes',
      );
      await waitHealthy();
      return out;
    },
    async failover(replicaPort) {
      const r = byPort(replicaPort);
      const reply = (await exec(replicaPort, 'cluster', 'failover')).trim();
      assert.equal(reply, 'OK', `CLUSTER FAILOVER on ${replicaPort}`);
      await pollUntil(
        `${replicaPort} is a master on every node`,
        async () => {
          for (const n of live()) {
            const me = (await topology(n.port)).find((l) => l.id === r.id);
            if (!me?.flags.includes('master')) return false;
          }
          return true;
        },
        20_000,
      );
      await waitHealthy();
    },
    async killMaster(masterPort) {
      const m = byPort(masterPort);
      const replicaIds = (await topology())
        .filter((l) => l.master === m.id && !l.flags.includes('fail'))
        .map((l) => l.id);
      if (replicaIds.length === 0) throw new Error(`master ${masterPort} has no live replica`);
      await cluster.kill(masterPort, 'SIGKILL');
      const promoted = await pollUntil(
        `a replica of ${masterPort} is promoted`,
        async () => {
          const lines = await topology();
          const p = lines.find((l) => replicaIds.includes(l.id) && l.flags.includes('master'));
          return p ? nodes.find((n) => n.id === p.id) : null;
        },
        30_000,
      );
      await waitHealthy();
      return promoted;
    },
    async beginMigration(slot, srcPort, dstPort) {
      const src = byPort(srcPort);
      const dst = byPort(dstPort);
      assert.equal(
        (await exec(dstPort, 'cluster', 'setslot', String(slot), 'importing', src.id)).trim(),
        'OK',
      );
      assert.equal(
        (await exec(srcPort, 'cluster', 'setslot', String(slot), 'migrating', dst.id)).trim(),
        'OK',
      );
    },
    async migrateKeys(slot, srcPort, dstPort, opts: { batch?: number; pauseMs?: number } = {}) {
      let moved = 0;
      for (;;) {
        if (moved > 0 && opts.pauseMs) await sleep(opts.pauseMs);
        const batch: string = String(opts.batch ?? 100);
        const keys: string[] = (
          await exec(srcPort, 'cluster', 'getkeysinslot', String(slot), batch)
        )
          .split('\n')
          .filter(Boolean);
        if (keys.length === 0) return moved;
        const r: string = (
          await exec(srcPort, 'migrate', host, String(dstPort), '', '0', '5000', 'KEYS', ...keys)
        ).trim();
        assert.equal(r, 'OK', `MIGRATE ${keys.length} keys of slot ${slot}`);
        moved += keys.length;
      }
    },
    async finishMigration(slot, srcPort, dstPort) {
      const dst = byPort(dstPort);
      const others = (await cluster.masters())
        .map((l) => l.port)
        .filter((p) => p !== srcPort && p !== dstPort);
      for (const p of [dstPort, srcPort, ...others])
        assert.equal(
          (await exec(p, 'cluster', 'setslot', String(slot), 'node', dst.id)).trim(),
          'OK',
          `SETSLOT ${slot} NODE on ${p}`,
        );
      await waitHealthy();
    },
    async setEndpoints(type, hostnames = true) {
      for (const n of live()) {
        await exec(
          n.port,
          'config',
          'set',
          'cluster-announce-hostname',
          hostnames ? `node-${n.port}.internal` : '',
        );
        await exec(n.port, 'config', 'set', 'cluster-preferred-endpoint-type', type);
      }
      await pollUntil(
        'every node sees every hostname',
        async () => {
          for (const n of live()) {
            const lines = await topology(n.port);
            for (const other of live()) {
              const l = lines.find((x) => x.id === other.id);
              if (!l || l.hostname !== (hostnames ? `node-${other.port}.internal` : ''))
                return false;
            }
          }
          return true;
        },
        20_000,
      );
    },
    stop,
  };
  return cluster;
}
