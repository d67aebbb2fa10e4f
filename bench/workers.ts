/**
 * Part 6, workers: how cloakpipe scales from `--workers 1` to `--workers 2` on both ends, the
 * latter under both node:cluster scheduling policies. One cloakpipe pair per setting, measured
 * interleaved round by round: 16-parallel handshakes (connect → 1-byte echo → close, as in the
 * handshakes part); 4 parallel bulk streams of size/4 each into the hashing sink (aggregate
 * MB/s, every stream SHA-256 checked); and redis-benchmark with 50 connections in plain and in
 * cluster mode, with the CPU per request of every process (scaling.ts).
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Context, pairConfig } from './context.js';
import { MAX_FAILED_FRACTION, measure as handshakes, type Run } from './handshakes.js';
import { echoServer, expectedDigest, hashSink, type Sink, sendStream } from './net.js';
import { MiB, PARALLEL_WORKERS } from './options.js';
import { type Pair, startPair } from './pairs.js';
import { type Row, type Table, addValue } from './report.js';
import { clusterScaling, plainScaling, scalingNotes, SETTINGS, settingRun } from './scaling.js';
import { rotate } from './stats.js';

/** Parallel bulk streams. */
const STREAMS = 4;
const WARMUP_CONNS = 8;
const WARMUP_BYTES = 2 * MiB;
/** A stream slower than this (bytes/s) is taken as stalled, after a fixed grace. */
const STALL_RATE = 1e6;
const STALL_GRACE_MS = 60_000;

/** Start one cloakpipe pair per setting to `target` (--workers N and its policy on both ends). */
async function startPairs(ctx: Context, target: number, pairs: Pair[]): Promise<Pair[]> {
  const mine: Pair[] = [];
  for (const set of SETTINGS) {
    const base = pairConfig(ctx);
    const { extra, env } = settingRun(set);
    const p = await startPair('cloakpipe', target, {
      ...base,
      extraArgs: [...(base.extraArgs ?? []), ...extra],
      ...(env ? { env } : {}),
    });
    pairs.push(p);
    mine.push(p);
  }
  return mine;
}

/**
 * STREAMS streams of `each` bytes at once through `port` into `sink`; aggregate MB/s from the
 * first connect to the last EOF. Throws on a byte count or digest mismatch.
 */
async function parallelStreams(
  port: number,
  sink: Sink,
  chunk: Buffer,
  each: number,
  digest: string,
  what: string,
): Promise<number> {
  const received = Array.from({ length: STREAMS }, () => sink.next());
  const t0 = performance.now();
  const timeout = STALL_GRACE_MS + ((each * STREAMS) / STALL_RATE) * 1000;
  await Promise.all(received.map(() => sendStream(port, chunk, each, timeout)));
  const got = await Promise.all(received);
  for (const r of got)
    if (r.bytes !== each || r.sha256 !== digest)
      throw new Error(
        `workers ${what}: DIGEST MISMATCH: sent ${each} bytes sha256 ${digest}, ` +
          `received ${r.bytes} bytes sha256 ${r.sha256}`,
      );
  const end = Math.max(...got.map((r) => r.endedAt));
  return (each * STREAMS) / 1e6 / ((end - t0) / 1000);
}

/** Run the workers part; returns its table. Throws on a digest mismatch or failed connections. */
export async function runWorkers(ctx: Context): Promise<Table> {
  const { parallel, sizeMiB, rounds } = ctx.settings;
  const each = Math.max(1, Math.floor((sizeMiB * MiB) / STREAMS));
  const rows: Row[] = [];
  const pairs: Pair[] = [];
  const echo = await echoServer();
  try {
    // (a) handshakes
    const hs = await startPairs(ctx, echo.port, pairs);
    if (ctx.settings.warmup) for (const p of hs) await handshakes(p.port, WARMUP_CONNS, 1);
    const runs = new Map<string, Run[]>(SETTINGS.map((x) => [x.column, []]));
    const order = SETTINGS.map((x, i) => ({ w: x.column, pair: hs[i]! }));
    for (let r = 0; r < rounds; r++)
      for (const { w, pair } of rotate(order, r)) {
        const run = await handshakes(pair.port, parallel, PARALLEL_WORKERS);
        runs.get(w)!.push(run);
        ctx.progress(
          `workers round ${r + 1}/${rounds} handshakes ${w}: ${parallel} conns, ` +
            `${run.connsPerSec.toFixed(0)} conn/s, p50 ${run.p50.toFixed(2)} ms, ` +
            `p99 ${run.p99.toFixed(2)} ms, ${run.failed} failed`,
        );
      }
    const pick = (k: keyof Run): Row['values'] =>
      Object.fromEntries(SETTINGS.map(({ column: c }) => [c, runs.get(c)!.map((x) => x[k])]));
    const label = `${PARALLEL_WORKERS} parallel handshakes`;
    rows.push(
      { label, unit: 'conn/s', better: 'higher', values: pick('connsPerSec') },
      { label, unit: 'p50 ms', better: 'lower', values: pick('p50') },
      { label, unit: 'p99 ms', better: 'lower', values: pick('p99') },
      { label, unit: 'failed conns', better: 'lower', values: pick('failed'), count: true },
    );
    await Promise.all(hs.map((p) => p.stop()));
  } finally {
    await Promise.all(pairs.splice(0).map((p) => p.stop()));
    await echo.close();
  }

  const sink = await hashSink();
  try {
    // (b) parallel bulk streams
    const bulk = await startPairs(ctx, sink.port, pairs);
    const chunk = randomBytes(MiB);
    const digest = expectedDigest(chunk, each);
    if (ctx.settings.warmup) {
      const warm = Math.min(each, WARMUP_BYTES);
      const wd = expectedDigest(chunk, warm);
      for (const p of bulk) await parallelStreams(p.port, sink, chunk, warm, wd, 'warm-up');
    }
    const values: Row['values'] = {};
    const order = SETTINGS.map((x, i) => ({ w: x.column, pair: bulk[i]! }));
    for (let r = 0; r < rounds; r++)
      for (const { w, pair } of rotate(order, r)) {
        const what = `round ${r + 1}/${rounds} ${w} ${STREAMS} × ${(each / MiB).toFixed(2)} MiB`;
        const mbps = await parallelStreams(pair.port, sink, chunk, each, digest, what);
        addValue(values, w, mbps);
        ctx.progress(`workers ${what}: ${mbps.toFixed(1)} MB/s aggregate, sha256 ok`);
      }
    rows.push({
      label: `${STREAMS} parallel streams of ${(each / MiB).toFixed(2)} MiB`,
      unit: 'MB/s',
      better: 'higher',
      values,
    });
  } finally {
    await Promise.all(pairs.splice(0).map((p) => p.stop()));
    await sink.close();
  }

  // (c) and (d) many connections through redis-benchmark, plain and cluster mode
  rows.push(...(await plainScaling(ctx)), ...(await clusterScaling(ctx)));

  const [one, rr, none] = SETTINGS.map((x) => x.column) as [string, string, string];
  return {
    part: 'workers',
    title: `workers: cloakpipe --workers 1 vs --workers 2 (rr and none scheduling) on both ends (${rounds} round${rounds > 1 ? 's' : ''})`,
    columns: ['direct', ...SETTINGS.map((x) => x.column)],
    ratio: { num: rr, den: one, label: 'workers2/workers1' },
    moreRatios: [{ num: none, den: one, label: 'workers2 none/workers1' }],
    rows,
    notes: [
      `Handshakes: ${parallel} connections by ${PARALLEL_WORKERS} workers at once (connect → 1-byte echo → close), as in the handshakes part; over ${MAX_FAILED_FRACTION * 100}% failed fails the run.`,
      `Bulk: ${STREAMS} streams at once, MB/s (10^6 bytes/s) aggregate from the first connect to the last EOF; every stream SHA-256 checked.`,
      ...scalingNotes(),
      `This machine has ${cpus().length} cores, shared by both ends (each with its workers) and the load generator (in-process, or redis-benchmark and the redis-servers), so the scaling is bounded: a ratio near 1.00× here does not mean --workers does not scale on a machine with cores to spare; the summary's model says what it would give there.`,
    ],
  };
}
