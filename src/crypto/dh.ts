/**
 * Diffie-Hellman over the 2048-bit MODP group 14 (RFC 3526 §3), generator 2, as spiped
 * uses it (lib/crypto/crypto_dh.c): private exponent 2^258 + x with x = 32 random bytes,
 * public value y = 2^exponent mod p, 256 bytes big-endian.
 *
 * Node's createDiffieHellman does the modular arithmetic (OpenSSL); `getDiffieHellman('modp14')`
 * cannot take a chosen exponent, so the prime is spelled out here.
 */
import { createDiffieHellman, randomBytes } from 'node:crypto';
import { zeroize } from './bytes.js';
import { DH_LEN } from './sizes.js';

/** RFC 3526 §3, the 2048-bit MODP group 14 prime. */
export const GROUP14_PRIME_HEX =
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
  'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
  'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
  '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
  'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
  '15728E5A8AACAA68FFFFFFFFFFFFFFFF';

/** p as 256 big-endian bytes. */
export const GROUP14_PRIME: Buffer = Buffer.from(GROUP14_PRIME_HEX, 'hex');
const GENERATOR = Buffer.from([2]);

/** The value y = 1 that a `-f` (no forward secrecy) side sends, and the y_SC it implies. */
export const DH_ONE: Buffer = (() => {
  const b = Buffer.alloc(DH_LEN);
  b[DH_LEN - 1] = 1;
  return b;
})();

/** Why a peer's DH value was refused. */
export type DhCheck = 'ok' | 'not-below-p' | 'zero' | 'one' | 'p-minus-one';

/**
 * Classify a peer's 256-byte DH value. spiped refuses only y ≥ p (and y = 1 under -g);
 * cloakpipe also refuses 0 and p−1, which no honest peer sends (documented divergence).
 * Returns 'one' for y = 1 so the caller can apply its -g policy.
 */
export function checkPeerValue(y: Uint8Array): DhCheck {
  if (y.length !== DH_LEN) return 'not-below-p';
  if (Buffer.compare(y, GROUP14_PRIME) >= 0) return 'not-below-p';
  let allZeroHead = true;
  for (let i = 0; i < DH_LEN - 1; i++) {
    if (y[i] !== 0) {
      allZeroHead = false;
      break;
    }
  }
  if (allZeroHead && y[DH_LEN - 1] === 0) return 'zero';
  if (allZeroHead && y[DH_LEN - 1] === 1) return 'one';
  // p - 1 differs from p only in its last byte (p ends in 0xFF, p−1 in 0xFE).
  if (
    y[DH_LEN - 1] === 0xfe &&
    Buffer.compare(y.subarray(0, DH_LEN - 1), GROUP14_PRIME.subarray(0, DH_LEN - 1)) === 0
  )
    return 'p-minus-one';
  return 'ok';
}

/** Left-pad a big-endian integer to DH_LEN bytes. */
function pad(b: Buffer): Buffer {
  if (b.length === DH_LEN) return b;
  const out = Buffer.alloc(DH_LEN);
  b.copy(out, DH_LEN - b.length);
  zeroize(b);
  return out;
}

/** One side's ephemeral DH key pair, usable for exactly one shared secret. */
export interface EphemeralKey {
  /** y = 2^(2^258 + x) mod p, 256 bytes big-endian. */
  readonly publicValue: Uint8Array;
  /**
   * y_SC = peer^x mod p, 256 bytes big-endian. The peer value must already have passed
   * checkPeerValue() as 'ok'. Zeroes the private exponent; a second call throws.
   */
  computeSecret(peer: Uint8Array): Uint8Array;
  /** Forget the private exponent without computing anything. */
  destroy(): void;
}

/** The parts of a fresh key pair: the private exponent 2^258 + x (33 bytes) and y (256 bytes). */
export interface EphemeralKeyParts {
  readonly exponent: Buffer;
  readonly publicValue: Buffer;
}

/**
 * Make the parts of a fresh key pair (≈0.4 ms: one 2048-bit modular exponentiation). Pure
 * computation, so it can run on a worker thread; the caller owns (and must zero) the exponent.
 */
export function makeEphemeralKeyParts(): EphemeralKeyParts {
  const dh = createDiffieHellman(GROUP14_PRIME, GENERATOR);
  // Exponent 2^258 + x: 33 bytes, 0x04 followed by the 32 random bytes of x (crypto_dh.c).
  const exponent = Buffer.alloc(33);
  exponent[0] = 0x04;
  randomBytes(32).copy(exponent, 1);
  dh.setPrivateKey(exponent);
  const publicValue = pad(dh.generateKeys());
  dh.setPrivateKey(Buffer.alloc(1, 1));
  return { exponent, publicValue };
}

/**
 * An EphemeralKey from parts made by makeEphemeralKeyParts (possibly on another thread). Takes
 * ownership of `exponent`: it is zeroed once the secret is computed or the key destroyed.
 */
export function ephemeralKeyFromParts(exponent: Uint8Array, publicValue: Uint8Array): EphemeralKey {
  let used = false;
  return {
    publicValue,
    computeSecret(peer: Uint8Array): Uint8Array {
      if (used) throw new Error('ephemeral DH key already used');
      used = true;
      const dh = createDiffieHellman(GROUP14_PRIME, GENERATOR);
      dh.setPrivateKey(exponent);
      zeroize(exponent);
      const secret = pad(dh.computeSecret(peer));
      dh.setPrivateKey(Buffer.alloc(1, 1));
      return secret;
    },
    destroy(): void {
      zeroize(exponent);
      used = true;
    },
  };
}

/** Make a fresh ephemeral key pair on this thread (≈0.4 ms: one modular exponentiation). */
export function generateEphemeralKey(): EphemeralKey {
  const { exponent, publicValue } = makeEphemeralKeyParts();
  return ephemeralKeyFromParts(exponent, publicValue);
}
