/**
 * Ephemeral DH keys made ahead of time, off the handshake's critical path. Each key is handed out
 * exactly once (take() removes it; the handshake destroys it after computing the shared secret),
 * so forward secrecy is unchanged: a key pair never serves two connections.
 *
 * The keys are made on a worker thread, so the modular exponentiation (≈0.4 ms) never runs on the
 * event loop; only computeSecret does. If the worker cannot start or dies, the pool falls back to
 * making one key per turn of the event loop.
 */
import { Worker } from 'node:worker_threads';
import { type EphemeralKey, ephemeralKeyFromParts, generateEphemeralKey } from '../crypto/dh.js';

/** Where the pool makes its keys. */
export type PoolMode = 'worker' | 'loop';

/** A small pool of ready key pairs. */
export class EphemeralPool {
  readonly #ready: EphemeralKey[] = [];
  #worker: Worker | null = null;
  /** Keys asked of the worker and not yet received. */
  #asked = 0;
  #refilling = false;
  #closed = false;

  /**
   * `size` keys are kept ready (0 disables the pool: every key is made on demand). `mode` 'worker'
   * (the default) makes them on a worker thread; 'loop' on the event loop, one per turn.
   */
  constructor(
    readonly size: number,
    mode: PoolMode = 'worker',
  ) {
    if (size > 0 && mode === 'worker') this.#startWorker();
    this.#schedule();
  }

  /** 'worker' while keys come from the worker thread, else 'loop'. */
  get mode(): PoolMode {
    return this.#worker === null ? 'loop' : 'worker';
  }

  /** Keys ready to hand out now. */
  get ready(): number {
    return this.#ready.length;
  }

  /** A key never handed out before. Makes one on the spot if the pool is empty. */
  take(): EphemeralKey {
    const k = this.#ready.pop() ?? generateEphemeralKey();
    this.#schedule();
    return k;
  }

  /** Destroy the keys held and stop refilling (the worker is terminated). */
  close(): void {
    this.#closed = true;
    for (const k of this.#ready.splice(0)) k.destroy();
    void this.#worker?.terminate();
    this.#worker = null;
  }

  #startWorker(): void {
    let w: Worker;
    try {
      w = new Worker(new URL('./dh-worker.js', import.meta.url));
    } catch {
      return;
    }
    w.unref();
    w.on('message', (m: { exponent: Uint8Array; publicValue: Uint8Array }) => {
      this.#asked--;
      const k = ephemeralKeyFromParts(m.exponent, m.publicValue);
      if (this.#closed || this.#ready.length >= this.size) k.destroy();
      else this.#ready.push(k);
    });
    const fallBack = (): void => {
      if (this.#worker !== w) return;
      this.#worker = null;
      this.#asked = 0;
      this.#schedule();
    };
    w.on('error', fallBack);
    w.on('exit', fallBack);
    this.#worker = w;
  }

  #schedule(): void {
    if (this.#closed) return;
    const want = this.size - this.#ready.length - this.#asked;
    if (want <= 0) return;
    if (this.#worker !== null) {
      this.#asked += want;
      this.#worker.postMessage(want);
      return;
    }
    if (this.#refilling) return;
    this.#refilling = true;
    setImmediate(() => {
      this.#refilling = false;
      if (this.#closed || this.#worker !== null) return;
      // One key per turn of the event loop, so live traffic is never stalled by a refill burst.
      if (this.#ready.length < this.size) this.#ready.push(generateEphemeralKey());
      this.#schedule();
    });
  }
}
