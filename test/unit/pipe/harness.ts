// A -e Tunnel and a -d Tunnel joined by in-memory streams, with real keys and the real node
// engine, and no sockets: the client's end, the target's end, and a relay on the encrypted wire
// that re-cuts every chunk (whole, byte by byte, or at seeded random points) and may tamper.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type Duplex, duplexPair } from 'node:stream';
import pino, { type Logger } from 'pino';
import { generateEphemeralKey } from '../../../src/crypto/dh.js';
import { nodeEngine } from '../../../src/crypto/engine-node.js';
import {
  Tunnel,
  type TunnelConfig,
  type TunnelDeps,
  type TunnelRouting,
} from '../../../src/pipe/connection.js';
import type { Metrics } from '../../../src/pipe/metrics.js';

/** How the wire relay (and the test's own writes) cut the stream. */
export type Cut = 'whole' | 'bytes' | { readonly seed: number };

/** The three ways every case is fed. */
export const CUTS: readonly Cut[] = ['whole', 'bytes', { seed: 1 }, { seed: 2 }];

/** A readable name for a cut, for test titles. */
export const cutName = (c: Cut): string => (typeof c === 'string' ? c : `random seed ${c.seed}`);

/** Cuts `b` into pieces by `cut`; `rand` carries the seeded generator's state between calls. */
export function cutter(cut: Cut): (b: Buffer) => Buffer[] {
  if (cut === 'whole') return (b) => [b];
  if (cut === 'bytes')
    return (b) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
  let s = cut.seed >>> 0;
  const next = (): number => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (b) => {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length;) {
      const n = 1 + Math.floor(next() * Math.min(b.length - at, 3000));
      out.push(b.subarray(at, at + n));
      at += n;
    }
    return out;
  };
}

/** Writes `data` to `w` in pieces cut by `cut`, honouring backpressure; resolves when written. */
export async function writeCut(w: Duplex, data: Buffer, cut: Cut): Promise<void> {
  for (const piece of cutter(cut)(data))
    if (!w.write(piece)) await new Promise((r) => w.once('drain', r));
}

/** Metrics that count every call, by name and argument. */
export class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  bytes = { up: 0, down: 0 };
  #add(k: string): void {
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  count(k: string): number {
    return this.counts.get(k) ?? 0;
  }
  connectionAccepted(): void {
    this.#add('accepted');
  }
  connectionRejected(r: string): void {
    this.#add(`rejected:${r}`);
  }
  connectionOpened(): void {
    this.#add('opened');
  }
  connectionClosed(up: number, down: number): void {
    this.bytes.up += up;
    this.bytes.down += down;
    this.#add('closed');
  }
  handshakeFailed(r: string): void {
    this.#add(`handshakeFailed:${r}`);
  }
  handshakeCompleted(): void {
    this.#add('handshakeCompleted');
  }
  targetConnectFailed(c: string): void {
    this.#add(`targetConnectFailed:${c}`);
  }
  packetRejected(r: string): void {
    this.#add(`packetRejected:${r}`);
  }
}

/** A logger whose lines are kept, parsed. */
export function memoryLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

/** Both ends of a tunnelled connection, and what each end saw. */
export interface TunnelPair {
  /** The application's end: write requests, read replies. */
  readonly client: Duplex;
  /** The target's end: read requests, write replies. */
  readonly target: Duplex;
  readonly e: Tunnel;
  readonly d: Tunnel;
  readonly metricsE: CountingMetrics;
  readonly metricsD: CountingMetrics;
  readonly logE: Record<string, unknown>[];
  readonly logD: Record<string, unknown>[];
}

/** Options for a pair. */
export interface PairOptions {
  readonly cut: Cut;
  /** Rewrite wire bytes going up (-e → -d); `at` is the offset of `b` in the up stream. */
  readonly tamperUp?: (b: Buffer, at: number) => Buffer;
  readonly cfg?: Partial<TunnelConfig>;
  readonly routingE?: TunnelRouting;
  /** -d cluster: builds the routing once the target end exists. */
  readonly routingD?: (targetSide: Duplex) => TunnelRouting;
}

/**
 * An in-memory connection. Like a TCP socket, an end destroyed before it finished both ways
 * resets the other end (ECONNRESET); a clean close leaves the other end to finish by itself.
 */
function linkedPair(): [Duplex, Duplex] {
  const [a, b] = duplexPair();
  const reset = (x: Duplex, other: Duplex): void => {
    x.on('close', () => {
      if (other.destroyed || (x.readableEnded && x.writableFinished)) return;
      other.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    });
  };
  reset(a, b);
  reset(b, a);
  return [a, b];
}

/** Pipes `from` into `to`, re-cut by `cut` (and rewritten by `tamper`), with backpressure. */
function relay(
  from: Duplex,
  to: Duplex,
  cut: Cut,
  tamper?: (b: Buffer, at: number) => Buffer,
): void {
  const pieces = cutter(cut);
  let at = 0;
  from.on('data', (chunk: Buffer) => {
    const b = tamper ? tamper(Buffer.from(chunk), at) : chunk;
    at += chunk.length;
    let ok = true;
    for (const p of pieces(b)) ok = to.write(p) && ok;
    if (!ok) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
  from.on('error', () => {});
  to.on('error', () => {});
  from.on('close', () => {
    if (!from.readableEnded) to.destroy();
  });
  to.on('close', () => {
    if (!to.writableFinished) from.destroy();
  });
}

/** A started -e/-d pair over in-memory streams, sharing one fresh key. */
export function tunnelPair(o: PairOptions): TunnelPair {
  const key = randomBytes(32);
  const cfg = (mode: 'encrypt' | 'decrypt'): TunnelConfig => ({
    mode,
    noPfs: false,
    requirePfs: false,
    timeoutMs: 5000,
    ...o.cfg,
  });
  const [client, plainE] = linkedPair();
  const [wireE, relayE] = linkedPair();
  const [relayD, wireD] = linkedPair();
  const [plainD, target] = linkedPair();
  // The test's own ends may be reset when a tunnel drops; the tests look at what arrived.
  client.on('error', () => {});
  target.on('error', () => {});
  relay(relayE, relayD, o.cut, o.tamperUp);
  relay(relayD, relayE, o.cut);
  const metricsE = new CountingMetrics();
  const metricsD = new CountingMetrics();
  const logE = memoryLog();
  const logD = memoryLog();
  const deps = (m: Metrics, log: Logger, other: Duplex): TunnelDeps => ({
    engine: nodeEngine,
    keys: () => [key],
    ephemeral: generateEphemeralKey,
    dial: () => Promise.resolve(other as Socket),
    metrics: m,
    log,
  });
  const routingD = o.routingD?.(plainD);
  const e = new Tunnel(plainE, 1, 'client', cfg('encrypt'), {
    ...deps(metricsE, logE.log, wireE),
    ...(o.routingE ? { routing: o.routingE } : {}),
  });
  const d = new Tunnel(wireD, 2, 'peer', cfg('decrypt'), {
    ...deps(metricsD, logD.log, plainD),
    ...(routingD ? { routing: routingD } : {}),
  });
  e.start();
  d.start();
  return { client, target, e, d, metricsE, metricsD, logE: logE.lines, logD: logD.lines };
}

/** Everything `r` yields until it ends (or closes). */
export function readAll(r: Duplex): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(got));
    };
    r.on('data', (c: Buffer) => got.push(Buffer.from(c)));
    r.on('end', finish);
    r.on('close', finish);
    r.on('error', finish);
    r.resume(); // (after readExactly, the stream is paused)
  });
}

/** Reads exactly `n` bytes from `r` (rejects if it ends first). */
export function readExactly(r: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer): void => {
      got.push(Buffer.from(c));
      have += c.length;
      if (have < n) return;
      r.off('data', onData);
      r.off('end', onEnd);
      r.pause();
      const all = Buffer.concat(got);
      if (have > n) r.unshift(all.subarray(n));
      resolve(all.subarray(0, n));
    };
    const onEnd = (): void => reject(new Error(`stream ended after ${have} of ${n} bytes`));
    r.on('data', onData);
    r.on('end', onEnd);
    r.resume();
  });
}
