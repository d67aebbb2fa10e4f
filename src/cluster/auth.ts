/**
 * Credentials the -d end uses for its own CLUSTER NODES queries (--cluster-auth FILE), for
 * clusters that require a password. Clients authenticate themselves through the tunnel as
 * always; these are only for -d's allow-list polling.
 *
 * File format: one line holding the password (the `default` user, like `requirepass`), or two
 * lines, username then password (an ACL user). One trailing newline (LF or CRLF) per line is
 * dropped; nothing else is trimmed, so a password may hold spaces.
 */

import { encodeCommand } from '../resp/index.js';

/** AUTH arguments. */
export interface ClusterAuth {
  readonly username: string | null;
  readonly password: string;
}

/** Parse the contents of a --cluster-auth file; a string is the reason it is unusable. */
export function parseClusterAuth(text: string): ClusterAuth | string {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 1) {
    if (lines[0] === '') return 'the file is empty (expected a password)';
    return { username: null, password: lines[0]! };
  }
  if (lines.length === 2) {
    if (lines[0] === '') return 'the username line is empty';
    if (lines[1] === '') return 'the password line is empty';
    return { username: lines[0]!, password: lines[1]! };
  }
  return `expected 1 line (password) or 2 lines (username, password), found ${lines.length}`;
}

/** The AUTH command for `auth`. */
export function encodeAuth(auth: ClusterAuth): Buffer {
  return encodeCommand(
    auth.username === null ? ['AUTH', auth.password] : ['AUTH', auth.username, auth.password],
  );
}
