/**
 * One tunnelled connection, from accept to close (spiped lib/proto/proto_conn.c): it dials the
 * other leg, runs the handshake on the encrypted leg within the -o deadline, then pumps both
 * directions with backpressure until both have ended. Sockets and timers live here; the
 * protocol itself is in ../protocol (pure).
 *
 * Failure policy: anything the peer or the network does wrong drops this connection only, with a
 * logged reason and a metric; nothing here throws into the event loop.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { zeroize } from '../crypto/bytes.js';
import type { EphemeralKey } from '../crypto/dh.js';
import type { CryptoEngine, Opener, Sealer } from '../crypto/engine.js';
import { destroySessionKeys } from '../crypto/kdf.js';
import { NONCE_LEN } from '../crypto/sizes.js';
import { PROTOCOL_ERROR_TEXT, ProtocolError, type ProtocolErrorCode } from '../protocol/errors.js';
import { PacketFramer } from '../protocol/framer.js';
import { Handshake } from '../protocol/handshake.js';
import {
  encodeRouteReply,
  encodeRouteRequest,
  parseRouteReply,
  parseRouteRequest,
  type Route,
  RouteLineReader,
} from '../protocol/route.js';
import type { HandshakeFailure, Metrics } from './metrics.js';

/** -e (accept plaintext, dial encrypted; handshake client) or -d (the reverse; handshake server). */
export type Mode = 'encrypt' | 'decrypt';

/** Per-connection settings, fixed at start. */
export interface TunnelConfig {
  readonly mode: Mode;
  /** -f */
  readonly noPfs: boolean;
  /** -g */
  readonly requirePfs: boolean;
  /** -o in ms: connect + handshake must finish within it. */
  readonly timeoutMs: number;
  /** --idle-timeout in ms (0 = off): drop when neither direction has moved a byte for this long. */
  readonly idleTimeoutMs?: number;
  /** --half-close-timeout in ms (0 = off): after one direction ends, the other must end within it. */
  readonly halfCloseTimeoutMs?: number;
  /** --max-conn-lifetime in ms (0 = off): drop an established tunnel this long after it opened. */
  readonly maxLifetimeMs?: number;
}

/** What a tunnel is handed (ghostunnel-style injection; no globals). */
export interface TunnelDeps {
  readonly engine: CryptoEngine;
  /** Current keys: a client uses the first; a server tries each. Read at handshake time. */
  readonly keys: () => readonly Uint8Array[];
  /** A fresh ephemeral DH key (used once). Not called with -f. */
  readonly ephemeral: () => EphemeralKey;
  /** Dial the other leg (the target). Rejects with an Error whose `code` says why. */
  readonly dial: (signal: AbortSignal) => Promise<Socket>;
  readonly metrics: Metrics;
  /** This connection's child logger ({conn, peer, mode} already bound). */
  readonly log: Logger;
  /** Cluster mode only. */
  readonly routing?: TunnelRouting;
  /**
   * Report a failed target connection (the daemon rate-limits these, so running out of file
   * descriptors does not flood the log); without it, each failure is logged.
   */
  readonly targetWarning?: (code: string, message: string) => void;
}

/**
 * Watches a tunnel's plaintext (cluster mode): `up` sees what the client sends (and returns what to
 * forward), `down` sees what comes back and may rewrite it; a Promise from `down` holds the
 * stream (in order) until it settles, e.g. while listeners for new nodes are opened. A rejected
 * Promise or a thrown error drops the connection with its message as the reason.
 */
export interface StreamFilter {
  /** -e cluster: the -d end dialled this address for the connection (before any reply). */
  routed?(dialled: Route): void;
  up(chunk: Buffer): Buffer;
  down(chunk: Buffer): Buffer[] | Promise<Buffer[]>;
}

/** A route request refused by -d (not a cluster member, or malformed). */
export class RouteRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RouteRefused';
  }
}

/** Cluster-mode hooks; absent in plain mode, which keeps the stream spiped-compatible. */
export interface TunnelRouting {
  /** -e: the node this connection is for; sent first, and -d's answer read before any reply. */
  readonly route?: Route;
  /**
   * -d: dial the node a client's route line names, instead of TunnelDeps.dial. Rejects with
   * RouteRefused when the node is not allowed, or with a dial error.
   */
  readonly serve?: (route: Route, signal: AbortSignal) => Promise<Socket>;
  /** -e: request tracking and reply rewriting. */
  readonly filter?: StreamFilter;
}

/** A snapshot of a live connection, for shutdown reports. */
export interface TunnelInfo {
  readonly id: number;
  readonly peer: string;
  readonly state: 'handshake' | 'open';
  readonly up: number;
  readonly down: number;
  readonly ageMs: number;
}

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
  #resolveDone!: () => void;
  #plain: Duplex | null = null;
  #enc: Socket | null = null;
  #open = 0;
  #hs: Handshake | null = null;
  #hsDone = false;
  #established = false;
  #closing = false;
  #error: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #sealer: Sealer | null = null;
  #opener: Opener | null = null;
  #framer = new PacketFramer();
  #rest: Buffer | null = null;
  #sealed = 0;
  readonly #waiting = new Set<Duplex>();
  #lastActivity = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #lifeTimer: NodeJS.Timeout | null = null;
  #halfTimer: NodeJS.Timeout | null = null;
  #ends = 0;
  #encEndedEarly = false;
  /** -d cluster: reading the client's route line. */
  #routeReader: RouteLineReader | null = null;
  /** -d cluster: route read, target being dialled; plaintext held meanwhile. */
  #routeHeld: Buffer[] | null = null;
  /** -e cluster: reading -d's answer to our route line. */
  #ackReader: RouteLineReader | null = null;
  /** Replies held while the filter works on an earlier one. */
  #downQueue: Buffer[] = [];
  #downBusy = false;
  #endAfterDown = false;
  #opened = 0;

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
    if (cfg.mode === 'encrypt') this.#attach('plain', accepted);
    else this.#attach('enc', accepted as Socket);
  }

  /** Begin: arm the -o timer, dial the other leg, and start the handshake. */
  start(): void {
    this.#timer = setTimeout(() => this.#failHandshake('ETIMEDOUT'), this.#cfg.timeoutMs);
    if (this.#cfg.mode === 'decrypt') this.#beginHandshake();
    if (this.#cfg.mode === 'decrypt' && this.#deps.routing?.serve) return; // dial once routed
    this.#connectOther(this.#deps.dial(this.#abort.signal));
  }

  /** Attach the dialled leg when `dialling` settles (or report why it failed). */
  #connectOther(dialling: Promise<Socket>): void {
    dialling.then(
      (s) => {
        if (this.#closing) {
          s.destroy();
          return;
        }
        s.pause();
        this.#attach(this.#cfg.mode === 'encrypt' ? 'enc' : 'plain', s);
        if (this.#cfg.mode === 'encrypt') this.#beginHandshake();
        else this.#maybeEstablish();
      },
      (err: Error & { code?: string }) => {
        if (this.#closing) return;
        if (err instanceof RouteRefused) return this.#refuseRoute(err.reason);
        const code = err.code ?? 'EIO';
        this.#deps.metrics.targetConnectFailed(code);
        if (code === 'ETIMEDOUT') return this.#failHandshake('ETIMEDOUT');
        if (this.#deps.targetWarning) this.#deps.targetWarning(code, err.message);
        else
          this.#deps.log.warn(
            { err: err.message, code },
            'target connect failed; dropping connection',
          );
        this.#drop(`target connect failed: ${code}`);
      },
    );
  }

  /** Live state, for shutdown reports. */
  info(): TunnelInfo {
    const up = this.#cfg.mode === 'encrypt' ? this.#sealed : this.#opened;
    const down = this.#cfg.mode === 'encrypt' ? this.#opened : this.#sealed;
    return {
      id: this.id,
      peer: this.peer,
      state: this.#established ? 'open' : 'handshake',
      up,
      down,
      ageMs: Date.now() - this.#started,
    };
  }

  /** Why the connection was dropped, or null if it ended cleanly (or is still open). */
  get error(): string | null {
    return this.#error;
  }

  /** True once both legs were connected and keyed. */
  get established(): boolean {
    return this.#established;
  }

  /** Cut the connection now (shutdown timeout, lifetime limits). */
  abort(reason: string): void {
    this.#drop(reason);
  }

  #attach(leg: Leg, s: Duplex): void {
    if (leg === 'plain') this.#plain = s;
    else this.#enc = s as Socket;
    this.#open++;
    s.on('error', (err: NodeJS.ErrnoException) => this.#onSocketError(leg, err));
    s.on('close', () => {
      if (--this.#open === 0) this.#finish();
      else if (!this.#established) this.#onEarlyClose(leg);
    });
  }

  #beginHandshake(): void {
    const enc = this.#enc!;
    const nonce = randomBytes(NONCE_LEN);
    try {
      this.#hs = new Handshake({
        role: this.#cfg.mode === 'encrypt' ? 'client' : 'server',
        keys: this.#deps.keys(),
        noPfs: this.#cfg.noPfs,
        requirePfs: this.#cfg.requirePfs,
        nonce,
        ephemeral: this.#cfg.noPfs ? null : this.#deps.ephemeral(),
      });
    } catch (err) {
      this.#deps.log.error({ err: (err as Error).message }, 'cannot start handshake');
      return this.#drop('internal error');
    }
    enc.on('data', (chunk: Buffer) => this.#onEncData(chunk));
    enc.on('end', () => this.#onEncEnd());
    enc.write(this.#hs.start());
    enc.resume();
  }

  #onEncData(chunk: Buffer): void {
    const hs = this.#hs;
    if (hs === null) return this.#openPackets(chunk);
    let step: ReturnType<Handshake['push']>;
    try {
      step = hs.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError)
        return this.#failHandshake(err.code as HandshakeFailure, err.message);
      throw err;
    }
    for (const out of step.send) this.#enc!.write(out);
    if (step.done === null) return;
    this.#hs = null;
    this.#hsDone = true;
    const k = step.done.keys;
    const client = this.#cfg.mode === 'encrypt';
    this.#sealer = this.#deps.engine.sealer(client ? k.eC : k.eS, client ? k.hC : k.hS);
    this.#opener = this.#deps.engine.opener(client ? k.eS : k.eC, client ? k.hS : k.hC);
    destroySessionKeys(k);
    this.#deps.metrics.handshakeCompleted((Date.now() - this.#started) / 1000);
    this.#deps.log.debug(
      { keyIndex: step.done.keyIndex, pfs: !step.done.noPfs },
      'handshake complete',
    );
    if (this.#deps.routing?.serve) this.#routeReader = new RouteLineReader();
    if (step.rest.length > 0) this.#rest = Buffer.from(step.rest);
    if (this.#routeReader && this.#rest) {
      const rest = this.#rest;
      this.#rest = null;
      this.#openPackets(rest);
    }
    this.#maybeEstablish();
  }

  /** Both legs are connected and keyed: start pumping. */
  #maybeEstablish(): void {
    if (this.#established || this.#closing || !this.#hsDone || this.#plain === null) return;
    this.#established = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const plain = this.#plain;
    const enc = this.#enc!;
    this.#deps.metrics.connectionOpened();
    this.#deps.log.info({ setup_ms: Date.now() - this.#started }, 'connection established');
    this.#armTimers();
    const sealDir = this.#cfg.mode === 'encrypt' ? 'up' : 'down';
    const routing = this.#deps.routing;
    if (routing?.route) {
      enc.write(this.#sealer!.seal(encodeRouteRequest(routing.route)));
      this.#ackReader = new RouteLineReader();
    }
    if (routing?.serve) {
      const s = plain as Socket;
      const dialled = { host: s.remoteAddress ?? '-', port: s.remotePort ?? 0 };
      enc.write(this.#sealer!.seal(encodeRouteReply(dialled)));
    }
    const filter = routing?.filter;
    plain.on('data', (chunk: Buffer) => {
      this.#sealed += chunk.length;
      this.#lastActivity = Date.now();
      this.#deps.metrics.bytesTransferred(sealDir, chunk.length);
      let out: Buffer;
      try {
        out = filter ? filter.up(chunk) : chunk;
      } catch (err) {
        return this.#filterFailed(err);
      }
      if (!enc.write(this.#sealer!.seal(out))) this.#backpressure(plain, enc);
    });
    plain.on('end', () => {
      this.#onHalfClose();
      enc.end();
    });
    const held = this.#routeHeld;
    this.#routeHeld = null;
    for (const b of held ?? []) this.#onPlainDown(b);
    if (this.#rest) {
      const rest = this.#rest;
      this.#rest = null;
      this.#openPackets(rest);
    }
    if (!this.#ackReader) plain.resume();
    if (!this.#downBusy && !this.#waiting.has(enc)) enc.resume();
    if (this.#encEndedEarly) this.#onEncEnd();
  }

  #armTimers(): void {
    const { idleTimeoutMs = 0, maxLifetimeMs = 0 } = this.#cfg;
    this.#lastActivity = Date.now();
    if (maxLifetimeMs > 0)
      this.#lifeTimer = setTimeout(() => {
        this.#deps.log.info(
          { limit_s: maxLifetimeMs / 1000 },
          'closing: --max-conn-lifetime reached',
        );
        this.#drop('max connection lifetime');
      }, maxLifetimeMs);
    if (idleTimeoutMs > 0) {
      const check = (): void => {
        const idle = Date.now() - this.#lastActivity;
        if (idle < idleTimeoutMs) {
          this.#idleTimer = setTimeout(check, idleTimeoutMs - idle);
          return;
        }
        this.#deps.log.info({ idle_s: idle / 1000 }, 'closing: --idle-timeout reached');
        this.#drop('idle timeout');
      };
      this.#idleTimer = setTimeout(check, idleTimeoutMs);
    }
  }

  /** One direction has ended; with --half-close-timeout, the other must follow in time. */
  #onHalfClose(): void {
    const ms = this.#cfg.halfCloseTimeoutMs ?? 0;
    if (++this.#ends === 2 && this.#halfTimer) clearTimeout(this.#halfTimer);
    if (this.#ends !== 1 || ms <= 0) return;
    this.#halfTimer = setTimeout(() => {
      this.#deps.log.info({ limit_s: ms / 1000 }, 'closing: --half-close-timeout reached');
      this.#drop('half-close timeout');
    }, ms);
  }

  /** `from` must wait until `to` drains (a slow reader slows the writer). */
  #backpressure(from: Duplex, to: Duplex): void {
    if (this.#waiting.has(from)) return;
    this.#waiting.add(from);
    from.pause();
    to.once('drain', () => {
      this.#waiting.delete(from);
      from.resume();
    });
  }

  #openPackets(chunk: Buffer): void {
    if (!this.#established && this.#routeReader === null && this.#routeHeld === null) {
      // Keyed but the target leg is not up yet (-d dials in parallel): hold the bytes.
      this.#rest = this.#rest ? Buffer.concat([this.#rest, chunk]) : Buffer.from(chunk);
      this.#enc!.pause();
      return;
    }
    this.#lastActivity = Date.now();
    const openDir = this.#cfg.mode === 'encrypt' ? 'down' : 'up';
    for (const batch of this.#framer.push(chunk)) {
      const r = this.#opener!.open(batch);
      if (r.plain.length > 0) {
        this.#opened += r.plain.length;
        this.#deps.metrics.bytesTransferred(openDir, r.plain.length);
        this.#onPlainDown(r.plain);
        if (this.#closing) return;
      }
      if (r.failure !== undefined) {
        const code: ProtocolErrorCode = r.failure === 'bad-mac' ? 'EBADPACKET' : 'EBADLEN';
        this.#deps.metrics.packetRejected(code);
        this.#deps.log.warn({ reason: code }, `dropping connection: ${PROTOCOL_ERROR_TEXT[code]}`);
        return this.#drop(code);
      }
    }
  }

  /** Plaintext opened from the encrypted leg, on its way to the plaintext leg. */
  #onPlainDown(plain: Buffer): void {
    if (this.#routeReader) return this.#onRouteLine(plain);
    if (this.#routeHeld) {
      this.#routeHeld.push(plain);
      return;
    }
    if (this.#ackReader) return this.#onRouteAck(plain);
    const filter = this.#deps.routing?.filter;
    if (!filter) return this.#writePlain(plain);
    if (this.#downBusy) {
      this.#downQueue.push(plain);
      return;
    }
    let r: Buffer[] | Promise<Buffer[]>;
    try {
      r = filter.down(plain);
    } catch (err) {
      return this.#filterFailed(err);
    }
    if (Array.isArray(r)) {
      for (const b of r) this.#writePlain(b);
      return;
    }
    this.#downBusy = true;
    this.#enc!.pause();
    r.then(
      (bufs) => {
        if (this.#closing) return;
        for (const b of bufs) this.#writePlain(b);
        this.#downBusy = false;
        while (!this.#downBusy && this.#downQueue.length > 0 && !this.#closing)
          this.#onPlainDown(this.#downQueue.shift()!);
        if (this.#downBusy || this.#closing) return;
        if (this.#endAfterDown) this.#plain!.end();
        else if (!this.#waiting.has(this.#enc!)) this.#enc!.resume();
      },
      (err: unknown) => this.#filterFailed(err),
    );
  }

  #writePlain(b: Buffer): void {
    if (b.length > 0 && !this.#plain!.write(b)) this.#backpressure(this.#enc!, this.#plain!);
  }

  #filterFailed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.#deps.log.warn({ reason }, `dropping connection: ${reason}`);
    this.#drop(reason);
  }

  /** -d cluster: the client's first line names the node to dial. */
  #onRouteLine(plain: Buffer): void {
    const r = this.#routeReader!.push(plain);
    if (r.kind === 'more') return;
    this.#routeReader = null;
    if (r.kind === 'foreign') {
      this.#deps.metrics.handshakeFailed('EPEERMODE');
      this.#deps.log.error(
        { reason: 'EPEERMODE', head: r.head },
        'misconfiguration: the peer sent no cluster route header; this end runs --cluster but the ' +
          '-e end does not (start both ends with --cluster, or neither)',
      );
      return this.#drop('no route header');
    }
    const route = parseRouteRequest(r.line);
    if (route === null) return this.#refuseRoute('malformed route line');
    this.#routeHeld = r.rest.length > 0 ? [Buffer.from(r.rest)] : [];
    this.#enc!.pause();
    this.#deps.log.debug({ route: `${route.host}:${route.port}` }, 'route requested');
    this.#connectOther(this.#deps.routing!.serve!(route, this.#abort.signal));
  }

  /** -d cluster: tell the client no, then close. */
  #refuseRoute(reason: string): void {
    const refusal: string = reason;
    this.#deps.log.warn({ reason: 'EROUTE', detail: reason }, `route refused: ${reason}`);
    const enc = this.#enc!;
    this.#closing = true;
    this.#error = `route refused: ${reason}`;
    if (this.#timer) clearTimeout(this.#timer);
    enc.end(this.#sealer!.seal(encodeRouteReply(refusal)));
    setTimeout(() => enc.destroy(), 2000).unref();
  }

  /** -e cluster: -d's answer to our route line. */
  #onRouteAck(plain: Buffer): void {
    const r = this.#ackReader!.push(plain);
    if (r.kind === 'more') return;
    this.#ackReader = null;
    if (r.kind === 'foreign') {
      this.#deps.log.error(
        { reason: 'EPEERMODE', answer: r.head },
        'misconfiguration: this end runs --cluster but the -d end does not (a plain cloakpipe -d or ' +
          'spiped passed our route header to its target, which answered as shown); start the -d end with --cluster',
      );
      return this.#drop('peer is not in cluster mode');
    }
    const answer = parseRouteReply(r.line);
    if (typeof answer !== 'object') {
      const why = answer ?? 'malformed answer';
      this.#deps.log.warn(
        { reason: 'EROUTE', detail: why },
        `the -d end refused the route: ${why}`,
      );
      return this.#drop(`route refused: ${why}`);
    }
    this.#deps.routing?.filter?.routed?.(answer);
    // Client bytes were held until now: a plain -d must never pass them to its target.
    this.#plain!.resume();
    if (r.rest.length > 0) this.#onPlainDown(Buffer.from(r.rest));
  }

  #onEncEnd(): void {
    if (!this.#hsDone) {
      return this.#failHandshake(
        'ETRUNC',
        'peer closed the connection during the handshake: wrong key on one end, -g here or there ' +
          'facing -f, the -d end could not reach its target, or the peer is not a spiped/cloakpipe end',
      );
    }
    if (this.#ackReader) {
      // -d hung up before answering our route line (its dial failed, or it refused): the client's
      // bytes were held and never sent, so drop the connection rather than half-close it.
      this.#deps.log.info('the -d end closed before answering the route; dropping connection');
      return this.#drop('no route answer');
    }
    if (!this.#established) {
      // The target leg is still dialling: replay this EOF once it is up (Node emits 'end' even
      // on a paused socket once its buffer is empty).
      this.#encEndedEarly = true;
      return;
    }
    if (this.#framer.pending > 0) {
      this.#deps.metrics.packetRejected('ETRUNC');
      this.#deps.log.warn(
        { pending: this.#framer.pending },
        'encrypted stream ended in the middle of a packet; the partial packet was discarded',
      );
      this.#framer.reset();
    }
    this.#onHalfClose();
    if (this.#downBusy) this.#endAfterDown = true;
    else this.#plain!.end();
  }

  #onEarlyClose(leg: Leg): void {
    if (this.#closing) return;
    // The client (or the -d side's peer) went away before the tunnel was up.
    const which = leg === 'plain' ? 'plaintext' : 'encrypted';
    this.#deps.log.info(`${which} side closed before the tunnel was established`);
    this.#drop(`${which} side closed during setup`);
  }

  #onSocketError(leg: Leg, err: NodeJS.ErrnoException): void {
    if (this.#closing) return;
    const code = err.code ?? 'EIO';
    if (!this.#established && leg === 'enc') return this.#failHandshake('ESOCKET', code);
    this.#deps.log.info({ leg, code }, `${leg === 'enc' ? 'encrypted' : 'plaintext'} socket error`);
    this.#drop(`${leg} socket error: ${code}`);
  }

  #failHandshake(reason: HandshakeFailure, detail?: string): void {
    if (this.#closing) return;
    this.#deps.metrics.handshakeFailed(reason);
    const text =
      reason === 'ESOCKET'
        ? `socket error during handshake (${detail})`
        : (detail ?? PROTOCOL_ERROR_TEXT[reason as ProtocolErrorCode]);
    this.#deps.log.warn({ reason }, `handshake failed: ${text}`);
    this.#drop(`handshake failed: ${reason}`);
  }

  /** Tear down both legs now. Idempotent. */
  #drop(reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#error = reason;
    this.#abort.abort();
    this.#plain?.destroy();
    this.#enc?.destroy();
    if (this.#open === 0) this.#finish();
  }

  #finish(): void {
    for (const t of [this.#timer, this.#idleTimer, this.#lifeTimer, this.#halfTimer])
      if (t) clearTimeout(t);
    this.#timer = null;
    this.#closing = true;
    this.#hs?.destroy();
    this.#sealer?.destroy();
    this.#opener?.destroy();
    this.#framer.reset();
    if (this.#rest) zeroize(this.#rest);
    const i = this.info();
    const seconds = i.ageMs / 1000;
    if (this.#established) {
      this.#deps.metrics.connectionClosed(i.up, i.down, seconds, this.#error);
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
