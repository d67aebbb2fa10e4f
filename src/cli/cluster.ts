/**
 * Cluster mode for one end, built from its ClusterEncryptConfig or ClusterDecryptConfig: in one
 * process, or split between a --workers primary (which owns the node listeners or the allow-list)
 * and its workers (which hold replicas of them). DESIGN.md §6.1, §7.1.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClusterAuth } from '../cluster/auth.js';
import {
  clusterDecrypt,
  type ClusterDecryptOptions,
  clusterEncrypt,
  clusterRouting,
} from '../daemon/cluster.js';
import { CLUSTER_IPC_NS, type DecryptIpc, type EncryptIpc } from '../daemon/ipc-messages.js';
import {
  type ClusterHub,
  type ClusterPrimaryStats,
  DecryptHub,
  EncryptHub,
  serveWorkers,
} from '../daemon/cluster-primary.js';
import { MemberReplica, NodeReplica } from '../daemon/cluster-worker.js';
import { IpcPeer, parentEndpoint } from '../daemon/ipc.js';
import type { ClusterMetrics } from '../daemon/prom.js';
import type { TunnelRouting } from '../pipe/connection.js';
import type { DialOptions } from '../pipe/dial.js';
import type { Resolver } from '../pipe/resolver.js';
import type { Route } from '../protocol/route.js';
import type { ClusterDecryptConfig, ClusterEncryptConfig } from './config.js';

/**
 * How long a -d worker waits for the primary's verdict on a route: the on-demand refresh behind
 * it tries every known member in turn (2 s each) before it answers.
 */
const RESOLVE_TIMEOUT_MS = 60_000;

/** Cluster-mode pieces, by end. */
export interface ClusterSetup {
  /** The routing hooks for a connection (route: the node a -e node listener fronts, or null). */
  readonly routing: (route: Route | null) => TunnelRouting;
  /**
   * Resolves once connections may be served: at once in one process; in a worker, once the
   * primary has sent its table or list. Rejects (IpcError) when the primary does not answer.
   */
  readonly ready: Promise<void>;
  /** Stop the node listeners (-e) or the allow-list refresh (-d); a worker tells the primary. */
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

/**
 * Build cluster mode for the end `c` describes; in a node:cluster worker, as a replica of what
 * its primary (startClusterPrimary) owns. Never throws: `c` was checked by buildConfig.
 */
export function setupCluster(
  c: ClusterEncryptConfig | ClusterDecryptConfig,
  deps: ClusterSetupDeps,
): ClusterSetup {
  if (cluster.isWorker) return workerCluster(c, deps);
  if (c.end === 'decrypt') {
    const d = clusterDecrypt({ ...decryptOptions(c, deps), auth: deps.auth });
    return { routing: d.routing, ready: Promise.resolve(), close: () => d.membership.close() };
  }
  const e = clusterEncrypt({
    bindHost: c.bindHost,
    advertiseHost: c.advertiseHost,
    ports: c.ports,
    log: deps.log,
    metrics: deps.metrics,
    adopt: deps.adopt,
  });
  return { routing: e.routing, ready: Promise.resolve(), close: () => e.listeners.close() };
}

/** What -d's cluster mode takes in one process and in a worker alike. */
function decryptOptions(c: ClusterDecryptConfig, deps: ClusterSetupDeps): ClusterDecryptOptions {
  return {
    seed: c.seed,
    seedResolver: deps.resolver,
    dial: deps.dial,
    log: deps.log,
    metrics: deps.metrics,
    refreshSeconds: c.refreshSeconds,
  };
}

/** A worker's side: replicas fed by the primary over IPC. */
function workerCluster(
  c: ClusterEncryptConfig | ClusterDecryptConfig,
  deps: ClusterSetupDeps,
): ClusterSetup {
  if (c.end === 'decrypt') {
    const peer = new IpcPeer<DecryptIpc>(parentEndpoint(), CLUSTER_IPC_NS, RESOLVE_TIMEOUT_MS);
    const members = new MemberReplica(c.seed, peer, (r) => deps.metrics.routeRefused(r));
    const d = clusterDecrypt({ ...decryptOptions(c, deps), members });
    return { routing: d.routing, ready: members.start(), close: () => {} };
  }
  const peer = new IpcPeer<EncryptIpc>(parentEndpoint(), CLUSTER_IPC_NS);
  const map = new NodeReplica(peer, deps.log, deps.adopt);
  return {
    routing: clusterRouting(map, deps.log, deps.metrics),
    ready: map.start(),
    // The channel stays open: a connection already on its way is adopted and refused (draining).
    close: () => map.close(),
  };
}

/** The --workers primary's part in cluster mode. */
export interface ClusterPrimary {
  /** Nodes known and listeners open: the primary's gauges (the workers do not set them). */
  stats(): ClusterPrimaryStats;
  /** Stop the node listeners or the poller and stop serving workers. */
  close(): void;
}

/**
 * In the --workers primary, before it forks: own the node listeners (-e) or the CLUSTER NODES
 * poller (-d) for the whole end and serve every worker node:cluster forks. `metrics` receives
 * the primary's gauges. Never throws.
 */
export function startClusterPrimary(
  c: ClusterEncryptConfig | ClusterDecryptConfig,
  deps: {
    readonly log: Logger;
    readonly auth: ClusterAuth | null;
    readonly metrics: ClusterMetrics;
  },
): ClusterPrimary {
  const hub: ClusterHub =
    c.end === 'decrypt'
      ? new DecryptHub({
          seed: c.seed,
          refreshSeconds: c.refreshSeconds,
          auth: deps.auth,
          log: deps.log,
          metrics: deps.metrics,
        })
      : new EncryptHub({
          bindHost: c.bindHost,
          advertiseHost: c.advertiseHost,
          ports: c.ports,
          log: deps.log,
          metrics: deps.metrics,
        });
  const stop = serveWorkers(hub);
  return {
    stats: () => hub.stats(),
    close: () => {
      stop();
      hub.close();
    },
  };
}
