/**
 * spiped's key derivations (DESIGN.md, handshake steps 3 and 7): PBKDF2-SHA256 with one
 * iteration, keyed by K, salted with the nonces (and the DH shared secret for dk2).
 * Cold path: runs once per connection, so it uses @noble/hashes.
 */
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, zeroize } from './bytes.js';
import { DK1_LEN, DK2_LEN, KEY_LEN, MAC_LEN } from './sizes.js';

/** The two MAC keys that authenticate the DH values. */
export interface DhMacKeys {
  /** Key for the client's y_C. */
  readonly dhmacC: Uint8Array;
  /** Key for the server's y_S. */
  readonly dhmacS: Uint8Array;
}

/** The four session keys: encryption and MAC keys for each direction. */
export interface SessionKeys {
  /** AES key for client → server packets. */
  readonly eC: Uint8Array;
  /** HMAC key for client → server packets. */
  readonly hC: Uint8Array;
  /** AES key for server → client packets. */
  readonly eS: Uint8Array;
  /** HMAC key for server → client packets. */
  readonly hS: Uint8Array;
}

/** PBKDF2-HMAC-SHA256 with c = 1; `dkLen` bytes. */
export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, dkLen: number): Uint8Array {
  return pbkdf2(sha256, password, salt, { c: 1, dkLen });
}

/** dk1 = PBKDF2(K, nonce_C ‖ nonce_S, 1, 64) → dhmac_C ‖ dhmac_S. */
export function deriveDhMacKeys(k: Uint8Array, nonceC: Uint8Array, nonceS: Uint8Array): DhMacKeys {
  const salt = concatBytes(nonceC, nonceS);
  const dk1 = pbkdf2Sha256(k, salt, DK1_LEN);
  zeroize(salt);
  return { dhmacC: dk1.subarray(0, MAC_LEN), dhmacS: dk1.subarray(MAC_LEN, DK1_LEN) };
}

/** dk2 = PBKDF2(K, nonce_C ‖ nonce_S ‖ y_SC, 1, 128) → E_C ‖ H_C ‖ E_S ‖ H_S. */
export function deriveSessionKeys(
  k: Uint8Array,
  nonceC: Uint8Array,
  nonceS: Uint8Array,
  ySC: Uint8Array,
): SessionKeys {
  const salt = concatBytes(nonceC, nonceS, ySC);
  const dk2 = pbkdf2Sha256(k, salt, DK2_LEN);
  zeroize(salt);
  return {
    eC: dk2.subarray(0, KEY_LEN),
    hC: dk2.subarray(KEY_LEN, 2 * KEY_LEN),
    eS: dk2.subarray(2 * KEY_LEN, 3 * KEY_LEN),
    hS: dk2.subarray(3 * KEY_LEN, 4 * KEY_LEN),
  };
}

/** Zero all four session keys (they share one buffer). */
export function destroySessionKeys(keys: SessionKeys): void {
  zeroize(keys.eC, keys.hC, keys.eS, keys.hS);
}
