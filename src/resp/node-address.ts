/**
 * How cluster nodes are named in replies, and the mapping a caller hands the rewriters. One node
 * can appear under several names (IP, announced hostname, `?`, `''`, node ID): every name the
 * reply gives is reported, so the caller can key its node table by (ip, port) with the hostname
 * and node ID as aliases (DESIGN.md §4.6).
 */

/** One node as a reply names it. */
export interface NodeAddress {
  /**
   * The address the reply tells clients to dial: the MOVED/ASK or SLOTS preferred endpoint, the
   * SHARDS `endpoint`, the NODES/REPLICAS `<ip>`. `''` means "the host of this connection"
   * (unknown-endpoint, or a lone node); `?` means "hostname preferred but none announced".
   */
  readonly host: string;
  /** The port the reply gives (plaintext or TLS, as the server chose for its client). */
  readonly port: number;
  /** The node's IP when the reply shows it (SLOTS `ip` metadata, SHARDS `ip`, NODES `<ip>`). */
  readonly ip: string | null;
  /** The announced hostname when the reply shows one. */
  readonly hostname: string | null;
  /** The 40-hex node ID when the reply shows it. */
  readonly id: string | null;
  /** The NODES/REPLICAS `<flags>` (e.g. `master`, `myself`, `handshake`) when the reply shows them. */
  readonly flags?: readonly string[];
}

/** The tunnel-local address that replaces a node's address. */
export interface MappedAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Maps a node's reported address to its local one. `host` and `port` are `node.host` and
 * `node.port`; return null when the node is unknown, and it is left unchanged.
 */
export type AddressMap = (host: string, port: number, node: NodeAddress) => MappedAddress | null;

/** What to do with announced hostnames: remove them (default), or set them to the local host. */
export type HostnamePolicy = 'drop' | 'local';

/** Options of the rewriters. */
export interface RewriteOptions {
  /** `hostname` metadata (SLOTS, SHARDS) and `,<hostname>` (NODES): 'drop' (default) or 'local'. */
  readonly hostname?: HostnamePolicy;
}

/** State threaded through one walk over a reply: how each node is mapped, and counters. */
export interface WalkContext {
  readonly hostname: HostnamePolicy;
  /** Node entries seen. */
  nodes: number;
  /** Node entries rewritten (the others were unknown to the map, or had no parsable address). */
  rewritten: number;
  /** Count `node` and map it; null leaves it unchanged. */
  see(node: NodeAddress): MappedAddress | null;
}

/** A WalkContext over `visit` (called once per node entry, in reply order). */
export function walkContext(
  visit: (node: NodeAddress) => MappedAddress | null,
  hostname: HostnamePolicy = 'drop',
): WalkContext {
  return {
    hostname,
    nodes: 0,
    rewritten: 0,
    see(node) {
      this.nodes++;
      const mapped = visit(node);
      if (mapped !== null) this.rewritten++;
      return mapped;
    },
  };
}
