/**
 * The spiped 1.6 handshake as a pure state machine over bytes (DESIGN.md §2.2, handshake steps
 * C1–C7 / S1–S7; lib/proto/proto_handshake.c). It never touches a socket or a timer: the caller
 * sends what `start()` and `push()` return, and feeds in what arrives.
 *
 *   step  client (-e)                               server (-d)
 *   1     send nonce_C                              send nonce_S        (both at once)
 *   2     read nonce_S                              read nonce_C
 *   3     dk1 = PBKDF2(K, nC‖nS, 1, 64) = dhmac_C ‖ dhmac_S             (both)
 *   4     send y_C ‖ HMAC(dhmac_C, y_C)             read y_C ‖ h_C; check MAC, then y_C
 *   5     read y_S ‖ h_S; check MAC, then y_S       send y_S ‖ HMAC(dhmac_S, y_S)
 *   6     y_SC = y_S^x_C                            y_SC = y_C^x_S
 *   7     dk2 = PBKDF2(K, nC‖nS‖y_SC, 1, 128) = E_C ‖ H_C ‖ E_S ‖ H_S    (both)
 *
 * Because the server reads y_C before it sends y_S, a server holding several keys can try each
 * against h_C and answer with the one that matched, without any change on the wire.
 *
 * Under compact framing (DESIGN.md §9) dk1 and dk2 are derived with a label, so a compact end and
 * a spiped-framing end fail the MAC at step 4 or 5. The failing end then checks the peer's MAC
 * under the other framing to tell a wrong framing (EFRAMING) from a wrong key (EBADMAC); a server
 * that finds the key right but the framing wrong still hands back its y_S ‖ h_S (in the error's
 * `reply`) so that the client can make the same diagnosis.
 */
import { concatBytes, ctEqual, zeroize } from '../crypto/bytes.js';
import { checkPeerValue, DH_ONE, type EphemeralKey } from '../crypto/dh.js';
import {
  type DhMacKeys,
  deriveDhMacKeys,
  deriveSessionKeys,
  type Framing,
  type Kdf,
  nobleKdf,
  type SessionKeys,
} from '../crypto/kdf.js';
import { DH_LEN, NONCE_LEN, YH_LEN } from '../crypto/sizes.js';
import { ProtocolError } from './errors.js';

/** Which end of the handshake this is. */
export type Role = 'client' | 'server';

/** Everything a handshake needs, handed in (randomness and DH keys included, so tests can fix them). */
export interface HandshakeOptions {
  /** 'client' for -e, 'server' for -d. */
  readonly role: Role;
  /** Candidate keys K (32 bytes each). A client uses the first; a server tries each in order. */
  readonly keys: readonly Uint8Array[];
  /** -f: send y = 1 and use y_SC = 1 (no forward secrecy). */
  readonly noPfs: boolean;
  /** -g: refuse a peer that sends y = 1. */
  readonly requirePfs: boolean;
  /** This side's 32-byte random nonce. */
  readonly nonce: Uint8Array;
  /** This side's ephemeral DH key; null when noPfs. Used once, then destroyed. */
  readonly ephemeral: EphemeralKey | null;
  /** The data framing both ends must agree on; 'spiped' (the default) is byte-exact with spiped. */
  readonly framing?: Framing;
  /** PBKDF2/HMAC primitives (an engine's `kdf`); @noble/hashes by default. */
  readonly kdf?: Kdf;
}

/** The outcome of a completed handshake. */
export interface HandshakeDone {
  /** The four session keys (zero them with destroySessionKeys when the connection ends). */
  readonly keys: SessionKeys;
  /** Index into options.keys of the key that matched (always 0 on a client). */
  readonly keyIndex: number;
  /** True when the connection has no forward secrecy (either side ran -f). */
  readonly noPfs: boolean;
  /** The framing the keys are for (both ends agreed on it). */
  readonly framing: Framing;
}

/** What one push() produced. */
export interface HandshakeStep {
  /** Bytes to send to the peer now, in order. */
  readonly send: Uint8Array[];
  /** Set once the handshake is complete. */
  readonly done: HandshakeDone | null;
  /** Bytes after the end of the handshake (the first data packets); empty until done. */
  readonly rest: Uint8Array;
}

type State = 'nonce' | 'yh' | 'done' | 'failed';

/** An incremental spiped handshake. Throws ProtocolError on bad peer input; never on short input. */
export class Handshake {
  readonly #o: HandshakeOptions;
  #state: State = 'nonce';
  #buf = new Uint8Array(NONCE_LEN);
  #have = 0;
  #peerNonce: Uint8Array | null = null;
  #mac: DhMacKeys | null = null;
  #myY: Uint8Array;
  readonly #framing: Framing;
  readonly #kdf: Kdf;

  /** Checks the options; throws TypeError on a programming error (not on peer input). */
  constructor(options: HandshakeOptions) {
    if (options.keys.length === 0) throw new TypeError('handshake needs at least one key');
    if (options.role === 'client' && options.keys.length !== 1)
      throw new TypeError('a client handshake takes exactly one key');
    if (options.nonce.length !== NONCE_LEN) throw new TypeError(`expected ${NONCE_LEN}-byte nonce`);
    if (options.noPfs && options.requirePfs) throw new TypeError('-f and -g are exclusive');
    if (!options.noPfs && options.ephemeral === null)
      throw new TypeError('ephemeral key required without -f');
    this.#o = options;
    this.#myY = options.noPfs ? DH_ONE : options.ephemeral!.publicValue;
    this.#framing = options.framing ?? 'spiped';
    this.#kdf = options.kdf ?? nobleKdf;
  }

  /** Step 1: the bytes to send first (this side's nonce). */
  start(): Uint8Array {
    return this.#o.nonce;
  }

  /** True once done or failed: no more input is wanted. */
  get finished(): boolean {
    return this.#state === 'done' || this.#state === 'failed';
  }

  /**
   * Feed bytes from the peer. Returns what to send and, once complete, the session keys and any
   * surplus bytes. Throws ProtocolError (EBADMAC, EFRAMING, EBADDH, ENOPFS) when the peer fails a
   * check; an EFRAMING from a server carries `reply`, to be sent before closing. After a throw,
   * or after completion, further input throws Error.
   */
  push(chunk: Uint8Array): HandshakeStep {
    if (this.finished) throw new Error('handshake already finished');
    const send: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(this.#buf.length - this.#have, chunk.length - off);
      this.#buf.set(chunk.subarray(off, off + take), this.#have);
      this.#have += take;
      off += take;
      if (this.#have < this.#buf.length) break;
      try {
        const done = this.#advance(send);
        if (done) return { send, done, rest: chunk.subarray(off) };
      } catch (err) {
        this.#fail();
        throw err;
      }
    }
    return { send, done: null, rest: new Uint8Array(0) };
  }

  /** Zero everything secret; call when abandoning a handshake. */
  destroy(): void {
    this.#fail();
  }

  #fail(): void {
    if (this.#state !== 'done') this.#state = 'failed';
    this.#o.ephemeral?.destroy();
    zeroize(this.#buf, this.#mac?.dhmacC, this.#mac?.dhmacS);
  }

  /** A full buffer has arrived: run the next step. Returns the result when the handshake ends. */
  #advance(send: Uint8Array[]): HandshakeDone | null {
    const o = this.#o;
    if (this.#state === 'nonce') {
      // C2/S2: the peer's nonce.
      this.#peerNonce = this.#buf;
      this.#buf = new Uint8Array(YH_LEN);
      this.#have = 0;
      this.#state = 'yh';
      if (o.role === 'client') {
        // C3, C4: dk1, then send y_C ‖ h_C.
        this.#mac = this.#dk1(o.keys[0]!, o.nonce, this.#peerNonce, this.#framing);
        send.push(this.#yh(this.#mac.dhmacC));
      }
      return null;
    }
    // C5/S4: the peer's y ‖ h.
    const y = this.#buf.subarray(0, DH_LEN);
    const h = this.#buf.subarray(DH_LEN, YH_LEN);
    const [nonceC, nonceS] =
      o.role === 'client' ? [o.nonce, this.#peerNonce!] : [this.#peerNonce!, o.nonce];
    let keyIndex = 0;
    if (o.role === 'client') {
      if (!ctEqual(this.#kdf.hmacSha256(this.#mac!.dhmacS, y), h)) {
        // Right key, other framing? Then h_S verifies under the other framing's dk1.
        const alt = this.#dk1(o.keys[0]!, nonceC, nonceS, this.#otherFraming);
        const framingOnly = ctEqual(this.#kdf.hmacSha256(alt.dhmacS, y), h);
        zeroize(alt.dhmacC, alt.dhmacS);
        if (framingOnly) throw this.#framingError();
        throw new ProtocolError('EBADMAC');
      }
    } else {
      keyIndex = this.#matchKey(nonceC, nonceS, y, h, this.#framing);
      if (keyIndex < 0) {
        const alt = this.#matchKey(nonceC, nonceS, y, h, this.#otherFraming);
        if (alt < 0) throw new ProtocolError('EBADMAC');
        // S5 under this end's framing, so the client can diagnose the mismatch too.
        const mine = this.#dk1(o.keys[alt]!, nonceC, nonceS, this.#framing);
        const reply = this.#yh(mine.dhmacS);
        zeroize(mine.dhmacC, mine.dhmacS);
        throw this.#framingError(reply);
      }
    }
    const check = checkPeerValue(y);
    if (check === 'one' && o.requirePfs) throw new ProtocolError('ENOPFS');
    if (check !== 'ok' && check !== 'one') throw new ProtocolError('EBADDH', check);
    if (o.role === 'server') {
      // S5: send y_S ‖ h_S, keyed by the key that matched.
      send.push(this.#yh(this.#mac!.dhmacS));
    }
    // C6/S6: y_SC, which is 1 when either side runs -f.
    const noPfs = o.noPfs || check === 'one';
    let ySC: Uint8Array;
    if (noPfs) {
      ySC = DH_ONE;
      o.ephemeral?.destroy();
    } else {
      ySC = o.ephemeral!.computeSecret(y);
    }
    // C7/S7: the session keys.
    const keys = deriveSessionKeys(
      o.keys[keyIndex]!,
      nonceC,
      nonceS,
      ySC,
      this.#framing,
      this.#kdf,
    );
    if (ySC !== DH_ONE) zeroize(ySC);
    zeroize(this.#mac!.dhmacC, this.#mac!.dhmacS, this.#buf);
    this.#state = 'done';
    return { keys, keyIndex, noPfs, framing: this.#framing };
  }

  get #otherFraming(): Framing {
    return this.#framing === 'spiped' ? 'compact' : 'spiped';
  }

  #dk1(k: Uint8Array, nonceC: Uint8Array, nonceS: Uint8Array, framing: Framing): DhMacKeys {
    return deriveDhMacKeys(k, nonceC, nonceS, framing, this.#kdf);
  }

  /** This side's y ‖ HMAC(dhmac, y). */
  #yh(dhmac: Uint8Array): Uint8Array {
    return concatBytes(this.#myY, this.#kdf.hmacSha256(dhmac, this.#myY));
  }

  /**
   * S4 on a server: the index of the first key under which h_C verifies for `framing`, or -1. The
   * matching key's dk1 is kept in #mac; every other is zeroed. Every key is tried (no early exit).
   */
  #matchKey(
    nonceC: Uint8Array,
    nonceS: Uint8Array,
    y: Uint8Array,
    h: Uint8Array,
    framing: Framing,
  ): number {
    const keys = this.#o.keys;
    let keyIndex = -1;
    for (let i = 0; i < keys.length; i++) {
      const mac = this.#dk1(keys[i]!, nonceC, nonceS, framing);
      if (keyIndex < 0 && ctEqual(this.#kdf.hmacSha256(mac.dhmacC, y), h)) {
        keyIndex = i;
        this.#mac = mac;
      } else zeroize(mac.dhmacC, mac.dhmacS);
    }
    return keyIndex;
  }

  #framingError(reply?: Uint8Array): ProtocolError {
    return new ProtocolError(
      'EFRAMING',
      `this end uses ${this.#framing} framing, the peer uses ${this.#otherFraming} framing`,
      reply,
    );
  }
}
