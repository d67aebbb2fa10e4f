/**
 * The `noble` engine's FrameCipher for compact framing (DESIGN.md §9): @noble/ciphers AES-256-CTR
 * and @noble/hashes HMAC-SHA256, pure JavaScript. noble's ctr() starts afresh on each call, so
 * the direction's stream position is kept here and each call starts at the counter block that
 * holds it, skipping the part of the block already used.
 */
import { ctr } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { writeBe64, zeroize } from './bytes.js';
import type { FrameCipher } from './compact.js';
import { AES_BLOCK } from './sizes.js';

class NobleFrameCipher implements FrameCipher {
  readonly #e: Uint8Array;
  readonly #h: Uint8Array;
  /** Keystream bytes used so far in this direction. */
  #pos = 0;

  constructor(e: Uint8Array, h: Uint8Array) {
    this.#e = Uint8Array.from(e);
    this.#h = Uint8Array.from(h);
  }

  crypt(data: Uint8Array): Uint8Array {
    const skip = this.#pos % AES_BLOCK;
    const iv = new Uint8Array(AES_BLOCK);
    writeBe64(iv, 8, Math.floor(this.#pos / AES_BLOCK));
    const buf = new Uint8Array(skip + data.length);
    buf.set(data, skip);
    const out = ctr(this.#e, iv).encrypt(buf);
    zeroize(buf);
    this.#pos += data.length;
    return out.subarray(skip);
  }

  tag(ct: Uint8Array, fnum: number, out: Buffer, at: number): void {
    const num = new Uint8Array(8);
    writeBe64(num, 0, fnum);
    out.set(hmac.create(sha256, this.#h).update(ct).update(num).digest(), at);
  }

  destroy(): void {
    zeroize(this.#e, this.#h);
  }
}

/** A pure-JS FrameCipher keyed by AES key `e` and HMAC key `h` (32 bytes each; copied). */
export function nobleFrameCipher(e: Uint8Array, h: Uint8Array): FrameCipher {
  return new NobleFrameCipher(e, h);
}
