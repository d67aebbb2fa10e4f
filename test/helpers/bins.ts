/**
 * Real binaries the tests depend on. A missing one fails the test with the command that installs
 * it; nothing is skipped silently.
 */
import { execFileSync } from 'node:child_process';

const INSTALL: Record<string, string> = {
  spiped: 'sudo apt-get install -y spiped',
  spipe: 'sudo apt-get install -y spiped',
  'redis-server': 'sudo apt-get install -y redis-server',
  'redis-cli': 'sudo apt-get install -y redis-tools',
  'redis-benchmark': 'sudo apt-get install -y redis-tools',
  prlimit: 'sudo apt-get install -y util-linux',
  'systemd-socket-activate': 'sudo apt-get install -y systemd',
  'systemd-analyze': 'sudo apt-get install -y systemd',
  // The man-page test needs both (groff alone lacks the man macros' checks man -l runs).
  groff: 'sudo apt-get install -y groff man-db',
  man: 'sudo apt-get install -y groff man-db',
};

/** The absolute path of `name`, or throw an Error that says how to install it. */
export function requireBinary(name: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      `${name} is not installed; install it with: ${INSTALL[name] ?? `apt-get install ${name}`}`,
    );
  }
}
