/**
 * cloakpipe's cluster route header (version 1), sent inside the encrypted stream right after the
 * handshake, only between two `--cluster` ends (DESIGN.md §3). Plain mode never sends it, so plain
 * mode stays byte-compatible with spiped.
 *
 *   -e → -d   CLOAKPIPE/1 ROUTE <host> <port>\r\n     the cluster node this connection is for
 *   -d → -e   CLOAKPIPE/1 OK <ip> <port>\r\n          dialled that address; Redis bytes follow
 *             CLOAKPIPE/1 REFUSED <reason>\r\n        not a member of the cluster (connection ends)
 *
 * `<host>` is the node's address as the cluster reports it (IPv6 unbracketed, a host name, or `-`
 * for the seed given to -d with -t). The line is ASCII, at most ROUTE_MAX_LINE bytes, and distinct
 * from any Redis request a plain -e could send first, so either misconfiguration is recognised: a
 * plain -d (or spiped) forwards the header to Redis, which answers `-ERR unknown command`, and a
 * `--cluster -d` that receives Redis bytes instead of a header says so.
 */

/** Prefix shared by every route line. */
export const ROUTE_MAGIC = 'CLOAKPIPE/1 ';
/** Longest route line accepted, CRLF included. */
export const ROUTE_MAX_LINE = 300;
/** The host name meaning "the seed node -d was started with". */
export const SEED_HOST = '-';

/** The route of connections accepted on the -e end's own -s address: the seed node itself. */
export const SEED_ROUTE: Route = { host: SEED_HOST, port: 0 };

/** A route request: which node. */
export interface Route {
  readonly host: string;
  readonly port: number;
}

/** The request line for `route`. */
export function encodeRouteRequest(route: Route): Buffer {
  if (!/^[^\s]{1,255}$/.test(route.host)) throw new TypeError(`bad route host '${route.host}'`);
  return Buffer.from(`${ROUTE_MAGIC}ROUTE ${route.host} ${route.port}\r\n`, 'latin1');
}

/**
 * The -d answer: OK naming the address actually dialled (so -e can resolve the `''` and `?`
 * endpoints a node reports relative to "the host of this connection"), or REFUSED with a short
 * reason (trimmed to fit).
 */
export function encodeRouteReply(result: Route | string): Buffer {
  const text =
    typeof result === 'string'
      ? `REFUSED ${result.replace(/[\r\n]/g, ' ').slice(0, 200)}`
      : `OK ${result.host} ${result.port}`;
  return Buffer.from(`${ROUTE_MAGIC}${text}\r\n`, 'latin1');
}

/** Outcome of reading one route line from the front of a stream. */
export type LineRead =
  | { readonly kind: 'more' }
  | { readonly kind: 'line'; readonly line: string; readonly rest: Buffer }
  | { readonly kind: 'foreign'; readonly head: string };

/**
 * Accumulates the first line of a stream. Reports 'foreign' as soon as the bytes cannot be a route
 * line (they do not start with ROUTE_MAGIC, or no CRLF within ROUTE_MAX_LINE), so a misconfigured
 * peer is recognised without waiting for a timeout.
 */
export class RouteLineReader {
  #buf: Buffer = Buffer.alloc(0);

  /** Feed bytes; never throws. */
  push(chunk: Buffer): LineRead {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const b = this.#buf;
    const n = Math.min(b.length, ROUTE_MAGIC.length);
    if (b.subarray(0, n).toString('latin1') !== ROUTE_MAGIC.slice(0, n)) return this.#foreign();
    const end = b.indexOf('\r\n');
    if (end < 0) return b.length >= ROUTE_MAX_LINE ? this.#foreign() : { kind: 'more' };
    const line = b.subarray(0, end).toString('latin1');
    const rest = b.subarray(end + 2);
    this.#buf = Buffer.alloc(0);
    return { kind: 'line', line, rest };
  }

  #foreign(): LineRead {
    const head = this.#buf
      .subarray(0, 40)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '.');
    return { kind: 'foreign', head };
  }
}

/** ROUTE_MAGIC as a regular-expression source (its '/' escaped). */
const MAGIC_RE = ROUTE_MAGIC.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&');
const REQUEST_LINE = new RegExp(`^${MAGIC_RE}ROUTE (\\S{1,255}) ([0-9]{1,5})$`);
const OK_LINE = new RegExp(`^${MAGIC_RE}OK (\\S{1,255}) ([0-9]{1,5})$`);

/** Parse a request line; null if malformed. */
export function parseRouteRequest(line: string): Route | null {
  const m = REQUEST_LINE.exec(line);
  if (!m) return null;
  const port = Number(m[2]);
  // Port 0 only with SEED_HOST: "the seed itself".
  if (port > 65535 || (port === 0 && m[1] !== SEED_HOST)) return null;
  return { host: m[1]!, port };
}

/** Parse a reply line: a Route = OK (the address dialled), a string = refused, undefined = malformed. */
export function parseRouteReply(line: string): Route | string | undefined {
  const ok = OK_LINE.exec(line);
  if (ok) return { host: ok[1]!, port: Number(ok[2]) };
  if (line.startsWith(`${ROUTE_MAGIC}REFUSED `)) return line.slice(`${ROUTE_MAGIC}REFUSED `.length);
  return undefined;
}

/** How a route exchange ended. */
export type RouteOutcome =
  /** Server: the node the client asked for. Client: the address the -d end dialled. */
  | { readonly kind: 'routed'; readonly route: Route }
  /**
   * Client: the -d end refused (or answered something malformed), with its reason. Server: the
   * request line was malformed; the step's `send` holds the refusal to send before closing.
   */
  | { readonly kind: 'refused'; readonly reason: string }
  /** The peer is not in cluster mode: `head` is its first bytes, printable, for the log. */
  | { readonly kind: 'foreign'; readonly head: string };

/** What one RouteExchange.push() produced. */
export interface RouteStep {
  /** Plaintext lines to send to the peer now, in order (the caller seals them). */
  readonly send: Buffer[];
  /** Set once the exchange is over. */
  readonly done: RouteOutcome | null;
  /** Bytes after the line that ended the exchange (the first Redis bytes); empty until done. */
  readonly rest: Buffer;
}

/** Which end of the exchange: the -e end asks for `route`; the -d end answers. */
export type RouteSide =
  { readonly role: 'client'; readonly route: Route } | { readonly role: 'server' };

const NOTHING = Buffer.alloc(0);

/**
 * The route exchange as a pure state machine over the plaintext that follows the handshake,
 * shaped like Handshake: the caller sends what `start()` and `push()` return (sealed) and feeds in
 * what it opens. No sockets, no timers; never throws on peer input.
 *
 *   client (-e)                                server (-d)
 *   start(): the ROUTE line                    start(): nothing
 *   push(): reads the OK / REFUSED answer      push(): reads the ROUTE line → routed (dial it)
 *                                              answer(dialled | reason): the OK / REFUSED line
 *
 * A peer whose first bytes cannot be a route line is reported as 'foreign' at once.
 */
export class RouteExchange {
  readonly #side: RouteSide;
  readonly #reader = new RouteLineReader();
  #finished = false;

  /** Checks `side`; throws TypeError on a bad client route (a programming error). */
  constructor(side: RouteSide) {
    if (side.role === 'client') encodeRouteRequest(side.route);
    this.#side = side;
  }

  /** The lines to send first: the client's request; nothing on the server. */
  start(): Buffer[] {
    return this.#side.role === 'client' ? [encodeRouteRequest(this.#side.route)] : [];
  }

  /** True once push() has reported an outcome. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Feed plaintext from the peer. Returns `done` once the peer's line is complete (or cannot be
   * one), with the bytes after it in `rest`. Never throws on peer input; throws Error when fed
   * after it finished.
   */
  push(chunk: Buffer): RouteStep {
    if (this.#finished) throw new Error('route exchange already finished');
    const r = this.#reader.push(chunk);
    if (r.kind === 'more') return { send: [], done: null, rest: NOTHING };
    this.#finished = true;
    if (r.kind === 'foreign') return { send: [], done: r, rest: NOTHING };
    if (this.#side.role === 'server') {
      const route = parseRouteRequest(r.line);
      if (route === null) {
        const reason = 'malformed route line';
        return { send: [this.answer(reason)], done: { kind: 'refused', reason }, rest: r.rest };
      }
      return { send: [], done: { kind: 'routed', route }, rest: r.rest };
    }
    const answer = parseRouteReply(r.line);
    const done: RouteOutcome =
      typeof answer === 'object'
        ? { kind: 'routed', route: answer }
        : { kind: 'refused', reason: answer ?? 'malformed answer' };
    return { send: [], done, rest: r.rest };
  }

  /** Server: the answer to send once the route was dialled (its address) or refused (a reason). */
  answer(result: Route | string): Buffer {
    return encodeRouteReply(result);
  }
}
