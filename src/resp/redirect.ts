/**
 * Cluster redirects: the top-level simple errors `-MOVED <slot> <endpoint>:<port>` and
 * `-ASK <slot> <endpoint>:<port>` (`cluster.c@7.0.15` L6880-6901, format `"-%s %d %s:%d"`;
 * DESIGN.md §4.1).
 * The endpoint is an IP, a hostname, `?` (hostname preferred but none announced) or `""`
 * (unknown-endpoint: "the host you used"); IPv6 is not bracketed, so the port follows the LAST ':'.
 */
import { CR, LF, MAX_PORT, MAX_SLOT } from './limits.js';
import { string2llText } from './numbers.js';
import { MINUS } from './types.js';

/** Which redirect: MOVED (slot owner changed) or ASK (one-shot, slot migrating). */
export type RedirectKind = 'MOVED' | 'ASK';

/** A parsed redirect. */
export interface Redirect {
  readonly kind: RedirectKind;
  /** The hash slot, 0–16383. */
  readonly slot: number;
  /** The endpoint as sent: IP, hostname, `?` or `''`. */
  readonly host: string;
  /** The port, 0–65535. */
  readonly port: number;
}

/** `MOVED|ASK`, one space, a slot, one space, an endpoint with no space, `:`, a port. */
const REDIRECT_RE = /^(MOVED|ASK) ([0-9]{1,5}) ([^ ]*):([0-9]{1,5})$/;

/**
 * Parse a whole simple-error frame (`-` … `\r\n`, as the reply scanner captures it). Returns null
 * when it is not a well-formed MOVED/ASK (any other error, a bad slot or port, extra spaces);
 * never throws. The slot and port must be canonical decimals within range.
 */
export function parseRedirect(frame: Uint8Array): Redirect | null {
  const n = frame.length;
  if (n < 4 || frame[0] !== MINUS || frame[n - 2] !== CR || frame[n - 1] !== LF) return null;
  const text = Buffer.from(frame.buffer, frame.byteOffset + 1, n - 3).toString('latin1');
  const m = REDIRECT_RE.exec(text);
  if (m === null) return null;
  const slot = string2llText(m[2]!);
  const port = string2llText(m[4]!);
  if (!(slot >= 0 && slot <= MAX_SLOT) || !(port >= 0 && port <= MAX_PORT)) return null;
  return { kind: m[1] as RedirectKind, slot, host: m[3]!, port };
}

/** Encode a redirect as Redis does: `-<KIND> <slot> <host>:<port>\r\n`, host unbracketed. */
export function formatRedirect(r: Redirect): Uint8Array {
  return Buffer.from(`-${r.kind} ${r.slot} ${r.host}:${r.port}\r\n`, 'latin1');
}
