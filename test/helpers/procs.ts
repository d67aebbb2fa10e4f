/**
 * Start real processes for tests: cloakpipe (bin/cloakpipe.js), spiped, and wait on their logs
 * and ports. Every process started is killed by stopAll() (call it in an after hook).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { requireBinary } from './bins.js';
import { closeAllServers } from './targets.js';

/** Repository root (tests run from dist/test/helpers). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = `${ROOT}bin/cloakpipe.js`;

const running = new Set<ChildProcess>();

/** A started process with its captured output. */
export interface Proc {
  readonly child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** JSON log lines parsed from stdout so far (non-JSON lines skipped). */
  logs(): Record<string, unknown>[];
  /** Wait until the output matches `re`; rejects after `ms` with the output so far. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Send `signal` and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

function track(child: ChildProcess): Proc {
  running.add(child);
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, sig) => {
      running.delete(child);
      for (const w of waiters.splice(0)) w();
      resolve(code ?? sig ?? -1);
    });
  });
  const proc: Proc = {
    child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    waitFor(re, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out after ${ms} ms waiting for ${re} in output:\n${out}`)),
          ms,
        );
        const check = (): void => {
          const m = out.match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(
              new Error(
                `process exited (${child.exitCode ?? child.signalCode}) before ${re}; output:\n${out}`,
              ),
            );
          } else waiters.push(check);
        };
        check();
      });
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  return proc;
}

/** Run bin/cloakpipe.js with `args` (stdin closed unless `stdin` is given). */
export function cloakpipe(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: Buffer } = {},
): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  if (opts.stdin) child.stdin!.end(opts.stdin);
  return track(child);
}

/** Start a cloakpipe end and wait until it listens; returns the process and its listen address. */
export async function startCloakpipe(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ proc: Proc; address: string }> {
  const proc = cloakpipe(args, opts);
  const m = await proc.waitFor(/"msg":"listening on (\S+),/);
  return { proc, address: m[1]! };
}

/** Run cloakpipe to completion (CLI tests). */
export async function runCloakpipe(
  args: string[],
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
export async function startSpiped(args: string[], source: string): Promise<Proc> {
  const bin = requireBinary('spiped');
  const proc = track(spawn(bin, ['-F', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await waitForListen(source);
  return proc;
}

/** Poll until `address` (spiped grammar) accepts a connection. */
export async function waitForListen(address: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = address.startsWith('/')
        ? connect({ path: address })
        : connect(parseHostPort(address));
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `[h]:p` or `h:p` → {host, port}. */
export function parseHostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

/** Kill everything still running (after hooks). */
export async function stopAll(): Promise<void> {
  await closeAllServers();
  const all = [...running];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(
    all.map(
      (c) =>
        new Promise((r) =>
          c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r),
        ),
    ),
  );
}

/**
 * Run bin/cloakpipe.js under a wrapper command that execs it (e.g. ['prlimit', '--nofile=64:64']),
 * so the process id is cloakpipe's own; wait until it listens.
 */
export async function startCloakpipeUnder(
  wrapper: string[],
  args: string[],
): Promise<{ proc: Proc; address: string }> {
  const [cmd, ...pre] = wrapper;
  if (cmd === undefined) throw new TypeError('empty wrapper command');
  const child = spawn(cmd, [...pre, process.execPath, BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(child);
  const m = await proc.waitFor(/"msg":"listening on (\S+),/);
  return { proc, address: m[1]! };
}

/** Poll `check` every 50 ms until it returns true; rejects after `ms` with `what` and `detail()`. */
export async function waitUntil(
  check: () => boolean,
  what: string,
  ms = 10_000,
  detail: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting until ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Log lines of `proc` whose `msg` matches `re` (and, if given, whose fields match `fields`),
 * from its `since`-th line on.
 */
export function logLines(
  proc: Proc,
  re: RegExp,
  fields: Record<string, unknown> = {},
  since = 0,
): Record<string, unknown>[] {
  return proc
    .logs()
    .slice(since)
    .filter(
      (l) =>
        typeof l.msg === 'string' &&
        re.test(l.msg) &&
        Object.entries(fields).every(([k, v]) => l[k] === v),
    );
}

/**
 * Start a cloakpipe end (`-e` or `-d`) listening on a free loopback port, forwarding to `target`
 * with `key`, plus any `extra` flags; resolves once it listens.
 */
export function startEnd(
  mode: '-e' | '-d',
  target: string,
  key: string,
  extra: readonly string[] = [],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ proc: Proc; address: string }> {
  return startCloakpipe([mode, '-s', '[127.0.0.1]:0', '-t', target, '-k', key, ...extra], opts);
}
