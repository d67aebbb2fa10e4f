/**
 * The output side of the reply scanner: what the current top-level frame does with its bytes
 * (streams them, or holds them for a `captured` event or a `-MOVED`/`-ASK` check), and the events
 * that follow from it. ReplyScanner finds where frames start and end; this class turns those
 * positions into `pass`, `captured`, `redirect` and `capture-cap` events.
 *
 * Contract: between begin() and end(), every byte of the chunk is emitted exactly once, in
 * order, as a view into the chunk (a pending pass range) or inside a held frame; a held frame is
 * copied only when it spans chunks, and never beyond its cap (captureCap for a capture, the line
 * cap plus `-` and CRLF for a check): past its cap it is released as `pass` and streams on.
 * Pure: no I/O, no timers; never throws.
 */
import { parseRedirect } from './redirect.js';
import {
  captureOverflowText,
  type ReplyEvent,
  type ReplyFailure,
  type ReplyFrame,
  type ReplyLimits,
} from './reply-events.js';

const EMPTY = new Uint8Array(0);

// What the current top-level frame is doing with its bytes.
const M_NONE = 0; // between frames
const M_PASS = 1; // streaming
const M_CAPTURE = 2; // held for a `captured` event
const M_CHECK = 3; // a top-level `-` line, held to be checked for MOVED/ASK

/** Frame bookkeeping and event output of one ReplyScanner; see the file comment. */
export class ReplyOutput<T> {
  readonly #captureCap: number;
  /** Most bytes a redirect check holds: the line cap plus the `-` and CRLF around it. */
  readonly #checkCap: number;
  #mode = M_NONE;
  #frame: ReplyFrame | null = null;
  #tag: T | null = null;
  #held: Uint8Array[] = [];
  #heldLen = 0;
  // Per chunk.
  #chunk: Uint8Array = EMPTY;
  #out: ReplyEvent<T>[] = [];
  #passFrom = -1;
  #holdFrom = 0;

  /** Output under `limits.captureCap` and `limits.maxLineLength`. */
  constructor(limits: ReplyLimits) {
    this.#captureCap = limits.captureCap;
    this.#checkCap = limits.maxLineLength + 3;
  }

  /** True between top-level frames. */
  get between(): boolean {
    return this.#mode === M_NONE;
  }

  /** Bytes currently held for a capture or a redirect check (0 while streaming). */
  get heldBytes(): number {
    return this.#heldLen;
  }

  /** Start a chunk: its events are appended to `out`. */
  begin(chunk: Uint8Array, out: ReplyEvent<T>[]): void {
    this.#out = out;
    this.#chunk = chunk;
    this.#passFrom = this.#holding() ? -1 : 0;
    this.#holdFrom = 0;
  }

  /** End the chunk begun last, of length `n`: flush the pass range, or keep the held tail. */
  end(n: number): void {
    this.#chunkEnd(n);
    this.#chunk = EMPTY;
  }

  /**
   * A top-level `frame` starts at chunk index `i`. A non-null `tag` holds it for a `captured`
   * event; else `check` (a `-` line) holds it for a redirect check; else it streams.
   */
  open(frame: ReplyFrame, tag: T | null, check: boolean, i: number): void {
    const capture = tag !== null && tag !== undefined;
    this.#frame = frame;
    this.#tag = capture ? tag : null;
    if (capture || check) {
      this.#flushPass(i);
      this.#mode = capture ? M_CAPTURE : M_CHECK;
      this.#holdFrom = i;
    } else {
      this.#mode = M_PASS;
      if (this.#passFrom < 0) this.#passFrom = i;
    }
  }

  /** The current top-level frame ends just before chunk index `e`. */
  close(e: number): void {
    const mode = this.#mode;
    const frame = this.#frame!;
    const tag = this.#tag;
    this.#mode = M_NONE;
    this.#frame = null;
    this.#tag = null;
    if (mode !== M_CAPTURE && mode !== M_CHECK) return;
    const bytes = this.#takeHeld(e);
    this.#passFrom = e;
    const redirect =
      frame.type === '-' && bytes.length <= this.#checkCap ? parseRedirect(bytes) : null;
    if (redirect !== null) this.#out.push({ kind: 'redirect', frame, tag, redirect, bytes });
    else if (mode === M_CHECK || bytes.length <= this.#captureCap)
      this.#out.push(
        mode === M_CHECK
          ? { kind: 'pass', bytes }
          : { kind: 'captured', frame, tag: tag as T, bytes },
      );
    else {
      this.#overflow(frame.offset);
      this.#out.push({ kind: 'pass', bytes });
    }
  }

  /**
   * The stream failed at chunk index `i` (stream offset `offset`): emit what precedes it, the
   * fatal error, then everything not yet emitted (held bytes and the rest of the chunk) as pass.
   * The chunk needs no end() after this. Returns the chunk's length.
   */
  fail(reason: ReplyFailure, detail: string, offset: number, i: number): number {
    const n = this.#chunk.length;
    const holding = this.#holding();
    if (!holding) this.#flushPass(i);
    this.#out.push({ kind: 'error', reason, detail, offset, fatal: true });
    if (holding) this.#release(n);
    else if (i < n) this.#out.push({ kind: 'pass', bytes: this.#chunk.subarray(i, n) });
    this.#mode = M_NONE;
    this.#chunk = EMPTY;
    return n;
  }

  #holding(): boolean {
    return this.#mode === M_CAPTURE || this.#mode === M_CHECK;
  }

  /** The held bytes of the current frame plus chunk[holdFrom, e), as one array. */
  #takeHeld(e: number): Uint8Array {
    const tail = this.#chunk.subarray(this.#holdFrom, e);
    if (this.#held.length === 0) return tail;
    const all = new Uint8Array(this.#heldLen + tail.length);
    let off = 0;
    for (const part of this.#held) {
      all.set(part, off);
      off += part.length;
    }
    all.set(tail, off);
    this.#held = [];
    this.#heldLen = 0;
    return all;
  }

  /** Emit the pending pass range [passFrom, i) of the chunk, if any. */
  #flushPass(i: number): void {
    if (this.#passFrom >= 0 && i > this.#passFrom)
      this.#out.push({ kind: 'pass', bytes: this.#chunk.subarray(this.#passFrom, i) });
    this.#passFrom = -1;
  }

  /** End of a chunk of length `n`: flush the pass range, or copy the held tail (within its cap). */
  #chunkEnd(n: number): void {
    if (!this.#holding()) {
      this.#flushPass(n);
      return;
    }
    const part = n - this.#holdFrom;
    const cap = this.#mode === M_CAPTURE ? this.#captureCap : this.#checkCap;
    if (this.#heldLen + part > cap) {
      if (this.#mode === M_CAPTURE) this.#overflow(this.#frame!.offset);
      this.#release(n);
      this.#mode = M_PASS;
      return;
    }
    if (part === 0) return;
    const copy = new Uint8Array(part);
    copy.set(this.#chunk.subarray(this.#holdFrom, n));
    this.#held.push(copy);
    this.#heldLen += part;
  }

  /** Pass everything held plus chunk[holdFrom, end), and hold nothing. */
  #release(end: number): void {
    for (const bytes of this.#held) this.#out.push({ kind: 'pass', bytes });
    this.#held = [];
    this.#heldLen = 0;
    if (end > this.#holdFrom)
      this.#out.push({ kind: 'pass', bytes: this.#chunk.subarray(this.#holdFrom, end) });
  }

  #overflow(offset: number): void {
    const detail = `${captureOverflowText(this.#captureCap)}; passed unchanged`;
    this.#out.push({ kind: 'error', reason: 'capture-cap', detail, offset, fatal: false });
  }
}
