/**
 * Byte helpers shared by the crypto and protocol layers: constant-time comparison,
 * zeroization and big-endian integer encoding. Nothing here allocates on the hot path
 * except where the contract says so.
 */
import { timingSafeEqual } from 'node:crypto';

/**
 * Compare two byte arrays in time that depends only on their lengths.
 * Returns false (without throwing) when the lengths differ.
 */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Overwrite every given array with zeros (keys, nonces, DH secrets on drop). */
export function zeroize(...arrays: (Uint8Array | null | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** Write `n` (0 ≤ n < 2^53) as an 8-byte big-endian integer at `off`. */
export function writeBe64(buf: Uint8Array, off: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  buf[off] = hi >>> 24;
  buf[off + 1] = (hi >>> 16) & 0xff;
  buf[off + 2] = (hi >>> 8) & 0xff;
  buf[off + 3] = hi & 0xff;
  buf[off + 4] = lo >>> 24;
  buf[off + 5] = (lo >>> 16) & 0xff;
  buf[off + 6] = (lo >>> 8) & 0xff;
  buf[off + 7] = lo & 0xff;
}

/** Write `n` (0 ≤ n < 2^32) as a 4-byte big-endian integer at `off`. */
export function writeBe32(buf: Uint8Array, off: number, n: number): void {
  buf[off] = n >>> 24;
  buf[off + 1] = (n >>> 16) & 0xff;
  buf[off + 2] = (n >>> 8) & 0xff;
  buf[off + 3] = n & 0xff;
}

/** Read a 4-byte big-endian unsigned integer at `off`. */
export function readBe32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Concatenate byte arrays into one new Uint8Array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
