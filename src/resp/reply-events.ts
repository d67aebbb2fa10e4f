/**
 * What the reply scanner reports: the top-level frames it sees, the events push() returns, why a
 * stream fails, and the caps it applies (see limits.ts for the defaults and why).
 */
import {
  DEFAULT_CAPTURE_CAP,
  DEFAULT_MAX_BULK_LENGTH,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ELEMENTS,
  DEFAULT_MAX_LINE_LENGTH,
} from './limits.js';
import type { Redirect } from './redirect.js';
import type { RespType } from './types.js';

/** What a top-level frame is to a request/reply pairing: only `reply` answers a request. */
export type FrameRole = 'reply' | 'push' | 'attribute';

/** A top-level frame, as seen at its first byte. */
export interface ReplyFrame {
  /** Its type byte: `*` array, `$` bulk, `>` push, `|` attribute, … */
  readonly type: RespType;
  /** `push` for `>` (never answers a request), `attribute` for `|` (precedes a reply), else `reply`. */
  readonly role: FrameRole;
  /** Stream offset of its first byte. */
  readonly offset: number;
}

/** Why the stream could not be followed (all fatal but `capture-cap`). */
export type ReplyFailure =
  /** A byte that starts no RESP value (or `.` outside a streamed aggregate). */
  | 'bad-type'
  /** A bulk length that is not a `string2ll` integer ≥ -1 (or `?` on `$`). */
  | 'bad-length'
  /** An aggregate count that is not a `string2ll` integer ≥ -1 (or `?`). */
  | 'bad-count'
  /** A bulk length above `maxBulkLength`. */
  | 'length-too-large'
  /** An aggregate count above `maxElements`. */
  | 'too-many-elements'
  /** More than `maxDepth` aggregates open at once. */
  | 'too-deep'
  /** A non-string line longer than `maxLineLength`. */
  | 'line-too-long'
  /** A header's CR not followed by LF, or a bulk payload not followed by CRLF. */
  | 'missing-crlf'
  /** A `:` integer, `,` double, `#` boolean, `_` null or `(` big number with a bad body. */
  | 'bad-scalar'
  /** A streamed-string part that is not `;<len>`, or a `.` end marker with a body. */
  | 'bad-stream'
  /** Not fatal: a captured frame grew past `captureCap`; it is passed through unchanged. */
  | 'capture-cap';

/** What one push() produced, in stream order. Byte views are valid while the input chunk is. */
export type ReplyEvent<T> =
  /** Forward these bytes unchanged (a view into the chunk; may span several frames). */
  | { readonly kind: 'pass'; readonly bytes: Uint8Array }
  /** A whole frame the capture callback asked for (a view, or a copy if it spanned chunks). */
  | {
      readonly kind: 'captured';
      readonly frame: ReplyFrame;
      readonly tag: T;
      readonly bytes: Uint8Array;
    }
  /** A whole top-level `-MOVED`/`-ASK`; `tag` is the capture callback's answer for it, or null. */
  | {
      readonly kind: 'redirect';
      readonly frame: ReplyFrame;
      readonly tag: T | null;
      readonly redirect: Redirect;
      readonly bytes: Uint8Array;
    }
  /** The stream is malformed (fatal: pass-through from here on), or a capture overflowed. */
  | {
      readonly kind: 'error';
      readonly reason: ReplyFailure;
      readonly detail: string;
      readonly offset: number;
      readonly fatal: boolean;
    };

/**
 * The text of a `capture-cap` event's detail, up to the note that the frame was passed unchanged;
 * shared so a caller that reports the overflow in its own words quotes the same text.
 */
export function captureOverflowText(captureCap: number): string {
  return `captured frame over ${captureCap} bytes`;
}

/** Caps applied to the stream (see limits.ts for the defaults and why). */
export interface ReplyLimits {
  readonly maxDepth: number;
  readonly maxElements: number;
  readonly maxBulkLength: number;
  readonly maxLineLength: number;
  readonly captureCap: number;
}

/** The defaults: depth 128, 2^32 − 1 elements, unbounded bulks, 64 KiB lines, 16 MiB captures. */
export const DEFAULT_REPLY_LIMITS: ReplyLimits = {
  maxDepth: DEFAULT_MAX_DEPTH,
  maxElements: DEFAULT_MAX_ELEMENTS,
  maxBulkLength: DEFAULT_MAX_BULK_LENGTH,
  maxLineLength: DEFAULT_MAX_LINE_LENGTH,
  captureCap: DEFAULT_CAPTURE_CAP,
};

/** Options of a ReplyScanner. */
export interface ReplyScannerOptions<T> {
  /**
   * Called synchronously at the first byte of every top-level frame, in stream order. Return a
   * non-null tag to capture the frame (it comes back whole in a `captured` event carrying the
   * tag), or null to stream it. This is where a pairing pops its FIFO for `role === 'reply'`.
   */
  readonly capture?: (frame: ReplyFrame) => T | null;
  /** Caps; any left out take DEFAULT_REPLY_LIMITS. */
  readonly limits?: Partial<ReplyLimits>;
}
