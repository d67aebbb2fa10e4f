/**
 * The pure half of the -d allow-list: the members a CLUSTER NODES reply names, read with the same
 * RESP layer the -e end rewrites with. No sockets, no timers (members.ts polls and decides).
 */
import { extractNodes } from '../resp/index.js';

/** A node address as the cluster reports it. */
export interface Member {
  readonly host: string;
  readonly port: number;
  /** For an announced hostname: the node's IP, which -d dials (no DNS needed). */
  readonly ip?: string;
}

/**
 * NODES flags of an entry that is not (yet) a member: `handshake` is any address a `CLUSTER MEET`
 * named, listed at once whether or not a node answers there; `noaddr` has no address to trust.
 * Admitting either would let a client allowed to run CLUSTER MEET add any host to the allow-list
 * (DESIGN.md §6).
 */
const NOT_A_MEMBER = ['handshake', 'noaddr'];

/**
 * Members named by a whole CLUSTER NODES reply (RESP2 bulk or RESP3 verbatim), read with the
 * same RESP layer the -e end rewrites with. An empty ip (a lone node) means the host the query
 * went to (`self`); an announced hostname is a member too, dialled by its IP. Entries flagged
 * `handshake` or `noaddr` are skipped (NOT_A_MEMBER). Never throws; a reply that is not a NODES
 * reply yields no members.
 */
export function membersOf(reply: Uint8Array, self: string): Member[] {
  const found = extractNodes('nodes', reply);
  if (!found.ok) return [];
  const out: Member[] = [];
  for (const n of found.nodes) {
    if (n.flags?.some((f) => NOT_A_MEMBER.includes(f))) continue;
    const ip = n.host || self;
    out.push({ host: ip, port: n.port });
    if (n.hostname) out.push({ host: n.hostname, port: n.port, ip });
  }
  return out;
}

/** membersOf() for the text of a CLUSTER NODES reply. */
export function parseClusterNodes(text: string, self: string): Member[] {
  const body = Buffer.from(text, 'utf8');
  return membersOf(
    Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]),
    self,
  );
}
