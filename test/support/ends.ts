/**
 * Start the two kinds of tunnel end the tests, the benchmark and the scripts run: cloakpipe
 * (bin/cloakpipe.js, which logs where it listens) and the real spiped (which needs a fixed port).
 * Each is a Proc of procs.ts, so stopAll() stops it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireBinary } from './bins.js';
import { freePort, waitForListen } from './net.js';
import { type Proc, start, type StartOptions, track } from './procs.js';

/** Repository root (this file runs from dist/test/support). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The cloakpipe command-line entry point. */
export const BIN = `${ROOT}bin/cloakpipe.js`;

/** The log line cloakpipe writes once it listens; group 1 is the address. */
const LISTENING = /"msg":"listening on (\S+),/;
/** Tries at a free port for servers that need one fixed in advance. */
const PORT_TRIES = 3;

/** Subcommands that take no -F (it is the tunnel's flag). */
const SUBCOMMANDS = new Set(['keygen', 'spipe']);

/**
 * `args` for a tunnel run in the foreground: -F first, as a test manages the process itself
 * (without it cloakpipe would return once listening and run on in the background).
 */
export function foreground(args: readonly string[]): string[] {
  if (SUBCOMMANDS.has(args[0] ?? '') || args.includes('-F')) return [...args];
  return ['-F', ...args];
}

/** Run bin/cloakpipe.js with `args` in the foreground (stdin closed unless `stdin` is given). */
export function cloakpipe(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: Buffer; name?: string } = {},
): Proc {
  const o: StartOptions = {
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
  };
  return start(opts.name ?? 'cloakpipe', process.execPath, [BIN, ...foreground(args)], o);
}

/**
 * Start a cloakpipe end and wait until it listens (`listenMs`, default 10 s); returns the process
 * and its listen address.
 */
export async function startCloakpipe(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; name?: string; listenMs?: number } = {},
): Promise<{ proc: Proc; address: string }> {
  const proc = cloakpipe(args, opts);
  const m = await proc.waitFor(LISTENING, opts.listenMs);
  return { proc, address: m[1]! };
}

/**
 * Run bin/cloakpipe.js under a wrapper command that execs it (e.g. ['prlimit', '--nofile=64:64']),
 * so the process id is cloakpipe's own; wait until it listens.
 */
export async function startCloakpipeUnder(
  wrapper: readonly string[],
  args: readonly string[],
): Promise<{ proc: Proc; address: string }> {
  const [cmd, ...pre] = wrapper;
  if (cmd === undefined) throw new TypeError('empty wrapper command');
  const proc = start(cmd, cmd, [...pre, process.execPath, BIN, ...foreground(args)]);
  const m = await proc.waitFor(LISTENING);
  return { proc, address: m[1]! };
}

/** Run cloakpipe to completion (CLI tests). */
export async function runCloakpipe(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: Buffer } = {},
): Promise<{ code: number | string; output: string; stdout: string; stderr: string }> {
  const proc = cloakpipe(args, opts);
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await proc.exited;
  return { code, output: proc.output(), stdout, stderr };
}

/** Start the real spiped in the foreground (-F) and wait until its source accepts connections. */
export async function startSpiped(
  args: readonly string[],
  source: string,
  listenMs = 5000,
): Promise<Proc> {
  const bin = requireBinary('spiped');
  const proc = track('spiped', spawn(bin, ['-F', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await waitForListen(source, listenMs, proc);
  return proc;
}

/** Where and how startEnd() starts an end. */
export interface EndOptions {
  /** cloakpipe (default) or the real spiped. */
  readonly impl?: 'cloakpipe' | 'spiped';
  /** Listen address (default: a free loopback port). */
  readonly source?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait until it listens (default 10 s for cloakpipe, 5 s for spiped). */
  readonly listenMs?: number;
}

/**
 * Start a tunnel end (`-e` or `-d`) forwarding to `target` with `key`, plus any `extra` flags;
 * resolves once it listens, with its listen address. cloakpipe picks its own port; spiped gets
 * a free one.
 */
export async function startEnd(
  mode: '-e' | '-d',
  target: string,
  key: string,
  extra: readonly string[] = [],
  opts: EndOptions = {},
): Promise<{ proc: Proc; address: string }> {
  const args = (source: string): string[] => [
    mode,
    '-s',
    source,
    '-t',
    target,
    '-k',
    key,
    ...extra,
  ];
  if (opts.impl !== 'spiped')
    return startCloakpipe(args(opts.source ?? '[127.0.0.1]:0'), {
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.listenMs ? { listenMs: opts.listenMs } : {}),
      name: `cloakpipe ${mode}`,
    });
  const source = opts.source ?? `[127.0.0.1]:${await freePort()}`;
  return { proc: await startSpiped(args(source), source, opts.listenMs), address: source };
}

/**
 * Start a server on a free loopback port and wait until it listens; retries (PORT_TRIES times)
 * when the port was taken between the probe and the bind. `command` gives the command line for a
 * port. The server is watched (see procs.ts onCrash) once it listens.
 */
export async function startOnFreePort(
  name: string,
  command: (port: number) => { cmd: string; args: string[] },
): Promise<{ proc: Proc; port: number }> {
  let last: unknown;
  for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
    const port = await freePort();
    const { cmd, args } = command(port);
    const proc = start(name, cmd, args);
    try {
      await waitForListen(`127.0.0.1:${port}`, 10_000, proc);
      proc.watch();
      return { proc, port };
    } catch (e) {
      last = e;
      await proc.stop();
    }
  }
  throw last;
}
