/**
 * The packet engine interface: sealing and opening spiped data packets
 * (DESIGN.md §2.3; spiped lib/proto/proto_crypt.c).
 *
 *   padded = M ‖ zeros to MAX_DATA ‖ be32(len M)                  (PADDED_LEN bytes)
 *   ct     = AES-256-CTR(E, padded), counter = be64(packet#) ‖ be64(block#)
 *   packet = ct ‖ HMAC-SHA256(H, ct ‖ be64(packet#))                (PACKET_LEN bytes)
 *
 * Two engines implement it with byte-identical output: `node` (node:crypto, AES-NI, the
 * default, batched) and `noble` (@noble/ciphers + @noble/hashes, pure JS, for portability
 * and cross-checks). Each direction of a connection owns one Sealer or one Opener, which
 * carries the packet counter.
 */
import type { FrameCipher } from './compact.js';
import type { Kdf } from './kdf.js';

/** Seals plaintext into packets for one direction. */
export interface Sealer {
  /**
   * Cut `plain` (any length ≥ 1) into messages of 1..MAX_DATA bytes and return their packets,
   * concatenated (ceil(len / MAX_DATA) × PACKET_LEN bytes). Advances the packet counter.
   * The returned buffer is the caller's to keep.
   */
  seal(plain: Uint8Array): Buffer;
  /** Zero the keys. Later calls throw. */
  destroy(): void;
}

/** Why a packet was refused. */
export type OpenFailure = 'bad-mac' | 'bad-length';

/** What open() returns: the plaintext of every packet up to the first bad one, and why it stopped. */
export interface OpenResult {
  /** Plaintext of the packets that verified, in order (may be empty). */
  readonly plain: Buffer;
  /** Set when a packet failed; nothing from it or after it is in `plain`. */
  readonly failure?: OpenFailure;
}

/** Opens packets for one direction. */
export interface Opener {
  /**
   * Verify and decrypt `packets`, a whole number of PACKET_LEN-byte packets. The MAC is checked
   * (in constant time) before anything is decrypted; then the length field (1..MAX_DATA).
   * Never throws on peer input: a bad packet is reported in `failure`, and after one the
   * Opener refuses everything.
   */
  open(packets: Uint8Array): OpenResult;
  /**
   * Like open(), without a result object: hands the plaintext of the packets that verified to
   * `onPlain` (zero or more calls, in order, each buffer the callee's to keep) and returns null, or
   * why it stopped. Never throws on peer input; an exception from `onPlain` propagates.
   */
  openEach(packets: Uint8Array, onPlain: (plain: Buffer) => void): OpenFailure | null;
  /** Zero the keys. Later calls throw. */
  destroy(): void;
}

/** A packet engine: a factory of Sealers and Openers from (E, H) key pairs. */
export interface CryptoEngine {
  readonly name: EngineName;
  /** A Sealer keyed by AES key `e` and HMAC key `h` (32 bytes each; copied). */
  sealer(e: Uint8Array, h: Uint8Array): Sealer;
  /** An Opener keyed by AES key `e` and HMAC key `h` (32 bytes each; copied). */
  opener(e: Uint8Array, h: Uint8Array): Opener;
  /**
   * The keystream and MAC of one direction of compact framing (DESIGN.md §9), for a CompactSealer
   * or CompactOpener; keyed by `e` and `h` (32 bytes each; copied). Byte-identical across engines.
   */
  frameCipher(e: Uint8Array, h: Uint8Array): FrameCipher;
  /** The handshake's PBKDF2/HMAC for this engine (HandshakeOptions.kdf). */
  readonly kdf: Kdf;
}

export type EngineName = 'node' | 'noble';
export const ENGINE_NAMES: readonly EngineName[] = ['node', 'noble'];
