/**
 * Part 3, Redis: a real redis-server on a free loopback port, and redis-benchmark -t ping,set,get
 * with REDIS_CLIENTS clients at each of REDIS_PIPELINES, run directly, through spiped and through
 * cloakpipe. Requests/s and the p50/p99 latency redis-benchmark 7 prints in its --csv output.
 */
import { type Context, pairConfig } from './context.js';
import { cpuMeter, cpuNote, cpuRows, type CpuSeries, cpuSeries } from './cpu.js';
import { OVERFLOW_NOTE, REDIS_CLIENTS, REDIS_PIPELINES, RELAY_NOTE } from './options.js';
import { type Impl, type Pair, type PairConfig, startPair } from './pairs.js';
import { startOnFreePort } from '../test/support/ends.js';
import { type Proc, start } from '../test/support/procs.js';
import { listenOverflows } from '../test/support/system.js';
import { type Column, type Row, type Table, addValue } from './report.js';
import { rotate } from './stats.js';
import { variantRatios, variants } from './variants.js';
import { type ByteCounter, byteCounter } from './wire.js';

/** The tests asked of redis-benchmark (-t), and requests in the warm-up run. */
const TESTS = 'ping,set,get';
const WARMUP_REQUESTS = 2000;
/** A redis-benchmark run slower than this many requests/s is taken as stalled, after a grace. */
const STALL_RPS = 500;
const STALL_GRACE_MS = 60_000;

/** One redis-benchmark --csv line. */
export interface CsvResult {
  readonly test: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * Parse redis-benchmark --csv output: a header naming the columns, then one quoted line per test.
 * Throws if the rps, p50_latency_ms or p99_latency_ms column is missing (an older redis-tools).
 */
export function parseCsv(text: string): CsvResult[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('"'));
  const cells = (l: string): string[] => l.split(',').map((c) => c.replace(/^"|"$/g, ''));
  const head = cells(lines[0] ?? '');
  const col = (name: string): number => {
    const i = head.indexOf(name);
    if (i < 0) throw new Error(`redis-benchmark --csv has no "${name}" column; output:\n${text}`);
    return i;
  };
  const [t, rps, p50, p99] = [
    col('test'),
    col('rps'),
    col('p50_latency_ms'),
    col('p99_latency_ms'),
  ];
  return lines.slice(1).map((l) => {
    const c = cells(l);
    return { test: c[t]!, rps: Number(c[rps]), p50: Number(c[p50]), p99: Number(c[p99]) };
  });
}

/**
 * benchmark(), run again once if it fails without stalling (a connect burst against a small
 * listen backlog can get a connection reset by the kernel's SYN cookies); `onRetry` hears of it.
 */
export async function benchmarkOrRetry(
  port: number,
  requests: number,
  pipeline: number,
  onRetry: (e: Error) => void,
  opts: BenchOptions = {},
): Promise<CsvResult[]> {
  try {
    return await benchmark(port, requests, pipeline, opts);
  } catch (e) {
    if (e instanceof StalledError) throw e;
    onRetry(e as Error);
    return benchmark(port, requests, pipeline, opts);
  }
}

/** Per-test rps/p50/p99 values by column, as the redis and cluster parts collect them. */
export type RedisSeries = Map<string, Record<'rps' | 'p50' | 'p99', Row['values']>>;

/** Record one redis-benchmark run of `column`: its per-test figures, listen overflows and reruns. */
function recordRun(
  got: RedisSeries,
  counts: { overflows: Row['values']; reruns: Row['values'] },
  column: Column,
  results: readonly CsvResult[],
  over: number,
  rerun: number,
): string {
  addValue(counts.overflows, column, over);
  addValue(counts.reruns, column, rerun);
  for (const x of results) {
    const m = got.get(x.test) ?? { rps: {}, p50: {}, p99: {} };
    got.set(x.test, m);
    for (const k of ['rps', 'p50', 'p99'] as const) addValue(m[k], column, x[k]);
  }
  return results.map((x) => `${x.test} ${x.rps.toFixed(0)}`).join(', ');
}

/** A redis-benchmark target: its column, the port to benchmark, and the tunnel ends if any. */
export interface RedisTarget {
  readonly column: Column;
  readonly port: number;
  /** The ends whose CPU per request is measured (none for direct). */
  readonly ends?: Pick<Pair, 'enc' | 'dec'>;
}

/**
 * `rounds` of interleaved redis-benchmark runs (a rotated order each round), one per target:
 * per-test figures, listen overflows, reruns and the ends' CPU µs per request by column, with a
 * progress line per run headed `what`. `after` runs after each benchmark (e.g. a check that
 * nothing died).
 */
export async function redisRounds(
  ctx: Context,
  what: string,
  targets: readonly RedisTarget[],
  run: { requests: number; pipeline: number; opts?: BenchOptions; after?: () => void },
): Promise<{
  got: RedisSeries;
  overflows: Row['values'];
  reruns: Row['values'];
  cpu: CpuSeries;
}> {
  const got: RedisSeries = new Map();
  const overflows: Row['values'] = {};
  const reruns: Row['values'] = {};
  const cpu = cpuSeries();
  const { rounds } = ctx.settings;
  for (let r = 0; r < rounds; r++)
    for (const t of rotate(targets, r)) {
      const overflows0 = listenOverflows();
      let meter = t.ends ? cpuMeter(t.ends) : null;
      let rerun = 0;
      const results = await benchmarkOrRetry(
        t.port,
        run.requests,
        run.pipeline,
        (e) => {
          rerun++;
          // Only the rerun counts: its CPU is measured afresh.
          meter = t.ends ? cpuMeter(t.ends) : null;
          ctx.progress(`${what} ${t.column}: FAILED, running it again once: ${e.message}`);
        },
        run.opts,
      );
      meter?.(cpu, t.column, run.requests * results.length);
      run.after?.();
      const over = listenOverflows() - overflows0;
      const summary = recordRun(got, { overflows, reruns }, t.column, results, over, rerun);
      ctx.progress(
        `${what} round ${r + 1}/${rounds} ${t.column}: ${summary} rps, ${over} listen overflows`,
      );
    }
  return { got, overflows, reruns, cpu };
}

/** Variations of a redis-benchmark run. */
export interface BenchOptions {
  /** -t (default TESTS). */
  readonly tests?: string;
  /** Pass --cluster (redis-benchmark follows the cluster's topology from the seed it is given). */
  readonly cluster?: boolean;
}

/** redis-benchmark made no progress in the time allowed. */
class StalledError extends Error {}

/** Run redis-benchmark against 127.0.0.1:`port`; throws with its output if it fails. */
export async function benchmark(
  port: number,
  requests: number,
  pipeline: number,
  opts: BenchOptions = {},
): Promise<CsvResult[]> {
  const args = [
    ...(opts.cluster ? ['--cluster'] : []),
    ...['-h', '127.0.0.1', '-p', String(port), '-t', opts.tests ?? TESTS],
    ...['-c', String(REDIS_CLIENTS)],
  ];
  args.push('-n', String(requests), '-P', String(pipeline), '--csv');
  const p = start('redis-benchmark', 'redis-benchmark', args);
  const limitMs = STALL_GRACE_MS + (requests / STALL_RPS) * 1000;
  let stalled = false;
  const timer = setTimeout(() => {
    stalled = true;
    void p.stop();
  }, limitMs);
  const code = await p.exited;
  clearTimeout(timer);
  const out = p.output();
  if (stalled)
    throw new StalledError(
      `redis-benchmark ${args.join(' ')} stopped after ${limitMs} ms:\n${out}`,
    );
  if (code !== 0 || /error/i.test(out))
    throw new Error(`redis-benchmark ${args.join(' ')} failed (exit ${code}):\n${out}`);
  const rows = parseCsv(out);
  if (rows.length === 0) throw new Error(`redis-benchmark printed no results:\n${out}`);
  return rows;
}

/** Start redis-server on a free loopback port without persistence. */
function startRedis(): Promise<{ proc: Proc; port: number }> {
  return startOnFreePort('redis-server', (port) => ({
    cmd: 'redis-server',
    args: [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--daemonize', 'no'],
    ],
  }));
}

/** Requests in the shorter of the two byte-counting runs (the longer has WIRE_FACTOR times more). */
function wireRequests(requests: number): number {
  return Math.max(500, Math.round(requests / 40));
}
const WIRE_FACTOR = 4;

/**
 * Wire bytes per request each way for `impl` (and `cfg`): a fresh pair with a byte counter
 * between its ends (direct: between redis-benchmark and redis), two `-t get` runs of n and
 * WIRE_FACTOR·n requests, and the difference of their byte counts over the difference of their
 * requests, so that handshakes and redis-benchmark's start-up commands cancel out.
 */
async function wireBytes(
  ctx: Context,
  redisPort: number,
  pipeline: number,
  impl: Impl | 'direct',
  cfg: PairConfig,
): Promise<{ up: number; down: number }> {
  const n = wireRequests(ctx.settings.redisRequests);
  let counter: ByteCounter | undefined;
  let pair: Pair | undefined;
  try {
    let port: number;
    if (impl === 'direct') {
      counter = await byteCounter(redisPort);
      port = counter.port;
    } else {
      pair = await startPair(impl, redisPort, cfg, async (dec) => {
        counter = await byteCounter(dec);
        return counter.port;
      });
      port = pair.port;
    }
    const c = counter!;
    const counts: { up: number; down: number }[] = [];
    for (const requests of [n, n * WIRE_FACTOR]) {
      const [up0, down0] = [c.up(), c.down()];
      await benchmark(port, requests, pipeline, { tests: 'get' });
      counts.push({ up: c.up() - up0, down: c.down() - down0 });
    }
    const extra = n * (WIRE_FACTOR - 1);
    return {
      up: (counts[1]!.up - counts[0]!.up) / extra,
      down: (counts[1]!.down - counts[0]!.down) / extra,
    };
  } finally {
    await pair?.stop();
    await counter?.close();
  }
}

/** Run the Redis part; returns its table. Throws if redis-benchmark fails. */
export async function runRedis(ctx: Context): Promise<Table> {
  const { redisRequests, rounds } = ctx.settings;
  const redis = await startRedis();
  const pairs: Pair[] = [];
  const { run: cloakpipes, unavailable } = variants();
  try {
    const targets: RedisTarget[] = [];
    const configs = new Map<Column, { impl: Impl | 'direct'; cfg: PairConfig }>();
    const add = async (column: Column, impl: Impl, cfg: PairConfig): Promise<void> => {
      const p = await startPair(impl, redis.port, cfg);
      pairs.push(p);
      targets.push({ column, port: p.port, ends: p });
      configs.set(column, { impl, cfg });
    };
    await add('spiped', 'spiped', pairConfig(ctx));
    for (const v of cloakpipes) await add(v.column, 'cloakpipe', pairConfig(ctx, { variant: v }));
    targets.push({ column: 'direct', port: redis.port });
    configs.set('direct', { impl: 'direct', cfg: pairConfig(ctx) });
    await add('node-relay', 'node-relay', pairConfig(ctx));
    if (ctx.settings.warmup) for (const t of targets) await benchmark(t.port, WARMUP_REQUESTS, 1);

    const rows: Row[] = [];
    for (const pipeline of REDIS_PIPELINES) {
      // test name → metric → column → per-round values
      const { got, overflows, reruns, cpu } = await redisRounds(
        ctx,
        `redis -P ${pipeline}`,
        targets,
        { requests: redisRequests, pipeline },
      );
      for (const [test, m] of got) {
        const label = `${test} -P ${pipeline}`;
        rows.push(
          { label, unit: 'req/s', better: 'higher', values: m.rps },
          { label, unit: 'p50 ms', better: 'lower', values: m.p50 },
          { label, unit: 'p99 ms', better: 'lower', values: m.p99 },
        );
      }
      const label = `all tests -P ${pipeline}`;
      rows.push(...cpuRows(label, cpu, 'µs', 'req'));
      // Wire bytes after the measured rounds, on fresh pairs: the counter's CPU is not theirs.
      const up: Row['values'] = {};
      const down: Row['values'] = {};
      for (const [column, { impl, cfg }] of configs) {
        const w = await wireBytes(ctx, redis.port, pipeline, impl, cfg);
        addValue(up, column, w.up);
        addValue(down, column, w.down);
        ctx.progress(
          `redis -P ${pipeline} ${column}: ${w.up.toFixed(1)} B/req -e→-d, ${w.down.toFixed(1)} B/req -d→-e`,
        );
      }
      const wire = `GET -P ${pipeline}, wire bytes`;
      rows.push(
        { label: wire, unit: 'B/req -e→-d', better: 'lower', values: up },
        { label: wire, unit: 'B/req -d→-e', better: 'lower', values: down },
        { label, unit: 'reruns', better: 'lower', values: reruns, count: true },
        { label, unit: 'overflows', better: 'lower', values: overflows, count: true },
      );
    }
    const n = wireRequests(redisRequests);
    return {
      part: 'redis',
      title: `redis: redis-benchmark -t ${TESTS} -c ${REDIS_CLIENTS} -n ${redisRequests} (${rounds} round${rounds > 1 ? 's' : ''})`,
      rows,
      unavailable,
      moreRatios: variantRatios(),
      notes: [
        'Latencies are those redis-benchmark reports (--csv p50_latency_ms, p99_latency_ms).',
        `redis-benchmark opens its ${REDIS_CLIENTS} connections at once at the start of every test.`,
        `${cpuNote()} Per request: over every request of every test in the run.`,
        `wire bytes: counted by a forwarder in the harness between the -e and -d ends (direct: between redis-benchmark and redis, i.e. the plaintext), on fresh pairs after the measured rounds, in two runs of -t get with ${n} and ${n * WIRE_FACTOR} requests; (bytes of the second − bytes of the first) / ${n * (WIRE_FACTOR - 1)}, so handshakes cancel out. One run each, not per round.`,
        'reruns: a redis-benchmark run that failed (e.g. "Connection reset by peer") is run again once; a second failure fails the benchmark.',
        OVERFLOW_NOTE,
        RELAY_NOTE,
      ],
    };
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await redis.proc.stop();
  }
}
