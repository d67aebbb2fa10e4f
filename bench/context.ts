/**
 * What every part is handed: the settings, the shared key file, a progress printer, and the one
 * way pairs are configured (so spiped and cloakpipe always get the same -k, -n and -f).
 */
import type { Settings } from './options.js';
import type { PairConfig } from './pairs.js';
import type { Table } from './report.js';

/** -n given to every pair: above the memory part's idle connections plus slack. */
export const PAIR_MAX_CONNS = 2000;

/** Shared state of one run. */
export interface Context {
  readonly settings: Settings;
  readonly keyFile: string;
  /** The tables of the parts that have run so far, in order (cluster reads the redis part's). */
  readonly tables: readonly Table[];
  /** Print one progress line to stderr. */
  progress(msg: string): void;
}

/** The PairConfig for `ctx`, with -f, the cloakpipe engine and variant as asked. */
export function pairConfig(
  ctx: Context,
  opts: {
    fast?: boolean;
    crypto?: 'node' | 'noble';
    variant?: { readonly args: readonly string[] };
  } = {},
): PairConfig {
  return {
    keyFile: ctx.keyFile,
    maxConns: PAIR_MAX_CONNS,
    extraArgs: ctx.settings.cloakpipeArgs,
    ...(opts.fast ? { fast: true } : {}),
    ...(opts.crypto ? { crypto: opts.crypto } : {}),
    ...(opts.variant?.args.length ? { variantArgs: opts.variant.args } : {}),
  };
}
