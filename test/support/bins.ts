/**
 * Real binaries the tests, the benchmark and the scripts depend on. A missing one fails with the
 * command that installs it; nothing is skipped silently.
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** The Debian packages that provide each binary (a binary not listed is its own package). */
const PACKAGES: Record<string, string> = {
  spiped: 'spiped',
  spipe: 'spiped',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  'redis-benchmark': 'redis-tools',
  prlimit: 'util-linux',
  'systemd-socket-activate': 'systemd',
  'systemd-analyze': 'systemd',
  // The man-page test needs both (groff alone lacks the man macros' checks man -l runs).
  groff: 'groff man-db',
  man: 'groff man-db',
};

/** The absolute path of `name`, or null when it is not on PATH. */
function which(name: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** The absolute path of `name`, or throw an Error that says how to install it. */
export function requireBinary(name: string): string {
  return requireBinaries([name])[name]!;
}

/**
 * The absolute path of each binary in `names`; throws one Error naming every missing one with
 * the apt-get command that installs them all.
 */
export function requireBinaries(names: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of names) {
    const path = which(n);
    if (path === null) missing.push(n);
    else found[n] = path;
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => PACKAGES[n] ?? n))].join(' ');
    const what = missing.length === 1 ? `${missing[0]} is` : `${missing.join(', ')} are`;
    throw new Error(`${what} not installed; install with: sudo apt-get install -y ${pkgs}`);
  }
  return found;
}

/** The first line `cmd args` prints (stdout, else stderr: spiped -v uses stderr), or 'unknown'. */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}
