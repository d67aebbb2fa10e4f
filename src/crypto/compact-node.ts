/**
 * The `node` engine's FrameCipher for compact framing (DESIGN.md §9): one OpenSSL AES-256-CTR
 * stream per direction, made on first use, and HMAC-SHA256 as two one-shot crypto.hash() calls
 * over precomputed pads (RFC 2104), as the spiped-framing engine does. Byte-identical to the
 * `noble` FrameCipher (tests check it).
 */
import { type Cipher, createCipheriv, hash } from 'node:crypto';
import { writeBe64, zeroize } from './bytes.js';
import type { FrameCipher } from './compact.js';
import { AES_BLOCK, COMPACT_MAX_CT, MAC_LEN } from './sizes.js';
import { xorInto } from './xor.js';

/** SHA-256 block size: the HMAC pads are one block (RFC 2104). */
const SHA_BLOCK = 64;
/** Frame-number suffix of the MAC input. */
const FNUM_LEN = 8;
/** The keystream's first counter block: all zeros (every direction has its own key). */
const ZERO_IV = Buffer.alloc(AES_BLOCK);

/** Keystream bytes made ahead per AES call once a direction is busy with small frames. */
const LOOKAHEAD = 2048;
/** crypt() calls before a direction starts making keystream ahead (idle ones hold none). */
const LOOKAHEAD_AFTER = 4;
/** Pieces at least this long go straight through the cipher. */
const SMALL = 256;
/** The plaintext of look-ahead keystream (never written). */
const ZEROS = Buffer.alloc(LOOKAHEAD);

/**
 * Inner-hash input (ipad ‖ ct ‖ be64 frame#) for every connection of the process: it is filled
 * and hashed synchronously inside tag(), and its key-derived first block is zeroed straight after,
 * so one buffer serves all (a per-direction copy would cost 16 KiB each).
 */
const INNER = Buffer.alloc(SHA_BLOCK + COMPACT_MAX_CT + FNUM_LEN);

class NodeFrameCipher implements FrameCipher {
  /** AES key, kept until the stream is made on first use, then zeroed. */
  readonly #e: Buffer;
  #ctr: Cipher | null = null;
  /** Keystream made ahead (used bytes zeroed) and the next unused byte in it. */
  #ks: Buffer | null = null;
  #ksPos = 0;
  /** crypt() calls so far, until look-ahead starts. */
  #calls = 0;
  readonly #ipad = Buffer.alloc(SHA_BLOCK);
  /** opad ‖ inner digest. */
  readonly #outer = Buffer.alloc(SHA_BLOCK + MAC_LEN);

  constructor(e: Uint8Array, h: Uint8Array) {
    this.#e = Buffer.from(e);
    // Keys of at most one block are zero-padded to a block, then XORed with 0x36 / 0x5c.
    for (let i = 0; i < SHA_BLOCK; i++) {
      const k = i < h.length ? h[i]! : 0;
      this.#ipad[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  crypt(data: Uint8Array): Uint8Array {
    let c = this.#ctr;
    if (c === null) {
      c = this.#ctr = createCipheriv('aes-256-ctr', this.#e, ZERO_IV);
      zeroize(this.#e);
    }
    const n = data.length;
    const ks = this.#ks;
    if (ks === null && (n >= SMALL || ++this.#calls <= LOOKAHEAD_AFTER)) return c.update(data);
    // Small pieces (headers, short bodies) come from keystream made ahead, one AES call per
    // LOOKAHEAD bytes instead of one each; whatever is left of it is used before the cipher.
    const out = Buffer.from(data);
    let i = 0;
    while (i < n) {
      if (this.#ks === null) {
        if (n - i >= SMALL) {
          out.set(c.update(data.subarray(i)), i);
          break;
        }
        this.#ks = c.update(ZEROS);
        this.#ksPos = 0;
      }
      const cache = this.#ks;
      const take = Math.min(n - i, cache.length - this.#ksPos);
      xorInto(out, i, cache, this.#ksPos, take);
      cache.fill(0, this.#ksPos, this.#ksPos + take);
      this.#ksPos += take;
      i += take;
      if (this.#ksPos === cache.length) this.#ks = null;
    }
    return out;
  }

  tag(ct: Uint8Array, fnum: number, out: Buffer, at: number): void {
    const end = SHA_BLOCK + ct.length;
    INNER.set(this.#ipad, 0);
    INNER.set(ct, SHA_BLOCK);
    writeBe64(INNER, end, fnum);
    const inner = hash('sha256', INNER.subarray(0, end + FNUM_LEN), 'binary');
    INNER.fill(0, 0, SHA_BLOCK);
    this.#outer.write(inner, SHA_BLOCK, MAC_LEN, 'latin1');
    out.write(hash('sha256', this.#outer, 'binary'), at, MAC_LEN, 'latin1');
  }

  destroy(): void {
    zeroize(this.#e, this.#ipad, this.#outer, this.#ks);
    this.#ks = null;
    this.#ctr?.final();
    this.#ctr = null;
  }
}

/** A node:crypto FrameCipher keyed by AES key `e` and HMAC key `h` (32 bytes each; copied). */
export function nodeFrameCipher(e: Uint8Array, h: Uint8Array): FrameCipher {
  return new NodeFrameCipher(e, h);
}
