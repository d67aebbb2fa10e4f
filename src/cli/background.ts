/**
 * Running in the background when -F is absent, as spiped does: the command returns 0 once the
 * tunnel listens (and the pid file is written), or 1 with the start-up error.
 *
 * Node cannot fork(), so the launcher spawns the same program again, detached into its own
 * session, with an IPC channel as the private marker (no environment variable, no extra
 * argument). The background process runs the tunnel in the foreground and reports over that
 * channel once it listens, or the error that stopped it, then drops the channel. Its stdout and
 * stderr go to --log-file (appended) or /dev/null; its stdin is closed, or a pipe that carries
 * a `-k -` key read by the launcher.
 *
 * A supervisor keeps a process in the foreground without -F: systemd (INVOCATION_ID or
 * NOTIFY_SOCKET), PID 1 (a container's entrypoint), socket activation (LISTEN_FDS), a --workers
 * worker, and the background process itself (it has the launcher's channel).
 */
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { reportToPrimary } from './workers-ipc.js';

/** How long the launcher waits, after the background process exits, for its last report. */
const REPORT_GRACE_MS = 200;

/** The message the background process sends its launcher. */
type Report =
  { readonly cloakpipe: 'listening' } | { readonly cloakpipe: 'error'; readonly error: string };

/**
 * Why this process stays in the foreground without -F, or null when it should go to the
 * background. `env` is the environment to look at (process.env).
 */
export function supervisor(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.send !== undefined) return cluster.isWorker ? 'worker' : 'launcher';
  if (env.INVOCATION_ID || env.NOTIFY_SOCKET) return 'systemd';
  if (env.LISTEN_FDS) return 'socket activation';
  if (process.pid === 1) return 'pid 1';
  return null;
}

/** True in the background process a launcher started (it reports to it over the channel). */
function hasLauncher(): boolean {
  return process.send !== undefined && !cluster.isWorker && process.connected;
}

function report(msg: Report): void {
  // A worker tells its primary, which tells the launcher (see reportWhenWorkersListen).
  if (cluster.isWorker && msg.cloakpipe === 'error' && process.connected)
    reportToPrimary(msg.error);
  if (!hasLauncher()) return;
  process.send!(msg, undefined, {}, () => {
    if (process.connected) process.disconnect();
  });
}

/** Tell the launcher (if any) that the tunnel listens; the pid file is already written. */
export function reportListening(): void {
  report({ cloakpipe: 'listening' });
}

/** Tell the launcher (if any) the one-line start-up error it should print. */
export function reportStartError(error: string): void {
  report({ cloakpipe: 'error', error });
}

/**
 * In a --workers primary started by a launcher: report once the first worker listens, or else
 * the first worker's start-up error (`startError()`, what the workers reported) or death, then
 * remove `pidFile` and exit 1.
 */
export function reportWhenWorkersListen(
  pidFile: string | null,
  startError: () => string | null,
): void {
  if (!hasLauncher()) return;
  const onListening = (): void => {
    cluster.off('exit', onExit);
    reportListening();
  };
  const onExit = (_w: unknown, code: number | null, signal: string | null): void => {
    cluster.off('listening', onListening);
    setTimeout(() => {
      const how = signal ?? `code ${code}`;
      const text = startError() ?? `cloakpipe: a worker exited (${how}) before it listened`;
      if (pidFile !== null) rmSync(pidFile, { force: true });
      process.send!({ cloakpipe: 'error', error: text }, undefined, {}, () => process.exit(1));
    }, REPORT_GRACE_MS);
  };
  cluster.once('listening', onListening);
  cluster.once('exit', onExit);
}

/**
 * Start this command line (`argv`, without node and script) again as a detached background
 * process with its output appended to `logFile` (or discarded), and wait for its report.
 * With `stdinSecret` (`-k -`), read all of standard input here and hand it to the background
 * process through a pipe on its standard input (never argv or the environment), then zero it.
 * Resolves with 0 once it listens; with 1 after printing its error (or how it died) to stderr.
 */
export function launch(
  argv: readonly string[],
  logFile: string | null,
  stdinSecret = false,
): Promise<number> {
  let secret: Buffer | null = null;
  if (stdinSecret) {
    try {
      secret = readFileSync(0);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`cloakpipe: cannot read standard input: ${e.code ?? e.message}\n`);
      return Promise.resolve(1);
    }
  }
  let out: number;
  try {
    out = openSync(logFile ?? '/dev/null', 'a', 0o640);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`cloakpipe: cannot open --log-file ${logFile}: ${e.code ?? e.message}\n`);
    secret?.fill(0);
    return Promise.resolve(1);
  }
  const script = process.argv[1] ?? '';
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    detached: true,
    stdio: [secret === null ? 'ignore' : 'pipe', out, out, 'ipc'],
  });
  closeSync(out);
  if (secret !== null) {
    const s = secret;
    child.stdin?.on('error', () => s.fill(0)); // it died first: 'exit' reports that
    child.stdin?.end(s, () => s.fill(0));
  }
  const where = logFile === null ? '' : ` (see ${logFile})`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (code: number, text: string | null): void => {
      if (done) return;
      done = true;
      if (text !== null) process.stderr.write(`${text}\n`);
      child.removeAllListeners();
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: Report) => {
      if (m?.cloakpipe === 'listening') finish(0, null);
      else if (m?.cloakpipe === 'error') finish(1, m.error);
    });
    child.on('error', (err) =>
      finish(1, `cloakpipe: cannot start in the background: ${err.message}`),
    );
    // A report sent just before exiting may arrive after 'exit': give it a moment.
    child.on('exit', (code, signal) =>
      setTimeout(
        () =>
          finish(
            1,
            `cloakpipe: the background process exited (${signal ?? `code ${code}`}) before it listened${where}`,
          ),
        REPORT_GRACE_MS,
      ),
    );
  });
}
