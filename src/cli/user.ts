/**
 * `-u user[:group]`: give up root once everything listens (one process, or a --workers primary
 * once every first worker listens, and each worker after it listens).
 */
import type { Config } from './config.js';
import { StartError } from './errors.js';

/**
 * Switch to `user` (its group first, while still allowed). Throws StartError naming the user
 * when the switch fails (not root, or no such user); a process already running as them passes.
 */
export function switchUser(user: NonNullable<Config['user']>): void {
  try {
    if (user.group !== null) process.setgid?.(user.group);
    process.setuid?.(user.user);
  } catch (err) {
    const name = user.group === null ? user.user : `${user.user}:${user.group}`;
    throw new StartError(`cannot switch to user ${name}: ${(err as Error).message}`);
  }
}
