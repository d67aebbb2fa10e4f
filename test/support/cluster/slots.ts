/**
 * Redis Cluster key → slot mapping for tests and scripts: CRC16/XMODEM of the hash tag, mod 16384
 * (Redis cluster spec "Keys distribution model"), and keys chosen to land in given slots.
 */

/** Hash slots in a Redis Cluster. */
export const SLOTS = 16384;

// ---------------------------------------------------------------------------------------------
// Key → slot (CRC16/XMODEM of the hash tag, mod 16384; Redis cluster spec "Keys distribution model")

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC16/XMODEM (poly 0x1021, init 0), as Redis Cluster uses it. */
export function crc16(data: Buffer): number {
  let crc = 0;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The hash slot of `key`, honouring `{hash tags}` (first `{`, then the next `}`, non-empty). */
export function keySlot(key: string): number {
  const s = key.indexOf('{');
  if (s !== -1) {
    const e = key.indexOf('}', s + 1);
    if (e > s + 1) key = key.slice(s + 1, e);
  }
  return crc16(Buffer.from(key)) % SLOTS;
}

/** One key per slot: `keys[slot]` hashes to `slot` (`<prefix>:<n>`, the first n that fits). */
export function keysForAllSlots(prefix: string): string[] {
  const keys = new Array<string | undefined>(SLOTS);
  let found = 0;
  for (let n = 0; found < SLOTS; n++) {
    const k = `${prefix}:${n}`;
    const slot = keySlot(k);
    if (keys[slot] === undefined) {
      keys[slot] = k;
      found++;
    }
  }
  return keys as string[];
}

/** A key in `slot` (`<prefix>:<n>`), for ASK/MOVED scenarios. */
export function keyInSlot(slot: number, prefix = 'k', skip = 0): string {
  for (let n = 0; ; n++) {
    const k = `${prefix}:${n}`;
    if (keySlot(k) === slot && skip-- === 0) return k;
  }
}
