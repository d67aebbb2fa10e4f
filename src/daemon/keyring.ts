/**
 * The keys a daemon holds: one on -e, one or more on -d (rotation: the server tries each).
 * reload() re-reads every file (SIGHUP) and swaps atomically; live connections keep the session
 * keys they already derived, so nothing is dropped. Every load logs each key's fingerprint
 * (fingerprint.ts), so operators can compare the two ends without showing the key.
 */
import type { Logger } from 'pino';
import { zeroize } from '../crypto/bytes.js';
import { type LoadKeyOptions, loadKeyFile } from '../crypto/keyfile.js';
import { keyFingerprint } from './fingerprint.js';

/** A set of keys loaded from files. */
export class KeyRing {
  #keys: Uint8Array[] = [];
  readonly #warned = new Set<string>();

  /** `options` applies to every load (see loadKeyFile). */
  constructor(
    readonly paths: readonly string[],
    readonly log: Logger,
    readonly options: LoadKeyOptions = {},
  ) {}

  /**
   * Load every file and log each key's fingerprint (at start and on every SIGHUP). Throws
   * KeyFileError (naming the file and OS reason) if one cannot be read or is empty (unless the
   * options allow it); the old keys then stay.
   */
  load(): void {
    const fresh: Uint8Array[] = [];
    try {
      for (const p of this.paths) {
        const k = loadKeyFile(p, this.options);
        for (const w of k.warnings) {
          if (this.#warned.has(w)) continue;
          this.#warned.add(w);
          this.log.warn({ keyFile: p }, `WARNING: ${w}`);
        }
        fresh.push(k.key);
      }
    } catch (err) {
      zeroize(...fresh);
      throw err;
    }
    this.paths.forEach((p, i) => {
      const fingerprint = keyFingerprint(fresh[i]!);
      this.log.info(
        { keyFile: p, fingerprint },
        `key fingerprint ${fingerprint}: the other end must log the same`,
      );
    });
    const old = this.#keys;
    this.#keys = fresh;
    // Handshakes take a reference at their start; give any that are mid-flight a moment before
    // the old keys are wiped.
    if (old.length > 0) setTimeout(() => zeroize(...old), 30_000).unref();
  }

  /** The current keys, in the order given on the command line. */
  get keys(): readonly Uint8Array[] {
    return this.#keys;
  }

  /** Zero every key (on exit). */
  destroy(): void {
    zeroize(...this.#keys);
    this.#keys = [];
  }
}
