/**
 * Logging and metrics wiring for the daemon. JSON lines on stdout (pino), pretty-printed when
 * stdout is a terminal. Per-connection child loggers carry {conn, peer, mode}. Nothing here ever
 * logs key material or payload bytes: callers pass counts, codes and addresses only.
 */
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import type { ByteCounts, HandshakeFailure, Metrics, RejectReason } from '../pipe/metrics.js';
import { isJournalStream, journalDestination } from './journal.js';

/** Log levels accepted by --log-level. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * pino-pretty's stream, loaded on first use: only a terminal needs it, and a daemon under
 * systemd or in a container never loads it (requiring it grows a fresh Node by about 10 MiB).
 */
function prettyStream(opts: PrettyOptions): DestinationStream {
  const load = createRequire(import.meta.url)('pino-pretty') as (
    o: PrettyOptions,
  ) => DestinationStream;
  return load(opts);
}

/** How log lines are written (--log-numeric-levels; the environment, for tests). */
export interface LoggerOptions {
  /** `"level":30` (pino's numbers) instead of `"level":"info"`. Default false. */
  readonly numericLevels?: boolean;
  /** Where JOURNAL_STREAM is read from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Whether `fd` is a terminal (pretty output). Default: asked of the fd itself. */
  readonly tty?: boolean;
}

/**
 * The root logger: JSON lines to `fd` (1 = stdout; the stdio client logs to 2), pretty-printed
 * when that fd is a terminal. Levels are names (`"level":"warn"`) unless `opts.numericLevels`.
 * When `fd` is systemd's journal stream, each line carries a `<N>` priority prefix (journal.ts).
 */
export function createLogger(level: LogLevel, fd: 1 | 2 = 1, opts: LoggerOptions = {}): Logger {
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  const tty = opts.tty ?? (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  if (tty) return pino(base, prettyStream({ colorize: true, sync: true, destination: fd }));
  const json =
    opts.numericLevels === true
      ? base
      : { ...base, formatters: { level: (label: string) => ({ level: label }) } };
  const dest = pino.destination({ dest: fd, sync: true });
  if (!isJournalStream(fd, opts.env)) return pino(json, dest);
  return pino(json, journalDestination(dest));
}

/**
 * Emits at most one line per `intervalMs` for a recurring condition, with the number of
 * occurrences suppressed since the last line (spiped's -n warning, EMFILE).
 */
export class RateLimitedWarning {
  #last = 0;
  #suppressed = 0;
  constructor(
    readonly log: Logger,
    readonly intervalMs = 10_000,
  ) {}
  /** Log `msg` with `fields` unless one was logged within the interval. */
  warn(fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed: this.#suppressed }, msg);
    this.#last = now;
    this.#suppressed = 0;
  }
}

/** Plain in-memory counters: cheap, always on, read by tests and the shutdown report. */
export class CounterMetrics implements Metrics {
  accepted = 0;
  opened = 0;
  active = 0;
  closed = 0;
  bytesUp = 0;
  bytesDown = 0;
  readonly rejected: Partial<Record<RejectReason, number>> = {};
  readonly handshakeFailures: Partial<Record<HandshakeFailure, number>> = {};
  readonly targetErrors: Record<string, number> = {};
  readonly packetErrors: Record<string, number> = {};
  connectionAccepted(): void {
    this.accepted++;
  }
  connectionRejected(reason: RejectReason): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
  }
  connectionOpened(): void {
    this.opened++;
    this.active++;
  }
  /** Bytes of closed tunnels only (live ones are added at close). */
  connectionClosed(up: number, down: number): void {
    this.bytesUp += up;
    this.bytesDown += down;
    this.closed++;
    this.active--;
  }
  handshakeFailed(reason: HandshakeFailure): void {
    this.handshakeFailures[reason] = (this.handshakeFailures[reason] ?? 0) + 1;
  }
  handshakeCompleted(): void {}
  targetConnectFailed(code: string): void {
    this.targetErrors[code] = (this.targetErrors[code] ?? 0) + 1;
  }
  packetRejected(reason: string): void {
    this.packetErrors[reason] = (this.packetErrors[reason] ?? 0) + 1;
  }
}

/** Fan one set of observations out to several Metrics (counters + Prometheus). */
export function teeMetrics(...sinks: Metrics[]): Metrics {
  const each =
    <K extends Exclude<keyof Metrics, 'liveBytes'>>(k: K) =>
    (...args: Parameters<Metrics[K]>): void => {
      for (const m of sinks) (m[k] as (...a: Parameters<Metrics[K]>) => void)(...args);
    };
  return {
    connectionAccepted: each('connectionAccepted'),
    connectionRejected: each('connectionRejected'),
    connectionOpened: each('connectionOpened'),
    connectionClosed: each('connectionClosed'),
    handshakeFailed: each('handshakeFailed'),
    handshakeCompleted: each('handshakeCompleted'),
    targetConnectFailed: each('targetConnectFailed'),
    packetRejected: each('packetRejected'),
    liveBytes(read: () => ByteCounts): void {
      for (const m of sinks) m.liveBytes?.(read);
    },
  };
}
