/**
 * Part 1, bulk: one stream of N MiB through each pair (and straight to the sink, the ceiling) into
 * a sink that hashes it. Throughput in MB/s (10^6 bytes/s), from the first connect to the sink
 * seeing EOF; the SHA-256 of what arrived must equal that of what was sent, or the run fails.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Context, pairConfig } from './context.js';
import { expectedDigest, hashSink, type Sink, sendStream } from './net.js';
import { MiB, RELAY_NOTE } from './options.js';
import { type Pair, startPair } from './pairs.js';
import type { Table } from './report.js';
import { rotate } from './stats.js';

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
    const spiped = await startPair('spiped', sink.port, pairConfig(ctx));
    pairs.push(spiped);
    const cloak = await startPair('cloakpipe', sink.port, pairConfig(ctx));
    pairs.push(cloak);
    const noble = await startPair('cloakpipe', sink.port, pairConfig(ctx, { crypto: 'noble' }));
    pairs.push(noble);
    const relay = await startPair('node-relay', sink.port, pairConfig(ctx));
    pairs.push(relay);
    for (const p of ctx.settings.warmup ? pairs : []) {
      const warm = Math.min(WARMUP_MiB, p === noble ? nobleMiB : sizeMiB) * MiB;
      await measure(p.port, sink, chunk, warm, expectedDigest(chunk, warm), `${p.label} warm-up`);
    }

    const runs = {
      spiped: { port: spiped.port, bytes: total, digest, out: [] as number[] },
      cloakpipe: { port: cloak.port, bytes: total, digest, out: [] as number[] },
      noble: { port: noble.port, bytes: nobleTotal, digest: nobleDigest, out: [] as number[] },
      direct: { port: sink.port, bytes: total, digest, out: [] as number[] },
      'node-relay': { port: relay.port, bytes: total, digest, out: [] as number[] },
    };
    const names = Object.keys(runs) as (keyof typeof runs)[];
    for (let r = 0; r < rounds; r++) {
      for (const name of rotate(names, r)) {
        const run = runs[name];
        const what = `round ${r + 1}/${rounds} ${name} ${run.bytes / MiB} MiB`;
        const mbps = await measure(run.port, sink, chunk, run.bytes, run.digest, what);
        run.out.push(mbps);
        ctx.progress(`bulk ${what}: ${mbps.toFixed(1)} MB/s, sha256 ok`);
      }
    }
    return {
      part: 'bulk',
      title: `bulk: one ${sizeMiB} MiB stream, MB/s (${rounds} round${rounds > 1 ? 's' : ''})`,
      rows: [
        {
          label: `${sizeMiB} MiB stream`,
          unit: 'MB/s',
          better: 'higher',
          values: {
            direct: runs.direct.out,
            'node-relay': runs['node-relay'].out,
            spiped: runs.spiped.out,
            cloakpipe: runs.cloakpipe.out,
          },
        },
        {
          label: `${nobleMiB} MiB stream, cloakpipe --crypto noble`,
          unit: 'MB/s',
          better: 'higher',
          values: { spiped: runs.spiped.out, cloakpipe: runs.noble.out },
        },
      ],
      notes: [
        'MB/s = 10^6 bytes/s, from connect to the sink seeing EOF; every stream SHA-256 checked.',
        'The noble row repeats the spiped runs of the row above (at the larger size) for its ratio.',
        'Sender, hashing sink and both tunnel ends share the same cores: direct is a ceiling, not a wire speed.',
        RELAY_NOTE,
      ],
    };
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await sink.close();
  }
}
