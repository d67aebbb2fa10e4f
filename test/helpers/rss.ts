/**
 * Resource readings of a running process from /proc (Linux): resident memory (VmRSS) and open
 * file descriptors, plus a sampler that keeps the peak while a test runs.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Bytes in a MiB, for readable limits. */
export const MiB = 1024 * 1024;

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status); throws if it has exited. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Number of open file descriptors of `pid` (entries of /proc/<pid>/fd). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A running RSS sampler. */
export interface RssSampler {
  /** RSS when sampling began, in bytes. */
  readonly baseline: number;
  /** Highest RSS seen so far, in bytes. */
  peak(): number;
  /** Stop sampling; returns the peak growth over the baseline, in bytes. */
  stop(): number;
}

/** Sample the RSS of `pid` every `intervalMs` until stop(). A process that exits stops it. */
export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  const baseline = rssBytes(pid);
  let peak = baseline;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      clearInterval(timer);
    }
  }, intervalMs);
  return {
    baseline,
    peak: () => peak,
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {
        // exited
      }
      return peak - baseline;
    },
  };
}

/** `n` bytes as "12.3 MiB", for assertion messages. */
export function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}
