/**
 * Wires cluster mode into a daemon: on -e, the node listener table and a ClusterFilter per
 * connection; on -d, the member allow-list and route serving. A --workers worker passes the
 * replicas of the primary's table and list instead (DESIGN.md §6.1, §7.1).
 */
import { isIP, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { type ClusterAuth, parseClusterAuth } from '../cluster/auth.js';
import { ClusterFilter } from '../cluster/filter.js';
import { type Member, memberKey, Membership, type MemberSource } from '../cluster/members.js';
import { NodeListeners, type NodeMap } from '../cluster/nodes.js';
import { RouteRefused, type TunnelRouting } from '../pipe/connection.js';
import { dial, type DialOptions } from '../pipe/dial.js';
import { type Endpoint, resolveAddress, type Resolver } from '../pipe/resolver.js';
import { zeroize } from '../crypto/bytes.js';
import { readSecretFile } from '../crypto/keyfile.js';
import { type Route, SEED_HOST, SEED_ROUTE } from '../protocol/route.js';
import type { ClusterMetrics } from './prom.js';

/** Cluster metrics that record nothing (when --metrics is off). */
export const nilClusterMetrics: ClusterMetrics = {
  nodesKnown() {},
  listenersOpen() {},
  rewrite() {},
  routeRefused() {},
};

/** -e settings. */
export interface ClusterEncryptOptions {
  readonly bindHost: string;
  readonly advertiseHost: string;
  readonly ports: { readonly from: number; readonly to: number } | null;
  readonly log: Logger;
  readonly metrics: ClusterMetrics;
  /** Hand a connection accepted on a node listener to the daemon. */
  readonly adopt: (socket: Socket, route: Route) => void;
}

/** The settings both -e node tables share: one process's and a --workers primary's. */
export type NodeTableOptions = Pick<
  ClusterEncryptOptions,
  'bindHost' | 'advertiseHost' | 'ports' | 'log'
> & { readonly metrics: Pick<ClusterMetrics, 'nodesKnown' | 'listenersOpen'> };

/**
 * The -e node listener table for `o`, its gauges kept in `o.metrics`; `accept` runs a connection
 * accepted on a node's listener, and `onChange` hears of every change to the map.
 */
export function encryptListeners(
  o: NodeTableOptions,
  accept: (socket: Socket, route: Route) => void,
  onChange?: () => void,
): NodeListeners {
  return new NodeListeners({
    bindHost: o.bindHost,
    advertiseHost: o.advertiseHost,
    ports: o.ports,
    log: o.log,
    onCount: (nodes, open) => {
      o.metrics.nodesKnown(nodes);
      o.metrics.listenersOpen(open);
    },
    ...(onChange ? { onChange } : {}),
    accept,
  });
}

/** -e: the node table plus the routing hooks for each connection. */
export function clusterEncrypt(o: ClusterEncryptOptions): {
  listeners: NodeListeners;
  routing: (route: Route | null) => TunnelRouting;
} {
  const listeners = encryptListeners(o, (s, route) => o.adopt(s, route));
  return { listeners, routing: clusterRouting(listeners, o.log, o.metrics) };
}

/** -e: the routing hooks for each connection, over `map` (the table, or a worker's replica). */
export function clusterRouting(
  map: NodeMap,
  log: Logger,
  metrics: ClusterMetrics,
): (route: Route | null) => TunnelRouting {
  return (route) => {
    const r = route ?? SEED_ROUTE;
    return {
      route: r,
      filter: new ClusterFilter({ listeners: map, route: r, log, counter: metrics }),
    };
  };
}

/** -d settings. */
export interface ClusterDecryptOptions {
  readonly seed: { readonly host: string; readonly port: number };
  readonly seedResolver: Resolver;
  readonly dial: DialOptions;
  readonly log: Logger;
  readonly metrics: ClusterMetrics;
  /** Seconds between CLUSTER NODES refreshes. */
  readonly refreshSeconds: number;
  /** AUTH for those queries (--cluster-auth), or null. */
  readonly auth?: ClusterAuth | null;
  /** The allow-list to use instead of polling (a worker's replica of the primary's). */
  readonly members?: MemberSource;
}

/**
 * Read a --cluster-auth file. Throws KeyFileError when it cannot be read; resolves the
 * credentials and storage warnings, or the reason the contents are unusable (never echoing them).
 */
export function loadClusterAuth(path: string): { auth: ClusterAuth; warnings: string[] } | string {
  const { raw, warnings } = readSecretFile(
    path,
    'cluster auth file',
    'anyone who can read it can log in to the Redis Cluster',
  );
  const parsed = parseClusterAuth(raw.toString('utf8'));
  zeroize(raw);
  if (typeof parsed === 'string') return `--cluster-auth ${path}: ${parsed}`;
  return { auth: parsed, warnings };
}

/** -d: the member allow-list plus route serving. */
export function clusterDecrypt(o: ClusterDecryptOptions): {
  membership: MemberSource;
  routing: () => TunnelRouting;
} {
  let membership: MemberSource;
  if (o.members) membership = o.members;
  else {
    const own = new Membership(o.seed, o.log, o.metrics, o.refreshSeconds, o.auth ?? null);
    void own.refresh();
    membership = own;
  }
  const seedKey = memberKey(membership.seed);
  const endpointsOf = (m: Member): Promise<Endpoint[]> =>
    resolveAddress({ kind: 'tcp', host: m.host, port: m.port, literal: isIP(m.host) !== 0 });
  /**
   * The main listener's route: the seed, or the next member that accepts while the seed is down
   * (dial() tries the endpoints in order; members are IP literals, so this needs no DNS).
   */
  const dialSeed = async (signal: AbortSignal): Promise<Socket> => {
    const endpoints: Endpoint[] = [];
    for (const m of membership.seedCandidates())
      endpoints.push(
        ...(memberKey(m) === seedKey
          ? o.seedResolver.endpoints()
          : await endpointsOf(m).catch(() => [])),
      );
    return dial(endpoints, o.dial, signal);
  };
  const serve = async (route: Route, signal: AbortSignal): Promise<Socket> => {
    if (route.host === SEED_HOST && route.port === 0) return dialSeed(signal);
    const m = await membership.resolve(route);
    if (typeof m === 'string') {
      o.log.warn({ route: `${route.host}:${route.port}` }, `refusing route: ${m}`);
      throw new RouteRefused(m);
    }
    return dial(await endpointsOf(m), o.dial, signal);
  };
  return { membership, routing: () => ({ serve }) };
}
