/**
 * Where the protocol units of one direction of a cloakpipe connection end, for the fault proxy:
 * the handshake's nonce and y ‖ h (DESIGN.md §2.2), then spiped's fixed PACKET_LEN packets
 * (§2.3) or compact frames of header ‖ body ‖ tag (§9.3).
 *
 * A compact frame's body length is encrypted, so the compact view holds the key file's K: it
 * derives the session keys from the nonces it saw go past, which it can do only when one end runs
 * -f (a y of 1 makes y_SC = 1, §2.2), and decrypts each frame's header with them. It only reads
 * headers; it never forges or re-encrypts, so the faults stay those of an attacker without K, who
 * sees each frame's size on the wire anyway (§9.4, point 6).
 */
import { nodeFrameCipher } from '../../src/crypto/compact-node.js';
import type { FrameCipher } from '../../src/crypto/compact.js';
import { ctEqual } from '../../src/crypto/bytes.js';
import { DH_ONE } from '../../src/crypto/dh.js';
import { deriveSessionKeys } from '../../src/crypto/kdf.js';
import {
  COMPACT_HEADER_LEN,
  COMPACT_MAX_DATA,
  DH_LEN,
  MAC_LEN,
  NONCE_LEN,
  PACKET_LEN,
  YH_LEN,
} from '../../src/crypto/sizes.js';

/** Bytes of the handshake in each direction: nonce, then y ‖ HMAC(y). */
export const HANDSHAKE_LEN = NONCE_LEN + YH_LEN;

/** c2s: from the -e end (handshake client) to the -d end; s2c: the reverse. */
export type Direction = 'c2s' | 's2c';

/** Which framing the proxied ends run; compact needs K (the SHA-256 of the key file). */
export type WireFraming =
  { readonly framing: 'spiped' } | { readonly framing: 'compact'; readonly key: Uint8Array };

/** One direction's unit boundaries. */
export interface UnitCutter {
  /**
   * Length of the unit that starts at stream offset `start`, of which `have` bytes (`head()`)
   * have arrived: exact, or, while a compact header is incomplete, COMPACT_HEADER_LEN. null when
   * the boundaries cannot be known (a compact link with no -f end, or a header that is not one).
   */
  length(start: number, have: number, head: () => Buffer): number | null;
  /** The whole unit at `start` went past, as its sender sent it (nonces and y are noted). */
  passed(start: number, unit: Buffer): void;
  /** Data bytes of the compact frame at `start` (from its header), else null. */
  dataOf(start: number): number | null;
}

/** Length of the handshake unit starting at `start` (a nonce or y ‖ h). */
function handshakeUnit(start: number): number {
  return start < NONCE_LEN ? NONCE_LEN - start : HANDSHAKE_LEN - start;
}

/** spiped framing: fixed units. */
function spipedCutter(): UnitCutter {
  return {
    length: (start) =>
      start < HANDSHAKE_LEN
        ? handshakeUnit(start)
        : PACKET_LEN - ((start - HANDSHAKE_LEN) % PACKET_LEN),
    passed: () => {},
    dataOf: () => null,
  };
}

/** What a compact link's two cutters share: the handshake bytes both directions saw. */
class CompactSession {
  readonly nonce: Partial<Record<Direction, Buffer>> = {};
  readonly y: Partial<Record<Direction, Buffer>> = {};
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    this.#key = key;
  }

  /** `dir`'s keystream and MAC, or null if the session keys cannot be derived (no -f end). */
  cipher(dir: Direction): FrameCipher | null {
    const { c2s: nC, s2c: nS } = this.nonce;
    const { c2s: yC, s2c: yS } = this.y;
    if (!nC || !nS || !yC || !yS) return null;
    if (!ctEqual(yC, DH_ONE) && !ctEqual(yS, DH_ONE)) return null;
    const k = deriveSessionKeys(this.#key, nC, nS, DH_ONE, 'compact');
    return dir === 'c2s' ? nodeFrameCipher(k.eC, k.hC) : nodeFrameCipher(k.eS, k.hS);
  }
}

/** Compact framing: frames read through the session keys. */
function compactCutter(dir: Direction, session: CompactSession): UnitCutter {
  let fc: FrameCipher | null = null;
  /** The frame whose header was read last: its start, length and data length. */
  let cur = { start: -1, len: 0, data: 0 };
  return {
    length(start, have, head) {
      if (start < HANDSHAKE_LEN) return handshakeUnit(start);
      if (cur.start === start) return cur.len;
      if (have < COMPACT_HEADER_LEN) return COMPACT_HEADER_LEN;
      fc ??= session.cipher(dir);
      if (fc === null) return null;
      const h = fc.crypt(head().subarray(0, COMPACT_HEADER_LEN));
      const body = (h[0]! << 8) | h[1]!;
      if (body === 0 || body > COMPACT_MAX_DATA) return null;
      fc.crypt(Buffer.alloc(body)); // the body's keystream: the next header follows it
      cur = { start, len: COMPACT_HEADER_LEN + body + MAC_LEN, data: (h[2]! << 8) | h[3]! };
      return cur.len;
    },
    passed(start, unit) {
      if (start === 0 && unit.length === NONCE_LEN) session.nonce[dir] = Buffer.from(unit);
      else if (start === NONCE_LEN && unit.length === YH_LEN)
        session.y[dir] = Buffer.from(unit.subarray(0, DH_LEN));
    },
    dataOf: (start) => (cur.start === start ? cur.data : null),
  };
}

/** The two cutters of one connection under `w` (spiped framing when undefined). */
export function cuttersFor(w: WireFraming | undefined): Record<Direction, UnitCutter> {
  if (w === undefined || w.framing === 'spiped')
    return { c2s: spipedCutter(), s2c: spipedCutter() };
  const session = new CompactSession(w.key);
  return { c2s: compactCutter('c2s', session), s2c: compactCutter('s2c', session) };
}
