/**
 * Child processes for the benchmark: spawn, keep a bounded tail of their output, notice crashes,
 * and kill every one of them on exit (normal, error or signal). Also the small process and
 * network probes the parts share: required binaries, free ports, "is it listening", VmRSS.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** The most output kept per process (older output is dropped). */
const OUTPUT_TAIL = 16 * 1024;
/** How often waitListen() retries, and how long it tries in all. */
const LISTEN_POLL_MS = 25;
const LISTEN_TIMEOUT_MS = 10_000;

/** The packages that provide each binary the benchmark needs. */
const PACKAGES: Record<string, string> = {
  spiped: 'spiped',
  'redis-server': 'redis-server',
  'redis-benchmark': 'redis-tools',
  'redis-cli': 'redis-tools',
};

/** A started child process. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last OUTPUT_TAIL characters of stdout + stderr. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** From now on, an exit that stop() did not cause is reported to the onCrash() handler. */
  watch(): void;
  /** Kill the process (SIGTERM, then SIGKILL after a second) and wait until it has exited. */
  stop(): Promise<void>;
}

const live = new Set<Proc>();
const stopping = new WeakSet<Proc>();
const watched = new WeakSet<Proc>();
let crashHandler: (p: Proc, code: number | string) => void = () => {};

/**
 * Call `fn` when a process exits without stop() having been called on it (a crash, or a
 * start-up failure). Replaces any earlier handler.
 */
export function onCrash(fn: (p: Proc, code: number | string) => void): void {
  crashHandler = fn;
}

/**
 * Start `cmd args` with stdin closed and output captured. Its exit counts as a crash only after
 * watch() (a daemon that failed to start is the starter's to report; a command that finishes by
 * itself, like redis-benchmark, is never watched).
 */
export function start(name: string, cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 2 * OUTPUT_TAIL) out = out.slice(-OUTPUT_TAIL);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (e) => {
      out += `\nspawn error: ${e.message}`;
    });
    child.on('close', (code, sig) => resolve(code ?? sig ?? -1));
  });
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    child,
    output: () => out.slice(-OUTPUT_TAIL),
    exited,
    watch: () => watched.add(proc),
    async stop() {
      stopping.add(proc);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
  live.add(proc);
  void exited.then((code) => {
    live.delete(proc);
    if (watched.has(proc) && !stopping.has(proc)) crashHandler(proc, code);
  });
  return proc;
}

/** Processes started by other code (e.g. a test helper's cluster) that the harness must stop too. */
export interface Adopted {
  /** Kill synchronously (SIGKILL), for the 'exit' handler. */
  killNow(): void;
  /** Stop and clean up. */
  stop(): Promise<void>;
}
const adopted = new Set<Adopted>();

/**
 * Have killAllNow() and stopAll() cover `x` too, until the returned function is called (after
 * `x` has been stopped normally).
 */
export function adopt(x: Adopted): () => void {
  adopted.add(x);
  return () => adopted.delete(x);
}

/** SIGKILL every process still running, synchronously (safe inside an 'exit' handler). */
export function killAllNow(): void {
  for (const a of adopted) a.killNow();
  for (const p of live) {
    stopping.add(p);
    p.child.kill('SIGKILL');
  }
}

/** Stop every process still running and wait for them. */
export async function stopAll(): Promise<void> {
  await Promise.all([
    ...[...live].map((p) => p.stop()),
    ...[...adopted].map((a) => a.stop().catch(() => {})),
  ]);
  adopted.clear();
}

/**
 * The absolute path of each binary in `names`; throws one Error naming every missing one with
 * the apt-get command that installs them.
 */
export function requireBinaries(names: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of names) {
    try {
      found[n] = execFileSync('/bin/sh', ['-c', `command -v ${n}`], { encoding: 'utf8' }).trim();
    } catch {
      missing.push(n);
    }
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => PACKAGES[n] ?? n))].join(' ');
    throw new Error(`missing ${missing.join(', ')}; install with: sudo apt-get install -y ${pkgs}`);
  }
  return found;
}

/** The first line `cmd args` prints (stdout, else stderr: spiped -v uses stderr), or 'unknown'. */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

/** The soft limit on open files this process (and so its children) has. */
export function openFileLimit(): number {
  const n = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}

/** A loopback TCP port that was free a moment ago (spiped needs a fixed port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Poll until 127.0.0.1:`port` accepts a connection. Rejects if `proc` exits first or after
 * LISTEN_TIMEOUT_MS.
 */
export async function waitListen(port: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  let dead = false;
  void proc.exited.then(() => {
    dead = true;
  });
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (dead) throw new Error(`${proc.name} exited before listening; output:\n${proc.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name} not listening on port ${port}; output:\n${proc.output()}`);
    await sleep(LISTEN_POLL_MS);
  }
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status VmRSS; throws if it is gone. */
export function rssBytes(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The kernel's TcpExt ListenOverflows counter (connections dropped because a listener's accept
 * queue was full), from /proc/net/netstat; system-wide, so other programs add to it too. Returns
 * NaN where the counter is unavailable.
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i]?.split(/\s+/) ?? [];
    const values = lines[i + 1]?.split(/\s+/) ?? [];
    const k = names.indexOf('ListenOverflows');
    return k < 0 ? Number.NaN : Number(values[k]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Start a server on a free loopback port and wait until it listens; retries (3 times) when the
 * port was taken between the probe and the bind. `command` gives the command line for a port.
 */
export async function startOnFreePort(
  name: string,
  command: (port: number) => { cmd: string; args: string[] },
): Promise<{ proc: Proc; port: number }> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const { cmd, args } = command(port);
    const proc = start(name, cmd, args);
    try {
      await waitListen(port, proc);
      proc.watch();
      return { proc, port };
    } catch (e) {
      last = e;
      await proc.stop();
    }
  }
  throw last;
}
