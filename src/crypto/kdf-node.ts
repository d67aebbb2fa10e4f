/**
 * The handshake's Kdf over node:crypto (OpenSSL), for the `node` engine: about a quarter of the
 * CPU of @noble/hashes per handshake. Gives the same bytes as nobleKdf (a test checks it).
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import type { Kdf } from './kdf.js';

/** PBKDF2 and HMAC (SHA-256) from node:crypto. */
export const nodeKdf: Kdf = {
  pbkdf2Sha256: (password, salt, dkLen) => pbkdf2Sync(password, salt, 1, dkLen, 'sha256'),
  hmacSha256: (key, msg) => createHmac('sha256', key).update(msg).digest(),
};
