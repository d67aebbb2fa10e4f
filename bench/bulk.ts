/**
 * Part 1, bulk: one stream of N MiB through each pair (and straight to the sink, the ceiling) into
 * a sink that hashes it. Throughput in MB/s (10^6 bytes/s), from the first connect to the sink
 * seeing EOF; the SHA-256 of what arrived must equal that of what was sent, or the run fails.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Context, pairConfig } from './context.js';
import { cpuMeter, cpuNote, cpuRows, cpuSeries } from './cpu.js';
import { expectedDigest, hashSink, type Sink, sendStream } from './net.js';
import { MiB, RELAY_NOTE } from './options.js';
import { type Pair, startPair } from './pairs.js';
import type { Column, Table } from './report.js';
import { rotate } from './stats.js';
import { variantRatios, variants } from './variants.js';

/** The deterministic source: this many random bytes, written over and over. */
const CHUNK_BYTES = MiB;
/** Unmeasured transfer through each pair first (JIT, pools, TCP windows). */
const WARMUP_MiB = 8;
/** A stream slower than this (bytes/s) is taken as stalled, after a fixed grace. */
const STALL_RATE = 1e6;
const STALL_GRACE_MS = 60_000;

/**
 * Send `total` bytes through `port` to `sink`; returns MB/s. Throws if the byte count or the
 * SHA-256 digest of what arrived differs from what was sent.
 */
async function measure(
  port: number,
  sink: Sink,
  chunk: Buffer,
  total: number,
  digest: string,
  what: string,
): Promise<number> {
  const t0 = performance.now();
  const received = sink.next();
  await sendStream(port, chunk, total, STALL_GRACE_MS + (total / STALL_RATE) * 1000);
  const r = await received;
  if (r.bytes !== total || r.sha256 !== digest)
    throw new Error(
      `bulk ${what}: DIGEST MISMATCH: sent ${total} bytes sha256 ${digest}, ` +
        `received ${r.bytes} bytes sha256 ${r.sha256}`,
    );
  return total / 1e6 / ((r.endedAt - t0) / 1000);
}

/** Run the bulk part; returns its table. Throws on a digest mismatch or a failed transfer. */
export async function runBulk(ctx: Context): Promise<Table> {
  const { sizeMiB, nobleMiB, rounds } = ctx.settings;
  const sink = await hashSink();
  const pairs: Pair[] = [];
  try {
    const chunk = randomBytes(CHUNK_BYTES);
    const total = sizeMiB * MiB;
    const nobleTotal = nobleMiB * MiB;
    ctx.progress(`bulk: hashing the expected ${sizeMiB} MiB stream`);
    const digest = expectedDigest(chunk, total);
    const nobleDigest = expectedDigest(chunk, nobleTotal);
    const { run: cloakpipes, unavailable } = variants();
    type Run = { pair?: Pair; port: number; bytes: number; digest: string; out: number[] };
    const runs = new Map<Column, Run>();
    const add = (column: Column, pair: Pair | undefined, big: boolean): void => {
      pairs.push(...(pair ? [pair] : []));
      runs.set(column, {
        ...(pair ? { pair } : {}),
        port: pair?.port ?? sink.port,
        bytes: big ? total : nobleTotal,
        digest: big ? digest : nobleDigest,
        out: [],
      });
    };
    add('spiped', await startPair('spiped', sink.port, pairConfig(ctx)), true);
    for (const v of cloakpipes)
      add(v.column, await startPair('cloakpipe', sink.port, pairConfig(ctx, { variant: v })), true);
    add(
      'noble',
      await startPair('cloakpipe', sink.port, pairConfig(ctx, { crypto: 'noble' })),
      false,
    );
    add('direct', undefined, true);
    add('node-relay', await startPair('node-relay', sink.port, pairConfig(ctx)), true);
    for (const [name, run] of ctx.settings.warmup ? runs : []) {
      if (!run.pair) continue;
      const warm = Math.min(WARMUP_MiB, run.bytes / MiB) * MiB;
      await measure(run.port, sink, chunk, warm, expectedDigest(chunk, warm), `${name} warm-up`);
    }

    const cpu = cpuSeries();
    const nobleCpu = cpuSeries();
    const names = [...runs.keys()];
    for (let r = 0; r < rounds; r++) {
      for (const name of rotate(names, r)) {
        const run = runs.get(name)!;
        const what = `round ${r + 1}/${rounds} ${name} ${run.bytes / MiB} MiB`;
        const meter = run.pair ? cpuMeter(run.pair) : null;
        const mbps = await measure(run.port, sink, chunk, run.bytes, run.digest, what);
        // ms of CPU per MB (10^6 bytes); the noble runs go to their own row, as 'cloakpipe'.
        if (name === 'noble') meter?.(nobleCpu, 'cloakpipe', run.bytes / 1e6, 1e-3);
        else meter?.(cpu, name, run.bytes / 1e6, 1e-3);
        run.out.push(mbps);
        ctx.progress(`bulk ${what}: ${mbps.toFixed(1)} MB/s, sha256 ok`);
      }
    }
    const out = (c: Column): number[] => runs.get(c)?.out ?? [];
    const streams: Record<Column, number[]> = {};
    for (const c of ['direct', 'node-relay', 'spiped', ...cloakpipes.map((v) => v.column)])
      streams[c] = out(c);
    // The noble row's ratio is against the spiped runs: its CPU is too (per MB, any size).
    for (const k of Object.keys(nobleCpu) as (keyof typeof nobleCpu)[])
      nobleCpu[k] = { ...nobleCpu[k], spiped: cpu[k].spiped ?? [] };
    return {
      part: 'bulk',
      title: `bulk: one ${sizeMiB} MiB stream, MB/s (${rounds} round${rounds > 1 ? 's' : ''})`,
      rows: [
        {
          label: `${sizeMiB} MiB stream`,
          unit: 'MB/s',
          better: 'higher',
          values: streams,
        },
        ...cpuRows(`${sizeMiB} MiB stream`, cpu, 'ms', 'MB'),
        {
          label: `${nobleMiB} MiB stream, cloakpipe --crypto noble`,
          unit: 'MB/s',
          better: 'higher',
          values: { spiped: out('spiped'), cloakpipe: out('noble') },
        },
        ...cpuRows(`${nobleMiB} MiB stream, cloakpipe --crypto noble`, nobleCpu, 'ms', 'MB'),
      ],
      unavailable,
      moreRatios: variantRatios(),
      notes: [
        'MB/s = 10^6 bytes/s, from connect to the sink seeing EOF; every stream SHA-256 checked.',
        'The noble row repeats the spiped runs of the row above (at the larger size) for its ratio.',
        cpuNote(),
        'Sender, hashing sink and both tunnel ends share the same cores: direct is a ceiling, not a wire speed.',
        RELAY_NOTE,
      ],
    };
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await sink.close();
  }
}
