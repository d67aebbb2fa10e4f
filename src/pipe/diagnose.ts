/**
 * Names the usual miswirings when a handshake fails (DESIGN.md §2.2): it keeps the first
 * SNIFF_LEN bytes the encrypted leg received during the handshake and, only once the handshake
 * has failed, turns them (or their absence) into a reason for the metrics and one log line
 * saying what to fix. The bytes themselves are never logged (no payload in logs).
 */
import { type PeerKind, SNIFF_LEN, type SniffSide, sniffPeer } from '../protocol/sniff.js';
import type { HandshakeFailure } from './metrics.js';

/** Why a failed handshake is reported as a named miswiring, and what is logged. */
export interface Diagnosis {
  /** The handshake-failure reason to count instead of the raw one. */
  readonly reason: HandshakeFailure;
  /** Log level: a probe is routine (debug), a miswiring is not (warn). */
  readonly level: 'debug' | 'warn';
  /** The log message, complete. */
  readonly text: string;
}

/** The message for a connect-and-close probe seen by the -d end. */
export const PROBE_TEXT =
  'connection closed before sending any byte (a load balancer or TCP health check probe)';

/** The message for a -d end (or whatever -t is) that accepted and then sent nothing until -o. */
export const SILENT_TEXT =
  'handshake failed: the -t address accepted the connection but sent nothing within the -o ' +
  'timeout; a spiped/cloakpipe -d end sends 32 bytes at once: is -t a plain server such as ' +
  'Redis, which waits for a command? Point -t at the -d end';

/** The message when the -d end hangs up right after the handshake (seen from -e). */
export const HANGUP_TEXT =
  'the -d end hung up right after the handshake, before sending any data: its target (-t of ' +
  'the -d end) is most likely down or refusing connections; check the -d end’s log for ' +
  '"target connect failed"';

/** Socket error codes that, with nothing received, mean the peer just went away. */
const GONE = new Set(['ECONNRESET', 'EPIPE']);

/** TLS: the record's minor version (0 SSL 3.0 … 4 TLS 1.3, as sent) and handshake message type. */
const TLS_MAX_MINOR = 4;
const TLS_HELLOS = new Set([1, 2]); // ClientHello, ServerHello

/**
 * A second look that keeps a wrong-key peer's random nonce from being named by chance (it
 * matches sniffPeer's short patterns about once in 10^4): a text protocol's opening must be
 * printable ASCII (or CR, LF, TAB) throughout, and a TLS record must carry a known version and a
 * hello (or be a short alert). Random bytes pass this about once in 10^7.
 */
function plausible(head: Uint8Array, kind: PeerKind): boolean {
  if (kind !== 'tls')
    return head.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09);
  if (head.length > 2 && head[2]! > TLS_MAX_MINOR) return false;
  if (head[0] === 0x15) return head.length < 5 || (head[3] === 0 && head[4] === 2);
  return head.length < 6 || TLS_HELLOS.has(head[5]!);
}

/** The first bytes the peer sent during the handshake, kept for diagnosis only. */
export class PeerSniff {
  readonly #head = Buffer.alloc(SNIFF_LEN);
  #len = 0;

  /** Keep what still fits of `chunk` (a copy); cheap once full. */
  record(chunk: Uint8Array): void {
    if (this.#len >= SNIFF_LEN) return;
    const n = Math.min(SNIFF_LEN - this.#len, chunk.length);
    this.#head.set(chunk.subarray(0, n), this.#len);
    this.#len += n;
  }

  /** How many bytes were kept (at most SNIFF_LEN). */
  get length(): number {
    return this.#len;
  }

  /**
   * The named miswiring behind a handshake that failed with `reason` (and, for ESOCKET, the
   * socket's `code`), seen from `side`; null when nothing better than the generic text can be
   * said (a wrong key, most likely). `connected`: the encrypted leg was up (false when -e's dial
   * itself timed out). Never throws.
   */
  diagnose(
    reason: HandshakeFailure,
    side: SniffSide,
    connected: boolean,
    code?: string,
  ): Diagnosis | null {
    if (this.#len === 0) {
      const ended = reason === 'ETRUNC' || (reason === 'ESOCKET' && GONE.has(code ?? ''));
      if (side === 'accepted' && ended)
        return { reason: 'EPROBE', level: 'debug', text: PROBE_TEXT };
      if (side === 'dialled' && reason === 'ETIMEDOUT' && connected)
        return { reason: 'ESILENT', level: 'warn', text: SILENT_TEXT };
      return null;
    }
    const head = this.#head.subarray(0, this.#len);
    const found = sniffPeer(head, side);
    if (found === null || !plausible(head, found.kind)) return null;
    return { reason: 'ENOTPEER', level: 'warn', text: `handshake failed: ${found.hint}` };
  }

  /** Forget the bytes (zeroed). */
  clear(): void {
    this.#head.fill(0);
    this.#len = 0;
  }
}
