/**
 * Part 2, handshakes: connections per second and per-connection latency for connect → 1-byte
 * echo → close against an in-process echo server, run one at a time and by PARALLEL_WORKERS
 * workers at once, through pairs with and without -f (both ends), and directly.
 */
import { performance } from 'node:perf_hooks';
import { type Context, pairConfig } from './context.js';
import { echoOnce, echoServer } from './net.js';
import { OVERFLOW_NOTE, PARALLEL_WORKERS, RELAY_NOTE } from './options.js';
import { type Pair, startPair } from './pairs.js';
import { listenOverflows } from '../test/support/system.js';
import type { Column, Row, Table } from './report.js';
import { percentile, rotate } from './stats.js';

/**
 * Unmeasured connections through each pair first. A daemon that has served for a while is warm:
 * with only a few connections behind it, V8 has not yet optimised the per-connection code, and
 * the measured rate is mostly JIT warm-up (a -f end spent about 850 µs of CPU per connection
 * after 50 connections, 370 µs after 3,000). 300 connections is past the steep part of that
 * curve and costs a few seconds per pair; spiped gets the same warm-up.
 */
const WARMUP_CONNS = 300;
/**
 * Failed connections tolerated per run (counted and reported): a listener with a tiny backlog
 * under a connect burst may see the kernel reset a connection (SYN cookies). More fails the run.
 */
export const MAX_FAILED_FRACTION = 0.05;

/** One run: throughput, latency percentiles, failures, accept-queue overflows meanwhile. */
export interface Run {
  readonly connsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  readonly overflows: number;
}

/**
 * `count` echo round trips through `port`, `workers` at a time; conn/s and latency count the
 * successful ones. Throws if more than MAX_FAILED_FRACTION of them fail.
 */
export async function measure(port: number, count: number, workers: number): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  let failed = 0;
  let lastError: unknown;
  const overflows0 = listenOverflows();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        lat.push(await echoOnce(port));
      } catch (e) {
        failed++;
        lastError = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, count) }, worker));
  const secs = (performance.now() - t0) / 1000;
  if (failed > count * MAX_FAILED_FRACTION || lat.length === 0)
    throw new Error(
      `${failed} of ${count} connections through port ${port} failed; last: ${(lastError as Error).message}`,
    );
  return {
    failed,
    connsPerSec: lat.length / secs,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    overflows: listenOverflows() - overflows0,
  };
}

type Target = { column: Column; fast: boolean; port: number; label: string };

/** Run the handshake part; returns its table. Throws if a connection fails. */
export async function runHandshakes(ctx: Context): Promise<Table> {
  const { sequential, parallel, rounds } = ctx.settings;
  const echo = await echoServer();
  const pairs: Pair[] = [];
  try {
    const targets: Target[] = [];
    for (const fast of [false, true])
      for (const impl of ['spiped', 'cloakpipe'] as const) {
        const p = await startPair(impl, echo.port, pairConfig(ctx, { fast }));
        pairs.push(p);
        targets.push({ column: impl, fast, port: p.port, label: p.label });
      }
    targets.push({ column: 'direct', fast: false, port: echo.port, label: 'direct' });
    const relay = await startPair('node-relay', echo.port, pairConfig(ctx));
    pairs.push(relay);
    targets.push({ column: 'node-relay', fast: false, port: relay.port, label: relay.label });
    if (ctx.settings.warmup)
      for (const t of targets) await measure(t.port, WARMUP_CONNS, PARALLEL_WORKERS);

    const modes = [
      { name: 'sequential', count: sequential, workers: 1 },
      { name: `${PARALLEL_WORKERS} parallel`, count: parallel, workers: PARALLEL_WORKERS },
    ];
    const rows: Row[] = [];
    for (const mode of modes) {
      const results = new Map<Target, Run[]>(targets.map((t) => [t, []]));
      for (let r = 0; r < rounds; r++)
        for (const t of rotate(targets, r)) {
          const run = await measure(t.port, mode.count, mode.workers);
          results.get(t)!.push(run);
          ctx.progress(
            `handshakes round ${r + 1}/${rounds} ${mode.name} ${t.label}: ${mode.count} conns, ` +
              `${run.connsPerSec.toFixed(0)} conn/s, p50 ${run.p50.toFixed(2)} ms, ` +
              `p99 ${run.p99.toFixed(2)} ms, ${run.failed} failed, ${run.overflows} listen overflows`,
          );
        }
      for (const fast of [false, true]) {
        const label = `${mode.name}, ${fast ? 'both ends -f' : 'no -f'}`;
        const pick = (metric: keyof Run): Row['values'] => {
          const v: Row['values'] = {};
          for (const t of targets)
            if (t.fast === fast) v[t.column] = results.get(t)!.map((x) => x[metric]);
          return v;
        };
        rows.push(
          { label, unit: 'conn/s', better: 'higher', values: pick('connsPerSec') },
          { label, unit: 'p50 ms', better: 'lower', values: pick('p50') },
          { label, unit: 'p99 ms', better: 'lower', values: pick('p99') },
          { label, unit: 'failed conns', better: 'lower', values: pick('failed'), count: true },
          { label, unit: 'overflows', better: 'lower', values: pick('overflows'), count: true },
        );
      }
    }
    return {
      part: 'handshakes',
      title: `handshakes: connect → 1-byte echo → close (${sequential} sequential, ${parallel} by ${PARALLEL_WORKERS} workers; ${rounds} round${rounds > 1 ? 's' : ''})`,
      rows,
      notes: [
        'Latency is per connection, from connect() to the close after the echo came back.',
        `failed conns: connections that errored (counted, not timed); over ${MAX_FAILED_FRACTION * 100}% of a run fails the benchmark.`,
        'direct and node-relay have no -f variant: they appear in the "no -f" rows only.',
        RELAY_NOTE,
        OVERFLOW_NOTE,
      ],
    };
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await echo.close();
  }
}
