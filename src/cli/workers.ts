/**
 * `--workers N`: N processes share the listening socket (node:cluster), so many connections use
 * many cores (one connection stays on one core). The primary only supervises: it starts the
 * workers, forwards SIGTERM/SIGINT/SIGHUP to them, restarts one that dies unexpectedly (at most
 * once per second), and exits with the worst worker exit code once all have stopped.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';

/** True in a worker process started by runPrimary. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** Start `n` workers running the same command line; resolves with the exit code. */
export function runPrimary(n: number, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    let worst = 0;
    let lastRestart = 0;
    const fork = (): void => void cluster.fork();
    for (let i = 0; i < n; i++) fork();
    log.info({ workers: n }, `started ${n} worker processes sharing the listener`);
    cluster.on('exit', (w, code, signal) => {
      const c = code ?? (signal ? 1 : 0);
      if (!stopping) {
        log.error(
          { worker: w.process.pid, code, signal },
          'worker exited unexpectedly; starting a new one',
        );
        const wait = Math.max(0, 1000 - (Date.now() - lastRestart));
        lastRestart = Date.now() + wait;
        setTimeout(fork, wait);
        return;
      }
      worst = Math.max(worst, c);
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve(worst);
    });
    const forward = (sig: NodeJS.Signals): void => {
      if (sig !== 'SIGHUP') stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(sig);
      if (stopping && Object.keys(cluster.workers ?? {}).length === 0) resolve(worst);
    };
    process.on('SIGTERM', forward);
    process.on('SIGINT', forward);
    process.on('SIGHUP', forward);
  });
}
