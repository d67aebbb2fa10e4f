/**
 * Part 5, cluster: a real 3-master, 0-replica Redis Cluster on loopback
 * (test/support/cluster/harness.ts), a cloakpipe pair in cluster mode in front of it (-d --cluster on a UNIX socket, -e --cluster on
 * a fixed port with its node listeners on the 64 ports after it), and `redis-benchmark --cluster
 * -t set,get` run directly against the first node and through the pair, interleaved per round.
 * The redis part's plain-mode cloakpipe figures, when that part ran, give the cluster/plain ratio.
 * spiped has no cluster mode, so it has no column here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisCluster, startCluster } from '../test/support/cluster/harness.js';
import { startEnd } from '../test/support/ends.js';
import { adopt, type Proc } from '../test/support/procs.js';
import { type Context, PAIR_MAX_CONNS } from './context.js';
import { cpuNote, cpuRows } from './cpu.js';
import { OVERFLOW_NOTE, REDIS_CLIENTS } from './options.js';
import { benchmark, redisRounds, type RedisTarget } from './redis.js';
import { type Column, type Row, type Table } from './report.js';

const TESTS = 'set,get';
/** Node listener ports the -e end gets (--cluster-ports E+1-E+NODE_PORTS). */
const NODE_PORTS = 64;
const WARMUP_REQUESTS = 2000;
/** How long an end may take to log "listening on". */
const LISTEN_TIMEOUT_MS = 15_000;

const DIRECT: Column = 'direct';
const CLUSTER: Column = 'cloakpipe --cluster';
const PLAIN: Column = 'cloakpipe plain';

/** Whether 127.0.0.1:`port` can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports in [20000, 30000) free a moment ago, each with port+`plus` free too
 * when `plus` is given (a cluster node's bus port is its port + 10000); below the ephemeral range,
 * so outgoing connections do not take them meanwhile.
 */
async function freeBlock(count: number, plus?: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (10000 - count));
    let ok = true;
    for (let p = base; ok && p < base + count; p++)
      ok = (await portFree(p)) && (plus === undefined || (await portFree(p + plus)));
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free loopback ports found`);
}

/**
 * SIGKILL, synchronously, the cluster's servers: those `cluster` knows, and any child of this
 * process that is a redis-server on one of `ports` (started by a startCluster() not yet returned).
 */
function killNodes(ports: readonly number[], cluster: RedisCluster | null): void {
  const pids = new Set(cluster?.nodes.map((n) => n.pid) ?? []);
  try {
    const ps = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
      encoding: 'utf8',
    });
    for (const line of ps.split('\n')) {
      const m = line.trim().match(/^(\d+)\s+redis-server\s+\S+:(\d+)/);
      if (m && ports.includes(Number(m[2]))) pids.add(Number(m[1]));
    }
  } catch {
    // no ps, or no children: the known pids will do
  }
  for (const pid of pids)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
}

/** Throws if a cluster node has died (its exit is not seen by the harness's crash watcher). */
function checkNodes(cluster: RedisCluster): void {
  for (const n of cluster.nodes)
    if ((n as { alive?: boolean }).alive === false)
      throw new Error(`redis-server cluster node ${n.port} (pid ${n.pid}) exited unexpectedly`);
}

/** The redis part's cloakpipe values for `test` at -P 1 and `unit`, if that part ran. */
function plainValues(ctx: Context, test: string, unit: string): number[] | undefined {
  const t = ctx.tables.find((x) => x.part === 'redis');
  const row = t?.rows.find((r) => r.label === `${test} -P 1` && r.unit === unit);
  return row?.values.cloakpipe;
}

/** A running benchmark cluster: 3 masters, 0 replicas, on loopback. */
export interface BenchCluster {
  readonly cluster: RedisCluster;
  /** The first node's port (the seed of every pair and the direct target). */
  readonly first: number;
  /** Throws if a node has died (the harness's crash watcher does not see their exits). */
  check(): void;
  stop(): Promise<void>;
}

/**
 * Start a 3-master, 0-replica cluster on free ports in [20000, 30000) whose bus ports are free
 * too; its servers are killed on every way out of the harness. Throws if it does not come up.
 */
export async function startBenchCluster(ctx: Context): Promise<BenchCluster> {
  let cluster: RedisCluster | null = null;
  const nodeBase = await freeBlock(3, 10000);
  ctx.progress(`cluster: starting a 3-master cluster on ports ${nodeBase}-${nodeBase + 2}`);
  const ports = [nodeBase, nodeBase + 1, nodeBase + 2];
  // The servers are this process's children, but startCluster() tells their pids only once the
  // cluster is up: until then, a signal finds them by parent pid and port.
  const disown = adopt({
    killNow: () => killNodes(ports, cluster),
    stop: async () => {
      if (cluster) await cluster.stop();
      else killNodes(ports, null);
    },
  });
  try {
    cluster = await startCluster({ ports, masters: 3, replicas: 0 });
  } catch (e) {
    killNodes(ports, null);
    disown();
    throw e;
  }
  const c = cluster;
  return {
    cluster: c,
    first: nodeBase,
    check: () => checkNodes(c),
    stop: async () => {
      await c.stop().catch(() => {});
      disown();
    },
  };
}

/** A cluster-mode pair: the port clients use (the -e end's), and its two ends. */
export interface ClusterPair {
  readonly port: number;
  readonly ends: { readonly enc: Proc; readonly dec: Proc };
  stop(): Promise<void>;
}

/**
 * Start a cluster-mode pair in front of the node at 127.0.0.1:`first`: -d --cluster on a UNIX
 * socket in a fresh temp dir, -e --cluster on a free port with its node listeners on the
 * NODE_PORTS ports after it; both with the shared key, -n, --cloakpipe-args, then `extra`, and
 * `env` over the harness's environment. Each end is watched for crashes once it listens. Throws
 * (with the end's output) if an end does not start; nothing is left running then.
 */
export async function startClusterPair(
  ctx: Context,
  first: number,
  opts: { extra?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ClusterPair> {
  const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-bench-cluster-'));
  const common = [
    '-n',
    String(PAIR_MAX_CONNS),
    ...ctx.settings.cloakpipeArgs,
    ...(opts.extra ?? []),
  ];
  const ends: Proc[] = [];
  /** One cloakpipe end, watched for crashes once it listens. */
  const startWatched = async (
    mode: '-e' | '-d',
    target: string,
    extra: string[],
    source: string,
  ): Promise<Proc> => {
    const { proc } = await startEnd(mode, target, ctx.keyFile, extra, {
      source,
      listenMs: LISTEN_TIMEOUT_MS,
      ...(opts.env ? { env: opts.env } : {}),
    });
    proc.watch();
    ends.push(proc);
    return proc;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(ends.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sock = join(dir, 'd.sock');
    const dec = await startWatched('-d', `127.0.0.1:${first}`, ['--cluster', ...common], sock);
    const e = await freeBlock(1 + NODE_PORTS);
    const enc = await startWatched(
      '-e',
      sock,
      ['--cluster', '--cluster-ports', `${e + 1}-${e + NODE_PORTS}`, ...common],
      `[127.0.0.1]:${e}`,
    );
    ctx.progress(
      `cluster: cloakpipe pair up, -e on ${e}, node listeners ${e + 1}-${e + NODE_PORTS}`,
    );
    return { port: e, ends: { enc, dec }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Run the cluster part; returns its table. Throws if redis-benchmark or a process fails. */
export async function runCluster(ctx: Context): Promise<Table> {
  const { redisRequests, rounds } = ctx.settings;
  let bc: BenchCluster | null = null;
  let pair: ClusterPair | null = null;
  try {
    bc = await startBenchCluster(ctx);
    const { first } = bc;
    const check = bc.check;
    pair = await startClusterPair(ctx, first);

    const targets: RedisTarget[] = [
      { column: CLUSTER, port: pair.port, ends: pair.ends },
      { column: DIRECT, port: first },
    ];
    if (ctx.settings.warmup)
      for (const t of targets)
        await benchmark(t.port, WARMUP_REQUESTS, 1, { tests: TESTS, cluster: true });

    const { got, overflows, reruns, cpu } = await redisRounds(ctx, 'cluster', targets, {
      requests: redisRequests,
      pipeline: 1,
      opts: { tests: TESTS, cluster: true },
      after: check,
    });

    const rows: Row[] = [];
    let plainSeen = false;
    for (const [test, m] of got) {
      const label = `${test} -P 1`;
      const units = [
        ['rps', 'req/s', 'higher'],
        ['p50', 'p50 ms', 'lower'],
        ['p99', 'p99 ms', 'lower'],
      ] as const;
      for (const [k, unit, better] of units) {
        const plain = plainValues(ctx, test, unit);
        if (plain) plainSeen = true;
        rows.push({
          label,
          unit,
          better,
          values: { ...m[k], ...(plain ? { [PLAIN]: plain } : {}) },
        });
      }
    }
    rows.push(
      ...cpuRows('all tests -P 1', cpu, 'µs', 'req'),
      { label: 'all tests -P 1', unit: 'reruns', better: 'lower', values: reruns, count: true },
      {
        label: 'all tests -P 1',
        unit: 'overflows',
        better: 'lower',
        values: overflows,
        count: true,
      },
    );
    return {
      part: 'cluster',
      title:
        `cluster: redis-benchmark --cluster -t ${TESTS} -c ${REDIS_CLIENTS} -n ${redisRequests}, ` +
        `3 masters, 0 replicas (${rounds} round${rounds > 1 ? 's' : ''})`,
      columns: [DIRECT, CLUSTER, PLAIN],
      ratio: { num: CLUSTER, den: PLAIN, label: 'cluster/plain' },
      rows,
      notes: [
        'spiped cannot do cluster mode (it forwards one address to one address and cannot rewrite the node addresses in CLUSTER SLOTS/NODES or MOVED/ASK replies), so it has no column here.',
        `direct: redis-benchmark --cluster against the first node; ${CLUSTER}: through one -e/-d pair in cluster mode (-d on a UNIX socket, -e with ${NODE_PORTS} node listener ports), all on loopback.`,
        plainSeen
          ? `${PLAIN}: the redis part's cloakpipe figures from this run (a single redis-server, plain mode, -P 1, same -n and -c); cluster/plain = ${CLUSTER} median / ${PLAIN} median.`
          : `${PLAIN}: not available (the redis part did not run before this one); run with --only redis,cluster for the cluster/plain ratio.`,
        `${cpuNote()} Per request: over every request of every test in the run; the plain-mode CPU is in the redis table.`,
        OVERFLOW_NOTE,
      ],
    };
  } finally {
    await pair?.stop();
    await bc?.stop();
  }
}
