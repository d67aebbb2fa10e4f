/**
 * The keys a daemon holds: one on -e, one or more on -d (rotation: the server tries each).
 * reload() re-reads every file (SIGHUP) and swaps atomically; live connections keep the session
 * keys they already derived, so nothing is dropped. Every load logs each key's fingerprint
 * (fingerprint.ts), so operators can compare the two ends without showing the key.
 *
 * Standard input (`-k -`) can be read only once: its key is kept (a private copy, zeroed by
 * destroy()) and reused by every later load, so SIGHUP re-reads the files and keeps that key. A
 * --workers worker gets it from the primary instead (useStdinKey) and never reads its stdin.
 */
import type { Logger } from 'pino';
import { zeroize } from '../crypto/bytes.js';
import { type LoadKeyOptions, loadKeyFile } from '../crypto/keyfile.js';
import { keyFingerprint } from './fingerprint.js';

/** A set of keys loaded from files. */
export class KeyRing {
  #keys: Uint8Array[] = [];
  /** The `-` key, kept for later loads; null until it is read or handed over. */
  #stdin: Uint8Array | null = null;
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
        if (p === '-' && this.#stdin !== null) {
          fresh.push(this.#stdin.slice());
          continue;
        }
        const k = loadKeyFile(p, this.options);
        if (p === '-') this.#stdin = k.key.slice();
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

  /**
   * Use `keys` (one per path, in order) instead of reading the files: a --workers worker forked
   * after its primary gave up root (-u), which may no longer read them, is handed the primary's.
   * Takes copies (the caller zeroes `keys`) and logs each fingerprint as load() does. Throws
   * RangeError when the count does not match the paths.
   */
  adopt(keys: readonly Uint8Array[]): void {
    if (keys.length !== this.paths.length)
      throw new RangeError(`expected ${this.paths.length} keys, got ${keys.length}`);
    const old = this.#keys;
    this.#keys = keys.map((k) => k.slice());
    this.paths.forEach((p, i) => {
      if (p === '-') this.useStdinKey(keys[i]!);
      const fingerprint = keyFingerprint(this.#keys[i]!);
      this.log.info(
        { keyFile: p, fingerprint },
        `key fingerprint ${fingerprint}: handed over by the primary`,
      );
    });
    zeroize(...old);
  }

  /** The current keys, in the order given on the command line. */
  get keys(): readonly Uint8Array[] {
    return this.#keys;
  }

  /**
   * Use `key` for `-` instead of reading standard input (a --workers worker, given the key its
   * primary read). Takes a copy: the caller zeroes `key`. Call before load().
   */
  useStdinKey(key: Uint8Array): void {
    if (this.#stdin !== null) zeroize(this.#stdin);
    this.#stdin = key.slice();
  }

  /** A copy of the `-` key (the caller zeroes it), or null when there is none. */
  stdinKey(): Uint8Array | null {
    return this.#stdin === null ? null : this.#stdin.slice();
  }

  /** Zero every key (on exit). */
  destroy(): void {
    zeroize(...this.#keys);
    this.#keys = [];
    if (this.#stdin !== null) zeroize(this.#stdin);
    this.#stdin = null;
  }
}
