/**
 * An incremental scanner over the server → client byte stream: RESP2 and the RESP3 superset
 * (redis/redis `networking.c`, RESP3 spec `spec.md`). It never decodes values: it finds where each
 * top-level frame starts and ends, streams every frame the caller does not ask for as views into
 * the input (a 512 MB bulk passes with no copy), buffers whole only the frames the caller asks to
 * CAPTURE, and holds each top-level simple error just long enough to tell a `-MOVED`/`-ASK`.
 *
 * The concatenation of every `pass`, `captured` and `redirect` event's bytes is always exactly the
 * input, in order, whatever happens, including after a failure: a malformed stream turns the
 * scanner into a transparent pass-through (one `error` event, then only `pass`). Pure: no I/O, no
 * timers, no recursion; never throws on any input. This file finds where frames start and end;
 * what each frame does with its bytes (stream, hold, release) is ReplyOutput's (reply-output.ts).
 */
import { CR, LF, LONG_STR_SIZE } from './limits.js';
import { isDigit, string2ll } from './numbers.js';
import {
  DEFAULT_REPLY_LIMITS,
  type FrameRole,
  type ReplyEvent,
  type ReplyFailure,
  type ReplyFrame,
  type ReplyLimits,
  type ReplyScannerOptions,
} from './reply-events.js';
import { ReplyOutput } from './reply-output.js';
import {
  DOLLAR,
  GT,
  MINUS,
  PERCENT,
  PIPE,
  QMARK,
  SEMI,
  T,
  TYPE_KIND,
  type RespType,
} from './types.js';

// Scanner states.
const S_TYPE = 0; // expecting a type byte
const S_LINE = 1; // inside a line (header or scalar), up to CRLF
const S_BULK = 2; // inside a bulk payload
const S_BULK_CR = 3; // expecting the CR after a payload
const S_BULK_LF = 4; // expecting the LF after a payload
const S_PART = 5; // streamed string: expecting `;`
const S_DEAD = 6; // failed: everything passes through

/** Incremental RESP2/RESP3 reply scanner; see the file comment for the contract. */
export class ReplyScanner<T = true> {
  readonly #limits: ReplyLimits;
  readonly #capture: ((frame: ReplyFrame) => T | null) | null;
  #state = S_TYPE;
  #offset = 0;
  // The value being scanned.
  #kind = 0;
  #type = 0;
  #lineLen = 0;
  #cr = false;
  readonly #num = new Uint8Array(LONG_STR_SIZE);
  #bulkLeft = 0;
  #streamed = false;
  // Open aggregates: elements still due (-1 = streamed, ends at `.`), and whether each is `|`.
  readonly #due: number[] = [];
  readonly #attr: boolean[] = [];
  // What the current top-level frame does with its bytes, and the events.
  readonly #output: ReplyOutput<T>;

  /** A scanner at the start of a stream; `options.limits` override DEFAULT_REPLY_LIMITS. */
  constructor(options: ReplyScannerOptions<T> = {}) {
    this.#limits = { ...DEFAULT_REPLY_LIMITS, ...options.limits };
    this.#capture = options.capture ?? null;
    this.#output = new ReplyOutput<T>(this.#limits);
  }

  /**
   * Scan the next `chunk` of the stream; returns its events in stream order (see ReplyEvent).
   * Never throws on peer input (an exception from the capture callback propagates).
   */
  push(chunk: Uint8Array): ReplyEvent<T>[] {
    const out: ReplyEvent<T>[] = [];
    const n = chunk.length;
    if (this.#state === S_DEAD) {
      if (n > 0) out.push({ kind: 'pass', bytes: chunk });
      this.#offset += n;
      return out;
    }
    this.#output.begin(chunk, out);
    let i = 0;
    while (i < n) {
      switch (this.#state) {
        case S_TYPE:
          i = this.#onType(chunk[i]!, i);
          break;
        case S_LINE:
          i = this.#kind === T.TEXT ? this.#onText(chunk, i) : this.#onLine(chunk, i);
          break;
        case S_BULK: {
          const take = Math.min(this.#bulkLeft, n - i);
          this.#bulkLeft -= take;
          i += take;
          if (this.#bulkLeft === 0) this.#state = S_BULK_CR;
          break;
        }
        case S_BULK_CR:
          if (chunk[i] !== CR) i = this.#fail('missing-crlf', 'bulk payload not followed by CR', i);
          else {
            this.#state = S_BULK_LF;
            i++;
          }
          break;
        case S_BULK_LF:
          if (chunk[i] !== LF) i = this.#fail('missing-crlf', 'bulk payload not followed by LF', i);
          else if (!this.#streamed) i = this.#valueDone(false, i + 1);
          else {
            this.#state = S_PART;
            i++;
          }
          break;
        case S_PART:
          if (chunk[i] !== SEMI) i = this.#fail('bad-stream', 'streamed string part without ;', i);
          else i = this.#beginLine(T.PART, i + 1);
          break;
        default: // S_DEAD: #fail already passed the rest of the chunk
          i = n;
      }
    }
    if (this.#state !== S_DEAD) this.#output.end(n);
    this.#offset += n;
    return out;
  }

  /** Bytes scanned so far (the stream offset of the next byte). */
  get offset(): number {
    return this.#offset;
  }

  /** True between top-level frames (a stream that ends here ended cleanly). */
  get atBoundary(): boolean {
    return this.#state === S_TYPE && this.#output.between;
  }

  /** True once the stream was found malformed (the scanner now passes everything through). */
  get failed(): boolean {
    return this.#state === S_DEAD;
  }

  /** Bytes currently held for a capture or a redirect check (0 while streaming). */
  get heldBytes(): number {
    return this.#output.heldBytes;
  }

  /** Aggregates currently open. */
  get depth(): number {
    return this.#due.length;
  }

  /** A type byte at chunk index `i`. */
  #onType(b: number, i: number): number {
    const kind = TYPE_KIND[b]!;
    if (kind === T.NONE)
      return this.#fail('bad-type', `byte 0x${b.toString(16)} starts no value`, i);
    const d = this.#due.length;
    if (kind === T.END && (d === 0 || this.#due[d - 1]! >= 0))
      return this.#fail('bad-type', '. outside a streamed aggregate', i);
    if (d === 0) this.#startFrame(b, i);
    this.#type = b;
    return this.#beginLine(kind, i + 1);
  }

  #beginLine(kind: number, i: number): number {
    this.#state = S_LINE;
    this.#kind = kind;
    this.#lineLen = 0;
    this.#cr = false;
    return i;
  }

  /** A `+`/`-` line: any bytes up to the first CRLF (a lone CR is content), no length cap. */
  #onText(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    while (i < n) {
      if (this.#cr) {
        this.#cr = false;
        if (chunk[i] === LF) return this.#valueDone(false, i + 1);
      }
      const at = chunk.indexOf(CR, i);
      if (at < 0) return n;
      this.#cr = true;
      i = at + 1;
    }
    return n;
  }

  /** A header or non-string scalar line: capped, CR must be followed by LF. */
  #onLine(chunk: Uint8Array, i: number): number {
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      if (this.#cr) {
        if (b !== LF) return this.#fail('missing-crlf', 'CR not followed by LF', i);
        return this.#lineDone(i);
      }
      if (b === CR) this.#cr = true;
      else {
        if (this.#lineLen >= this.#limits.maxLineLength)
          return this.#fail('line-too-long', `line over ${this.#limits.maxLineLength} bytes`, i);
        if (this.#kind === T.BIG && !(isDigit(b) || (b === MINUS && this.#lineLen === 0)))
          return this.#fail('bad-scalar', 'big number with a non-digit', i);
        if (this.#lineLen < LONG_STR_SIZE) this.#num[this.#lineLen] = b;
        this.#lineLen++;
      }
      i++;
    }
    return n;
  }

  /** The line ended with the LF at chunk index `lf`. */
  #lineDone(lf: number): number {
    const e = lf + 1;
    const len = this.#lineLen;
    const num = this.#num;
    const isQ = len === 1 && num[0] === QMARK;
    switch (this.#kind) {
      case T.INT:
        if (Number.isNaN(string2ll(num, len))) return this.#fail('bad-scalar', 'bad integer', lf);
        return this.#valueDone(false, e);
      case T.DOUBLE:
        if (len === 0) return this.#fail('bad-scalar', 'empty double', lf);
        return this.#valueDone(false, e);
      case T.BOOL:
        if (len !== 1 || !'tTfF'.includes(String.fromCharCode(num[0]!)))
          return this.#fail('bad-scalar', 'boolean is not t or f', lf);
        return this.#valueDone(false, e);
      case T.NULL:
        if (len !== 0) return this.#fail('bad-scalar', 'null with a body', lf);
        return this.#valueDone(false, e);
      case T.BIG:
        if (len === 0 || (len === 1 && num[0] === MINUS))
          return this.#fail('bad-scalar', 'big number without digits', lf);
        return this.#valueDone(false, e);
      case T.END:
        if (len !== 0) return this.#fail('bad-stream', '. end marker with a body', lf);
        this.#due.pop();
        return this.#valueDone(this.#attr.pop()!, e);
      case T.BULK: {
        if (isQ && this.#type === DOLLAR) {
          this.#streamed = true; // `$?`: streamed string (RESP3), parts follow
          this.#state = S_PART;
          return e;
        }
        return this.#bulkLength(string2ll(num, len), 'bad-length', lf);
      }
      case T.PART: {
        const v = string2ll(num, len);
        if (v === 0) {
          this.#streamed = false;
          return this.#valueDone(false, e);
        }
        return this.#bulkLength(v > 0 ? v : Number.NaN, 'bad-stream', lf);
      }
      default: // T.AGG
        return this.#aggregate(isQ ? Number.POSITIVE_INFINITY : string2ll(num, len), lf);
    }
  }

  #bulkLength(v: number, reason: ReplyFailure, lf: number): number {
    if (Number.isNaN(v) || v < -1)
      return this.#fail(reason, 'bulk length is not an integer ≥ -1', lf);
    if (v === -1) return this.#valueDone(false, lf + 1);
    if (v > this.#limits.maxBulkLength)
      return this.#fail(
        'length-too-large',
        `bulk length ${v} over ${this.#limits.maxBulkLength}`,
        lf,
      );
    this.#bulkLeft = v;
    this.#state = v === 0 ? S_BULK_CR : S_BULK;
    return lf + 1;
  }

  /** An aggregate header with count `v` (Infinity for `?`: streamed, closed by `.`). */
  #aggregate(v: number, lf: number): number {
    const isAttr = this.#type === PIPE;
    const streamed = v === Number.POSITIVE_INFINITY;
    if (Number.isNaN(v) || v < -1)
      return this.#fail('bad-count', 'count is not an integer ≥ -1', lf);
    if (v === -1) return this.#valueDone(isAttr, lf + 1); // RESP2 null array
    if (!streamed && v > this.#limits.maxElements)
      return this.#fail('too-many-elements', `count ${v} over ${this.#limits.maxElements}`, lf);
    const due = streamed ? -1 : this.#type === PERCENT || isAttr ? 2 * v : v; // k pairs → 2k
    if (due === 0) return this.#valueDone(isAttr, lf + 1);
    if (this.#due.length >= this.#limits.maxDepth)
      return this.#fail('too-deep', `more than ${this.#limits.maxDepth} nested aggregates`, lf);
    this.#due.push(due);
    this.#attr.push(isAttr);
    this.#state = S_TYPE;
    return lf + 1;
  }

  /**
   * A value ended just before chunk index `e`: count it against the open aggregates, closing
   * every one it completes. An attribute does not count as an element of its parent.
   */
  #valueDone(isAttr: boolean, e: number): number {
    this.#state = S_TYPE;
    const due = this.#due;
    while (due.length > 0) {
      if (isAttr) return e;
      const d = due.length - 1;
      const left = due[d]!;
      if (left < 0) return e; // streamed: only `.` closes it
      if (left > 1) {
        due[d] = left - 1;
        return e;
      }
      due.pop();
      isAttr = this.#attr.pop()!;
    }
    this.#output.close(e);
    return e;
  }

  /** A top-level frame starts with type byte `b` at chunk index `i`. */
  #startFrame(b: number, i: number): void {
    const type = String.fromCharCode(b) as RespType;
    const role: FrameRole = b === GT ? 'push' : b === PIPE ? 'attribute' : 'reply';
    const frame: ReplyFrame = { type, role, offset: this.#offset + i };
    const tag = this.#capture === null ? null : this.#capture(frame);
    this.#output.open(frame, tag, b === MINUS, i);
  }

  /**
   * Fail at chunk index `i`: emit what precedes it, the error, then everything not yet emitted
   * (held bytes and the rest of the chunk) as pass-through. Returns the chunk length.
   */
  #fail(reason: ReplyFailure, detail: string, i: number): number {
    const n = this.#output.fail(reason, detail, this.#offset + i, i);
    this.#state = S_DEAD;
    this.#due.length = 0;
    this.#attr.length = 0;
    return n;
  }
}
