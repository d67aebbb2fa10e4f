/**
 * What the pipe layer reports, as an interface handed in by the daemon (ghostunnel's
 * LiveMetrics/NilMetrics pattern): no module-level singletons, a no-op version for tests.
 * Implementations must be cheap: apart from bytesTransferred (a counter increment per socket
 * read), they are called on connection events only, never per packet.
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

/** Connection-level observations. */
export interface Metrics {
  connectionAccepted(): void;
  connectionRejected(reason: RejectReason): void;
  connectionOpened(): void;
  /**
   * Plaintext bytes moved: 'up' flows from the -e side's clients towards the target, 'down' back.
   * Called once per socket read.
   */
  bytesTransferred(direction: 'up' | 'down', n: number): void;
  /** A tunnel ended. `up`: plaintext bytes from the -e side's clients towards the target. */
  connectionClosed(up: number, down: number, seconds: number, error: string | null): void;
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
  bytesTransferred() {},
  connectionClosed() {},
  handshakeFailed() {},
  handshakeCompleted() {},
  targetConnectFailed() {},
  packetRejected() {},
};
