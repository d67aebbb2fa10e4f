/**
 * `-u user[:group]`: give up root once everything listens (one process, or a --workers primary
 * once every first worker listens, and each worker after it listens).
 */
import type { Config } from './config.js';
import { StartError } from './errors.js';

/** A name, or a numeric id as spiped's -u also takes (`65534`, `:65534`). */
function idOf(nameOrId: string): string | number {
  return /^\d+$/.test(nameOrId) ? Number(nameOrId) : nameOrId;
}

/**
 * Switch to `user`: leave every supplementary group (root's among them), then the group, then
 * the user, as spiped's -u does; an empty user (`-u :group`) changes the group only. Names and
 * numeric ids are both taken. Returns a warning when the supplementary groups could not be left
 * (the switch goes on, as spiped's does), else null. Throws StartError naming the user when the
 * switch fails (not root, or no such user); a process already running as them passes.
 */
export function switchUser(user: NonNullable<Config['user']>): string | null {
  let warning: string | null = null;
  try {
    process.setgroups?.([]);
  } catch (err) {
    // Not root (a process already running as the user): fine if it is in no other group.
    const egid = process.getegid?.();
    if ((process.getgroups?.() ?? []).some((g) => g !== egid))
      warning = `-u: could not leave the supplementary groups (${(err as Error).message})`;
  }
  try {
    if (user.group !== null) process.setgid?.(idOf(user.group));
    if (user.user !== '') process.setuid?.(idOf(user.user));
  } catch (err) {
    const name = user.group === null ? user.user : `${user.user}:${user.group}`;
    throw new StartError(`cannot switch to user ${name}: ${(err as Error).message}`);
  }
  return warning;
}
