/**
 * `--workers N`: N processes share the listening socket (node:cluster), so many connections use
 * many cores (one connection stays on one core). The primary carries no traffic; it supervises:
 *
 * - it starts the workers (their stdin closed: a `-k -` key comes over IPC, workers-ipc.ts);
 * - a worker that dies is started again after a backoff (RESTART_BASE_MS, doubling up to
 *   RESTART_MAX_MS, back to the base once a worker has lived STABLE_MS); the others serve on;
 * - SIGHUP reaches every worker as a message (key files re-read); SIGTERM/SIGINT make every
 *   worker drain as a single process would (--shutdown-timeout each), a second one makes them
 *   exit at once;
 * - it exits with the worst worker exit status once all have stopped;
 * - a worker that exits before any worker ever listened is a start-up error: the rest are
 *   stopped and the primary exits with that status (no restart loop on a taken port).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { WorkerSchedule } from './args.js';
import { linkWorker, sendReload, sendStop, type WorkerPeer } from './workers-ipc.js';

/** First restart delay after a worker dies. */
export const RESTART_BASE_MS = 100;
/** The restart delay doubles up to this. */
export const RESTART_MAX_MS = 10_000;
/** A worker that lived this long resets the delay to RESTART_BASE_MS. */
export const STABLE_MS = 30_000;

/** What a wrapper (cluster mode's port map) learns about workers. */
export interface PrimaryHooks {
  /** A worker was forked (first start or restart), before it runs any of our code. */
  onFork?(w: Worker): void;
  /** A worker exited (any reason), before a restart is scheduled. */
  onExit?(w: Worker): void;
  /**
   * With --metrics: the primary's own registry, merged into the end's /metrics (aggregate.ts).
   * Register series only the primary knows here, with a fitting `aggregator`.
   */
  onMetrics?(primaryRegistry: Registry): void;
}

/** How the primary runs its workers. */
export interface PrimaryOptions {
  /** --workers-schedule; null keeps node's default (NODE_CLUSTER_SCHED_POLICY, else rr). */
  readonly schedule?: WorkerSchedule | null;
  /** Set up the primary's side of each new worker's channel (e.g. serve the `-k -` key). */
  readonly serve?: (peer: WorkerPeer) => void;
  /** SIGHUP in the primary, before it is passed to the workers (-u: re-read its own keys). */
  readonly onReload?: () => void;
  /**
   * Called once, when all N first workers listen (the primary has bound the shared listener for
   * them): `-u` gives up root here. Returns false when that failed: the workers are stopped.
   */
  readonly onAllListening?: () => boolean;
}

/**
 * The restart delay for a worker that lived `livedMs`, when the previous delay was `prevMs`:
 * `wait` now, and `next` for the following death. Pure.
 */
export function restartDelay(prevMs: number, livedMs: number): { wait: number; next: number } {
  const wait = livedMs >= STABLE_MS ? RESTART_BASE_MS : prevMs;
  return { wait, next: Math.min(RESTART_MAX_MS, wait * 2) };
}

/**
 * A worker's `-n` limit when the end's is `maxConns` over `workers` workers: ceil(maxConns /
 * workers), so the end never holds more than `maxConns` rounded up to a multiple of `workers`;
 * 0 (no limit) stays 0. Pure.
 */
export function workerShare(maxConns: number, workers: number): number {
  return maxConns === 0 || workers <= 1 ? maxConns : Math.ceil(maxConns / workers);
}

/** True in a worker process started by a Supervisor. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** The id this process logs as: 0 in the primary, node:cluster's worker id (1, 2, …) in one. */
export function workerId(): number {
  return cluster.worker?.id ?? 0;
}

/** Per-worker state the supervisor keeps. */
interface Slot {
  readonly worker: Worker;
  readonly peer: WorkerPeer;
  readonly startedAt: number;
  listening: boolean;
}

/** The primary of `--workers N`: forks, restarts and stops the workers. */
export class Supervisor {
  readonly #slots = new Map<number, Slot>();
  #stopping = false;
  #everListened = false;
  #failedAtStart = false;
  #startError: string | null = null;
  #worst = 0;
  #delay = RESTART_BASE_MS;
  #restarts = 0;
  /** onAllListening ran: the primary may no longer bind a privileged listener again. */
  #settled = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  #resolve: (code: number) => void = () => {};

  /**
   * `n` workers, logging to `log` (which should carry `worker: 0`); `hooks` see every fork and
   * exit. Nothing starts before run().
   */
  constructor(
    readonly n: number,
    readonly log: Logger,
    readonly hooks: PrimaryHooks = {},
    readonly opts: PrimaryOptions = {},
  ) {}

  /** True once onAllListening ran and succeeded (with -u: the primary is no longer root). */
  get #unprivileged(): boolean {
    return this.#settled && this.opts.onAllListening !== undefined;
  }

  /** Listening (at least one worker listens) and not stopping: /readyz for the whole end. */
  get ready(): boolean {
    return !this.#stopping && this.listening().length > 0;
  }

  /** The channels of the workers that listen now (they answer metrics and probe requests). */
  listening(): WorkerPeer[] {
    return [...this.#slots.values()].filter((s) => s.listening).map((s) => s.peer);
  }

  /** True when the workers stopped because one died before the end ever listened. */
  get failedAtStart(): boolean {
    return this.#failedAtStart;
  }

  /** The first start-up error line a worker reported (background.ts), or null. */
  get startError(): string | null {
    return this.#startError;
  }

  /** Workers restarted so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Fork the workers and supervise them until they have all stopped after a signal (or a
   * start-up failure); resolves with the worst worker exit status. Call once.
   */
  run(): Promise<number> {
    if (this.opts.schedule)
      cluster.schedulingPolicy =
        this.opts.schedule === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
    // 'advanced' carries Buffers as bytes (the -k - key), not as JSON text that cannot be zeroed.
    // stdin 'ignore': the primary read it; a worker never does.
    cluster.setupPrimary({
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const done = new Promise<number>((resolve) => (this.#resolve = resolve));
    cluster.on('listening', (w) => this.#onListening(w));
    cluster.on('exit', (w, code, signal) => this.#onExit(w, code, signal));
    for (let i = 0; i < this.n; i++) this.#fork();
    const policy = cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'kernel';
    this.log.info(
      { workers: this.n, schedule: policy },
      `started ${this.n} worker processes sharing the listener (${policy} scheduling)`,
    );
    process.on('SIGHUP', () => this.#signal('SIGHUP'));
    process.on('SIGTERM', () => this.#signal('SIGTERM'));
    process.on('SIGINT', () => this.#signal('SIGINT'));
    return done;
  }

  #fork(): void {
    const w = cluster.fork();
    const peer = linkWorker(w, (line) => (this.#startError ??= line));
    this.opts.serve?.(peer);
    this.#slots.set(w.id, { worker: w, peer, startedAt: Date.now(), listening: false });
    this.hooks.onFork?.(w);
  }

  #onListening(w: Worker): void {
    const slot = this.#slots.get(w.id);
    if (slot === undefined || slot.listening) return;
    slot.listening = true;
    this.#everListened = true;
    this.log.info({ child: w.id, child_pid: w.process.pid }, `worker ${w.id} listens`);
    if (!this.#settled && !this.#stopping && this.listening().length === this.n) {
      this.#settled = true;
      if (this.opts.onAllListening?.() === false) {
        this.#worst = 1;
        this.#stop(false);
      }
    }
  }

  #onExit(w: Worker, code: number | null, signal: string | null): void {
    const slot = this.#slots.get(w.id);
    this.#slots.delete(w.id);
    slot?.peer.close('worker exited');
    this.hooks.onExit?.(w);
    // A worker stopped by our SIGTERM before it installed its handlers had nothing to drain.
    const cutShort = signal === 'SIGTERM' || signal === 'SIGINT';
    const status = code ?? (this.#stopping && cutShort && slot?.listening !== true ? 0 : 1);
    const fields = { child: w.id, child_pid: w.process.pid, code, signal };
    if (this.#stopping) {
      this.#worst = Math.max(this.#worst, status);
      this.log.info(fields, `worker ${w.id} stopped`);
    } else if (this.#unprivileged && slot?.listening !== true && this.listening().length === 0) {
      // node:cluster closed the shared listener when its last worker went; the primary, no
      // longer root, could not bind it again (a port < 1024): restarting would only loop.
      this.log.error(
        fields,
        `worker ${w.id} exited before it listened and no worker listens: the primary gave up root (-u) and cannot listen again; stopping`,
      );
      this.#worst = Math.max(this.#worst, status || 1);
      this.#stop(false);
    } else if (!this.#everListened) {
      this.log.error(fields, `worker ${w.id} exited before the end listened; stopping`);
      this.#worst = Math.max(this.#worst, status || 1);
      this.#failedAtStart = true;
      this.#stop(false);
    } else {
      const lived = Date.now() - (slot?.startedAt ?? Date.now());
      const { wait, next } = restartDelay(this.#delay, lived);
      this.#delay = next;
      this.log.error(
        { ...fields, restart_in_ms: wait },
        `worker ${w.id} exited unexpectedly; starting a new one in ${wait} ms`,
      );
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#restarts++;
        this.#fork();
      }, wait);
      this.#timers.add(t);
    }
    this.#settle();
  }

  /**
   * Stop restarting and make every worker drain (`now`: exit at once). A listening worker has
   * its handlers in and is told by message, so that a terminal's Ctrl-C, which reaches it too,
   * does not count twice; a worker still starting gets SIGTERM (its default action, or a drain).
   */
  #stop(now: boolean): void {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const all = [...this.#slots.values()];
    sendStop(
      all.filter((s) => s.listening).map((s) => s.peer),
      now,
    );
    for (const s of all) if (!s.listening) s.worker.process.kill('SIGTERM');
  }

  #signal(sig: NodeJS.Signals): void {
    if (sig === 'SIGHUP') {
      this.log.info({ signal: sig }, 'SIGHUP: passed to every worker (key files re-read)');
      this.opts.onReload?.();
      sendReload([...this.#slots.values()].map((s) => s.peer));
      return;
    }
    if (this.#stopping) {
      this.log.warn({ signal: sig }, 'second signal: workers exit now');
      this.#stop(true);
      return;
    }
    this.log.info({ signal: sig }, 'signal received: every worker drains');
    this.#stop(false);
    this.#settle();
  }

  /** Resolve once stopping and no worker is left (node:cluster may list one a moment longer). */
  #settle(): void {
    if (this.#stopping && this.#slots.size === 0) this.#resolve(this.#worst);
  }
}

/** Start `n` workers running the same command line; resolves with the exit status. */
export function runPrimary(
  n: number,
  log: Logger,
  hooks: PrimaryHooks = {},
  opts: PrimaryOptions = {},
): Promise<number> {
  return new Supervisor(n, log, hooks, opts).run();
}
