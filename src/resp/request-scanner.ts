/**
 * An incremental scanner over the client → server byte stream, following Redis's own request
 * parser (`networking.c@7.0.15` processInputBuffer, processMultibulkBuffer, processInlineBuffer)
 * so that it agrees with the server on where each request ends (pairing: DESIGN.md §5):
 * - a request starting with `*` is a multibulk: `*<n>\r\n` then n × `$<len>\r\n<payload>\r\n`;
 *   n ≤ 0 is "no command, no reply"; like Redis, the byte after each header's CR and the two bytes
 *   after each payload are skipped unchecked;
 * - anything else is an inline command: one line up to `\n` (a `\r` before it is dropped), split
 *   like `sdssplitargs`; an empty line is "no command, no reply".
 * It only observes: the caller forwards the bytes unchanged. Argument payloads are skipped, not
 * held; only the first RECORDED_ARGS arguments are kept, each cut to RECORDED_ARG_BYTES. Memory is
 * constant whatever the counts and lengths. A malformed request is reported once, then nothing
 * more (Redis answers `-ERR Protocol error` and closes the connection). Never throws.
 */
import { InlineSplitter } from './inline-split.js';
import {
  CR,
  CRLF_LEN,
  INT_MAX,
  LF,
  LONG_STR_SIZE,
  PROTO_INLINE_MAX_SIZE,
  PROTO_MAX_BULK_LEN,
  RECORDED_ARG_BYTES,
  RECORDED_ARGS,
  RECORDED_BYTES,
} from './limits.js';
import { string2ll } from './numbers.js';
import { DOLLAR, STAR } from './types.js';

/** How the request was framed. */
export type RequestFormat = 'multibulk' | 'inline';

/** Why Redis would reject the stream with `-ERR Protocol error: …` (and close the connection). */
export type RequestFailure =
  /** `*` line with no CR within PROTO_INLINE_MAX_SIZE ("too big mbulk count string"). */
  | 'too-big-count'
  /** `*` count that is not a string2ll integer ≤ INT_MAX ("invalid multibulk length"). */
  | 'bad-count'
  /** An argument that does not start with `$` ("expected '$', got …"). */
  | 'expected-dollar'
  /** `$` line with no CR within PROTO_INLINE_MAX_SIZE ("too big bulk count string"). */
  | 'too-big-bulk-count'
  /** `$` length that is not an integer in 0..maxBulkLength ("invalid bulk length"). */
  | 'bad-bulk-length'
  /** An inline line longer than PROTO_INLINE_MAX_SIZE ("too big inline request"). */
  | 'too-big-inline'
  /** An inline line with an unclosed quote or a closing quote glued to text ("unbalanced quotes"). */
  | 'unbalanced-quotes';

/** One event per complete request, in stream order. */
export type RequestEvent =
  /** A command; Redis will answer it (unless CLIENT REPLY, pub/sub … say otherwise). */
  | {
      readonly kind: 'command';
      readonly format: RequestFormat;
      /** Number of arguments, the command name included. */
      readonly argc: number;
      /** The first min(argc, 3) arguments, latin1-decoded, each cut to 64 bytes. */
      readonly args: readonly string[];
      /** True if one of `args` was cut. */
      readonly truncated: boolean;
      /** Stream offsets of the request's first byte and of the byte after its last. */
      readonly offset: number;
      readonly end: number;
    }
  /** `*0`, `*-1` (any n ≤ 0) or an empty inline line: no command runs and no reply comes. */
  | {
      readonly kind: 'empty';
      readonly format: RequestFormat;
      readonly offset: number;
      readonly end: number;
    }
  /** The stream is malformed from `offset` on; the scanner reports nothing more. */
  | {
      readonly kind: 'error';
      readonly reason: RequestFailure;
      readonly detail: string;
      readonly offset: number;
    };

/** Options of a RequestScanner. */
export interface RequestScannerOptions {
  /** The server's `proto-max-bulk-len` (default 512 MiB): a longer argument is a protocol error. */
  readonly maxBulkLength?: number;
}

const Q_START = 0; // first byte of a request
const Q_COUNT = 1; // `*` line, up to CR
const Q_COUNT_LF = 2; // the byte after that CR
const Q_DOLLAR = 3; // `$` of the next argument
const Q_LENGTH = 4; // `$` line, up to CR
const Q_LENGTH_LF = 5; // the byte after that CR
const Q_ARG = 6; // argument payload
const Q_ARG_END = 7; // the two bytes after the payload
const Q_INLINE = 8; // inline line, up to LF
const Q_STUCK = 9; // a NUL hid the line's end from Redis's strchr(): no request until the cap
const Q_DEAD = 10; // malformed: observe nothing more

/** Incremental Redis request scanner; see the file comment for the contract. */
export class RequestScanner {
  readonly #maxBulk: number;
  #state = Q_START;
  #offset = 0;
  #start = 0;
  #lineLen = 0;
  readonly #num = new Uint8Array(LONG_STR_SIZE);
  #numLen = 0;
  #argc = 0;
  #arg = 0;
  #left = 0;
  readonly #bytes = new Uint8Array(RECORDED_BYTES);
  readonly #lens = new Array<number>(RECORDED_ARGS).fill(0);
  #cut = false;
  #crPending = false;
  #stuckReason: RequestFailure = 'too-big-inline';
  readonly #split = new InlineSplitter();
  #out: RequestEvent[] = [];

  /** A scanner at the start of a client stream. */
  constructor(options: RequestScannerOptions = {}) {
    this.#maxBulk = options.maxBulkLength ?? PROTO_MAX_BULK_LEN;
  }

  /** Scan the next `chunk`; returns the requests it completed, in order. Never throws. */
  push(chunk: Uint8Array): RequestEvent[] {
    const out: RequestEvent[] = [];
    this.#out = out;
    const n = chunk.length;
    let i = 0;
    while (i < n && this.#state !== Q_DEAD) {
      const b = chunk[i]!;
      switch (this.#state) {
        case Q_START:
          this.#begin(i);
          if (b === STAR) {
            this.#header(Q_COUNT);
            i++;
          } else {
            this.#split.reset();
            this.#crPending = false;
            this.#lineLen = 0;
            this.#state = Q_INLINE;
          }
          break;
        case Q_COUNT:
        case Q_LENGTH:
          i = this.#headerLine(chunk, i);
          break;
        case Q_COUNT_LF:
          this.#countDone(i++);
          break;
        case Q_DOLLAR:
          if (b !== DOLLAR) this.#fail('expected-dollar', `expected '$', got byte ${b}`, i);
          else this.#header(Q_LENGTH);
          i++;
          break;
        case Q_LENGTH_LF:
          this.#lengthDone(i++);
          break;
        case Q_ARG:
          i = this.#payload(chunk, i);
          break;
        case Q_ARG_END:
          i = this.#argEnd(n, i);
          break;
        case Q_STUCK:
          i = this.#stuck(n, i);
          break;
        default: // Q_INLINE
          this.#inline(b, i++);
      }
    }
    this.#offset += n;
    return out;
  }

  /** Bytes scanned so far. */
  get offset(): number {
    return this.#offset;
  }

  /** True between requests. */
  get atBoundary(): boolean {
    return this.#state === Q_START;
  }

  /** True once a malformed request was reported. */
  get failed(): boolean {
    return this.#state === Q_DEAD;
  }

  #begin(i: number): void {
    this.#start = this.#offset + i;
    this.#argc = 0;
    this.#arg = 0;
    this.#lens.fill(0);
    this.#cut = false;
  }

  /** Start a `*` or `$` line; its type byte counts toward PROTO_INLINE_MAX_SIZE, as in Redis. */
  #header(state: number): void {
    this.#state = state;
    this.#lineLen = 1;
    this.#numLen = 0;
  }

  /** Scan a header line up to its CR (Redis: strchr(querybuf, '\r'), then string2ll). */
  #headerLine(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    const count = this.#state === Q_COUNT;
    const at = chunk.indexOf(CR, i);
    const stop = at < 0 ? n : at;
    for (let j = i; j < stop; j++) {
      const b = chunk[j]!;
      if (b === 0) {
        this.#stuckOn(count ? 'too-big-count' : 'too-big-bulk-count');
        this.#lineLen += j - i;
        return j;
      }
      if (this.#numLen < LONG_STR_SIZE) this.#num[this.#numLen++] = b;
    }
    this.#lineLen += stop - i;
    if (this.#lineLen > PROTO_INLINE_MAX_SIZE) {
      const reason = count ? 'too-big-count' : 'too-big-bulk-count';
      this.#fail(reason, `header line over ${PROTO_INLINE_MAX_SIZE} bytes`, stop);
      return n;
    }
    if (at < 0) return n;
    this.#state = count ? Q_COUNT_LF : Q_LENGTH_LF;
    return at + 1;
  }

  #value(): number {
    return this.#numLen >= LONG_STR_SIZE ? Number.NaN : string2ll(this.#num, this.#numLen);
  }

  #countDone(i: number): void {
    const v = this.#value();
    if (Number.isNaN(v) || v > INT_MAX) {
      this.#fail('bad-count', 'invalid multibulk length', i);
    } else if (v <= 0) {
      this.#out.push({
        kind: 'empty',
        format: 'multibulk',
        offset: this.#start,
        end: this.#offset + i + 1,
      });
      this.#state = Q_START;
    } else {
      this.#argc = v;
      this.#state = Q_DOLLAR;
    }
  }

  #lengthDone(i: number): void {
    const v = this.#value();
    if (Number.isNaN(v) || v < 0 || v > this.#maxBulk) {
      this.#fail('bad-bulk-length', 'invalid bulk length', i);
      return;
    }
    this.#left = v;
    this.#state = v === 0 ? Q_ARG_END : Q_ARG;
    this.#lineLen = CRLF_LEN; // reused: bytes still to skip after the payload
  }

  /** Skip payload bytes, keeping the first RECORDED_ARG_BYTES of the first RECORDED_ARGS args. */
  #payload(chunk: Uint8Array, i: number): number {
    const take = Math.min(this.#left, chunk.length - i);
    const a = this.#arg;
    if (a < RECORDED_ARGS) {
      const have = this.#lens[a]!;
      const keep = Math.min(take, RECORDED_ARG_BYTES - have);
      const base = a * RECORDED_ARG_BYTES + have;
      for (let k = 0; k < keep; k++) this.#bytes[base + k] = chunk[i + k]!;
      this.#lens[a] = have + keep;
      if (keep < take) this.#cut = true;
    }
    this.#left -= take;
    if (this.#left === 0) {
      this.#state = Q_ARG_END;
      this.#lineLen = CRLF_LEN;
    }
    return i + take;
  }

  /** Skip the two bytes after a payload (unchecked, as Redis does); then the next arg or done. */
  #argEnd(n: number, i: number): number {
    const skip = Math.min(this.#lineLen, n - i);
    this.#lineLen -= skip;
    i += skip;
    if (this.#lineLen > 0) return i;
    if (++this.#arg < this.#argc) this.#state = Q_DOLLAR;
    else this.#command('multibulk', this.#offset + i, this.#argc, this.#recorded(), this.#cut);
    return i;
  }

  /**
   * Redis finds a line's end with strchr(), which stops at a NUL byte: after a NUL in a header or
   * inline line it sees no end, answers nothing, and fails once the line is over
   * PROTO_INLINE_MAX_SIZE ("too big … string"). Do the same.
   */
  #stuckOn(reason: RequestFailure): void {
    this.#state = Q_STUCK;
    this.#stuckReason = reason;
  }

  #stuck(n: number, i: number): number {
    const room = PROTO_INLINE_MAX_SIZE - this.#lineLen;
    if (n - i <= room) {
      this.#lineLen += n - i;
      return n;
    }
    this.#fail(
      this.#stuckReason,
      `no line end Redis can see within ${PROTO_INLINE_MAX_SIZE} bytes`,
      i + room,
    );
    return n;
  }

  /** One byte of an inline line at chunk index `i`. */
  #inline(b: number, i: number): void {
    const split = this.#split;
    if (b === 0) {
      this.#stuckOn('too-big-inline');
      this.#lineLen++;
      return;
    }
    if (b === LF) {
      const end = this.#offset + i + 1;
      if (!split.end()) this.#fail('unbalanced-quotes', 'unbalanced quotes in request', i);
      else if (split.argc === 0) {
        this.#out.push({ kind: 'empty', format: 'inline', offset: this.#start, end });
        this.#state = Q_START;
      } else this.#command('inline', end, split.argc, split.args(), split.truncated);
      return;
    }
    if (++this.#lineLen > PROTO_INLINE_MAX_SIZE) {
      this.#fail('too-big-inline', `inline request over ${PROTO_INLINE_MAX_SIZE} bytes`, i);
      return;
    }
    if (this.#crPending) split.feed(CR);
    this.#crPending = b === CR;
    if (!this.#crPending) split.feed(b);
  }

  #recorded(): string[] {
    const out: string[] = [];
    const n = Math.min(this.#argc, RECORDED_ARGS);
    for (let a = 0; a < n; a++)
      out.push(latin1(this.#bytes, a * RECORDED_ARG_BYTES, this.#lens[a]!));
    return out;
  }

  #command(
    format: RequestFormat,
    end: number,
    argc: number,
    args: string[],
    truncated: boolean,
  ): void {
    this.#out.push({ kind: 'command', format, argc, args, truncated, offset: this.#start, end });
    this.#state = Q_START;
  }

  #fail(reason: RequestFailure, detail: string, i: number): void {
    this.#out.push({ kind: 'error', reason, detail, offset: this.#offset + i });
    this.#state = Q_DEAD;
  }
}

/** `len` bytes at `off` as a latin1 string (short: a loop beats a Buffer view here). */
export function latin1(bytes: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let k = off; k < off + len; k++) s += String.fromCharCode(bytes[k]!);
  return s;
}
