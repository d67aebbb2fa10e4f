/**
 * Errors caused by the peer or the network, as opposed to bugs or configuration. A ProtocolError
 * drops one connection: it is logged with its code and counted, and never crashes the process.
 */

/** Why a connection was dropped by the protocol layer. */
export type ProtocolErrorCode =
  /** A handshake MAC did not verify: wrong key (or tampering). */
  | 'EBADMAC'
  /** The peer holds the key but runs the other framing (--framing spiped vs compact). */
  | 'EFRAMING'
  /** A DH value was out of range (≥ p, 0 or p−1). */
  | 'EBADDH'
  /** The peer sent y = 1 (it runs -f) and this side requires forward secrecy (-g). */
  | 'ENOPFS'
  /** A data packet failed its MAC. */
  | 'EBADPACKET'
  /** A data packet decrypted to a length of 0 or more than 1024. */
  | 'EBADLEN'
  /** The stream ended in the middle of a packet or of the handshake. */
  | 'ETRUNC'
  /** The handshake or the target connection did not complete within -o seconds. */
  | 'ETIMEDOUT'
  /** The peer spoke the wrong mode (e.g. a cluster route header to a plain end). */
  | 'EPEERMODE';

/** Human text for each code, for logs. */
export const PROTOCOL_ERROR_TEXT: Record<ProtocolErrorCode, string> = {
  EBADMAC:
    'handshake MAC mismatch: the peer uses a different key (or the stream was tampered with)',
  EFRAMING: 'framing mismatch: both ends must run the same --framing',
  EBADDH: 'peer sent an invalid Diffie-Hellman value',
  ENOPFS: 'peer runs without forward secrecy (-f) and this end requires it (-g)',
  EBADPACKET: 'packet MAC mismatch: data was corrupted or tampered with in transit',
  EBADLEN: 'packet decrypted to an invalid length',
  ETRUNC: 'stream ended in the middle of a packet',
  ETIMEDOUT: 'connect + handshake did not finish within the -o timeout',
  EPEERMODE: 'peer runs in a different mode',
};

/** A peer-caused failure with a stable code. */
export class ProtocolError extends Error {
  /**
   * `detail` is appended to the code's text. `reply` holds bytes the connection should still send
   * before it closes (a server's y ‖ h on EFRAMING, so the client can tell the framing is wrong).
   */
  constructor(
    readonly code: ProtocolErrorCode,
    detail?: string,
    readonly reply?: Uint8Array,
  ) {
    super(detail ? `${PROTOCOL_ERROR_TEXT[code]} (${detail})` : PROTOCOL_ERROR_TEXT[code]);
    this.name = 'ProtocolError';
  }
}
