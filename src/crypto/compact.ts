/**
 * Compact framing (DESIGN.md §9): variable-length frames for links where both ends run cloakpipe.
 *
 *   ct    = AES-256-CTR(E, be16(body len) ‖ be16(data len) ‖ data ‖ zeros to body len)
 *   frame = ct ‖ HMAC-SHA256(H, ct ‖ be64(frame#))
 *
 * One keystream runs through a whole direction (counter block 0, 1, 2, … over the encrypted bytes
 * only; tags are not encrypted), so the header and the body of each frame use fresh keystream and a
 * frame moved, dropped or replayed garbles everything after it. The body length is data length
 * rounded up to the sender's padding bucket; the receiver needs only the body length (checked
 * against COMPACT_MAX_DATA before it buffers anything), and reads the exact data length only after
 * the MAC has verified, so nothing it does before the MAC depends on more than the bucketed size.
 *
 * The sealer and opener here are shared by both engines; each engine supplies a FrameCipher (the
 * keystream and the MAC), so byte-identical frames need only byte-identical FrameCiphers.
 */
import { ctEqual, zeroize } from './bytes.js';
import {
  COMPACT_HEADER_LEN,
  COMPACT_MAX_BUCKET,
  COMPACT_MAX_DATA,
  COMPACT_MIN_BUCKET,
  MAC_LEN,
} from './sizes.js';

/** One direction's keystream and MAC for compact frames. */
export interface FrameCipher {
  /**
   * XOR the next `data.length` bytes of this direction's AES-256-CTR keystream (128-bit big-endian
   * counter from 0) into a copy of `data` and return the copy. Encrypts and decrypts alike.
   */
  crypt(data: Uint8Array): Uint8Array;
  /** Write HMAC-SHA256(H, ct ‖ be64(fnum)) to out[at .. at + MAC_LEN). */
  tag(ct: Uint8Array, fnum: number, out: Buffer, at: number): void;
  /** Zero the keys. */
  destroy(): void;
}

/** Why a compact frame was refused. */
export type CompactFailure = 'bad-mac' | 'bad-length';

/**
 * Check a padding bucket (an operator setting): an integer in
 * [COMPACT_MIN_BUCKET, COMPACT_MAX_BUCKET]. Throws RangeError with the allowed range otherwise.
 */
export function checkBucket(bucket: number): number {
  if (!Number.isInteger(bucket) || bucket < COMPACT_MIN_BUCKET || bucket > COMPACT_MAX_BUCKET)
    throw new RangeError(
      `padding bucket must be an integer in ${COMPACT_MIN_BUCKET}..${COMPACT_MAX_BUCKET}, got ${bucket}`,
    );
  return bucket;
}

/** Body length for `dataLen` bytes of data: rounded up to `bucket`, at most COMPACT_MAX_DATA. */
export function compactBodyLen(dataLen: number, bucket: number): number {
  return Math.min(COMPACT_MAX_DATA, Math.ceil(dataLen / bucket) * bucket);
}

/** Seals plaintext into compact frames for one direction; owns its FrameCipher. */
export class CompactSealer {
  readonly #fc: FrameCipher;
  readonly #bucket: number;
  #fnum = 0;
  #dead = false;

  /** `bucket` is checked with checkBucket (RangeError). */
  constructor(fc: FrameCipher, bucket: number) {
    this.#fc = fc;
    this.#bucket = checkBucket(bucket);
  }

  /**
   * Cut `plain` (length ≥ 1) into messages of 1..COMPACT_MAX_DATA bytes and return their frames,
   * concatenated; the buffer is the caller's. Throws Error after destroy().
   */
  seal(plain: Uint8Array): Buffer {
    if (this.#dead) throw new Error('sealer destroyed');
    const count = Math.ceil(plain.length / COMPACT_MAX_DATA);
    let total = 0;
    for (let i = 0; i < count; i++) {
      const len = Math.min(COMPACT_MAX_DATA, plain.length - i * COMPACT_MAX_DATA);
      total += COMPACT_HEADER_LEN + compactBodyLen(len, this.#bucket) + MAC_LEN;
    }
    const out = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < count; i++) {
      const msg = plain.subarray(i * COMPACT_MAX_DATA, (i + 1) * COMPACT_MAX_DATA);
      const body = compactBodyLen(msg.length, this.#bucket);
      const ctLen = COMPACT_HEADER_LEN + body;
      out.writeUInt16BE(body, o);
      out.writeUInt16BE(msg.length, o + 2);
      out.set(msg, o + COMPACT_HEADER_LEN);
      out.fill(0, o + COMPACT_HEADER_LEN + msg.length, o + ctLen);
      const region = out.subarray(o, o + ctLen);
      out.set(this.#fc.crypt(region), o);
      this.#fc.tag(region, this.#fnum++, out, o + ctLen);
      o += ctLen + MAC_LEN;
    }
    return out;
  }

  /** Zero the keys; later seal() calls throw. */
  destroy(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#fc.destroy();
  }
}

/**
 * Opens a stream of compact frames for one direction, handing each frame's data to `onPlain` once
 * its MAC has verified. Pure: no I/O; never throws on peer input.
 */
export class CompactOpener {
  readonly #fc: FrameCipher;
  readonly #onPlain: (plain: Buffer) => void;
  /** Ciphertext of the header being read (it may arrive split). */
  readonly #hdr = Buffer.alloc(COMPACT_HEADER_LEN);
  readonly #tag = Buffer.alloc(MAC_LEN);
  /** Assembly buffer for a frame split across pushes; made on first need, grown to fit. */
  #frame: Buffer | null = null;
  /** Header bytes held (< COMPACT_HEADER_LEN while reading a header). */
  #hdrHave = 0;
  /** Frame length once the header is read, else 0. */
  #frameLen = 0;
  #bodyLen = 0;
  #dataLen = 0;
  /** Bytes of the current frame held in #frame. */
  #have = 0;
  #fnum = 0;
  #failure: CompactFailure | null = null;
  #dead = false;

  /**
   * `onPlain` gets each verified frame's data, in order, in a buffer that is its to keep. It is
   * called synchronously from push(); an exception it throws propagates.
   */
  constructor(fc: FrameCipher, onPlain: (plain: Buffer) => void) {
    this.#fc = fc;
    this.#onPlain = onPlain;
  }

  /**
   * Feed ciphertext. Verified frames go to `onPlain` as they complete. Returns null, or why the
   * stream was refused: 'bad-length' (a body length of 0 or over COMPACT_MAX_DATA, caught before
   * anything of that frame is buffered; or, after the MAC, a data length of 0 or over the body),
   * 'bad-mac'. After a failure every push returns it again and releases nothing. Throws Error only
   * after destroy().
   */
  push(chunk: Uint8Array): CompactFailure | null {
    if (this.#dead) throw new Error('opener destroyed');
    if (this.#failure !== null) return this.#failure;
    let off = 0;
    while (off < chunk.length) {
      if (this.#frameLen === 0) {
        // The header: decrypt it as soon as it is whole, and cap the length before buffering.
        const fresh = this.#hdrHave === 0;
        const take = Math.min(COMPACT_HEADER_LEN - this.#hdrHave, chunk.length - off);
        this.#hdr.set(chunk.subarray(off, off + take), this.#hdrHave);
        this.#hdrHave += take;
        off += take;
        if (this.#hdrHave < COMPACT_HEADER_LEN) break;
        this.#hdrHave = 0;
        const h = this.#fc.crypt(this.#hdr);
        const body = (h[0]! << 8) | h[1]!;
        this.#dataLen = (h[2]! << 8) | h[3]!;
        zeroize(h);
        if (body === 0 || body > COMPACT_MAX_DATA) return this.#fail('bad-length');
        this.#bodyLen = body;
        this.#frameLen = COMPACT_HEADER_LEN + body + MAC_LEN;
        const start = off - COMPACT_HEADER_LEN;
        if (fresh && chunk.length - start >= this.#frameLen) {
          // The whole frame is in this chunk: verify it in place.
          off = start + this.#frameLen;
          const f = this.#finish(chunk.subarray(start, off));
          if (f !== null) return f;
          continue;
        }
        const need = this.#frameLen;
        if (this.#frame === null || this.#frame.length < need) {
          if (this.#frame !== null) zeroize(this.#frame);
          this.#frame = Buffer.allocUnsafe(need);
        }
        this.#frame.set(this.#hdr, 0);
        this.#have = COMPACT_HEADER_LEN;
        continue;
      }
      const frame = this.#frame!;
      const take = Math.min(this.#frameLen - this.#have, chunk.length - off);
      frame.set(chunk.subarray(off, off + take), this.#have);
      this.#have += take;
      off += take;
      if (this.#have < this.#frameLen) break;
      const f = this.#finish(frame.subarray(0, this.#frameLen));
      if (f !== null) return f;
    }
    return null;
  }

  /** Bytes of an incomplete frame held (non-zero at EOF means the stream was truncated). */
  get pending(): number {
    return this.#frameLen === 0 ? this.#hdrHave : this.#have;
  }

  /** Zero the keys and any held bytes; later push() calls throw. */
  destroy(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#fc.destroy();
    zeroize(this.#frame, this.#hdr);
  }

  /** A whole frame (header ‖ body ‖ tag) is at hand: verify, then decrypt and release its data. */
  #finish(frame: Uint8Array): CompactFailure | null {
    const ctLen = COMPACT_HEADER_LEN + this.#bodyLen;
    const ct = frame.subarray(0, ctLen);
    this.#fc.tag(ct, this.#fnum, this.#tag, 0);
    if (!ctEqual(this.#tag, frame.subarray(ctLen, ctLen + MAC_LEN))) return this.#fail('bad-mac');
    if (this.#dataLen === 0 || this.#dataLen > this.#bodyLen) return this.#fail('bad-length');
    const plain = this.#fc.crypt(frame.subarray(COMPACT_HEADER_LEN, ctLen));
    const dataLen = this.#dataLen;
    this.#fnum++;
    this.#frameLen = 0;
    this.#have = 0;
    this.#onPlain(toBuffer(plain).subarray(0, dataLen));
    return null;
  }

  #fail(why: CompactFailure): CompactFailure {
    this.#failure = why;
    this.#frameLen = 0;
    this.#have = 0;
    this.#hdrHave = 0;
    if (this.#frame !== null) zeroize(this.#frame);
    return why;
  }
}

function toBuffer(a: Uint8Array): Buffer {
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.length);
}
