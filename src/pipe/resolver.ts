/**
 * Target resolution: a TCP host name is resolved at start and again every `-r` seconds (never with
 * `-R`); literals and UNIX paths need no DNS. A failed re-resolution keeps the previous answer.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Address } from './address.js';

/** A concrete place to connect to. */
export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly family: 4 | 6 };

/** Resolve `a` once to its endpoints, in the order the resolver gave them. Rejects on DNS failure. */
export async function resolveAddress(a: Address): Promise<Endpoint[]> {
  if (a.kind === 'unix') return [{ kind: 'unix', path: a.path }];
  if (a.kind === 'fd') throw new Error('an fd: address cannot be a target');
  if (a.literal)
    return [{ kind: 'tcp', host: a.host, port: a.port, family: isIP(a.host) === 6 ? 6 : 4 }];
  const found = await lookup(a.host, { all: true, verbatim: true });
  if (found.length === 0) throw new Error(`${a.host}: no addresses`);
  return found.map((f) => ({
    kind: 'tcp' as const,
    host: f.address,
    port: a.port,
    family: f.family === 6 ? (6 as const) : (4 as const),
  }));
}

/** Options for a Resolver. */
export interface ResolverOptions {
  /** Seconds between re-resolutions; 0 = never (-R). */
  readonly refreshSeconds: number;
  /** Called when a re-resolution fails or changes the answer (for logging). */
  readonly onEvent?: (event: 'changed' | 'failed', detail: string) => void;
}

/** Holds the current endpoints of one target address and refreshes them lazily. */
export class Resolver {
  #endpoints: Endpoint[] = [];
  #resolvedAt = 0;
  #pending: Promise<void> | null = null;
  readonly #addr: Address;
  readonly #opts: ResolverOptions;

  constructor(addr: Address, opts: ResolverOptions) {
    this.#addr = addr;
    this.#opts = opts;
  }

  /** First resolution; rejects if the name does not resolve (caller decides: exit, or -D retry). */
  async init(): Promise<void> {
    this.#endpoints = await resolveAddress(this.#addr);
    this.#resolvedAt = Date.now();
  }

  /**
   * The endpoints to try, in order. Starts a background refresh when the answer is older than
   * refreshSeconds; never waits for it (the old answer is used meanwhile).
   */
  endpoints(): readonly Endpoint[] {
    const r = this.#opts.refreshSeconds;
    const dynamic = this.#addr.kind === 'tcp' && !this.#addr.literal;
    if (dynamic && r > 0 && Date.now() - this.#resolvedAt >= r * 1000 && !this.#pending) {
      this.#resolvedAt = Date.now();
      this.#pending = resolveAddress(this.#addr)
        .then((eps) => {
          const before = JSON.stringify(this.#endpoints);
          this.#endpoints = eps;
          if (JSON.stringify(eps) !== before)
            this.#opts.onEvent?.('changed', eps.map(describeEndpoint).join(', '));
        })
        .catch((err: Error) => this.#opts.onEvent?.('failed', err.message))
        .finally(() => {
          this.#pending = null;
        });
    }
    return this.#endpoints;
  }
}

/** host:port / [v6]:port / path, for logs. */
export function describeEndpoint(e: Endpoint): string {
  if (e.kind === 'unix') return e.path;
  return e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
