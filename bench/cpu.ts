/**
 * CPU time a tunnel end spends during a measured run: user and kernel time from
 * /proc/<pid>/stat (utime, stime, in clock ticks of `getconf CLK_TCK`), read before and after
 * the run. Only the process itself is counted, not its children (every end the Redis and bulk
 * parts start is a single process).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Pair } from './pairs.js';
import { addValue, type Column, type Row } from './report.js';

/** CPU time of one process, in microseconds. */
export interface CpuTimes {
  readonly userUs: number;
  readonly sysUs: number;
}

/** Fields of /proc/<pid>/stat counted after the ")" closing the command name (state is 0). */
const UTIME_FIELD = 14 - 3;
const STIME_FIELD = 15 - 3;

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, usually 100); throws if getconf fails. */
export function clockTicks(): number {
  if (ticks === undefined) {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`getconf CLK_TCK gave "${n}"`);
    ticks = n;
  }
  return ticks;
}

/** The user and kernel CPU time `pid` has used so far; throws if the process is gone. */
export function cpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const usPerTick = 1e6 / clockTicks();
  return {
    userUs: Number(fields[UTIME_FIELD]) * usPerTick,
    sysUs: Number(fields[STIME_FIELD]) * usPerTick,
  };
}

/** Per-end CPU figures by column, as rows for a table. */
export type CpuSeries = Record<`${'-e' | '-d'} ${'user' | 'kernel' | 'total'}`, Row['values']>;

/** An empty CpuSeries. */
export function cpuSeries(): CpuSeries {
  return {
    '-e user': {},
    '-e kernel': {},
    '-e total': {},
    '-d user': {},
    '-d kernel': {},
    '-d total': {},
  };
}

/**
 * Sample both ends of `pair` now; the returned function samples them again and records into
 * `series[column]` the CPU each end used in between, divided by `per` (requests, or MB).
 * `scale` converts µs to the unit of the rows (1 for µs, 1e-3 for ms).
 */
export function cpuMeter(
  pair: Pick<Pair, 'enc' | 'dec'>,
): (series: CpuSeries, column: Column, per: number, scale?: number) => void {
  const before = { '-e': cpuTimes(pair.enc.pid), '-d': cpuTimes(pair.dec.pid) };
  return (series, column, per, scale = 1) => {
    for (const end of ['-e', '-d'] as const) {
      const now = cpuTimes(end === '-e' ? pair.enc.pid : pair.dec.pid);
      const user = ((now.userUs - before[end].userUs) / per) * scale;
      const sys = ((now.sysUs - before[end].sysUs) / per) * scale;
      addValue(series[`${end} user`], column, user);
      addValue(series[`${end} kernel`], column, sys);
      addValue(series[`${end} total`], column, user + sys);
    }
  };
}

/** The rows of `series`: per end, user, kernel and their total, `unit` per `per` (lower is better). */
export function cpuRows(label: string, series: CpuSeries, unit: string, per: string): Row[] {
  const rows: Row[] = [];
  for (const end of ['-e', '-d'] as const)
    for (const kind of ['user', 'kernel', 'total'] as const)
      rows.push({
        label: `${label}, CPU of the ${end} end`,
        unit: `${unit} ${kind === 'total' ? 'user+kernel' : kind}/${per}`,
        better: 'lower',
        values: series[`${end} ${kind}`],
      });
  return rows;
}

/** The note under every table with CPU rows. */
export function cpuNote(): string {
  return (
    `CPU: utime and stime of each end's process from /proc/<pid>/stat, read before and after ` +
    `each run (resolution 1/${clockTicks()} s per reading), divided by the work done in the run.`
  );
}
