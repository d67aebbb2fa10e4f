/**
 * XOR one byte range into another, a 32-bit word at a time when both ranges are 4-byte aligned
 * (the common case for packet buffers), else a byte at a time.
 */

/** dst[dOff + i] ^= src[sOff + i] for i in [0, len). */
export function xorInto(
  dst: Uint8Array,
  dOff: number,
  src: Uint8Array,
  sOff: number,
  len: number,
): void {
  let i = 0;
  const da = dst.byteOffset + dOff;
  const sa = src.byteOffset + sOff;
  if ((da & 3) === 0 && (sa & 3) === 0 && len >= 16) {
    const words = len >>> 2;
    const d32 = new Int32Array(dst.buffer, da, words);
    const s32 = new Int32Array(src.buffer, sa, words);
    for (let w = 0; w < words; w++) d32[w]! ^= s32[w]!;
    i = words << 2;
  }
  for (; i < len; i++) dst[dOff + i]! ^= src[sOff + i]!;
}
