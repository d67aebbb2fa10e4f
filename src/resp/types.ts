/**
 * The RESP type bytes (RESP2: `+ - : $ *`; RESP3 adds `_ , # ( ! = % ~ > |` and the streamed
 * forms `$?` / `*?` with `;` parts and `.` ends), and how the scanners read each one.
 * Source: the RESP3 specification (redis/redis-specifications `protocol/RESP3.md`).
 */

/** Every byte that starts a RESP value. */
export type RespType =
  | '+' // RESP2 simple string
  | '-' // RESP2 simple error
  | ':' // RESP2 integer
  | '$' // RESP2 bulk string ($-1 = RESP2 null)
  | '*' // RESP2 array (*-1 = RESP2 null array)
  | '_' // RESP3 null
  | ',' // RESP3 double
  | '#' // RESP3 boolean
  | '(' // RESP3 big number
  | '!' // RESP3 bulk error
  | '=' // RESP3 verbatim string (`txt:` / `mkd:` prefix counted in the length)
  | '%' // RESP3 map (count = pairs)
  | '~' // RESP3 set
  | '>' // RESP3 push (out of band, never a reply)
  | '|' // RESP3 attribute (map that precedes a value and is not counted)
  | '.'; // RESP3 end of a streamed aggregate

/** How a type byte's value is laid out (index into TYPE_KIND). */
export const T = {
  /** Not a type byte. */
  NONE: 0,
  /** `+ -`: text up to CRLF. */
  TEXT: 1,
  /** `:`: string2ll integer. */
  INT: 2,
  /** `,`: non-empty line. */
  DOUBLE: 3,
  /** `#`: `t` or `f`. */
  BOOL: 4,
  /** `_`: empty line. */
  NULL: 5,
  /** `(`: optional `-`, then digits. */
  BIG: 6,
  /** `$ ! =`: length line, payload, CRLF. */
  BULK: 7,
  /** `* % ~ > |`: count line, then elements. */
  AGG: 8,
  /** `.`: end of a streamed aggregate, empty line. */
  END: 9,
  /** `;`: one part of a streamed string (not a type byte; scanner-internal). */
  PART: 10,
} as const;

/** TYPE_KIND[byte] = how a value starting with `byte` is laid out (T.NONE if it cannot start one). */
export const TYPE_KIND: Uint8Array = (() => {
  const k = new Uint8Array(256);
  const set = (chars: string, kind: number): void => {
    for (const c of chars) k[c.charCodeAt(0)] = kind;
  };
  set('+-', T.TEXT);
  set(':', T.INT);
  set(',', T.DOUBLE);
  set('#', T.BOOL);
  set('_', T.NULL);
  set('(', T.BIG);
  set('$!=', T.BULK);
  set('*%~>|', T.AGG);
  set('.', T.END);
  return k;
})();

/** `-`: simple error type byte, and the sign of a negative number. */
export const MINUS = 0x2d;
/** `?`: the length of a streamed (RESP3) string or aggregate. */
export const QMARK = 0x3f;
/** `;`: starts one part of a streamed string. */
export const SEMI = 0x3b;

/**
 * Whether a whole reply frame is an error: a RESP2 simple error (`-`) or a RESP3 bulk error
 * (`!`). Looks at the type byte only; never throws (an empty frame is not an error).
 */
export function isErrorReply(frame: Uint8Array): boolean {
  const type = frame[0];
  return type === MINUS || type === 0x21; // '!' RESP3 bulk error
}
