/**
 * A tunnel's four timers (spiped -o, and cloakpipe's --idle-timeout, --max-conn-lifetime and
 * --half-close-timeout), kept apart from its lifecycle so the Tunnel reads as states only. Each
 * limit calls `expire` once with which limit ran out; a limit of 0 is off.
 */

import type { TunnelConfig } from './tunnel-deps.js';

/**
 * Which limit ran out. For all but 'setup' (a handshake failure, ETIMEDOUT), `reason` is the
 * tunnel's drop reason and `message` + `fields` its log line.
 */
export type Expiry =
  | { readonly limit: 'setup' }
  | {
      readonly limit: 'idle' | 'lifetime' | 'half-close';
      readonly reason: string;
      readonly message: string;
      readonly fields: Record<string, number>;
    };

/** Timers for one tunnel. Nothing runs until setup() / open(); clear() stops everything. */
export class TunnelTimers {
  readonly #setupMs: number;
  readonly #idleMs: number;
  readonly #lifetimeMs: number;
  readonly #halfCloseMs: number;
  readonly #expire: (e: Expiry) => void;
  #setup: NodeJS.Timeout | null = null;
  #idle: NodeJS.Timeout | null = null;
  #life: NodeJS.Timeout | null = null;
  #half: NodeJS.Timeout | null = null;
  #lastActivity = 0;
  #ends = 0;
  #opened = false;

  /** Limits from `cfg` (-o, --idle-timeout, --max-conn-lifetime, --half-close-timeout). */
  constructor(cfg: TunnelConfig, expire: (e: Expiry) => void) {
    this.#setupMs = cfg.timeoutMs;
    this.#idleMs = cfg.idleTimeoutMs ?? 0;
    this.#lifetimeMs = cfg.maxLifetimeMs ?? 0;
    this.#halfCloseMs = cfg.halfCloseTimeoutMs ?? 0;
    this.#expire = expire;
  }

  /** Arm the -o deadline (connect + handshake + route). */
  setup(): void {
    this.#setup = setTimeout(() => this.#expire({ limit: 'setup' }), this.#setupMs);
  }

  /** The deadline is met; nothing else changes. */
  clearSetup(): void {
    if (this.#setup) clearTimeout(this.#setup);
    this.#setup = null;
  }

  /**
   * The tunnel is open: clear the deadline, arm the idle and lifetime limits, and the half-close
   * limit if a direction already ended.
   */
  open(): void {
    this.clearSetup();
    this.#opened = true;
    const idleMs = this.#idleMs;
    const lifetimeMs = this.#lifetimeMs;
    this.#lastActivity = Date.now();
    if (lifetimeMs > 0)
      this.#life = setTimeout(
        () =>
          this.#expire({
            limit: 'lifetime',
            reason: 'max connection lifetime',
            message: 'closing: --max-conn-lifetime reached',
            fields: { limit_s: lifetimeMs / 1000 },
          }),
        lifetimeMs,
      );
    if (idleMs > 0) {
      const check = (): void => {
        const idle = Date.now() - this.#lastActivity;
        if (idle < idleMs) {
          this.#idle = setTimeout(check, idleMs - idle);
          return;
        }
        this.#expire({
          limit: 'idle',
          reason: 'idle timeout',
          message: 'closing: --idle-timeout reached',
          fields: { idle_s: idle / 1000 },
        });
      };
      this.#idle = setTimeout(check, idleMs);
    }
    if (this.#ends === 1) this.#armHalfClose();
  }

  /** Bytes moved (only wanted when the idle limit is on: see `touch`). */
  readonly touch = (): void => {
    this.#lastActivity = Date.now();
  };

  /** True when touch() must be called per chunk. */
  get watchesIdle(): boolean {
    return this.#idleMs > 0;
  }

  /** One direction ended: the other must follow within the half-close limit. */
  ended(): void {
    if (++this.#ends === 2 && this.#half) clearTimeout(this.#half);
    if (this.#ends === 1 && this.#opened) this.#armHalfClose();
  }

  /** Stop every timer. */
  clear(): void {
    for (const t of [this.#setup, this.#idle, this.#life, this.#half]) if (t) clearTimeout(t);
    this.#setup = this.#idle = this.#life = this.#half = null;
  }

  #armHalfClose(): void {
    const ms = this.#halfCloseMs;
    if (ms <= 0) return;
    this.#half = setTimeout(
      () =>
        this.#expire({
          limit: 'half-close',
          reason: 'half-close timeout',
          message: 'closing: --half-close-timeout reached',
          fields: { limit_s: ms / 1000 },
        }),
      ms,
    );
  }
}
