/**
 * spiped's key derivations (DESIGN.md §2.2, handshake steps 3 and 7): PBKDF2-SHA256 with one
 * iteration, keyed by K, salted with the nonces (and the DH shared secret for dk2). Under compact
 * framing (DESIGN.md §9) both salts start with COMPACT_KDF_LABEL, so every key differs from the
 * spiped-framing keys of the same handshake.
 *
 * The primitives come from a Kdf: @noble/hashes (nobleKdf, the default and the `noble` engine's)
 * or node:crypto (the `node` engine's, kdf-node.ts); both give the same bytes.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, zeroize } from './bytes.js';
import { DK1_LEN, DK2_LEN, KEY_LEN, MAC_LEN } from './sizes.js';

/** The handshake's hash primitives, injected so each engine can bring its own. */
export interface Kdf {
  /** PBKDF2-HMAC-SHA256 with c = 1; `dkLen` bytes, in a new array the caller owns. */
  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, dkLen: number): Uint8Array;
  /** HMAC-SHA256(key, msg): 32 bytes in a new array. */
  hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array;
}

/** The Kdf over @noble/hashes (pure JS). */
export const nobleKdf: Kdf = {
  pbkdf2Sha256: (password, salt, dkLen) => pbkdf2(sha256, password, salt, { c: 1, dkLen }),
  hmacSha256: (key, msg) => hmac(sha256, key, msg),
};

/** How data travels after the handshake: spiped's 1060-byte packets, or compact frames. */
export type Framing = 'spiped' | 'compact';
/** Every framing, in the order a diagnosis tries them. */
export const FRAMINGS: readonly Framing[] = ['spiped', 'compact'];

/**
 * Prefix of both PBKDF2 salts under compact framing. Its length (28) makes every HMAC input of the
 * compact derivations (96 and 352 bytes) differ in length from spiped's (68 and 324 bytes).
 */
export const COMPACT_KDF_LABEL: Uint8Array = new TextEncoder().encode(
  'cloakpipe compact framing v1',
);

function salt(framing: Framing, ...parts: Uint8Array[]): Uint8Array {
  return framing === 'compact' ? concatBytes(COMPACT_KDF_LABEL, ...parts) : concatBytes(...parts);
}

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

/** PBKDF2-HMAC-SHA256 with c = 1; `dkLen` bytes (@noble/hashes). */
export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, dkLen: number): Uint8Array {
  return nobleKdf.pbkdf2Sha256(password, salt, dkLen);
}

/**
 * dk1 = PBKDF2(K, [label ‖] nonce_C ‖ nonce_S, 1, 64) → dhmac_C ‖ dhmac_S; the label only under
 * compact framing.
 */
export function deriveDhMacKeys(
  k: Uint8Array,
  nonceC: Uint8Array,
  nonceS: Uint8Array,
  framing: Framing = 'spiped',
  kdf: Kdf = nobleKdf,
): DhMacKeys {
  const s = salt(framing, nonceC, nonceS);
  const dk1 = kdf.pbkdf2Sha256(k, s, DK1_LEN);
  zeroize(s);
  return { dhmacC: dk1.subarray(0, MAC_LEN), dhmacS: dk1.subarray(MAC_LEN, DK1_LEN) };
}

/**
 * dk2 = PBKDF2(K, [label ‖] nonce_C ‖ nonce_S ‖ y_SC, 1, 128) → E_C ‖ H_C ‖ E_S ‖ H_S; the label
 * only under compact framing.
 */
export function deriveSessionKeys(
  k: Uint8Array,
  nonceC: Uint8Array,
  nonceS: Uint8Array,
  ySC: Uint8Array,
  framing: Framing = 'spiped',
  kdf: Kdf = nobleKdf,
): SessionKeys {
  const s = salt(framing, nonceC, nonceS, ySC);
  const dk2 = kdf.pbkdf2Sha256(k, s, DK2_LEN);
  zeroize(s);
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
