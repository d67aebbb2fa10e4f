/**
 * Tunnel pairs on loopback: an encrypting end (-e) whose plaintext source the benchmark connects
 * to, and a decrypting end (-d) that forwards to a target port. spiped and cloakpipe are started
 * the same way, on fixed free ports (spiped cannot listen on port 0 and report it), so the two are
 * configured identically: same key file, same -n, same -f.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOnFreePort } from '../test/support/ends.js';
import { type Proc } from '../test/support/procs.js';

/** The cloakpipe command (the benchmark runs from dist/bench/). */
const CLOAKPIPE_BIN = fileURLToPath(new URL('../../bin/cloakpipe.js', import.meta.url));
/** The plain relay (compiled next to this file). */
const RELAY_JS = fileURLToPath(new URL('./relay.js', import.meta.url));
/** Key length written by writeKeyFile (spiped's recommended minimum). */
const KEY_BYTES = 32;
/** The tunnel implementations compared; 'node-relay' is two plain relays (bench/relay.ts). */
export type Impl = 'spiped' | 'cloakpipe' | 'node-relay';

/** How a pair is configured. */
export interface PairConfig {
  /** Key file given to both ends with -k. */
  readonly keyFile: string;
  /** -n for both ends (0 = no limit). */
  readonly maxConns: number;
  /** -f on both ends (no forward secrecy). */
  readonly fast?: boolean;
  /** cloakpipe only: --crypto engine. */
  readonly crypto?: 'node' | 'noble';
  /** cloakpipe only: extra arguments for both ends (--cloakpipe-args). */
  readonly extraArgs?: readonly string[];
  /** cloakpipe only: the variant's arguments for both ends (e.g. --framing compact). */
  readonly variantArgs?: readonly string[];
  /** cloakpipe only: environment variables set for both ends (through env(1), which execs). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running pair. */
export interface Pair {
  /** Label for progress lines and tables, e.g. "cloakpipe -f". */
  readonly label: string;
  /** The plaintext port to connect to (the -e end's source). */
  readonly port: number;
  readonly enc: Proc;
  readonly dec: Proc;
  stop(): Promise<void>;
}

/** Write a fresh random KEY_BYTES-byte key file (mode 0600) into `dir`; returns its path. */
export function writeKeyFile(dir: string): string {
  const path = join(dir, 'bench.key');
  writeFileSync(path, randomBytes(KEY_BYTES), { mode: 0o600 });
  return path;
}

function command(impl: Impl, mode: '-e' | '-d', src: number, dst: number, cfg: PairConfig) {
  if (impl === 'node-relay')
    return { cmd: process.execPath, args: [RELAY_JS, String(src), String(dst)] };
  const common = [
    mode,
    '-s',
    `[127.0.0.1]:${src}`,
    '-t',
    `[127.0.0.1]:${dst}`,
    '-k',
    cfg.keyFile,
    '-n',
    String(cfg.maxConns),
    ...(cfg.fast ? ['-f'] : []),
  ];
  if (impl === 'spiped') return { cmd: 'spiped', args: ['-F', ...common] };
  const extra = [
    ...(cfg.crypto ? ['--crypto', cfg.crypto] : []),
    ...(cfg.variantArgs ?? []),
    ...(cfg.extraArgs ?? []),
  ];
  const argv = [process.execPath, CLOAKPIPE_BIN, '-F', ...common, ...extra];
  if (cfg.env === undefined) return { cmd: argv[0]!, args: argv.slice(1) };
  return { cmd: 'env', args: [...Object.entries(cfg.env).map(([k, v]) => `${k}=${v}`), ...argv] };
}

/** Start one end on a free port; retries when the port was taken between probe and bind. */
function startEnd(
  impl: Impl,
  mode: '-e' | '-d',
  dst: number,
  cfg: PairConfig,
): Promise<{ proc: Proc; port: number }> {
  return startOnFreePort(`${impl} ${mode}`, (port) => command(impl, mode, port, dst, cfg));
}

/**
 * Start a `impl` pair forwarding to 127.0.0.1:`target`; resolves once both ends listen. With
 * `between`, the -e end dials the port `between` returns for the -d end's port instead of that
 * port itself (e.g. a byte counter's). Throws with the process output if an end will not start.
 */
export async function startPair(
  impl: Impl,
  target: number,
  cfg: PairConfig,
  between?: (decPort: number) => Promise<number>,
): Promise<Pair> {
  const dec = await startEnd(impl, '-d', target, cfg);
  let enc: { proc: Proc; port: number };
  try {
    enc = await startEnd(impl, '-e', between ? await between(dec.port) : dec.port, cfg);
  } catch (e) {
    await dec.proc.stop();
    throw e;
  }
  const label = [
    impl,
    cfg.fast ? '-f' : '',
    cfg.crypto === 'noble' ? '--crypto noble' : '',
    ...(cfg.variantArgs ?? []),
  ]
    .filter(Boolean)
    .join(' ');
  return {
    label,
    port: enc.port,
    enc: enc.proc,
    dec: dec.proc,
    stop: async () => {
      await Promise.all([enc.proc.stop(), dec.proc.stop()]);
    },
  };
}
