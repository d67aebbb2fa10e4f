/**
 * Outgoing connections: try each endpoint of the target in order until one connects, within a
 * deadline. Sockets are created with allowHalfOpen (EOF is a half-close in this protocol),
 * TCP_NODELAY, and SO_KEEPALIVE unless -j.
 */
import { connect, type Socket } from 'node:net';
import { describeEndpoint, type Endpoint } from './resolver.js';

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

function dialOne(ep: Endpoint, opts: DialOptions, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s =
      ep.kind === 'unix'
        ? connect({ path: ep.path, allowHalfOpen: true })
        : connect({
            host: ep.host,
            port: ep.port,
            family: ep.family,
            allowHalfOpen: true,
            ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
            ...(opts.localPort ? { localPort: opts.localPort } : {}),
          });
    const onAbort = (): void => {
      s.destroy();
      reject(new DialError(`${describeEndpoint(ep)}: timed out`, 'ETIMEDOUT'));
    };
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      s.removeListener('error', onError);
      s.removeListener('connect', onConnect);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      cleanup();
      s.destroy();
      reject(
        new DialError(`${describeEndpoint(ep)}: ${err.code ?? err.message}`, err.code ?? 'EIO'),
      );
    };
    const onConnect = (): void => {
      cleanup();
      tuneSocket(s, opts.keepAlive, opts.keepAliveDelayMs);
      resolve(s);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('error', onError);
    s.once('connect', onConnect);
  });
}

/**
 * Connect to the first endpoint that accepts, trying them in order. Rejects with DialError
 * (code of the last failure, or ETIMEDOUT when `signal` aborts first).
 */
export async function dial(
  endpoints: readonly Endpoint[],
  opts: DialOptions,
  signal: AbortSignal,
): Promise<Socket> {
  if (endpoints.length === 0) throw new DialError('target has no resolved address', 'ENOTFOUND');
  const errors: string[] = [];
  let code = 'EIO';
  for (const ep of endpoints) {
    try {
      return await dialOne(ep, opts, signal);
    } catch (err) {
      const e = err as DialError;
      errors.push(e.message);
      code = e.code;
      if (signal.aborted) break;
    }
  }
  throw new DialError(errors.join('; '), code);
}
