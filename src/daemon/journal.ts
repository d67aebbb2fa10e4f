/**
 * systemd journal priorities for our log lines. When a log fd is the journal's stream (systemd sets
 * JOURNAL_STREAM=<device>:<inode> of the stream it hands a service), each line goes out prefixed
 * with `<N>`, the sd-daemon(3) priority prefix, which journald strips and stores as PRIORITY
 * (SyslogLevelPrefix=yes, the default). `journalctl -p warning` then shows warn, error and fatal
 * lines only. Elsewhere lines are written unchanged.
 */
import { fstatSync } from 'node:fs';

/** syslog(3) priorities by pino level name (trace has no syslog level below debug). */
export const JOURNAL_PRIORITY = {
  trace: 7,
  debug: 7,
  info: 6,
  warn: 4,
  error: 3,
  fatal: 2,
} as const satisfies Record<string, number>;

/** pino's numeric level for each name (pino.levels.values), so numeric lines map too. */
const NUMERIC: Readonly<Record<string, keyof typeof JOURNAL_PRIORITY>> = {
  '10': 'trace',
  '20': 'debug',
  '30': 'info',
  '40': 'warn',
  '50': 'error',
  '60': 'fatal',
};

/** A pino line's level, in either form: `{"level":"warn",` or `{"level":40,`. */
const LEVEL_AT_START = /^\{"level":(?:"([a-z]+)"|(\d+))/;

/** syslog priority used when a line's level cannot be read (notice). */
const UNKNOWN_PRIORITY = 5;

/**
 * True when `fd` is the stream systemd connected to the journal: JOURNAL_STREAM in `env` names
 * the device and inode of `fd` (as systemd.exec(5) says to check, since a child may have its
 * output redirected elsewhere). Never throws: a closed fd or a malformed variable gives false.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * The `<N>` prefix for one serialized pino line (level first, as pino writes it). A line whose
 * level is missing or unknown gets notice (`<5>`), so it is never dropped.
 */
export function journalPrefix(line: string): string {
  const m = LEVEL_AT_START.exec(line);
  const name = m?.[1] ?? NUMERIC[m?.[2] ?? ''];
  const p =
    name !== undefined && name in JOURNAL_PRIORITY
      ? JOURNAL_PRIORITY[name as keyof typeof JOURNAL_PRIORITY]
      : UNKNOWN_PRIORITY;
  return `<${p}>`;
}

/** A destination that writes to `dest`, each line prefixed by its journal priority. */
export function journalDestination(dest: { write(s: string): unknown }): {
  write(s: string): void;
} {
  return {
    write(s: string): void {
      dest.write(journalPrefix(s) + s);
    },
  };
}

/**
 * `text` as the one line a start-up error is printed as (`cloakpipe: <text>`), for stderr (`fd`).
 * When that stream is the journal's, the line carries the error priority (`<3>`), so
 * `journalctl -p warning` shows why a unit failed to start. Never throws.
 */
export function startupErrorLine(text: string, fd = 2): string {
  return `${isJournalStream(fd) ? `<${JOURNAL_PRIORITY.error}>` : ''}cloakpipe: ${text}\n`;
}
