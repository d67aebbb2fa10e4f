/**
 * spiped's framing as the two Transforms a tunnel's pipes run (DESIGN.md §2.3): SealTransform
 * turns plaintext into 1060-byte packets, OpenTransform cuts the packet stream with a
 * PacketFramer and opens it. They wrap a Sealer and an Opener from ../crypto and add nothing per
 * chunk but a byte count; another framing (DESIGN.md §9) implements the same Framing interface.
 */
import type { OpenFailure, Opener, Sealer } from '../crypto/engine.js';
import { ProtocolError } from '../protocol/errors.js';
import { PacketFramer } from '../protocol/framer.js';
import type { Emit, Transform } from './pipe.js';

/** Counts plaintext bytes as they pass (e.g. into a tunnel's totals and metrics). */
export type CountBytes = (n: number) => void;

/** A Transform that carries one direction's keys; destroy() zeroes them. */
export interface Framing extends Transform {
  /** Zero the keys and anything held. Later pushes throw. */
  destroy(): void;
}

/** What SealTransform seals with: spiped's packet Sealer or a compact framing's sealer. */
export type AnySealer = Pick<Sealer, 'seal' | 'destroy'>;

/**
 * Plaintext → packets (or compact frames: either framing's sealer). `count` sees every plaintext
 * chunk's length before it is sealed.
 */
export class SealTransform implements Framing {
  readonly #sealer: AnySealer;
  readonly #count: CountBytes;

  /** Takes ownership of `sealer` (destroyed by destroy()). */
  constructor(sealer: AnySealer, count: CountBytes) {
    this.#sealer = sealer;
    this.#count = count;
  }

  /** Seal `chunk` (non-empty) and emit its packets. Throws only after destroy(). */
  push(chunk: Buffer, emit: Emit): void {
    this.#count(chunk.length);
    emit(this.#sealer.seal(chunk));
  }

  /** Seal a control line (the route header) outside the counted stream. */
  sealLine(line: Uint8Array): Buffer {
    return this.#sealer.seal(line);
  }

  destroy(): void {
    this.#sealer.destroy();
  }
}

/**
 * Packets → plaintext. Emits the plaintext of every packet that verifies, in order; at the first
 * bad one it throws ProtocolError EBADPACKET (MAC) or EBADLEN (length), after emitting what came
 * before it. At the source's end, a partial packet is reported to `truncated` and discarded.
 */
export class OpenTransform implements Framing {
  readonly #opener: Opener;
  readonly #framer = new PacketFramer();
  readonly #count: CountBytes;
  readonly #truncated: (pending: number) => void;

  /** Takes ownership of `opener` (destroyed by destroy()). */
  constructor(opener: Opener, count: CountBytes, truncated: (pending: number) => void) {
    this.#opener = opener;
    this.#count = count;
    this.#truncated = truncated;
  }

  /** Frame and open `chunk`; throws ProtocolError on a packet that fails (see the class). */
  push(chunk: Buffer, emit: Emit): void {
    this.#emit = emit;
    const failure = this.#framer.each(chunk, this.#openBatch);
    if (failure !== null) throw new ProtocolError(failure === 'bad-mac' ? 'EBADPACKET' : 'EBADLEN');
  }

  /** Where push() sends plaintext: the current push's `emit` (one per pipe, in practice). */
  #emit: Emit = () => {};
  readonly #onPlain = (plain: Buffer): void => {
    this.#count(plain.length);
    this.#emit(plain);
  };
  readonly #openBatch = (packets: Uint8Array): OpenFailure | null =>
    this.#opener.openEach(packets, this.#onPlain);

  /** The packet stream ended: report and drop a partial packet. */
  end(): void {
    const pending = this.#framer.pending;
    if (pending === 0) return;
    this.#truncated(pending);
    this.#framer.reset();
  }

  destroy(): void {
    this.#opener.destroy();
    this.#framer.reset();
  }
}
