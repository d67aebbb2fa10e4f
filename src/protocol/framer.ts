/**
 * Cuts an incoming ciphertext stream into whole PACKET_LEN-byte packets, copying as little as it
 * can: the aligned middle of a chunk is handed on as a view, and only a packet split across reads
 * is assembled in a small buffer.
 */
import { PACKET_LEN } from '../crypto/sizes.js';

/** Incremental packet framer. Pure: no I/O, never throws on any input. */
export class PacketFramer {
  readonly #partial = Buffer.alloc(PACKET_LEN);
  #have = 0;

  /**
   * Feed `chunk`; returns zero, one or two buffers, each a whole number of packets, in stream order.
   * A returned view into `chunk` is only valid until the caller lets go of `chunk`; the assembled
   * packet is a fresh copy.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    if (this.#have > 0) {
      const take = Math.min(PACKET_LEN - this.#have, chunk.length);
      this.#partial.set(chunk.subarray(0, take), this.#have);
      this.#have += take;
      off = take;
      if (this.#have < PACKET_LEN) return out;
      out.push(Buffer.from(this.#partial));
      this.#have = 0;
    }
    const whole = Math.floor((chunk.length - off) / PACKET_LEN) * PACKET_LEN;
    if (whole > 0) out.push(chunk.subarray(off, off + whole));
    off += whole;
    if (off < chunk.length) {
      this.#partial.set(chunk.subarray(off), 0);
      this.#have = chunk.length - off;
    }
    return out;
  }

  /**
   * Like push(), without an array or a copy: calls `each` with zero, one or two buffers, each a
   * whole number of packets, in stream order, and returns the first non-null value `each` returns
   * (no later buffer is passed then), or null. Each buffer is valid only during its call (the
   * assembled packet is the framer's own scratch, reused). An exception from `each` propagates.
   */
  each<T>(chunk: Uint8Array, each: (packets: Uint8Array) => T | null): T | null {
    let off = 0;
    if (this.#have > 0) {
      const take = Math.min(PACKET_LEN - this.#have, chunk.length);
      this.#partial.set(take === chunk.length ? chunk : chunk.subarray(0, take), this.#have);
      this.#have += take;
      off = take;
      if (this.#have < PACKET_LEN) return null;
      this.#have = 0;
      const r = each(this.#partial);
      if (r !== null) return r;
    }
    const whole = Math.floor((chunk.length - off) / PACKET_LEN) * PACKET_LEN;
    let r: T | null = null;
    if (whole > 0) r = each(whole === chunk.length ? chunk : chunk.subarray(off, off + whole));
    off += whole;
    if (r === null && off < chunk.length) {
      this.#partial.set(off === 0 ? chunk : chunk.subarray(off), 0);
      this.#have = chunk.length - off;
    }
    return r;
  }

  /** Bytes of an incomplete packet held back (non-zero at EOF means the stream was truncated). */
  get pending(): number {
    return this.#have;
  }

  /** Drop any held bytes (zeroed). */
  reset(): void {
    this.#partial.fill(0);
    this.#have = 0;
  }
}
