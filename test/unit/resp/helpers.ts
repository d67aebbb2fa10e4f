// Goal: shared helpers for the RESP tests: the captured vectors, chunkings, event normalisation,
// and an independent reference decoder (so rewritten replies are checked by code that is not ours).
import { readFileSync } from 'node:fs';
import type { ReplyEvent, ReplyFrame, ReplyLimits, RequestEvent } from '../../../src/resp/index.js';
import { ReplyScanner, RequestScanner } from '../../../src/resp/index.js';

/** One reply captured from a live Redis 7.0.15 cluster (see test/vectors/resp/capture-cluster.mjs). */
export interface Capture {
  readonly cluster: 'A' | 'B' | 'C';
  readonly variant: string;
  readonly resp: 2 | 3;
  readonly node: string;
  readonly command: string;
  readonly request: string;
  readonly reply: string;
  readonly exec?: string;
  readonly queued?: readonly string[];
}

/** One odd request stream and the real server's replies to it. */
export interface RequestStream {
  readonly name: string;
  readonly input: string;
  readonly reply: string;
}

interface CaptureFile {
  readonly source: string;
  readonly captures: readonly Capture[];
  readonly requests: readonly RequestStream[];
}

let cached: CaptureFile | null = null;

/** test/vectors/resp/cluster-captures.json, read from the source tree (dist/test/unit/resp → root). */
export function captureFile(): CaptureFile {
  if (cached === null) {
    const url = new URL('../../../../test/vectors/resp/cluster-captures.json', import.meta.url);
    cached = JSON.parse(readFileSync(url, 'utf8')) as CaptureFile;
    if (cached.captures.length === 0) throw new Error('no captures');
  }
  return cached;
}

/** Captures filtered by command prefix (and optionally variant). */
export function captures(command: string, variant?: string): readonly Capture[] {
  const out = captureFile().captures.filter(
    (c) => c.command.startsWith(command) && (variant === undefined || c.variant === variant),
  );
  if (out.length === 0) throw new Error(`no capture for ${command} ${variant ?? ''}`);
  return out;
}

/** A latin1 string as bytes (one byte per char). */
export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Bytes as a latin1 string. */
export const text = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

/** Cut `input` at the given offsets (sorted, deduplicated, clamped) into views. */
export function splitAt(input: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(input.length, c))))].sort(
    (a, b) => a - b,
  );
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, input.length]) {
    if (p > from) out.push(input.subarray(from, p));
    from = p;
  }
  return out;
}

/** Every byte as its own chunk. */
export const byteChunks = (input: Uint8Array): Uint8Array[] =>
  Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));

/** A reply event made comparable: pass runs merged, bytes as strings. */
export type Norm =
  | { kind: 'pass'; bytes: string }
  | { kind: 'captured'; frame: ReplyFrame; tag: unknown; bytes: string }
  | { kind: 'redirect'; frame: ReplyFrame; tag: unknown; redirect: unknown; bytes: string }
  | { kind: 'error'; reason: string; offset: number; fatal: boolean };

/** Merge adjacent pass events and turn bytes into strings, so chunkings can be compared. */
export function normalize<T>(events: readonly ReplyEvent<T>[]): Norm[] {
  const out: Norm[] = [];
  for (const e of events) {
    if (e.kind === 'pass') {
      const last = out.at(-1);
      if (last?.kind === 'pass') last.bytes += text(e.bytes);
      else if (e.bytes.length > 0) out.push({ kind: 'pass', bytes: text(e.bytes) });
    } else if (e.kind === 'error')
      out.push({ kind: 'error', reason: e.reason, offset: e.offset, fatal: e.fatal });
    else if (e.kind === 'captured')
      out.push({ kind: 'captured', frame: e.frame, tag: e.tag, bytes: text(e.bytes) });
    else
      out.push({
        kind: 'redirect',
        frame: e.frame,
        tag: e.tag,
        redirect: e.redirect,
        bytes: text(e.bytes),
      });
  }
  return out;
}

/** What a reply scan produced: events, top-level frames seen, and the scanner's final state. */
export interface ReplyRun {
  readonly events: Norm[];
  readonly frames: ReplyFrame[];
  readonly output: string;
  readonly atBoundary: boolean;
  readonly failed: boolean;
}

/**
 * Scan `chunks` with a fresh ReplyScanner; `capture` decides per frame (its index among all
 * top-level frames is passed too). Checks that the output bytes are exactly the input.
 */
export function scanReplies(
  chunks: readonly Uint8Array[],
  capture: (frame: ReplyFrame, index: number) => unknown = () => null,
  limits: Partial<ReplyLimits> = {},
): ReplyRun {
  const frames: ReplyFrame[] = [];
  const scanner = new ReplyScanner<unknown>({
    capture: (f) => {
      frames.push(f);
      return capture(f, frames.length - 1) ?? null;
    },
    limits,
  });
  const all: ReplyEvent<unknown>[] = [];
  for (const c of chunks) all.push(...scanner.push(c));
  const events = normalize(all);
  const output = events.map((e) => ('bytes' in e ? e.bytes : '')).join('');
  return { events, frames, output, atBoundary: scanner.atBoundary, failed: scanner.failed };
}

/** Scan `chunks` with a fresh RequestScanner; all events in order. */
export function scanRequests(chunks: readonly Uint8Array[]): RequestEvent[] {
  const s = new RequestScanner();
  const out: RequestEvent[] = [];
  for (const c of chunks) out.push(...s.push(c));
  return out;
}

/** A decoded value in plain JS, as an independent reference decoder sees it. */
export type Ref =
  | { t: string; v: string | null }
  | { t: string; items: Ref[] | null }
  | { t: '|'; items: Ref[]; of: Ref };

/**
 * Reference RESP2/RESP3 decoder (recursive, whole input, no limits; for tests only). Throws on
 * anything malformed, including bytes left over.
 */
export function refDecode(input: string): Ref {
  let pos = 0;
  const line = (): string => {
    const end = input.indexOf('\r\n', pos);
    if (end < 0) throw new Error(`no CRLF after ${pos}`);
    const s = input.slice(pos, end);
    pos = end + 2;
    return s;
  };
  const count = (s: string): number => {
    if (!/^(-1|0|[1-9][0-9]*)$/.test(s)) throw new Error(`bad count ${s}`);
    return Number(s);
  };
  const value = (): Ref => {
    const t = input[pos++];
    if (t === undefined) throw new Error('truncated');
    const l = line();
    if ('+-:,#(_'.includes(t)) return { t, v: l };
    if ('$!='.includes(t)) {
      const n = count(l);
      if (n < 0) return { t, v: null };
      const v = input.slice(pos, pos + n);
      if (v.length !== n || input.slice(pos + n, pos + n + 2) !== '\r\n')
        throw new Error(`bad bulk at ${pos}`);
      pos += n + 2;
      return { t, v };
    }
    if ('*%~>|'.includes(t)) {
      const n = count(l);
      if (n < 0) return { t, items: null };
      const items: Ref[] = [];
      for (let i = 0; i < (t === '%' || t === '|' ? 2 * n : n); i++) items.push(value());
      return t === '|' ? { t, items, of: value() } : { t, items };
    }
    throw new Error(`bad type ${JSON.stringify(t)} at ${pos - 1}`);
  };
  const v = value();
  if (pos !== input.length) throw new Error(`${input.length - pos} bytes left over`);
  return v;
}

/** The string of a reference bulk/simple value (throws otherwise). */
export function str(r: Ref | undefined): string {
  if (r === undefined || !('v' in r) || r.v === null)
    throw new Error(`not a string: ${JSON.stringify(r)}`);
  return r.v;
}

/** The items of a reference aggregate (throws otherwise). */
export function items(r: Ref | undefined): Ref[] {
  if (r === undefined || !('items' in r) || r.items === null) throw new Error('not an aggregate');
  return r.items;
}

/** A reference map (RESP3 `%` or RESP2 `*2k`) as [key, value] entries. */
export function entries(r: Ref | undefined): [string, Ref][] {
  const it = items(r);
  const out: [string, Ref][] = [];
  for (let i = 0; i < it.length; i += 2) out.push([str(it[i]), it[i + 1]!]);
  return out;
}
