/**
 * CPU time of a tunnel end that may be several processes (`--workers N`: a node:cluster primary
 * and its N workers), and of the load generator. An end's processes are its own pid plus the
 * children the kernel lists in /proc/<pid>/task/<tid>/children; each is read with cpu.ts's
 * cpuTimes(). The load generator (redis-benchmark) is a child of this harness that exits within
 * the run: its CPU shows as the rise of this process's cutime + cstime (reaped children) in
 * /proc/self/stat over the run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { clockTicks, cpuTimes } from './cpu.js';

/** The pids of `pid`'s live children (all its threads'), in ascending order. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const c of text.split(' ')) if (c.trim() !== '') out.push(Number(c));
  }
  return out.sort((a, b) => a - b);
}

/** One process of an end and the CPU (µs, user + kernel) it had used when sampled. */
interface Sample {
  readonly pid: number;
  readonly us: number;
}

const totalUs = (pid: number): number => {
  const t = cpuTimes(pid);
  return t.userUs + t.sysUs;
};

/** CPU an end used between two samples: all its processes, the primary, and each worker. */
export interface EndCpu {
  /** Every process of the end together. */
  readonly totalUs: number;
  /** The first process (the node:cluster primary with workers; the whole end without). */
  readonly primaryUs: number;
  /** Each child process (a worker), in pid order; empty for a single-process end. */
  readonly workersUs: readonly number[];
}

/**
 * Sample `pid` and its children now; the returned function samples them again and returns the
 * CPU used in between. Throws if a process of the end exited in between (a worker that died
 * would make the figures meaningless), naming it.
 */
export function endMeter(pid: number, name: string): () => EndCpu {
  const before: Sample[] = [pid, ...childPids(pid)].map((p) => ({ pid: p, us: totalUs(p) }));
  return () => {
    const used = before.map((b) => {
      try {
        return totalUs(b.pid) - b.us;
      } catch {
        throw new Error(`${name}: process ${b.pid} exited during the measured run`);
      }
    });
    return {
      totalUs: used.reduce((a, b) => a + b, 0),
      primaryUs: used[0]!,
      workersUs: used.slice(1),
    };
  };
}

/** Fields of /proc/<pid>/stat after the ")" closing the command name: cutime 16, cstime 17. */
const CUTIME_FIELD = 16 - 3;
const CSTIME_FIELD = 17 - 3;

/** CPU (µs, user + kernel) of this process's children that have exited and been reaped. */
export function reapedChildrenUs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[CUTIME_FIELD]) + Number(fields[CSTIME_FIELD])) * 1e6) / clockTicks();
}
