/**
 * Ephemeral DH keys made ahead of time, off the handshake's critical path. Each key is handed out
 * exactly once (take() removes it; the handshake destroys it after computing the shared secret),
 * so forward secrecy is unchanged: a key pair never serves two connections.
 */
import { type EphemeralKey, generateEphemeralKey } from '../crypto/dh.js';

/** A small pool of ready key pairs, refilled when the event loop is idle. */
export class EphemeralPool {
  readonly #ready: EphemeralKey[] = [];
  #refilling = false;
  #closed = false;

  /** `size` keys are kept ready (0 disables the pool: every key is made on demand). */
  constructor(readonly size: number) {
    this.#schedule();
  }

  /** A key never handed out before. Makes one on the spot if the pool is empty. */
  take(): EphemeralKey {
    const k = this.#ready.pop() ?? generateEphemeralKey();
    this.#schedule();
    return k;
  }

  /** Destroy the keys held and stop refilling. */
  close(): void {
    this.#closed = true;
    for (const k of this.#ready.splice(0)) k.destroy();
  }

  #schedule(): void {
    if (this.#refilling || this.#closed || this.#ready.length >= this.size) return;
    this.#refilling = true;
    setImmediate(() => {
      this.#refilling = false;
      if (this.#closed) return;
      // One key per turn of the event loop, so live traffic is never stalled by a refill burst.
      if (this.#ready.length < this.size) this.#ready.push(generateEphemeralKey());
      this.#schedule();
    });
  }
}
