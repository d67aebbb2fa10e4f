/**
 * What a Tunnel is given and what it reports: its settings, its dependencies (handed in,
 * ghostunnel-style, so tests build one from in-memory streams) and the cluster-mode hooks.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EphemeralKey } from '../crypto/dh.js';
import type { CryptoEngine } from '../crypto/engine.js';
import type { Framing } from '../crypto/kdf.js';
import type { Route } from '../protocol/route.js';
import type { Metrics } from './metrics.js';

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
  /** --framing: 'spiped' (default, byte-exact with spiped) or 'compact' (DESIGN.md §9). */
  readonly framing?: Framing;
  /** --frame-bucket: compact framing's padding bucket (COMPACT_DEFAULT_BUCKET when absent). */
  readonly bucket?: number;
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
