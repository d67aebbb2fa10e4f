/**
 * Compact framing's (DESIGN.md §9) opening Transform, beside spiped's in ./framing.ts: it opens
 * the frame stream with a CompactOpener from ../crypto and maps its failures to the same
 * ProtocolError codes as spiped framing (EBADPACKET, EBADLEN; a partial frame at EOF goes to
 * `truncated`). Sealing needs no Transform of its own: ./framing.ts's SealTransform takes a
 * CompactSealer as it takes spiped's Sealer.
 */
import { CompactOpener, type FrameCipher } from '../crypto/compact.js';
import { ProtocolError } from '../protocol/errors.js';
import type { CountBytes, Framing } from './framing.js';
import type { Emit } from './pipe.js';

/**
 * Compact frames → plaintext. Emits the data of every frame whose MAC verifies, in order; at the
 * first bad one it throws ProtocolError EBADPACKET (MAC) or EBADLEN (a length over the cap, or a
 * data length that does not fit its body), after emitting what came before it. At the source's
 * end, a partial frame is reported to `truncated` and discarded.
 */
export class CompactOpenTransform implements Framing {
  readonly #opener: CompactOpener;
  readonly #count: CountBytes;
  readonly #truncated: (pending: number) => void;
  /** The current push()'s emit (the opener's callback is fixed at construction). */
  #emit: Emit | null = null;

  /** Takes ownership of `fc` (destroyed by destroy()). */
  constructor(fc: FrameCipher, count: CountBytes, truncated: (pending: number) => void) {
    this.#opener = new CompactOpener(fc, (plain) => {
      this.#count(plain.length);
      this.#emit!(plain);
    });
    this.#count = count;
    this.#truncated = truncated;
  }

  /** Open the frames `chunk` completes; throws ProtocolError on a frame that fails (see the class). */
  push(chunk: Buffer, emit: Emit): void {
    this.#emit = emit;
    try {
      const failure = this.#opener.push(chunk);
      if (failure !== null)
        throw new ProtocolError(failure === 'bad-mac' ? 'EBADPACKET' : 'EBADLEN');
    } finally {
      this.#emit = null;
    }
  }

  /** The frame stream ended: report a partial frame (its bytes are zeroed by destroy()). */
  end(): void {
    const pending = this.#opener.pending;
    if (pending > 0) this.#truncated(pending);
  }

  destroy(): void {
    this.#opener.destroy();
  }
}
