/**
 * The machine as tests, the benchmark and the scripts see it (Linux): resident memory (VmRSS) and
 * open file descriptors of a process from /proc, a sampler that keeps the peak while a test runs,
 * the kernel's listen-overflow counter, the open-file limit, and temporary directories.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/**
 * The kernel's TcpExt ListenOverflows counter (connections dropped because a listener's accept
 * queue was full), from /proc/net/netstat; system-wide, so other programs add to it too. Returns
 * NaN where the counter is unavailable.
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i]?.split(/\s+/) ?? [];
    const values = lines[i + 1]?.split(/\s+/) ?? [];
    const k = names.indexOf('ListenOverflows');
    return k < 0 ? Number.NaN : Number(values[k]);
  } catch {
    return Number.NaN;
  }
}

/** The soft limit on open files this process (and so its children) has. */
export function openFileLimit(): number {
  const n = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
}

/** A fresh temporary directory (for UNIX sockets and key files). */
export function tempDir(prefix = 'cloakpipe-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
