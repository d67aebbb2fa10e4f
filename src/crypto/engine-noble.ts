/**
 * The `noble` packet engine: one packet at a time with @noble/ciphers AES-256-CTR and
 * @noble/hashes HMAC-SHA256. Pure JavaScript: portable and independent of OpenSSL, which makes it
 * the cross-check for the `node` engine, but slow (tens of MB/s) and, by noble's own README,
 * its AES table lookups are not constant-time. Not the default.
 */
import { ctr } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ctEqual, readBe32, writeBe32, writeBe64, zeroize } from './bytes.js';
import { nobleKdf } from './kdf.js';
import { nobleFrameCipher } from './compact-noble.js';
import type { CryptoEngine, OpenFailure, Opener, OpenResult, Sealer } from './engine.js';
import { AES_BLOCK, MAC_LEN, MAX_DATA, PACKET_LEN, PADDED_LEN } from './sizes.js';

function counterBlock(pnum: number): Uint8Array {
  const iv = new Uint8Array(AES_BLOCK);
  writeBe64(iv, 0, pnum);
  return iv;
}

function mac(h: Uint8Array, ct: Uint8Array, pnum: number): Uint8Array {
  const num = new Uint8Array(8);
  writeBe64(num, 0, pnum);
  return hmac.create(sha256, h).update(ct).update(num).digest();
}

class NobleSealer implements Sealer {
  #e: Uint8Array;
  #h: Uint8Array;
  #pnum = 0;
  constructor(e: Uint8Array, h: Uint8Array) {
    this.#e = Uint8Array.from(e);
    this.#h = Uint8Array.from(h);
  }
  seal(plain: Uint8Array): Buffer {
    if (this.#e.length === 0) throw new Error('sealer destroyed');
    const count = Math.ceil(plain.length / MAX_DATA);
    const out = Buffer.allocUnsafe(count * PACKET_LEN);
    const padded = new Uint8Array(PADDED_LEN);
    for (let i = 0; i < count; i++) {
      const msg = plain.subarray(i * MAX_DATA, Math.min(plain.length, (i + 1) * MAX_DATA));
      padded.fill(0);
      padded.set(msg);
      writeBe32(padded, MAX_DATA, msg.length);
      const pnum = this.#pnum++;
      const ct = ctr(this.#e, counterBlock(pnum)).encrypt(padded);
      out.set(ct, i * PACKET_LEN);
      out.set(mac(this.#h, ct, pnum), i * PACKET_LEN + PADDED_LEN);
    }
    zeroize(padded);
    return out;
  }
  destroy(): void {
    zeroize(this.#e, this.#h);
    this.#e = new Uint8Array(0);
  }
}

class NobleOpener implements Opener {
  #e: Uint8Array;
  #h: Uint8Array;
  #pnum = 0;
  #failed = false;
  constructor(e: Uint8Array, h: Uint8Array) {
    this.#e = Uint8Array.from(e);
    this.#h = Uint8Array.from(h);
  }
  openEach(packets: Uint8Array, onPlain: (plain: Buffer) => void): OpenFailure | null {
    const r = this.open(packets);
    if (r.plain.length > 0) onPlain(r.plain);
    return r.failure ?? null;
  }
  open(packets: Uint8Array): OpenResult {
    if (this.#e.length === 0) throw new Error('opener destroyed');
    const count = packets.length / PACKET_LEN;
    const parts: Uint8Array[] = [];
    let failure: OpenResult['failure'];
    if (this.#failed) failure = 'bad-mac';
    for (let i = 0; i < count && failure === undefined; i++) {
      const pkt = packets.subarray(i * PACKET_LEN, (i + 1) * PACKET_LEN);
      const ct = pkt.subarray(0, PADDED_LEN);
      if (!ctEqual(mac(this.#h, ct, this.#pnum), pkt.subarray(PADDED_LEN, PADDED_LEN + MAC_LEN))) {
        failure = 'bad-mac';
        break;
      }
      const padded = ctr(this.#e, counterBlock(this.#pnum)).decrypt(ct);
      const len = readBe32(padded, MAX_DATA);
      if (len === 0 || len > MAX_DATA) {
        failure = 'bad-length';
        break;
      }
      this.#pnum++;
      parts.push(padded.subarray(0, len));
    }
    if (failure !== undefined) this.#failed = true;
    const plain = Buffer.concat(parts);
    for (const p of parts) zeroize(p);
    return failure === undefined ? { plain } : { plain, failure };
  }
  destroy(): void {
    zeroize(this.#e, this.#h);
    this.#e = new Uint8Array(0);
  }
}

/** The pure-JS engine. */
export const nobleEngine: CryptoEngine = {
  name: 'noble',
  sealer: (e, h) => new NobleSealer(e, h),
  opener: (e, h) => new NobleOpener(e, h),
  kdf: nobleKdf,
  frameCipher: nobleFrameCipher,
};
