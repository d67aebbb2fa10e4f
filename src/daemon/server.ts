/**
 * The daemon: listen on -s, run a Tunnel per accepted connection, enforce -n, survive accept()
 * failures such as EMFILE (spiped issue #463), and drain on SIGTERM.
 *
 * Shutdown sequence: stop accepting at once (the listener closes; queued connections are
 * closed), wait for live connections to end, exit 0; if --shutdown-timeout runs out first, log
 * every connection that is cut and exit 1.
 */
import cluster from 'node:cluster';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CryptoEngine } from '../crypto/engine.js';
import { type Address, formatAddress } from '../pipe/address.js';
import { Tunnel, type TunnelConfig, type TunnelRouting } from '../pipe/connection.js';
import type { Route } from '../protocol/route.js';
import { dial, type DialOptions, tuneSocket } from '../pipe/dial.js';
import type { ByteCounts, Metrics } from '../pipe/metrics.js';
import type { Resolver } from '../pipe/resolver.js';
import type { EphemeralPool } from './pool.js';
import { RateLimitedWarning } from './observe.js';
import type { KeyRing } from './keyring.js';

/** Everything the daemon needs, already validated by the CLI. */
export interface DaemonConfig {
  readonly tunnel: TunnelConfig;
  readonly source: Address;
  readonly target: string;
  /** -n; 0 = no limit. */
  readonly maxConns: number;
  /** Outgoing connections; its keepalive settings apply to accepted sockets too (-j). */
  readonly dial: DialOptions;
  /** ms to wait for connections on shutdown; 0 = no limit. */
  readonly shutdownTimeoutMs: number;
}

/** Collaborators handed in. */
export interface DaemonDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly engine: CryptoEngine;
  readonly keyring: KeyRing;
  readonly resolver: Resolver;
  readonly pool: EphemeralPool;
  /**
   * Cluster mode: the routing hooks for a connection (`route` is the node a -e node listener
   * fronts, null on the main listener). Absent in plain mode.
   */
  readonly routing?: (route: Route | null) => TunnelRouting;
  /** Called once when shutdown starts (cluster mode closes its node listeners). */
  readonly onDrain?: () => void;
}

/** The hint appended to an accept or connect failure that ran out of file descriptors. */
function fdHint(code: string | undefined): string {
  return code === 'EMFILE' || code === 'ENFILE'
    ? ': out of file descriptors, raise LimitNOFILE / ulimit -n or lower -n'
    : '';
}

/** Queued connections beyond -n wait here (like spiped's kernel backlog) up to this many. */
const MAX_QUEUED = 1024;

/** A running tunnel endpoint. */
export class Daemon {
  readonly #cfg: DaemonConfig;
  readonly #deps: DaemonDeps;
  readonly #server: Server;
  readonly #live = new Set<Tunnel>();
  readonly #queue: { s: Socket; route: Route | null }[] = [];
  readonly #limitWarn: RateLimitedWarning;
  readonly #acceptWarn: RateLimitedWarning;
  readonly #targetWarn: RateLimitedWarning;
  #nextId = 1;
  #draining = false;
  #listening = false;
  #boundAddress = '';
  #drained: (() => void) | null = null;

  constructor(cfg: DaemonConfig, deps: DaemonDeps) {
    this.#cfg = cfg;
    this.#deps = deps;
    this.#limitWarn = new RateLimitedWarning(deps.log);
    this.#acceptWarn = new RateLimitedWarning(deps.log, 1000);
    this.#targetWarn = new RateLimitedWarning(deps.log, 1000);
    deps.metrics.liveBytes?.(() => this.#liveBytes());
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
      this.#onConnection(s),
    );
  }

  /** Where it listens, once listening (actual port when -s used port 0). */
  get address(): string {
    return this.#boundAddress;
  }

  /** True while accepting (for /readyz). */
  get ready(): boolean {
    return this.#listening && !this.#draining;
  }

  /** Number of live tunnels. */
  get active(): number {
    return this.#live.size;
  }

  /**
   * Plaintext bytes carried so far by tunnels that are open: established and not yet closed (a
   * closed tunnel's totals went to Metrics.connectionClosed). Read at scrape time only.
   */
  #liveBytes(): ByteCounts {
    const sum = { up: 0, down: 0 };
    for (const t of this.#live) {
      if (!t.established || t.state === 'closed') continue;
      const i = t.info();
      sum.up += i.up;
      sum.down += i.down;
    }
    return sum;
  }

  /** Start listening. Rejects with the OS error (EADDRINUSE, EACCES, …) if it cannot. */
  async listen(): Promise<void> {
    const src = this.#cfg.source;
    // A --workers primary clears a stale socket once, before any worker binds: a worker doing it
    // could unlink the socket another worker's listener has just bound (bound, not yet listening).
    if (src.kind === 'unix' && !cluster.isWorker) await removeStaleSocket(src.path, this.#deps.log);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      const done = (): void => {
        this.#server.removeListener('error', onError);
        resolve();
      };
      if (src.kind === 'unix') this.#server.listen({ path: src.path, backlog: 511 }, done);
      else if (src.kind === 'fd') this.#server.listen({ fd: src.fd }, done);
      else this.#server.listen({ host: src.host, port: src.port, backlog: 511 }, done);
    });
    // After start-up, errors come from accept(): EMFILE/ENFILE must not kill anything.
    this.#server.on('error', (err: NodeJS.ErrnoException) => {
      this.#deps.metrics.connectionRejected('accept-error');
      this.#acceptWarn.warn(
        { code: err.code },
        `accept failed (${err.code ?? err.message}); live connections are unaffected, retrying` +
          fdHint(err.code),
      );
    });
    const a = this.#server.address();
    this.#boundAddress =
      typeof a === 'string' || a === null
        ? src.kind === 'fd'
          ? `fd:${src.fd}`
          : formatAddress(src)
        : a.family === 'IPv6'
          ? `[${a.address}]:${a.port}`
          : `${a.address}:${a.port}`;
    this.#listening = true;
  }

  /**
   * Serve a connection accepted by another listener (a cluster node listener) under this daemon's
   * limits, metrics and shutdown.
   */
  adopt(s: Socket, route: Route): void {
    this.#onConnection(s, route);
  }

  #onConnection(s: Socket, route: Route | null = null): void {
    if (this.#draining) {
      this.#deps.metrics.connectionRejected('draining');
      s.destroy();
      return;
    }
    this.#deps.metrics.connectionAccepted();
    s.on('error', () => {}); // replaced by the tunnel's handler; guards the queued phase
    const max = this.#cfg.maxConns;
    if (max > 0 && this.#live.size >= max) {
      if (this.#queue.length >= MAX_QUEUED) {
        this.#deps.metrics.connectionRejected('limit');
        s.destroy();
        return;
      }
      this.#limitWarn.warn(
        { max_conns: max, queued: this.#queue.length + 1 },
        `connection limit reached (-n ${max}): new connections wait until one closes`,
      );
      const entry = { s, route };
      this.#queue.push(entry);
      s.once('close', () => {
        const i = this.#queue.indexOf(entry);
        if (i >= 0) this.#queue.splice(i, 1);
      });
      return;
    }
    this.#run(s, route);
  }

  #run(s: Socket, route: Route | null): void {
    const id = this.#nextId++;
    const peer =
      s.remoteAddress === undefined
        ? 'unix'
        : s.remoteFamily === 'IPv6'
          ? `[${s.remoteAddress}]:${s.remotePort}`
          : `${s.remoteAddress}:${s.remotePort}`;
    const mode = this.#cfg.tunnel.mode;
    const log = this.#deps.log.child(
      route === null
        ? { conn: id, peer, mode }
        : { conn: id, peer, mode, node: `${route.host}:${route.port}` },
    );
    if (s.remoteAddress !== undefined)
      tuneSocket(s, this.#cfg.dial.keepAlive, this.#cfg.dial.keepAliveDelayMs);
    const { engine, keyring, resolver, metrics, pool } = this.#deps;
    const t = new Tunnel(s, id, peer, this.#cfg.tunnel, {
      engine,
      keys: () => keyring.keys,
      ephemeral: () => pool.take(),
      dial: (signal) => dial(resolver.endpoints(), this.#cfg.dial, signal),
      metrics,
      log,
      targetWarning: (code, message) =>
        this.#targetWarn.warn(
          { code, err: message, conn: id, peer, mode },
          `target connect failed (${code}); dropping connection` + fdHint(code),
        ),
      ...(this.#deps.routing ? { routing: this.#deps.routing(route) } : {}),
    });
    this.#live.add(t);
    log.debug('connection accepted');
    void t.done.then(() => {
      this.#live.delete(t);
      this.#dequeue();
      if (this.#draining && this.#live.size === 0) this.#drained?.();
    });
    t.start();
  }

  #dequeue(): void {
    while (!this.#draining && this.#queue.length > 0) {
      const max = this.#cfg.maxConns;
      if (max > 0 && this.#live.size >= max) return;
      const { s, route } = this.#queue.shift()!;
      if (s.destroyed) continue;
      this.#run(s, route);
    }
  }

  /**
   * Stop accepting now; resolve with the exit code once every connection has ended (0) or the
   * shutdown timeout has cut the rest (1, after logging each one cut).
   */
  async shutdown(): Promise<number> {
    if (this.#draining) return new Promise(() => {});
    this.#draining = true;
    this.#server.close();
    this.#deps.onDrain?.();
    for (const { s } of this.#queue.splice(0)) {
      this.#deps.metrics.connectionRejected('draining');
      s.destroy();
    }
    const log = this.#deps.log;
    log.info(
      { active: this.#live.size, timeout_s: this.#cfg.shutdownTimeoutMs / 1000 },
      'shutting down: no longer accepting; waiting for live connections',
    );
    if (this.#live.size > 0) {
      const drained = new Promise<boolean>((resolve) => {
        this.#drained = () => resolve(true);
      });
      const limit = this.#cfg.shutdownTimeoutMs;
      const timedOut =
        limit > 0
          ? new Promise<boolean>((resolve) => setTimeout(() => resolve(false), limit).unref())
          : new Promise<boolean>(() => {});
      if (!(await Promise.race([drained, timedOut]))) {
        const cut = [...this.#live].map((t) => t.info());
        log.error({ cut }, `shutdown timeout: cutting ${cut.length} live connection(s)`);
        for (const t of this.#live) t.abort('shutdown timeout');
        if (this.#cfg.source.kind === 'unix') removeQuietly(this.#cfg.source.path);
        return 1;
      }
    }
    if (this.#cfg.source.kind === 'unix') removeQuietly(this.#cfg.source.path);
    log.info('all connections closed; exiting');
    return 0;
  }
}

/** Unlink `path` if it exists (a UNIX socket, a pid file); never throws. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * A UNIX socket file left by a process that died is removed; one that still accepts connections
 * is left alone (listen then fails with EADDRINUSE, which is the truth). Never throws.
 */
export async function removeStaleSocket(path: string, log: Logger): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) return; // listen() will report EADDRINUSE for a non-socket
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (!alive) {
    log.info({ path }, 'removing stale UNIX socket left by an earlier process');
    removeQuietly(path);
  }
}
