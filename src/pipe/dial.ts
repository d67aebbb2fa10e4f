/**
 * Outgoing connections: try each endpoint of the target in order until one connects, within a
 * deadline shared among them (see addressShareMs). Sockets are created with allowHalfOpen (EOF is a half-close in this protocol),
 * TCP_NODELAY, and SO_KEEPALIVE unless -j.
 *
 * Dialled sockets are read with `onread` into one static buffer shared by every dialled socket
 * in the process: no allocation and no stream machinery per read. Each read is handed to the
 * socket's reader (setStaticReader), which must copy synchronously whatever it keeps; until a
 * reader is set, a copy of each read is emitted as a 'data' event, so stream consumers (the
 * handshake) work unchanged. pause() and resume() stop and restart reading as usual.
 */
import { connect, type Socket } from 'node:net';
import { describeEndpoint, type Endpoint } from './resolver.js';

/** Size of the one buffer dialled sockets read into (Node's default read size). */
const READ_BUFFER_BYTES = 64 * 1024;
/** Its own ArrayBuffer (not the pool's), so a view of it is recognised by its `buffer`. */
const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);

const READER = Symbol('static reader');

/** Takes one read from a static-read socket; `chunk` is reused once it returns. */
export type StaticReader = (chunk: Buffer) => void;

type StaticSocket = Socket & { [READER]: StaticReader | null };

/** True if `b` is a view of the static read buffer (and must be copied to be kept). */
export function isStaticRead(b: Uint8Array): boolean {
  return b.buffer === readBuffer.buffer;
}

/**
 * Hand `s`'s reads to `reader` (or, with null, back to 'data' events, copied). Returns false,
 * and does nothing, if `s` was not dialled with static reads (read it through 'data' then).
 */
export function setStaticReader(s: object, reader: StaticReader | null): boolean {
  if (!(READER in s)) return false;
  (s as StaticSocket)[READER] = reader;
  return true;
}

/** onread's callback, shared by every dialled socket (`this` is the socket). */
function onStaticRead(this: StaticSocket, n: number, buf: Uint8Array): boolean {
  const chunk = (buf as Buffer).subarray(0, n);
  const reader = this[READER];
  if (reader !== null) reader(chunk);
  else this.emit('data', Buffer.from(chunk));
  return true; // keep reading; pause() is how a reader stops it
}

/** The onread option every dialled socket is created with. */
const ONREAD = {
  buffer: readBuffer,
  callback: onStaticRead as (n: number, b: Uint8Array) => boolean,
};

/** How to dial. */
export interface DialOptions {
  /** Local IP to bind outgoing TCP sockets to (-b), or undefined. */
  readonly localAddress?: string | undefined;
  /** Local port to bind to (-b host:port), 0 or undefined for any. */
  readonly localPort?: number | undefined;
  /** SO_KEEPALIVE (spiped's default; -j turns it off). */
  readonly keepAlive: boolean;
  /** Initial keepalive delay in ms (0 = the OS default). */
  readonly keepAliveDelayMs?: number;
  /**
   * The connect deadline in ms (-o) the caller's signal enforces. When given and the target has
   * several endpoints, each one but the last gets only its share of it (addressShareMs), so one
   * host that never answers cannot use up the whole deadline. Counted from the dial() call; a
   * caller that spent part of -o already (-d --cluster, after the route header) may pass it
   * whole: the signal still ends the dial on time, only the earlier shares come out longer.
   * Undefined: no share, every endpoint may wait until the signal aborts.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Called when an endpoint failed (refused, or no answer within its share) and the next one is
   * tried: `failed` and `next` as host:port or path, `reason` the error code or "no answer in
   * N ms". For logging a host that is down while connections still succeed; must not throw.
   */
  readonly onFailover?: ((failed: string, reason: string, next: string) => void) | undefined;
}

/**
 * How long to wait for one endpoint: `remainingMs` (what is left of the -o deadline) split
 * equally among the `left` endpoints not yet tried, this one included; the last gets all of it.
 *
 * Why an equal share of what remains, not a fixed cap: a host that refuses costs nothing and the
 * time it did not use passes on to the ones after it; a black-holed host (SYNs dropped) costs at
 * most its share, so with two hosts and spiped's default -o 5 the second still gets 2.5 s; the
 * split follows -o (a fixed cap of, say, 3 s would swallow the whole of -o 1 and fail over
 * never); and a target with one address behaves exactly as before (it waits for the whole -o).
 * A live host answers a SYN within one round trip, far below any share of a sane -o; with many
 * addresses on a lossy path (Linux resends a lost SYN after 1 s), raise -o.
 */
export function addressShareMs(remainingMs: number, left: number): number {
  return left <= 1 ? remainingMs : Math.max(0, remainingMs) / left;
}

/** The target refused or never answered; `message` names every endpoint tried and its error. */
export class DialError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'DialError';
  }
}

/** Apply the per-socket options every tunnel socket gets (accepted or dialled). */
export function tuneSocket(s: Socket, keepAlive: boolean, keepAliveDelayMs = 0): void {
  // UNIX sockets ignore these; TCP sockets get low latency and dead-peer detection.
  s.setNoDelay(true);
  if (keepAlive) s.setKeepAlive(true, keepAliveDelayMs);
}

/**
 * Connect to the first endpoint that accepts, trying them in order; with `opts.timeoutMs`, an
 * endpoint that neither accepts nor refuses within its share of the deadline (addressShareMs) is
 * given up for the next one. Rejects with DialError (code of the last failure, or ETIMEDOUT when
 * `signal` aborts first) naming every endpoint tried and why it failed.
 *
 * Callback-driven: one Promise and one set of listeners per attempt, no async function and no
 * Promise per endpoint (this runs once per connection); a per-endpoint timer exists only when
 * there is a next endpoint to fail over to.
 */
export function dial(
  endpoints: readonly Endpoint[],
  opts: DialOptions,
  signal: AbortSignal,
): Promise<Socket> {
  if (endpoints.length === 0)
    return Promise.reject(new DialError('target has no resolved address', 'ENOTFOUND'));
  return new Promise((resolve, reject) => {
    const errors: string[] = [];
    // Shares only matter with somewhere to fail over to: one endpoint costs no clock read.
    const budget = endpoints.length > 1 ? opts.timeoutMs : undefined;
    const started = budget === undefined ? 0 : Date.now();
    let i = 0;
    let s: StaticSocket | null = null;
    let ep = endpoints[0]!;
    let share: NodeJS.Timeout | null = null;
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      s!.removeListener('error', onError);
      s!.removeListener('connect', onConnect);
      if (share !== null) clearTimeout(share);
      share = null;
    };
    const onAbort = (): void => {
      cleanup();
      s!.destroy();
      errors.push(`${describeEndpoint(ep)}: timed out`);
      reject(new DialError(errors.join('; '), 'ETIMEDOUT'));
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      cleanup();
      s!.destroy();
      const code = err.code ?? 'EIO';
      const reason = err.code ?? err.message;
      errors.push(`${describeEndpoint(ep)}: ${reason}`);
      if (++i < endpoints.length) return failOver(reason);
      reject(new DialError(errors.join('; '), code));
    };
    const onShareSpent = (ms: number): void => {
      cleanup();
      s!.destroy();
      const reason = `no answer in ${Math.round(ms)} ms`;
      errors.push(`${describeEndpoint(ep)}: ${reason}`);
      i++; // a share is only armed when another endpoint follows
      failOver(reason);
    };
    /** `ep` failed with `reason`; try endpoints[i]. */
    const failOver = (reason: string): void => {
      opts.onFailover?.(describeEndpoint(ep), reason, describeEndpoint(endpoints[i]!));
      next();
    };
    const onConnect = (): void => {
      cleanup();
      tuneSocket(s!, opts.keepAlive, opts.keepAliveDelayMs);
      resolve(s!);
    };
    const next = (): void => {
      ep = endpoints[i]!;
      if (signal.aborted) {
        errors.push(`${describeEndpoint(ep)}: timed out`);
        return reject(new DialError(errors.join('; '), 'ETIMEDOUT'));
      }
      s = connectOne(ep, opts);
      signal.addEventListener('abort', onAbort, { once: true });
      s.once('error', onError);
      s.once('connect', onConnect);
      const left = endpoints.length - i;
      if (budget !== undefined && left > 1) {
        const ms = addressShareMs(budget - (Date.now() - started), left);
        share = setTimeout(onShareSpent, ms, ms);
      }
    };
    next();
  });
}

/** Start connecting to `ep` (static reads, allowHalfOpen, -b's local address). */
function connectOne(ep: Endpoint, opts: DialOptions): StaticSocket {
  const s = (
    ep.kind === 'unix'
      ? connect({ path: ep.path, allowHalfOpen: true, onread: ONREAD })
      : connect({
          host: ep.host,
          port: ep.port,
          family: ep.family,
          allowHalfOpen: true,
          onread: ONREAD,
          ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
          ...(opts.localPort ? { localPort: opts.localPort } : {}),
        })
  ) as StaticSocket;
  s[READER] = null;
  return s;
}
