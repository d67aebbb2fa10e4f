/**
 * The workers part's many-connection runs: `redis-benchmark -c 50` against a plain redis-server
 * through plain pairs, and `redis-benchmark --cluster -c 50` against the cluster part's cluster
 * (bench/cluster.ts starts both the cluster and the cluster-mode pairs) through cluster-mode
 * pairs, one pair per setting (--workers 1, --workers 2 under each node:cluster scheduling
 * policy) plus direct, interleaved round by round. Besides requests/s, each run measures the CPU
 * per request of each end (all its processes, its primary, each worker: proctree.ts), of the load
 * generator and of the redis-servers, the figures the README's scaling model is built from.
 */
import { cpus } from 'node:os';
import {
  type BenchCluster,
  type ClusterPair,
  startBenchCluster,
  startClusterPair,
} from './cluster.js';
import { type Context, pairConfig } from './context.js';
import { cpuTimes } from './cpu.js';
import { REDIS_CLIENTS } from './options.js';
import { type Pair, startPair } from './pairs.js';
import { endMeter, reapedChildrenUs } from './proctree.js';
import { type BenchOptions, benchmark, benchmarkOrRetry } from './redis.js';
import { type Column, type Row, addValue } from './report.js';
import { rotate } from './stats.js';
import { NOT_BUILT } from './variants.js';
import { startOnFreePort } from '../test/support/ends.js';
import type { Proc } from '../test/support/procs.js';

/** One setting compared: --workers N and, with N > 1, node:cluster's scheduling policy. */
export interface Setting {
  readonly column: Column;
  readonly workers: number;
  /** NODE_CLUSTER_SCHED_POLICY for both ends: 'rr' (the primary accepts) or 'none' (the kernel). */
  readonly policy?: 'rr' | 'none';
}

/** The settings, in column order; the first is the ratios' denominator. */
export const SETTINGS: readonly Setting[] = [
  { column: 'workers 1', workers: 1 },
  { column: 'workers 2 rr', workers: 2, policy: 'rr' },
  { column: 'workers 2 none', workers: 2, policy: 'none' },
];

/** The extra arguments and environment of a setting's ends. */
export function settingRun(s: Setting): { extra: string[]; env?: Record<string, string> } {
  const extra = ['--workers', String(s.workers)];
  return s.policy ? { extra, env: { NODE_CLUSTER_SCHED_POLICY: s.policy } } : { extra };
}

const DIRECT: Column = 'direct';
/** The tests asked of redis-benchmark (-t), and requests in the warm-up run. */
const TESTS = 'set,get';
const WARMUP_REQUESTS = 2000;
/** The CLI's refusal of a combination it does not support yet (e.g. --cluster --workers 2). */
const REFUSED = /cannot be combined/;

/** A redis-benchmark target of one column. */
interface Target {
  readonly column: Column;
  readonly port: number;
  readonly ends?: { readonly enc: Proc; readonly dec: Proc };
}

/** Label prefix of a mode's rows. */
export function modeLabel(mode: 'plain' | 'cluster'): string {
  return mode === 'plain'
    ? `plain: redis-benchmark -c ${REDIS_CLIENTS}`
    : `cluster: redis-benchmark --cluster -c ${REDIS_CLIENTS}`;
}

/** CPU rows' unit. */
export const CPU_UNIT = 'µs user+kernel/req';

/** Per-round values by row key, collected over the rounds. */
class Series {
  readonly #rows = new Map<
    string,
    { unit: string; better: Row['better']; values: Row['values'] }
  >();
  add(label: string, unit: string, better: Row['better'], column: Column, v: number): void {
    const key = `${label}\u0000${unit}`;
    const r = this.#rows.get(key) ?? { unit, better, values: {} };
    this.#rows.set(key, r);
    addValue(r.values, column, v);
  }
  /** The rows, requests/s first, then CPU (ends, redis-benchmark, servers), then counts. */
  rows(unavailable: Readonly<Record<Column, string>>): Row[] {
    const na = Object.keys(unavailable).length ? { unavailable } : {};
    const rank = ([key, r]: [string, { unit: string }]): number => {
      if (r.unit === 'req/s') return 0;
      if (r.unit !== CPU_UNIT) return 3;
      const m = key.match(/the (-e|-d) end, (?:all processes|primary|worker (\d+))/);
      if (!m) return 2;
      // -e before -d; in each, all processes, the primary, then the workers in order
      const kind = m[2] !== undefined ? 1 + Number(m[2]) : key.includes('primary') ? 1 : 0;
      return 1 + (m[1] === '-e' ? 0 : 0.5) + kind / 100;
    };
    const sorted = [...this.#rows].sort((a, b) => rank(a) - rank(b)); // stable: order of arrival
    return sorted.map(([key, r]) => ({
      label: key.split('\u0000')[0]!,
      unit: r.unit,
      better: r.better,
      values: r.values,
      ...na,
    }));
  }
}

/**
 * `rounds` of interleaved redis-benchmark runs against `targets`; `servers` are the redis-server
 * pids whose CPU is counted. Returns the rows: rps per test, the CPU per request of each end
 * (all processes, primary, each worker), of redis-benchmark and of the servers, and reruns.
 */
async function scalingRounds(
  ctx: Context,
  mode: 'plain' | 'cluster',
  targets: readonly Target[],
  servers: readonly number[],
  opts: BenchOptions & { after?: () => void },
): Promise<Series> {
  const { rounds, redisRequests: requests } = ctx.settings;
  const s = new Series();
  const prefix = modeLabel(mode);
  const serversUs = (): number =>
    servers.reduce((a, pid) => {
      const t = cpuTimes(pid);
      return a + t.userUs + t.sysUs;
    }, 0);
  for (let r = 0; r < rounds; r++)
    for (const t of rotate(targets, r)) {
      let reruns = 0;
      /** Sample now; the function returned records the CPU used since, over `n` requests. */
      const begin = (): ((n: number) => void) => {
        const gen0 = reapedChildrenUs();
        const srv0 = serversUs();
        const e = t.ends ? endMeter(t.ends.enc.pid, `${t.column} -e`) : null;
        const d = t.ends ? endMeter(t.ends.dec.pid, `${t.column} -d`) : null;
        return (n) => {
          s.add(
            `${prefix}, CPU of redis-benchmark`,
            CPU_UNIT,
            'lower',
            t.column,
            (reapedChildrenUs() - gen0) / n,
          );
          const who = mode === 'plain' ? 'redis-server' : `the ${servers.length} redis-servers`;
          s.add(`${prefix}, CPU of ${who}`, CPU_UNIT, 'lower', t.column, (serversUs() - srv0) / n);
          for (const [end, meter] of [
            ['-e', e],
            ['-d', d],
          ] as const) {
            if (!meter) continue;
            const cpu = meter();
            const label = `${prefix}, CPU of the ${end} end`;
            s.add(`${label}, all processes`, CPU_UNIT, 'lower', t.column, cpu.totalUs / n);
            // A single-process end is its own worker; with workers the primary is shown apart.
            const workers = cpu.workersUs.length ? cpu.workersUs : [cpu.primaryUs];
            if (cpu.workersUs.length)
              s.add(`${label}, primary`, CPU_UNIT, 'lower', t.column, cpu.primaryUs / n);
            workers.forEach((us, i) =>
              s.add(`${label}, worker ${i + 1}`, CPU_UNIT, 'lower', t.column, us / n),
            );
          }
        };
      };
      let finish = begin();
      const results = await benchmarkOrRetry(
        t.port,
        requests,
        1,
        (err) => {
          reruns++;
          finish = begin(); // only the rerun is measured
          ctx.progress(
            `workers ${mode} ${t.column}: FAILED, running it again once: ${err.message}`,
          );
        },
        { ...opts, tests: TESTS },
      );
      finish(requests * results.length);
      opts.after?.();
      for (const x of results) s.add(`${prefix} ${x.test}`, 'req/s', 'higher', t.column, x.rps);
      s.add(`${prefix}, all tests`, 'reruns', 'lower', t.column, reruns);
      ctx.progress(
        `workers ${mode} round ${r + 1}/${rounds} ${t.column}: ` +
          `${results.map((x) => `${x.test} ${x.rps.toFixed(0)}`).join(', ')} rps`,
      );
    }
  return s;
}

/** Warm every target up with a short unmeasured run (not with --smoke). */
async function warmUp(ctx: Context, targets: readonly Target[], opts: BenchOptions): Promise<void> {
  if (ctx.settings.warmup)
    for (const t of targets) await benchmark(t.port, WARMUP_REQUESTS, 1, { ...opts, tests: TESTS });
}

/** Plain mode: a redis-server, one plain pair per setting, and direct. */
export async function plainScaling(ctx: Context): Promise<Row[]> {
  const redis = await startOnFreePort('redis-server', (port) => ({
    cmd: 'redis-server',
    args: [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--daemonize', 'no'],
    ],
  }));
  const pairs: Pair[] = [];
  try {
    const targets: Target[] = [];
    for (const set of SETTINGS) {
      const base = pairConfig(ctx);
      const { extra, env } = settingRun(set);
      const p = await startPair('cloakpipe', redis.port, {
        ...base,
        extraArgs: [...(base.extraArgs ?? []), ...extra],
        ...(env ? { env } : {}),
      });
      pairs.push(p);
      targets.push({ column: set.column, port: p.port, ends: p });
    }
    targets.push({ column: DIRECT, port: redis.port });
    await warmUp(ctx, targets, {});
    return (await scalingRounds(ctx, 'plain', targets, [redis.proc.pid], {})).rows({});
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await redis.proc.stop();
  }
}

/**
 * Cluster mode: the cluster part's cluster, one cluster-mode pair per setting, and direct. A
 * setting the built CLI refuses (`--cluster` with `--workers 2` before it is built) is not run:
 * its cells read NOT_BUILT.
 */
export async function clusterScaling(ctx: Context): Promise<Row[]> {
  let bc: BenchCluster | null = null;
  const pairs: ClusterPair[] = [];
  try {
    bc = await startBenchCluster(ctx);
    const targets: Target[] = [];
    const unavailable: Record<Column, string> = {};
    for (const set of SETTINGS) {
      const { extra, env } = settingRun(set);
      try {
        const p = await startClusterPair(ctx, bc.first, { extra, ...(env ? { env } : {}) });
        pairs.push(p);
        targets.push({ column: set.column, port: p.port, ends: p.ends });
      } catch (e) {
        if (!REFUSED.test((e as Error).message)) throw e;
        unavailable[set.column] = NOT_BUILT;
        ctx.progress(`workers cluster ${set.column}: refused by the CLI: ${NOT_BUILT}`);
      }
    }
    targets.push({ column: DIRECT, port: bc.first });
    const opts = { cluster: true };
    await warmUp(ctx, targets, opts);
    const pids = bc.cluster.nodes.map((n) => n.pid);
    const series = await scalingRounds(ctx, 'cluster', targets, pids, { ...opts, after: bc.check });
    return series.rows(unavailable);
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await bc?.stop();
  }
}

/** The notes the scaling rows need under the workers table. */
export function scalingNotes(): string[] {
  return [
    `plain / cluster: redis-benchmark -t ${TESTS} -c ${REDIS_CLIENTS} -P 1 (cluster: --cluster, against the cluster part's 3-master cluster and a cluster-mode pair per setting), direct and through each pair, interleaved per round; a failed run is rerun once (reruns).`,
    `Scheduling: node:cluster's policy set through NODE_CLUSTER_SCHED_POLICY on both ends: rr, the primary accepts every connection and hands it to the workers in turn; none, every worker accepts from the shared socket and the kernel picks.`,
    `CPU of an end: utime + stime (/proc/<pid>/stat) of its process and, with --workers, of every child listed in /proc/<pid>/task/<tid>/children (the workers, in pid order), read before and after each run, over every request of the run; a worker's row is its own CPU over all the end's requests, so an end's rows add up to its "all processes" row. With --workers 1 the one process is "worker 1".`,
    `CPU of redis-benchmark: the rise of the harness's cutime + cstime (children reaped) over the run; of the redis-servers: their utime + stime. Together with the ends' they make up what ${cpus().length} cores carried; see the summary's model.`,
  ];
}
