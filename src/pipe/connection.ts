/**
 * One tunnelled connection, from accept to close (spiped lib/proto/proto_conn.c): it dials the
 * other leg, runs the handshake on the encrypted leg within the -o deadline, then runs two Pipes
 * (./pipe.ts), one sealing and one opening, until both have ended. This file is the lifecycle
 * only, as one state:
 *
 *   connecting → handshake → routing → open → closing → closed
 *
 *   connecting  -e: dialling the encrypted leg (the handshake starts once it is up)
 *   handshake   the spiped handshake runs on the encrypted leg
 *   routing     keyed, no data yet: -d waits for its target leg (and, in cluster mode, reads the
 *               client's route line first); -e in cluster mode waits for -d's answer
 *   open        both pipes carry data
 *   closing     dropped (or refusing a route): sockets are being torn down
 *   closed      both sockets closed; `done` has settled
 *
 * Failure policy: anything the peer or the network does wrong drops this connection only, with a
 * logged reason and a metric; nothing here throws into the event loop.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { encodeRouteReply } from '../protocol/route.js';
import { ClusterStages, type RouteHost } from './cluster-stages.js';
import { TunnelFailures } from './failures.js';
import type { Framing } from './framing.js';
import { framingsFor, type SealFraming } from './framings.js';
import { beginKeying, type Keyed } from './keying.js';
import type { HandshakeFailure } from './metrics.js';
import { Pipe, type PipeHooks } from './pipe.js';
import { type Expiry, TunnelTimers } from './timers.js';
import {
  RouteRefused,
  type TunnelConfig,
  type TunnelDeps,
  type TunnelInfo,
} from './tunnel-deps.js';

export * from './tunnel-deps.js';

/** Where a tunnel is in its life (see the file comment). */
export type TunnelState = 'connecting' | 'handshake' | 'routing' | 'open' | 'closing' | 'closed';

type Leg = 'plain' | 'enc';

/** One connection through the tunnel. Construct, then start(); `done` settles when it is closed. */
export class Tunnel {
  readonly id: number;
  readonly peer: string;
  readonly done: Promise<void>;
  readonly #cfg: TunnelConfig;
  readonly #deps: TunnelDeps;
  readonly #started = Date.now();
  readonly #abort = new AbortController();
  readonly #timers: TunnelTimers;
  #state: TunnelState = 'connecting';
  #resolveDone!: () => void;
  #plain: Duplex | null = null;
  #enc: Socket | null = null;
  /** Sockets attached and not yet closed. */
  #live = 0;
  #error: string | null = null;
  /** When the tunnel was established (both legs up and keyed); 0 before. */
  #openedAt = 0;
  #abandonKeying: (() => void) | null = null;
  /** Logs and counts what goes wrong (./failures.ts). */
  readonly #fail: TunnelFailures;
  #seal: SealFraming | null = null;
  #open: Framing | null = null;
  /** plaintext leg → encrypted leg. */
  #sealing: Pipe | null = null;
  /** encrypted leg → plaintext leg. */
  #opening: Pipe | null = null;
  #sealed = 0;
  #opened = 0;
  /** Cluster mode's stages and route policy; null in plain mode. */
  readonly #cluster: ClusterStages | null;
  /** -d cluster: releases the opening pipe once the routed target is up. */
  #routed: (() => void) | null = null;

  /**
   * `accepted` is the socket the daemon accepted: the plaintext leg for -e, the encrypted leg for
   * -d. (For the stdio client, the plaintext leg may be any Duplex, e.g. stdin + stdout.)
   */
  constructor(accepted: Duplex, id: number, peer: string, cfg: TunnelConfig, deps: TunnelDeps) {
    this.id = id;
    this.peer = peer;
    this.#cfg = cfg;
    this.#deps = deps;
    this.done = new Promise((r) => {
      this.#resolveDone = r;
    });
    this.#timers = new TunnelTimers(cfg, (e) => this.#expired(e));
    this.#fail = new TunnelFailures(deps.log, deps.metrics, cfg.mode, cfg.timeoutMs);
    this.#cluster = deps.routing ? new ClusterStages(deps.routing, this.#routeHost()) : null;
    if (cfg.mode === 'encrypt') this.#attach('plain', accepted);
    else this.#attach('enc', accepted as Socket);
  }

  /** Begin: arm the -o timer, dial the other leg, and start the handshake. */
  start(): void {
    this.#timers.setup();
    if (this.#cfg.mode === 'decrypt') this.#beginHandshake();
    if (this.#cfg.mode === 'decrypt' && this.#deps.routing?.serve) return; // dial once routed
    this.#connectOther(this.#deps.dial(this.#abort.signal));
  }

  /** Where the tunnel is in its life. */
  get state(): TunnelState {
    return this.#state;
  }

  /** Live state, for shutdown reports. */
  info(): TunnelInfo {
    const enc = this.#cfg.mode === 'encrypt';
    return {
      id: this.id,
      peer: this.peer,
      state: this.#openedAt > 0 ? 'open' : 'handshake',
      up: enc ? this.#sealed : this.#opened,
      down: enc ? this.#opened : this.#sealed,
      ageMs: Date.now() - this.#started,
    };
  }

  /** Why the connection was dropped, or null if it ended cleanly (or is still open). */
  get error(): string | null {
    return this.#error;
  }

  /** True once both legs were connected and keyed. */
  get established(): boolean {
    return this.#openedAt > 0;
  }

  /** Cut the connection now (shutdown timeout, lifetime limits). */
  abort(reason: string): void {
    this.#drop(reason);
  }

  get #ending(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Attach the dialled leg when `dialling` settles (or report why it failed). */
  #connectOther(dialling: Promise<Socket>): void {
    dialling.then(
      (s) => {
        if (this.#ending) {
          s.destroy();
          return;
        }
        s.pause();
        this.#attach(this.#cfg.mode === 'encrypt' ? 'enc' : 'plain', s);
        if (this.#cfg.mode === 'encrypt') this.#beginHandshake();
        else if (this.#state === 'routing') this.#establish();
      },
      (err: Error & { code?: string }) => {
        if (this.#ending) return;
        if (err instanceof RouteRefused) return this.#refuseRoute(err.reason);
        const code = err.code ?? 'EIO';
        this.#deps.metrics.targetConnectFailed(code);
        if (code === 'ETIMEDOUT') return this.#failHandshake('ETIMEDOUT');
        this.#fail.targetFailed(code, err.message, this.#deps.targetWarning);
        this.#drop(`target connect failed: ${code}`);
      },
    );
  }

  #attach(leg: Leg, s: Duplex): void {
    if (leg === 'plain') this.#plain = s;
    else this.#enc = s as Socket;
    this.#live++;
    s.on('error', (err: NodeJS.ErrnoException) => this.#onSocketError(leg, err));
    s.on('close', () => {
      if (--this.#live === 0) this.#finish();
      else if (this.#openedAt === 0) this.#onEarlyClose(leg);
    });
  }

  #beginHandshake(): void {
    this.#state = 'handshake';
    try {
      this.#abandonKeying = beginKeying(
        this.#enc!,
        this.#cfg,
        this.#deps,
        (k) => this.#keyed(k),
        (reason, detail) => this.#failHandshake(reason, detail),
        (chunk) => this.#fail.sniff.record(chunk),
      );
    } catch (err) {
      this.#deps.log.error({ err: (err as Error).message }, 'cannot start handshake');
      this.#drop('internal error');
    }
  }

  /** Keys are ready: build both directions; start them once the other leg is up too. */
  #keyed(k: Keyed): void {
    if (this.#ending) return;
    const { done, rest } = k;
    this.#state = 'routing';
    this.#fail.sniff.clear();
    this.#deps.metrics.handshakeCompleted((Date.now() - this.#started) / 1000);
    if (this.#deps.log.isLevelEnabled('debug'))
      this.#deps.log.debug({ keyIndex: done.keyIndex, pfs: !done.noPfs }, 'handshake complete');
    // Bytes are counted here as plain integers; metrics read them at close and at scrape time.
    const { seal, open } = framingsFor(k, this.#cfg.bucket, {
      sealed: (n) => {
        this.#sealed += n;
      },
      opened: (n) => {
        this.#opened += n;
      },
      truncated: (pending, unit) => this.#fail.truncated(pending, unit),
    });
    this.#seal = seal;
    this.#open = open;
    const cluster = this.#cluster;
    const opening = cluster ? cluster.opening(this.#open) : this.#open;
    this.#opening = new Pipe(this.#enc!, this.#plain, opening, this.#hooks());
    if (rest.length > 0) this.#opening.push(rest);
    if (cluster?.serves)
      this.#opening.start(); // reads the route line; holds until routed
    else if (this.#plain !== null) this.#establish();
  }

  /** Both legs are connected and keyed: start pumping (or, -e cluster, ask for the route). */
  #establish(): void {
    if (this.#ending) return;
    const plain = this.#plain!;
    const enc = this.#enc!;
    this.#openedAt = Date.now();
    this.#timers.open();
    this.#deps.metrics.connectionOpened();
    if (this.#deps.log.isLevelEnabled('info'))
      this.#deps.log.info({ setup_ms: this.#openedAt - this.#started }, 'connection established');
    if (this.#cfg.mode === 'encrypt') enc.once('end', () => this.#peerHungUp(enc));
    const cluster = this.#cluster;
    if (cluster) {
      const s = plain as Socket;
      const dialled = { host: s.remoteAddress ?? '-', port: s.remotePort ?? 0 };
      for (const line of cluster.firstLines(dialled)) enc.write(this.#seal!.sealLine(line));
    }
    const up = cluster ? cluster.sealing(this.#seal!) : this.#seal!;
    this.#sealing = new Pipe(plain, enc, up, this.#hooks());
    this.#opening!.connect(plain);
    if (!cluster?.asks) this.#goOpen();
    this.#opening!.start();
    const routed = this.#routed;
    this.#routed = null;
    routed?.();
  }

  #goOpen(): void {
    this.#state = 'open';
    this.#sealing!.start();
  }

  #routeHost(): RouteHost {
    const { log, metrics } = this.#deps;
    return {
      log,
      metrics,
      drop: (reason) => this.#drop(reason),
      refuse: (reason, lines) => this.#refuseRoute(reason, lines),
      routed: () => this.#goOpen(),
      dial: (route) => {
        const released = new Promise<void>((r) => {
          this.#routed = r;
        });
        this.#connectOther(this.#deps.routing!.serve!(route, this.#abort.signal));
        return released;
      },
    };
  }

  #hooks(): PipeHooks {
    return {
      onError: (err) => this.#pipeFailed(err),
      onEnd: () => this.#timers.ended(),
      ...(this.#timers.watchesIdle ? { onChunk: this.#timers.touch } : {}),
    };
  }

  /** A pipe stopped on a bad packet, or on the cluster filter's error. */
  #pipeFailed(err: unknown): void {
    if (!this.#ending) this.#drop(this.#fail.pipe(err));
  }

  /** -d cluster: tell the client no, then close. */
  #refuseRoute(reason: string, lines = [encodeRouteReply(reason)]): void {
    this.#deps.log.warn({ reason: 'EROUTE', detail: reason }, `route refused: ${reason}`);
    const enc = this.#enc!;
    this.#state = 'closing';
    this.#error = `route refused: ${reason}`;
    this.#timers.clearSetup();
    this.#opening?.stop();
    enc.end(Buffer.concat(lines.map((l) => this.#seal!.sealLine(l))));
    setTimeout(() => enc.destroy(), 2000).unref();
  }

  #expired(e: Expiry): void {
    if (e.limit === 'setup') return this.#failHandshake('ETIMEDOUT');
    this.#deps.log.info(e.fields, e.message);
    this.#drop(e.reason);
  }

  #onEarlyClose(leg: Leg): void {
    if (this.#ending) return;
    // The client (or the -d side's peer) went away before the tunnel was up.
    const which = leg === 'plain' ? 'plaintext' : 'encrypted';
    this.#deps.log.info(`${which} side closed before the tunnel was established`);
    this.#drop(`${which} side closed during setup`);
  }

  #onSocketError(leg: Leg, err: NodeJS.ErrnoException): void {
    if (this.#ending) return;
    const code = err.code ?? 'EIO';
    if (this.#openedAt === 0 && leg === 'enc') return this.#failHandshake('ESOCKET', code);
    if (leg === 'enc' && this.#peerHungUp(this.#enc!))
      return this.#drop(`encrypted socket error: ${code}`);
    this.#deps.log.info({ leg, code }, `${leg === 'enc' ? 'encrypted' : 'plaintext'} socket error`);
    this.#drop(`${leg} socket error: ${code}`);
  }

  /** -e: the -d end hung up right after the handshake (reported once by #fail); true if so. */
  #peerHungUp(enc: Socket): boolean {
    return !this.#ending && this.#fail.hungUp(this.#openedAt, this.#opened, !enc.writableEnded);
  }

  #failHandshake(reason: HandshakeFailure, detail?: string): void {
    if (!this.#ending) this.#drop(this.#fail.handshake(reason, this.#enc !== null, detail));
  }

  /** Tear down both legs now. Idempotent. */
  #drop(reason: string): void {
    if (this.#ending) return;
    this.#state = 'closing';
    this.#error = reason;
    this.#abort.abort();
    this.#sealing?.stop();
    this.#opening?.stop();
    this.#plain?.destroy();
    this.#enc?.destroy();
    if (this.#live === 0) this.#finish();
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    this.#timers.clear();
    this.#state = 'closed';
    this.#sealing?.stop();
    this.#opening?.stop();
    this.#abandonKeying?.();
    this.#seal?.destroy();
    this.#open?.destroy();
    const i = this.info();
    if (this.#openedAt > 0) {
      this.#deps.metrics.connectionClosed(i.up, i.down, i.ageMs / 1000, this.#error);
      if (this.#deps.log.isLevelEnabled('info'))
        this.#deps.log.info(
          {
            bytes_up: i.up,
            bytes_down: i.down,
            duration_ms: i.ageMs,
            ...(this.#error ? { error: this.#error } : {}),
          },
          'connection closed',
        );
    }
    this.#resolveDone();
  }
}
