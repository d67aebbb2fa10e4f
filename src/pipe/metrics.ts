/**
 * What the pipe layer reports, as an interface handed in by the daemon (ghostunnel's
 * LiveMetrics/NilMetrics pattern): no module-level singletons, a no-op version for tests.
 * Implementations must be cheap: these are called on connection events, never per packet
 * (byte counts are reported once, when a connection closes).
 */

/** Why an accepted connection was turned away before a tunnel was set up. */
export type RejectReason = 'limit' | 'draining' | 'accept-error';

/** Why a handshake failed (ProtocolError codes, plus timeouts and socket errors). */
export type HandshakeFailure =
  | 'EBADMAC'
  | 'EBADDH'
  | 'ENOPFS'
  | 'ETIMEDOUT'
  | 'ETRUNC'
  | 'ESOCKET'
  | 'EPEERMODE';

/** Connection-level observations. */
export interface Metrics {
  connectionAccepted(): void;
  connectionRejected(reason: RejectReason): void;
  connectionOpened(): void;
  /** A tunnel ended. `up`: plaintext bytes from the -e side's clients towards the target. */
  connectionClosed(up: number, down: number, seconds: number, error: string | null): void;
  handshakeFailed(reason: HandshakeFailure): void;
  handshakeCompleted(seconds: number): void;
  targetConnectFailed(code: string): void;
  packetRejected(reason: 'EBADPACKET' | 'EBADLEN' | 'ETRUNC'): void;
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
