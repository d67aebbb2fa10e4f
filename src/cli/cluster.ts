/** Cluster mode for one end, built from its ClusterEncryptConfig or ClusterDecryptConfig. */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClusterAuth } from '../cluster/auth.js';
import { clusterDecrypt, clusterEncrypt } from '../daemon/cluster.js';
import type { ClusterMetrics } from '../daemon/prom.js';
import type { TunnelRouting } from '../pipe/connection.js';
import type { DialOptions } from '../pipe/dial.js';
import type { Resolver } from '../pipe/resolver.js';
import type { Route } from '../protocol/route.js';
import type { ClusterDecryptConfig, ClusterEncryptConfig } from './config.js';

/** Cluster-mode pieces, by end. */
export interface ClusterSetup {
  /** The routing hooks for a connection (route: the node a -e node listener fronts, or null). */
  readonly routing: (route: Route | null) => TunnelRouting;
  /** Stop the node listeners (-e) or the allow-list refresh (-d). */
  readonly close: () => void;
}

/** What setupCluster is handed besides the end's settings. */
export interface ClusterSetupDeps {
  /** -d: the seed's resolver (the main target). */
  readonly resolver: Resolver;
  readonly dial: DialOptions;
  readonly log: Logger;
  readonly metrics: ClusterMetrics;
  /** -e: hand a connection accepted on a node listener to the daemon. */
  readonly adopt: (socket: Socket, route: Route) => void;
  /** -d: --cluster-auth credentials, or null. */
  readonly auth: ClusterAuth | null;
}

/** Build cluster mode for the end `c` describes. Never throws: `c` was checked by buildConfig. */
export function setupCluster(
  c: ClusterEncryptConfig | ClusterDecryptConfig,
  deps: ClusterSetupDeps,
): ClusterSetup {
  if (c.end === 'decrypt') {
    const d = clusterDecrypt({
      auth: deps.auth,
      seed: c.seed,
      seedResolver: deps.resolver,
      dial: deps.dial,
      log: deps.log,
      metrics: deps.metrics,
      refreshSeconds: c.refreshSeconds,
    });
    return { routing: d.routing, close: () => d.membership.close() };
  }
  const e = clusterEncrypt({
    bindHost: c.bindHost,
    advertiseHost: c.advertiseHost,
    ports: c.ports,
    log: deps.log,
    metrics: deps.metrics,
    adopt: deps.adopt,
  });
  return { routing: e.routing, close: () => e.listeners.close() };
}
