/**
 * The one process manager of the tests, the benchmark and the scripts: start a child with its
 * output captured, wait on that output, notice crashes, and stop every child still running
 * (stopAll() in an after hook, killAllNow() in an 'exit' handler). Nothing here knows cloakpipe;
 * ends.ts starts the tunnel ends with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** How long waitFor() waits by default. */
const WAIT_FOR_MS = 10_000;

/** A started child process. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout + stderr so far (only the last `tail` characters when start() was given one). */
  output(): string;
  /** JSON log lines parsed from the output so far (non-JSON lines skipped). */
  logs(): Record<string, unknown>[];
  /** Wait until the output matches `re`; rejects after `ms`, or if the process exits first. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** From now on, an exit that stop() did not cause is reported to the onCrash() handler. */
  watch(): void;
  /**
   * Send `signal` (default SIGTERM) and wait for the exit; if start() was given `killAfterMs`,
   * SIGKILL follows after that long.
   */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Options for start(). */
export interface StartOptions {
  /** Keep only the last `tail` characters of output (default: all of it). */
  readonly tail?: number;
  /** stop() escalates to SIGKILL after this many ms; stopAll() then stops gently (default: never, and stopAll() SIGKILLs at once). */
  readonly killAfterMs?: number;
  /** Bytes written to stdin, which is then closed (default: stdin is /dev/null). */
  readonly stdin?: Buffer;
  /** Extra environment, over this process's own. */
  readonly env?: NodeJS.ProcessEnv;
}

const live = new Set<Proc>();
const gentle = new WeakSet<Proc>();
const stopping = new WeakSet<Proc>();
const watched = new WeakSet<Proc>();
let crashHandler: (p: Proc, code: number | string) => void = () => {};
let defaults: StartOptions = {};

/**
 * Options every later start() and track() use unless given their own (the benchmark keeps a
 * bounded output tail and stops its servers gently).
 */
export function setStartDefaults(o: StartOptions): void {
  defaults = o;
}

/**
 * Call `fn` when a watched process exits without stop() having been called on it (a crash).
 * Replaces any earlier handler.
 */
export function onCrash(fn: (p: Proc, code: number | string) => void): void {
  crashHandler = fn;
}

/** Start `cmd args` with its stdout and stderr captured; `name` labels it in messages. */
export function start(
  name: string,
  cmd: string,
  args: readonly string[],
  given: StartOptions = {},
): Proc {
  const o = { ...defaults, ...given };
  const child = spawn(cmd, args, {
    stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
  });
  if (o.stdin) child.stdin!.end(o.stdin);
  return track(name, child, o);
}

/** Manage an already spawned `child` (stdout and stderr piped) like one start() made. */
export function track(name: string, child: ChildProcess, given: StartOptions = {}): Proc {
  const o = { ...defaults, ...given };
  let out = '';
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (o.tail !== undefined && out.length > 2 * o.tail) out = out.slice(-o.tail);
    wake();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (e) => {
      out += `\nspawn error: ${e.message}`;
    });
    child.on('exit', (code, sig) => {
      wake();
      resolve(code ?? sig ?? -1);
    });
  });
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    child,
    output: () => (o.tail === undefined ? out : out.slice(-o.tail)),
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
    waitFor(re, ms = WAIT_FOR_MS) {
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
          } else if (gone()) {
            clearTimeout(timer);
            reject(
              new Error(
                `${name} exited (${child.exitCode ?? child.signalCode}) before ${re}; output:\n${out}`,
              ),
            );
          } else waiters.push(check);
        };
        check();
      });
    },
    exited,
    watch: () => watched.add(proc),
    async stop(signal = 'SIGTERM') {
      stopping.add(proc);
      if (gone()) return exited;
      child.kill(signal);
      if (o.killAfterMs === undefined) return exited;
      const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  live.add(proc);
  if (o.killAfterMs !== undefined) gentle.add(proc);
  void exited.then((code) => {
    live.delete(proc);
    if (watched.has(proc) && !stopping.has(proc)) crashHandler(proc, code);
  });
  return proc;
}

/** Processes started by other code (e.g. a cluster harness) that stopAll() must stop too. */
export interface Adopted {
  /** Kill synchronously (SIGKILL), for the 'exit' handler. */
  killNow(): void;
  /** Stop and clean up. */
  stop(): Promise<void>;
}
const adopted = new Set<Adopted>();
const cleanups = new Set<() => Promise<void>>();

/**
 * Have killAllNow() and stopAll() cover `x` too, until the returned function is called (after
 * `x` has been stopped normally).
 */
export function adopt(x: Adopted): () => void {
  adopted.add(x);
  return () => adopted.delete(x);
}

/** Have every stopAll() call `fn` first (e.g. to close in-process test servers). */
export function onStopAll(fn: () => Promise<void>): void {
  cleanups.add(fn);
}

/** SIGKILL every process still running, synchronously (safe inside an 'exit' handler). */
export function killAllNow(): void {
  for (const a of adopted) a.killNow();
  for (const p of live) {
    stopping.add(p);
    p.child.kill('SIGKILL');
  }
}

/**
 * Stop every process still running and wait for them: SIGKILL at once, except those started with
 * `killAfterMs`, which get SIGTERM first. Runs the onStopAll() functions first.
 */
export async function stopAll(): Promise<void> {
  for (const fn of cleanups) await fn();
  await Promise.all([
    ...[...live].map((p) => p.stop(gentle.has(p) ? 'SIGTERM' : 'SIGKILL')),
    ...[...adopted].map((a) => a.stop().catch(() => {})),
  ]);
  adopted.clear();
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
    await sleep(50);
  }
}

/**
 * Log lines of `proc` whose `msg` matches `re` (and, if given, whose fields match `fields`),
 * from its `since`-th line on.
 */
export function logLines(
  proc: Pick<Proc, 'logs'>,
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
