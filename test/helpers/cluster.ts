/**
 * A real Redis Cluster for tests, built in a few seconds from Debian's redis-server and redis-cli,
 * optionally inside a network namespace (see netns.ts); plus the fixture every cluster scenario
 * uses: the cluster and a `cloakpipe -d --cluster` end inside the namespace, a `cloakpipe -e
 * --cluster` end outside it, the two joined only through a UNIX socket, and traps on the nodes'
 * real ports outside.
 *
 * The servers are not daemonized: the harness owns their processes, kills them in stop(), and the
 * namespace deletion kills anything left. Administration (`redis-cli --cluster create | add-node |
 * reshard`, `CLUSTER SETSLOT`, `MIGRATE`, `CLUSTER FAILOVER`) runs directly against the nodes,
 * inside the namespace, never through the tunnel (MIGRATE and MEET carry real addresses).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createCluster, type RedisClusterOptions, type RedisClusterType } from '@redis/client';
import { Cluster, type ClusterOptions as ClusterOptionsIoredis } from 'ioredis';
import { requireBinary } from './bins.js';
import { createNetns, execCapture, type Netns, type Trap, trapPorts } from './netns.js';
import { type Proc, parseHostPort, startCloakpipe, startCloakpipeUnder } from './procs.js';
import { tempDir } from './targets.js';

/** Hash slots in a Redis Cluster. */
export const SLOTS = 16384;

// ---------------------------------------------------------------------------------------------
// Key → slot (CRC16/XMODEM of the hash tag, mod 16384; Redis cluster spec "Keys distribution model")

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC16/XMODEM (poly 0x1021, init 0), as Redis Cluster uses it. */
export function crc16(data: Buffer): number {
  let crc = 0;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The hash slot of `key`, honouring `{hash tags}` (first `{`, then the next `}`, non-empty). */
export function keySlot(key: string): number {
  const s = key.indexOf('{');
  if (s !== -1) {
    const e = key.indexOf('}', s + 1);
    if (e > s + 1) key = key.slice(s + 1, e);
  }
  return crc16(Buffer.from(key)) % SLOTS;
}

/** One key per slot: `keys[slot]` hashes to `slot` (`<prefix>:<n>`, the first n that fits). */
export function keysForAllSlots(prefix: string): string[] {
  const keys = new Array<string | undefined>(SLOTS);
  let found = 0;
  for (let n = 0; found < SLOTS; n++) {
    const k = `${prefix}:${n}`;
    const slot = keySlot(k);
    if (keys[slot] === undefined) {
      keys[slot] = k;
      found++;
    }
  }
  return keys as string[];
}

/** A key in `slot` (`<prefix>:<n>`), for ASK/MOVED scenarios. */
export function keyInSlot(slot: number, prefix = 'k', skip = 0): string {
  for (let n = 0; ; n++) {
    const k = `${prefix}:${n}`;
    if (keySlot(k) === slot && skip-- === 0) return k;
  }
}

// ---------------------------------------------------------------------------------------------
// CLUSTER NODES parsing

/** One line of CLUSTER NODES. */
export interface NodeLine {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly hostname: string;
  readonly flags: readonly string[];
  /** The master's id, or '-'. */
  readonly master: string;
  readonly epoch: number;
  readonly link: string;
  /** Slot ranges and migration markers as printed ("0-5460", "[12182->-id]"). */
  readonly slots: readonly string[];
}

/** Parse CLUSTER NODES text (`<id> <ip>:<port>@<cport>[,<hostname>] <flags> <master> …`). */
export function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id, addr, flags, master, , , epoch, link, ...slots] = l.split(' ');
      const [hostPort = '', hostname = ''] = (addr ?? '').split(',');
      const hp = hostPort.split('@')[0] ?? '';
      const i = hp.lastIndexOf(':');
      return {
        id: id ?? '',
        host: hp.slice(0, i),
        port: Number(hp.slice(i + 1)),
        hostname,
        flags: (flags ?? '').split(','),
        master: master ?? '-',
        epoch: Number(epoch),
        link: link ?? '',
        slots,
      };
    });
}

/** `key:value` lines (CLUSTER INFO, INFO) → record. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

// ---------------------------------------------------------------------------------------------
// The tunnelled fixture

/** How to start one cloakpipe pair in front of the cluster. */
export interface PairOptions {
  /** Run the -e end with --cluster (default true). */
  readonly clusterE?: boolean;
  /** Run the -d end with --cluster (default true). */
  readonly clusterD?: boolean;
  /** Listen address of the -e end (default `[127.0.0.1]:0`; `[::1]:0` for IPv6). */
  readonly eSource?: string;
  /** Extra -e / -d arguments. */
  readonly eArgs?: readonly string[];
  readonly dArgs?: readonly string[];
  /** The node the -d end dials as its seed (default: the first node). */
  readonly seedPort?: number;
}

/** One cloakpipe pair: -d inside the namespace on a UNIX socket, -e here. */
export interface TunnelPair {
  /** The -d end (inside the namespace), listening on `dSocket`. */
  readonly d: Proc;
  readonly dSocket: string;
  /** The -e end (here); `eHost`:`ePort` fronts the seed node. */
  readonly e: Proc;
  readonly eAddress: string;
  readonly eHost: string;
  readonly ePort: number;
  /** The seed node's real port (the -d target). */
  readonly seedPort: number;
  /** SIGKILL both ends. */
  close(): Promise<void>;
}

type TunnelledBase = Omit<ClusterOptions, 'ports' | 'sparePorts' | 'ns'> &
  Omit<PairOptions, 'seedPort'>;

/** Options for startTunnelledCluster(): those of startCluster() and of the first pair. */
export interface TunnelledOptions extends TunnelledBase {
  /** Ports kept (and trapped) for addNode() (default 0). */
  readonly spare?: number;
}

/** A cluster behind a cloakpipe pair, with the checks that nothing went around the tunnel. */
export interface TunnelledCluster extends TunnelPair {
  readonly ns: Netns;
  readonly cluster: RedisCluster;
  /** Traps on the nodes' real (and spare) ports, in this namespace. */
  readonly trap: Trap;
  readonly dir: string;
  /** The key file both ends use. */
  readonly key: string;
  /** Start one more pair in front of the same cluster (closed by close()). */
  addPair(o?: PairOptions): Promise<TunnelPair>;
  /**
   * Assert that nothing reached around the tunnel: the traps saw no connection, every client
   * connection on every live node belongs to a -d process (found with `ss -tnp` inside the
   * namespace; replication links and a node's MIGRATE connection to another node excepted), and
   * every TCP connection this test process holds goes to a port an -e process listens on.
   * Resolves the counts checked.
   */
  assertTunnelOnly(opts?: { minNodeClients?: number }): Promise<TunnelCheck>;
  /** Stop every pair and the cluster, close the traps and delete the namespace. Never throws. */
  close(): Promise<void>;
}

/** What assertTunnelOnly() looked at. */
export interface TunnelCheck {
  /** Client connections on the nodes (replication links and the CLIENT LIST itself excluded). */
  readonly nodeClients: number;
  /** TCP connections of this test process (to the -e end). */
  readonly localConns: number;
}

/** Pick `n` consecutive ports in 20000–29999 that can be trapped on `host` here. */
async function trapFreePorts(host: string, n: number): Promise<{ ports: number[]; trap: Trap }> {
  for (let attempt = 0; ; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (10_000 - n));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    try {
      return { ports, trap: await trapPorts(host, ports) };
    } catch (e) {
      if (attempt > 20) throw e;
    }
  }
}

/** `ss -tnpH` rows: local, peer, pids. */
interface SocketRow {
  readonly local: string;
  readonly peer: string;
  readonly pids: readonly number[];
}

function parseSs(text: string): SocketRow[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5)
    .map((f) => ({
      local: normAddr(f[3]!),
      peer: normAddr(f[4]!),
      pids: [
        ...f
          .slice(5)
          .join(' ')
          .matchAll(/pid=(\d+)/g),
      ].map((m) => Number(m[1])),
    }));
}

/** `[::1]:5`, `::1:5`, `[::ffff:127.0.0.1]:5` and `127.0.0.1:5` → `host:port` without brackets. */
function normAddr(a: string): string {
  const i = a.lastIndexOf(':');
  return `${a
    .slice(0, i)
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:/, '')}:${a.slice(i + 1)}`;
}

const portOf = (a: string): number => Number(a.slice(a.lastIndexOf(':') + 1));

/**
 * Start a namespace with a cluster (the options of startCluster) and `cloakpipe -d [--cluster]`
 * inside it, `cloakpipe -e [--cluster]` outside it, joined by a UNIX socket; trap the nodes' real
 * ports outside. Both ends run with `-n 500 --log-level debug`. Everything is torn down if any
 * step fails.
 */
export async function startTunnelledCluster(o: TunnelledOptions = {}): Promise<TunnelledCluster> {
  const host = o.host ?? '127.0.0.1';
  const masters = o.masters ?? 3;
  const count = masters * (1 + (masters === 1 ? 0 : (o.replicas ?? 1))) + (o.spare ?? 0);
  const ns = await createNetns();
  const dir = tempDir('cloakpipe-cluster-tunnel-');
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  let trap: Trap | null = null;
  let cluster: RedisCluster | null = null;
  const pairs: TunnelPair[] = [];
  const close = async (): Promise<void> => {
    for (const p of pairs) await p.close().catch(() => {});
    await cluster?.stop().catch(() => {});
    await trap?.close().catch(() => {});
    await ns.close();
    rmSync(dir, { recursive: true, force: true });
  };

  const addPair = async (po: PairOptions = {}): Promise<TunnelPair> => {
    const c = cluster!;
    const dSocket = join(dir, `d${pairs.length}.sock`);
    const seedPort = po.seedPort ?? c.nodes[0]!.port;
    const seed = host.includes(':') ? `[${host}]:${seedPort}` : `${host}:${seedPort}`;
    const common = ['-n', '500', '--log-level', 'debug'];
    let d: Proc | null = null;
    let e: Proc | null = null;
    const closePair = async (): Promise<void> => {
      await e?.stop('SIGKILL');
      await d?.stop('SIGKILL');
    };
    const pair = {
      dSocket,
      seedPort,
      close: closePair,
    } as { -readonly [K in keyof TunnelPair]: TunnelPair[K] };
    pairs.push(pair);
    d = (
      await startCloakpipeUnder(ns.wrap([]), [
        '-d',
        ...(po.clusterD === false ? [] : ['--cluster']),
        '-s',
        dSocket,
        '-t',
        seed,
        '-k',
        key,
        ...common,
        ...(po.dArgs ?? []),
      ])
    ).proc;
    pair.d = d;
    const eStarted = await startCloakpipe([
      '-e',
      ...(po.clusterE === false ? [] : ['--cluster']),
      '-s',
      po.eSource ?? '[127.0.0.1]:0',
      '-t',
      dSocket,
      '-k',
      key,
      ...common,
      ...(po.eArgs ?? []),
    ]);
    e = eStarted.proc;
    const ep = parseHostPort(eStarted.address);
    Object.assign(pair, { e, eAddress: eStarted.address, eHost: ep.host, ePort: ep.port });
    return pair;
  };

  const assertTunnelOnly = async (opts: { minNodeClients?: number } = {}): Promise<TunnelCheck> => {
    const c = cluster!;
    assert.deepEqual(trap!.hits(), [], 'a client reached a real node address around the tunnel');
    // Every client connection on every live node must belong to a -d process. CLIENT LIST first,
    // then `ss -tnp` in the namespace to find each connection's owner; a connection that closed
    // in between is simply looked at again on the next pass.
    const dPids = new Set(pairs.map((p) => p.d?.child.pid));
    // A node's own connections to another node (MIGRATE keeps one cached for 10 s) are internal.
    const nodePids = new Set(c.nodes.map((n) => n.pid));
    let nodeClients: number;
    for (let pass = 0; ; pass++) {
      const unknown: string[] = [];
      const foreign: string[] = [];
      nodeClients = 0;
      const rows: { node: number; addr: string; line: string }[] = [];
      for (const n of c.nodes.filter((x) => x.alive)) {
        const list = await c.exec(n.port, 'client', 'list');
        for (const line of list.split('\n').filter(Boolean)) {
          const f = Object.fromEntries(
            line.split(' ').map((kv) => {
              const i = kv.indexOf('=');
              return [kv.slice(0, i), kv.slice(i + 1)];
            }),
          );
          if (f.cmd === 'client|list') continue; // the redis-cli asking
          if (/[SM]/.test(f.flags ?? '')) continue; // replication links
          rows.push({ node: n.port, addr: normAddr(f.addr ?? ''), line });
        }
      }
      const ss = parseSs(await ns.run('ss', ['-tnpH']));
      for (const r of rows) {
        const owner = ss.find((s) => s.local === r.addr && s.peer === normAddr(c.addr(r.node)));
        if (!owner) unknown.push(`${r.node}: ${r.line}`);
        else if (owner.pids.some((p) => nodePids.has(p)))
          continue; // MIGRATE's cached link
        else if (!owner.pids.some((p) => dPids.has(p)))
          foreign.push(`${r.node}: pids ${owner.pids.join(',')}: ${r.line}`);
        else nodeClients++;
      }
      assert.deepEqual(foreign, [], 'node clients not owned by a -d process');
      if (unknown.length === 0) break;
      if (pass >= 4) assert.fail(`node clients whose owner ss cannot find:\n${unknown.join('\n')}`);
      await sleep(100);
    }
    const min = opts.minNodeClients ?? 0;
    assert.ok(nodeClients >= min, `expected ≥ ${min} node clients from -d, saw ${nodeClients}`);
    // This process's TCP connections go only to the -e ends' listeners.
    const ePids = new Set(pairs.map((p) => p.e?.child.pid));
    const ePorts = new Set(
      parseSs(await execCapture(['ss', '-tlnpH']))
        .filter((s) => s.pids.some((p) => ePids.has(p)))
        .map((s) => portOf(s.local)),
    );
    const mine = parseSs(await execCapture(['ss', '-tnpH'])).filter((s) =>
      s.pids.includes(process.pid),
    );
    const stray = mine.filter((s) => !ePorts.has(portOf(s.peer)));
    assert.deepEqual(
      stray.map((s) => `${s.local} -> ${s.peer}`),
      [],
      `this process holds connections not to an -e end (listening on ${[...ePorts].join(',')})`,
    );
    return { nodeClients, localConns: mine.length };
  };

  try {
    const picked = await trapFreePorts(host, count);
    trap = picked.trap;
    const nodeCount = count - (o.spare ?? 0);
    cluster = await startCluster({
      ...o,
      host,
      masters,
      ns,
      ports: picked.ports.slice(0, nodeCount),
      sparePorts: picked.ports.slice(nodeCount),
    });
    const first = await addPair(o);
    const c = cluster;
    const t = trap;
    const fx: TunnelledCluster = {
      ...first,
      ns,
      cluster: c,
      trap: t,
      dir,
      key,
      addPair,
      assertTunnelOnly,
      close,
    };
    return fx;
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Drivers: smart clients pointed at the -e end only

/** An ioredis Cluster whose only seed is the -e end (it learns every other node from replies). */
export function ioredisCluster(
  fx: Pick<TunnelPair, 'eHost' | 'ePort'>,
  options: ClusterOptionsIoredis = {},
): Cluster {
  return new Cluster([{ host: fx.eHost, port: fx.ePort }], {
    slotsRefreshTimeout: 3000,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 100,
    ...options,
  });
}

/** A node-redis v5 cluster client whose only root node is the -e end. */
export function nodeRedisCluster(
  fx: Pick<TunnelPair, 'eHost' | 'ePort'>,
  RESP: 2 | 3,
  options: Partial<RedisClusterOptions> = {},
): RedisClusterType {
  return createCluster({
    rootNodes: [{ socket: { host: fx.eHost, port: fx.ePort } }],
    RESP,
    ...options,
  }) as unknown as RedisClusterType;
}

/** Resolves once `c` has emitted 'ready'; rejects on 'error' before that or after `ms`. */
export function ioredisReady(c: Cluster, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (c.status === 'ready') return resolve();
    const t = setTimeout(() => reject(new Error(`ioredis Cluster not ready after ${ms} ms`)), ms);
    c.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The node listeners an -e end has opened so far, from its log: real `node` → `local` address. */
export function nodeListeners(pair: Pick<TunnelPair, 'e'>): { node: string; local: string }[] {
  return pair.e
    .logs()
    .filter((l) => l.msg === 'cluster node listener opened')
    .map((l) => ({ node: String(l.node), local: String(l.local) }));
}

/**
 * Connect to `host:port`, write `payload`, and collect what comes back until `done(text)` is true
 * (or the peer closes); rejects after `ms`.
 */
export function rawRoundTrip(
  host: string,
  port: number,
  payload: string,
  done: (text: string) => boolean,
  ms = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let text = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no complete reply from ${host}:${port} in ${ms} ms; got ${JSON.stringify(text)}`,
        ),
      );
    }, ms);
    const finish = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(text);
    };
    s.on('connect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', finish);
  });
}

/** The value of Prometheus series `name` whose labels include every `k="v"` in `labels` (0 if absent). */
export async function metricValue(
  port: number,
  name: string,
  labels: string[] = [],
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && labels.every((kv) => l.includes(kv)));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

// ---------------------------------------------------------------------------------------------
// A live workload: a client writing and reading while the cluster changes under it

/** A failed operation of a workload. */
export interface WorkloadError {
  /** ms since the epoch. */
  readonly at: number;
  readonly op: 'set' | 'get';
  readonly key: string;
  readonly message: string;
}

/** A running workload; stop() ends its loops and resolves once they have. */
export interface Workload {
  readonly name: string;
  /** Writes the server acknowledged: key → value. */
  readonly written: ReadonlyMap<string, string>;
  /** Failed operations, and reads that returned a value other than the acknowledged one. */
  readonly errors: readonly WorkloadError[];
  /** Operations completed (either kind, ok or not). */
  ops(): number;
  /** Acknowledged writes whose completion time is ≥ `since` (ms since the epoch). */
  okSince(since: number): number;
  /** Let each loop finish its current round, then hold it; resolves once all are held. */
  hold(): Promise<void>;
  /** Let held loops run again. */
  release(): void;
  stop(): Promise<void>;
}

/**
 * Start `concurrency` loops (default 2) that SET key(i) to a fresh value, then GET a random
 * earlier acknowledged key and compare, with `pauseMs` (default 2) between rounds. Never throws:
 * every failure is recorded in `errors`.
 */
export function startWorkload(o: {
  name: string;
  set: (k: string, v: string) => Promise<unknown>;
  get: (k: string) => Promise<string | null>;
  key: (i: number) => string;
  concurrency?: number;
  pauseMs?: number;
}): Workload {
  const written = new Map<string, string>();
  const writtenKeys: string[] = [];
  const okAt: number[] = [];
  const errors: WorkloadError[] = [];
  let ops = 0;
  let next = 0;
  let stopping = false;
  let gate: Promise<void> | null = null;
  let open: () => void = () => {};
  let held = 0;
  let onHeld: () => void = () => {};
  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (gate) {
        held++;
        onHeld();
        await gate;
        held--;
      }
      const k = o.key(next++);
      const v = `${o.name}-${randomBytes(4).toString('hex')}`;
      try {
        const r = await o.set(k, v);
        if (r !== 'OK') throw new Error(`SET replied ${String(r)}`);
        written.set(k, v);
        writtenKeys.push(k);
        okAt.push(Date.now());
      } catch (e) {
        errors.push({ at: Date.now(), op: 'set', key: k, message: (e as Error).message });
      }
      ops++;
      if (writtenKeys.length > 0) {
        const rk = writtenKeys[Math.floor(Math.random() * writtenKeys.length)]!;
        try {
          const got = await o.get(rk);
          if (got !== written.get(rk))
            throw new Error(`GET returned ${JSON.stringify(got)}, wrote ${written.get(rk)}`);
        } catch (e) {
          errors.push({ at: Date.now(), op: 'get', key: rk, message: (e as Error).message });
        }
        ops++;
      }
      await sleep(o.pauseMs ?? 2);
    }
  };
  const loops = Array.from({ length: o.concurrency ?? 2 }, () => loop());
  return {
    name: o.name,
    written,
    errors,
    ops: () => ops,
    okSince: (since) => okAt.filter((t) => t >= since).length,
    hold() {
      gate ??= new Promise<void>((r) => {
        open = r;
      });
      return new Promise<void>((resolve) => {
        onHeld = () => {
          if (held === loops.length) resolve();
        };
        onHeld();
      });
    },
    release() {
      gate = null;
      open();
    },
    async stop() {
      stopping = true;
      this.release();
      await Promise.all(loops);
    },
  };
}

/** Read every acknowledged key of `w` back with `get` (50 at a time); resolves the mismatches. */
export async function readBack(
  w: Workload,
  get: (k: string) => Promise<string | null>,
): Promise<string[]> {
  const entries = [...w.written];
  const bad: string[] = [];
  for (let i = 0; i < entries.length; i += 50) {
    const chunk = entries.slice(i, i + 50);
    const got = await Promise.all(
      chunk.map(([k]) => get(k).catch((e: Error) => `<error ${e.message}>`)),
    );
    chunk.forEach(([k, v], j) => {
      if (got[j] !== v) bad.push(`${k}: wrote ${v}, read ${got[j]}`);
    });
  }
  return bad;
}

/**
 * True when `text` (latin1) starts with one complete RESP2/RESP3 value. A small checker for raw
 * round trips in tests, not a parser: it trusts lengths and does not validate contents.
 */
export function respComplete(text: string): boolean {
  const end = (at: number): number => {
    const eol = text.indexOf('\r\n', at);
    if (eol === -1) return -1;
    const type = text[at];
    const n = Number(text.slice(at + 1, eol));
    const next = eol + 2;
    switch (type) {
      case '$':
      case '=':
      case '!':
        if (n < 0) return next;
        return text.length >= next + n + 2 ? next + n + 2 : -1;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|': {
        if (n < 0) return next;
        const count = type === '%' || type === '|' ? 2 * n : n;
        let at2 = next;
        for (let i = 0; i < count; i++) {
          at2 = end(at2);
          if (at2 === -1) return -1;
        }
        // An attribute (|) precedes the value it annotates.
        return type === '|' ? end(at2) : at2;
      }
      default:
        return next; // + - : _ , # ( one line
    }
  };
  return text.length > 0 && end(0) !== -1;
}

/** The last `lines` log lines of both ends, for assertion messages. */
export function logTails(p: Pick<TunnelPair, 'e' | 'd'>, lines = 30): string {
  const tail = (s: string): string => s.split('\n').slice(-lines).join('\n');
  return `\n--- -e log ---\n${tail(p.e.output())}\n--- -d log ---\n${tail(p.d.output())}`;
}

/** The first slot of a node's first slot range (migration markers skipped). */
export function firstSlotOf(node: NodeLine): number {
  return Number(node.slots.find((r) => !r.startsWith('['))!.split('-')[0]);
}
