/**
 * How a tunnel's failures are logged and counted (one line and one counter each, never a throw):
 * a failed handshake (named as a miswiring when the peer's first bytes say so, ./diagnose.ts), a
 * bad packet or filter error, a stream cut mid-packet, a failed target dial, and -e's view of a
 * -d end that hung up right after the handshake. The Tunnel (./connection.ts) decides what to do
 * next; this file only says what happened.
 */
import type { Logger } from 'pino';
import { PROTOCOL_ERROR_TEXT, ProtocolError, type ProtocolErrorCode } from '../protocol/errors.js';
import { HANGUP_TEXT, PeerSniff } from './diagnose.js';
import type { HandshakeFailure, Metrics, PacketFailure } from './metrics.js';
import type { Mode } from './tunnel-deps.js';

/** How long past -o the -d end's hang-up still counts as "right after the handshake". */
const HANGUP_GRACE_MS = 1000;

/** One tunnel's failure reports. */
export class TunnelFailures {
  /** The peer's first bytes during the handshake, to name a miswiring if it fails. */
  readonly sniff = new PeerSniff();
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #mode: Mode;
  readonly #timeoutMs: number;
  #hungUp = false;

  constructor(log: Logger, metrics: Metrics, mode: Mode, timeoutMs: number) {
    this.#log = log;
    this.#metrics = metrics;
    this.#mode = mode;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * A handshake failed for `reason`: log and count it once, as a named miswiring when the
   * peer's first bytes say so. `connected`: the encrypted leg was up. Returns the drop reason.
   */
  handshake(reason: HandshakeFailure, connected: boolean, detail?: string): string {
    const side = this.#mode === 'encrypt' ? 'dialled' : 'accepted';
    const named = this.sniff.diagnose(reason, side, connected, detail);
    this.sniff.clear();
    if (named !== null) {
      this.#metrics.handshakeFailed(named.reason);
      this.#log[named.level]({ reason: named.reason }, named.text);
      return `handshake failed: ${named.reason}`;
    }
    this.#metrics.handshakeFailed(reason);
    const text =
      reason === 'ESOCKET'
        ? `socket error during handshake (${detail})`
        : (detail ?? PROTOCOL_ERROR_TEXT[reason as ProtocolErrorCode]);
    this.#log.warn({ reason }, `handshake failed: ${text}`);
    return `handshake failed: ${reason}`;
  }

  /** A pipe stopped: a bad packet (counted by its code) or a filter error. Returns the drop reason. */
  pipe(err: unknown): string {
    if (err instanceof ProtocolError && (err.code === 'EBADPACKET' || err.code === 'EBADLEN')) {
      const code: PacketFailure = err.code;
      this.#metrics.packetRejected(code);
      this.#log.warn({ reason: code }, `dropping connection: ${PROTOCOL_ERROR_TEXT[code]}`);
      return code;
    }
    const reason = err instanceof Error ? err.message : String(err);
    this.#log.warn({ reason }, `dropping connection: ${reason}`);
    return reason;
  }

  /**
   * The encrypted stream ended with `pending` bytes of an incomplete `unit` (discarded): a spiped
   * packet or a compact frame.
   */
  truncated(pending: number, unit: 'packet' | 'frame' = 'packet'): void {
    this.#metrics.packetRejected('ETRUNC');
    this.#log.warn(
      { pending },
      `encrypted stream ended in the middle of a ${unit}; the partial ${unit} was discarded`,
    );
  }

  /**
   * The target dial failed with `code` (counted); reported through `warning` (the daemon's
   * rate-limited line) when given, else logged here. Not called for ETIMEDOUT, which is a
   * handshake failure.
   */
  targetFailed(
    code: string,
    message: string,
    warning?: (code: string, message: string) => void,
  ): void {
    if (warning) warning(code, message);
    else this.#log.warn({ err: message, code }, 'target connect failed; dropping connection');
  }

  /**
   * -e: the encrypted leg ended or reset while this end still wrote to it (`writing`), with
   * nothing received since the handshake (`received` 0), within -o (+ HANGUP_GRACE_MS) of
   * `openedAt`: the -d end hung up, most likely because its target is down. Logs (warn) and
   * counts it at most once; true if it did.
   */
  hungUp(openedAt: number, received: number, writing: boolean): boolean {
    if (this.#hungUp || received > 0 || !writing) return false;
    if (Date.now() - openedAt > this.#timeoutMs + HANGUP_GRACE_MS) return false;
    this.#hungUp = true;
    this.#metrics.targetConnectFailed('EPEERHUP');
    this.#log.warn({ reason: 'EPEERHUP' }, HANGUP_TEXT);
    return true;
  }
}
