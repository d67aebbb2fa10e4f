/**
 * run() in the primary of `--workers N`: serve the one /metrics, /healthz and /readyz of the end
 * (--metrics), hand the `-k -` key to every worker that asks, write the pid file, and supervise
 * the workers (workers.ts) until they have stopped.
 */
import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AggregatedMetrics, type ProcessMetrics } from '../daemon/aggregate.js';
import { startOpsServer } from '../daemon/http.js';
import { removeQuietly, removeStaleSocket } from '../daemon/server.js';
import { reportStartError, reportWhenWorkersListen } from './background.js';
import type { Config } from './config.js';
import { StartError } from './errors.js';
import { switchUser } from './user.js';
import { askWorkers, serveKeys, serveStdinKey } from './workers-ipc.js';
import { type PrimaryHooks, Supervisor } from './workers.js';

/** How long to wait for a dead worker's last report (as background.ts does). */
const REPORT_GRACE_MS = 200;

/** How long a scrape or a --ready-probe waits for the workers' answers. */
const ASK_TIMEOUT_MS = 2000;

/** --ready-probe for the end: ready when some listening worker reaches the target. */
async function probeWorkers(sup: Supervisor): Promise<string | null> {
  const answers = await askWorkers(sup.listening(), 'probe', ASK_TIMEOUT_MS);
  if (answers.some((a) => a === null)) return null;
  const first = answers.find((a): a is string => typeof a === 'string');
  return first ?? 'no worker answered the probe';
}

/** The keys a primary hands its workers. */
export interface PrimaryKeys {
  /** K of `-k -`, or null; the caller zeroes it after. */
  readonly stdinKey: Uint8Array | null;
  /** With -u: the primary's current keys, for workers forked after it gave up root. */
  readonly keys?: () => readonly Uint8Array[];
  /** With -u: re-read the primary's keys on SIGHUP (as the workers do). */
  readonly onReload?: () => void;
}

/**
 * -u in the primary, once every first worker listens: node:cluster's primary binds the shared
 * listener for its workers, so it stays root until then. From here on it opens listeners (-e
 * --cluster node listeners, a re-bind after every worker died) as the user, as one process does.
 * False (logged) when the switch fails.
 */
function giveUpRoot(user: NonNullable<Config['user']>, log: Logger): boolean {
  try {
    const warning = switchUser(user);
    if (warning !== null) log.warn(warning);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cannot give up root in the primary; stopping');
    return false;
  }
  log.info({ uid: process.getuid?.() }, 'every worker listens: the primary gave up root (-u)');
  return true;
}

/**
 * Run the primary for `c` (c.workers > 1), logging to `log`, handing `keys` to the workers. Resolves with the worst worker exit status; throws StartError
 * when the --metrics endpoint cannot listen (before any worker starts).
 */
export async function runWorkersPrimary(
  c: Config,
  log: Logger,
  keys: PrimaryKeys,
  hooks: PrimaryHooks = {},
): Promise<number> {
  const { stdinKey, keys: current } = keys;
  const sup = new Supervisor(c.workers, log, hooks, {
    schedule: c.workersSchedule,
    serve: (peer) => {
      if (stdinKey !== null) serveStdinKey(peer, stdinKey);
      if (current !== undefined) serveKeys(peer, current);
    },
    ...(keys.onReload ? { onReload: keys.onReload } : {}),
    ...(c.user !== null ? { onAllListening: () => giveUpRoot(c.user!, log) } : {}),
  });
  if (c.metrics !== null) {
    const { host, port } = c.metrics;
    const metrics = new AggregatedMetrics(
      async () =>
        (await askWorkers(sup.listening(), 'metrics', ASK_TIMEOUT_MS)).filter(
          (a): a is ProcessMetrics => Array.isArray(a),
        ),
      { listening: () => sup.listening().length, restarts: () => sup.restarts },
      { mode: c.mode },
    );
    hooks.onMetrics?.(metrics.primaryRegistry);
    try {
      await startOpsServer(
        host,
        port,
        metrics,
        { ready: () => sup.ready, ...(c.readyProbe ? { probe: () => probeWorkers(sup) } : {}) },
        log,
      );
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new StartError(`cannot listen for --metrics on ${host}:${port}: ${reason}`);
    }
    log.info(
      { metrics: `${host}:${port}` },
      'serving /metrics (all workers), /healthz and /readyz',
    );
  }
  if (c.source.kind === 'unix') await removeStaleSocket(c.source.path, log);
  if (c.pidFile !== null) writeFileSync(c.pidFile, `${process.pid}\n`);
  reportWhenWorkersListen(c.pidFile, () => sup.startError);
  const code = await sup.run();
  if (c.pidFile !== null) removeQuietly(c.pidFile);
  if (sup.failedAtStart) {
    // The worker printed its error; a launcher (background.ts) still needs it. A report sent
    // just before the worker exited may arrive after its exit.
    if (sup.startError === null) await new Promise((r) => setTimeout(r, REPORT_GRACE_MS));
    reportStartError(sup.startError ?? 'cloakpipe: a worker exited before the end listened');
  }
  return code;
}
