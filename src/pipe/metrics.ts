/**
 * What the pipe layer reports, as an interface handed in by the daemon (ghostunnel's
 * LiveMetrics/NilMetrics pattern): no module-level singletons, a no-op version for tests.
 * Implementations must be cheap; they are called on connection events only, never per packet or
 * per socket read: byte counts are kept by each tunnel as plain integers and handed over at close
 * (connectionClosed) or read at scrape time (liveBytes).
 */

import type { ProtocolErrorCode } from '../protocol/errors.js';

/** Why an accepted connection was turned away before a tunnel was set up. */
export type RejectReason = 'limit' | 'draining' | 'accept-error';

/** Packet-level ProtocolError codes (the stream after the handshake). */
export type PacketFailure = Extract<ProtocolErrorCode, 'EBADPACKET' | 'EBADLEN' | 'ETRUNC'>;

/**
 * Why a handshake failed: the ProtocolError codes a handshake can raise, plus socket errors, plus
 * the miswirings named from the peer's first bytes (./diagnose.ts): EPROBE a connect-and-close
 * probe (no byte, then EOF), ENOTPEER a peer that is not a tunnel end (Redis, HTTP, TLS, SSH),
 * ESILENT an -e whose -t accepted and then sent nothing.
 */
export type HandshakeFailure =
  | Exclude<ProtocolErrorCode, 'EBADPACKET' | 'EBADLEN'>
  | 'ESOCKET'
  | 'EPROBE'
  | 'ENOTPEER'
  | 'ESILENT';

/** Plaintext bytes each way: up = the -e side's clients towards the target, down = back. */
export interface ByteCounts {
  up: number;
  down: number;
}

/** Connection-level observations. */
export interface Metrics {
  connectionAccepted(): void;
  connectionRejected(reason: RejectReason): void;
  connectionOpened(): void;
  /**
   * A tunnel that was opened ended, having carried `up` plaintext bytes from the -e side's
   * clients towards the target and `down` back (its whole life's totals).
   */
  connectionClosed(up: number, down: number, seconds: number, error: string | null): void;
  /**
   * Optional: `read` returns the plaintext bytes carried so far by tunnels that are open (opened
   * and not yet reported to connectionClosed); a scrape adds it to the closed tunnels' totals.
   * Called once, by the daemon that owns the tunnels; a later call replaces the reader.
   */
  liveBytes?(read: () => ByteCounts): void;
  handshakeFailed(reason: HandshakeFailure): void;
  handshakeCompleted(seconds: number): void;
  targetConnectFailed(code: string): void;
  packetRejected(reason: PacketFailure): void;
}

/** Metrics that record nothing. */
export const nilMetrics: Metrics = {
  connectionAccepted() {},
  connectionRejected() {},
  connectionOpened() {},
  connectionClosed() {},
  handshakeFailed() {},
  handshakeCompleted() {},
  targetConnectFailed() {},
  packetRejected() {},
};
