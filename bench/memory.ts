/**
 * Part 4, memory: resident set size (VmRSS) of each end of a fresh pair when idle, then with many
 * idle connections open through it; and, on another fresh pair, the largest growth over idle
 * while a big stream flows to a reader that reads slowly (backpressure must hold the rest back).
 */
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { type Context, PAIR_MAX_CONNS, pairConfig } from './context.js';
import { echoServer, expectedDigest, hashSink, openIdle, sendStream } from './net.js';
import { MiB } from './options.js';
import { type Impl, type Pair, startPair } from './pairs.js';
import { sleep } from '../test/support/procs.js';
import { openFileLimit, rssBytes } from '../test/support/system.js';
import type { Row, Table } from './report.js';
import { rotate } from './stats.js';

/** Pause before reading RSS so start-up probes and closes have settled. */
const SETTLE_MS = 500;
/** Idle connections set up at once. */
const OPEN_CONCURRENCY = 50;
/** RSS sampling interval during the slow transfer. */
const SAMPLE_MS = 100;
/** File descriptors kept free for everything else (pipes, listeners, redis, node internals). */
const FD_SLACK = 200;
const KiB = 1024;

/** A figure for each end of a pair (RSS in bytes). */
interface Ends {
  enc: number;
  dec: number;
}

/** RSS when idle and with the idle connections held open. */
interface IdleSample {
  readonly idle: Ends;
  readonly held: Ends;
}

/** RSS of both ends of `pair`, in bytes. */
function rss(pair: Pair): Ends {
  return { enc: rssBytes(pair.enc.pid), dec: rssBytes(pair.dec.pid) };
}

/**
 * How many idle connections fit: the harness holds two descriptors per connection (client and
 * echo server side), and so does each tunnel end.
 */
export function idleConnsFor(wanted: number, fdLimit: number): number {
  return Math.max(1, Math.min(wanted, PAIR_MAX_CONNS, Math.floor((fdLimit - FD_SLACK) / 2)));
}

/** Open `n` idle connections through `port`, OPEN_CONCURRENCY at a time. */
async function openMany(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      sockets.push(await openIdle(port));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, n) }, worker));
  } catch (e) {
    for (const s of sockets) s.destroy();
    throw e;
  }
  return sockets;
}

/** Idle RSS, then RSS with `conns` idle connections, on a fresh `impl` pair. */
async function idleRun(ctx: Context, impl: Impl, conns: number): Promise<IdleSample> {
  const echo = await echoServer();
  const pair = await startPair(impl, echo.port, pairConfig(ctx));
  try {
    await sleep(SETTLE_MS);
    const idle = rss(pair);
    const sockets = await openMany(pair.port, conns);
    await sleep(SETTLE_MS);
    const held = rss(pair);
    for (const s of sockets) s.destroy();
    return { idle, held };
  } finally {
    await pair.stop();
    await echo.close();
  }
}

/** Largest RSS growth over idle of each end while `slowMiB` flows to a slow reader. */
async function slowRun(ctx: Context, impl: Impl, chunk: Buffer, digest: string): Promise<Ends> {
  const { slowMiB, slowRateMiB } = ctx.settings;
  const sink = await hashSink(slowRateMiB * MiB);
  const pair = await startPair(impl, sink.port, pairConfig(ctx));
  try {
    await sleep(SETTLE_MS);
    const base = rss(pair);
    const grow: Ends = { enc: 0, dec: 0 };
    const sample = (): void => {
      const now = rss(pair);
      grow.enc = Math.max(grow.enc, now.enc - base.enc);
      grow.dec = Math.max(grow.dec, now.dec - base.dec);
    };
    const timer = setInterval(sample, SAMPLE_MS);
    const received = sink.next();
    try {
      // Twice the time the reader needs, plus a minute, before the transfer counts as stalled.
      const limitMs = 2 * (slowMiB / slowRateMiB) * 1000 + 60_000;
      await sendStream(pair.port, chunk, slowMiB * MiB, limitMs);
    } finally {
      clearInterval(timer);
    }
    sample();
    const r = await received;
    if (r.bytes !== slowMiB * MiB || r.sha256 !== digest)
      throw new Error(`memory slow transfer through ${impl}: DIGEST MISMATCH (${r.bytes} bytes)`);
    return grow;
  } finally {
    await pair.stop();
    await sink.close();
  }
}

/** Run the memory part; returns its table. */
export async function runMemory(ctx: Context): Promise<Table> {
  const { rounds, slowMiB, slowRateMiB, idleConns } = ctx.settings;
  const fdLimit = openFileLimit();
  const conns = idleConnsFor(idleConns, fdLimit);
  const notes = [
    `Open-file limit (ulimit -n) is ${fdLimit}; ${conns} idle connections used${conns < idleConns ? ` instead of ${idleConns} (raise ulimit -n for more)` : ''}.`,
    `Each pair runs with -n ${PAIR_MAX_CONNS}. Each measurement uses a fresh pair; RSS is /proc/<pid>/status VmRSS.`,
    `The slow transfer runs once per implementation: ${slowMiB} MiB read at ${slowRateMiB} MiB/s, RSS sampled every ${SAMPLE_MS} ms.`,
  ];
  if (conns < idleConns) ctx.progress(`memory: ${notes[0]}`);
  const idle: Record<'spiped' | 'cloakpipe', IdleSample[]> = { spiped: [], cloakpipe: [] };
  const impls = ['spiped', 'cloakpipe'] as const;
  for (let r = 0; r < rounds; r++)
    for (const impl of rotate(impls, r)) {
      const x = await idleRun(ctx, impl, conns);
      idle[impl].push(x);
      const mib = (b: number): string => (b / MiB).toFixed(1);
      ctx.progress(
        `memory round ${r + 1}/${rounds} ${impl}: idle -e ${mib(x.idle.enc)} / -d ${mib(x.idle.dec)} MiB, ` +
          `with ${conns} conns -e ${mib(x.held.enc)} / -d ${mib(x.held.dec)} MiB`,
      );
    }
  const chunk = randomBytes(MiB);
  const digest = expectedDigest(chunk, slowMiB * MiB);
  const slow: Partial<Record<Impl, Ends>> = {};
  for (const impl of impls) {
    ctx.progress(`memory: ${slowMiB} MiB through ${impl} to a ${slowRateMiB} MiB/s reader…`);
    const g = await slowRun(ctx, impl, chunk, digest);
    slow[impl] = g;
    ctx.progress(
      `memory ${impl}: max growth -e ${(g.enc / MiB).toFixed(1)} MiB, -d ${(g.dec / MiB).toFixed(1)} MiB, sha256 ok`,
    );
  }
  const rows: Row[] = [];
  for (const end of ['enc', 'dec'] as const) {
    const flag = end === 'enc' ? '-e' : '-d';
    const per = (f: (x: IdleSample) => number): Row['values'] => ({
      spiped: idle.spiped.map(f),
      cloakpipe: idle.cloakpipe.map(f),
    });
    rows.push(
      {
        label: `${flag} idle`,
        unit: 'MiB',
        better: 'lower',
        values: per((x) => x.idle[end] / MiB),
      },
      {
        label: `${flag} with ${conns} idle conns`,
        unit: 'MiB',
        better: 'lower',
        values: per((x) => x.held[end] / MiB),
      },
      {
        label: `${flag} per idle conn`,
        unit: 'KiB',
        better: 'lower',
        values: per((x) => (x.held[end] - x.idle[end]) / conns / KiB),
      },
      {
        label: `${flag} max growth, ${slowMiB} MiB to a ${slowRateMiB} MiB/s reader`,
        unit: 'MiB',
        better: 'lower',
        values: {
          spiped: [slow.spiped![end] / MiB],
          cloakpipe: [slow.cloakpipe![end] / MiB],
        },
      },
    );
  }
  return {
    part: 'memory',
    title: `memory: RSS of each end (${rounds} round${rounds > 1 ? 's' : ''})`,
    rows,
    notes,
  };
}
