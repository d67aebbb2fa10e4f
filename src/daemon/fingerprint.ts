/**
 * Key fingerprints: a short, public name for a key so that two operators can check that both
 * tunnel ends hold the same key without showing it. The fingerprint is a domain-separated hash of
 * K (the SHA-256 of the key file, DESIGN.md §2.1), never K itself and never a value the protocol
 * uses, so logging it tells an attacker nothing that helps against the tunnel.
 *
 * Reproducible with standard tools (the README's troubleshooting section gives the command):
 *   { printf 'cloakpipe-key-fingerprint-v1:'; sha256sum < KEYFILE | cut -c1-64 | xxd -r -p; } \
 *     | sha256sum | cut -c1-16
 */
import { createHash } from 'node:crypto';

/** Domain-separation prefix hashed before K; changing it changes every fingerprint. */
export const FINGERPRINT_DOMAIN = 'cloakpipe-key-fingerprint-v1:';

/** Fingerprint length in bytes (64 bits: enough to tell keys apart, short enough to read out). */
export const FINGERPRINT_BYTES = 8;

/** Length of K, the key derived from a key file (SHA-256 output). */
const KEY_BYTES = 32;

/**
 * The fingerprint of `key` (K, 32 bytes): the first FINGERPRINT_BYTES of
 * SHA-256(FINGERPRINT_DOMAIN ‖ K), as lowercase hex. Throws RangeError if `key` is not 32 bytes.
 */
export function keyFingerprint(key: Uint8Array): string {
  if (key.length !== KEY_BYTES)
    throw new RangeError(`expected a ${KEY_BYTES}-byte key, got length=${key.length}`);
  return createHash('sha256')
    .update(FINGERPRINT_DOMAIN)
    .update(key)
    .digest()
    .subarray(0, FINGERPRINT_BYTES)
    .toString('hex');
}
