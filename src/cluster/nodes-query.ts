/**
 * The -d end's CLUSTER NODES client: one short connection that logs in if asked, names itself and
 * reads the whole NODES reply with the RESP reply scanner. members.ts decides what to do with it.
 */
import { connect } from 'node:net';
import { encodeCommand, ReplyScanner } from '../resp/index.js';
import { isErrorFrame } from '../resp/types.js';
import { type ClusterAuth, encodeAuth } from './auth.js';

/** Longest CLUSTER NODES reply read (a large cluster is a few hundred KB). */
const MAX_NODES_REPLY = 16 * 1024 * 1024;

/** The name -d's polling connections carry, so CLIENT LIST, MONITOR and logs can tell them apart. */
export const MEMBERSHIP_CLIENT_NAME = 'cloakpipe-members';

/** What -d sends after any AUTH: its client name (an error reply is ignored), then the query. */
const MEMBERSHIP_QUERY = Buffer.concat([
  encodeCommand(['CLIENT', 'SETNAME', MEMBERSHIP_CLIENT_NAME]),
  encodeCommand(['CLUSTER', 'NODES']),
]);

/**
 * Ask `host:port` for CLUSTER NODES, after AUTH when `auth` is given and CLIENT SETNAME
 * MEMBERSHIP_CLIENT_NAME (all sent at once).
 * Resolves the whole NODES reply, framed by the RESP reply scanner (capped at MAX_NODES_REPLY);
 * rejects on an error reply (an AUTH error says so, without the password), a malformed or
 * oversized one, a socket error or the timeout.
 */
export function queryClusterNodes(
  host: string,
  port: number,
  timeoutMs: number,
  auth: ClusterAuth | null = null,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const scanner = new ReplyScanner<true>({
      capture: () => true,
      limits: { captureCap: MAX_NODES_REPLY },
    });
    const timer = setTimeout(
      () => done(new Error(`CLUSTER NODES to ${host}:${port} timed out`)),
      timeoutMs,
    );
    function done(err: Error | null, reply?: Uint8Array): void {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(reply!);
    }
    // The replies before the NODES one, in order.
    const before: ('auth' | 'setname')[] = auth ? ['auth', 'setname'] : ['setname'];
    s.on('error', (e) => done(e));
    s.on('connect', () =>
      s.write(auth ? Buffer.concat([encodeAuth(auth), MEMBERSHIP_QUERY]) : MEMBERSHIP_QUERY),
    );
    s.on('data', (b: Buffer) => {
      for (const ev of scanner.push(b)) {
        if (ev.kind === 'error') return done(new Error(`bad CLUSTER NODES reply (${ev.reason})`));
        if (ev.kind !== 'captured') continue;
        const failed = isErrorFrame(ev.bytes);
        const text = failed ? Buffer.from(ev.bytes).toString('latin1').slice(1).trim() : '';
        const reply = before.shift();
        if (reply === 'auth' && failed) return done(new Error(`AUTH failed: ${text}`));
        // A server or ACL that refuses CLIENT SETNAME still answers NODES.
        if (reply !== undefined) continue;
        if (failed)
          return done(
            new Error(
              text.startsWith('NOAUTH')
                ? `${text} (give -d the cluster's password with --cluster-auth FILE)`
                : text,
            ),
          );
        return done(null, ev.bytes);
      }
    });
  });
}
