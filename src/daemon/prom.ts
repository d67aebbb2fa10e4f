/**
 * Prometheus metrics (prom-client) on a private Registry — no global state, so tests can run
 * several daemons in one process. Names follow Prometheus conventions (`_total` counters, base
 * units in seconds and bytes). Node's own metrics keep their standard `process_*` and `nodejs_*`
 * names, so stock dashboards work; cluster series exist only in cluster mode; every failure
 * counter starts with a zero series per reason (prom-labels.ts).
 *
 * With --workers each worker keeps such a registry and the primary merges them (aggregate.ts):
 * a series without an `aggregator` option is summed, which is right for every counter, histogram
 * and cloakpipe_connections_active; the ones that must not be summed say how to merge.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ByteCounts, HandshakeFailure, Metrics, RejectReason } from '../pipe/metrics.js';
import {
  CLOSE_RESULTS,
  HANDSHAKE_FAILURES,
  listed,
  PACKET_FAILURES,
  REJECT_REASONS,
  REWRITE_KINDS,
  ROUTE_REFUSALS,
  TARGET_ERROR_CODES,
} from './prom-labels.js';

/** What cloakpipe_build_info reports, and whether cluster series exist. */
export interface PromOptions {
  /** Register the cloakpipe_cluster_* series (cluster mode only). Default false. */
  readonly cluster?: boolean;
  /** cloakpipe's version (package.json). Default 'unknown'. */
  readonly version?: string;
  /** The packet crypto engine (--crypto). Default 'unknown'. */
  readonly crypto?: string;
  /** The data framing on the wire (--framing). Default 'spiped'. */
  readonly framing?: string;
}

/** No live tunnels (the reader before a daemon registers one). */
const NO_BYTES: ByteCounts = { up: 0, down: 0 };

/** The cluster-mode series. */
interface ClusterSeries {
  readonly nodes: Gauge;
  readonly listeners: Gauge;
  readonly rewrites: Counter<'kind'>;
  readonly refusals: Counter<'reason'>;
}

/** A counter `c` with a series at 0 for each `values` under label `label`. */
function zeroed<L extends string>(c: Counter<L>, label: L, values: readonly string[]): Counter<L> {
  for (const v of values) c.inc({ [label]: v } as Partial<Record<L, string>>, 0);
  return c;
}

/** Cluster-mode observations (nodes, listeners, rewrites, refusals). */
export interface ClusterMetrics {
  nodesKnown(n: number): void;
  listenersOpen(n: number): void;
  rewrite(kind: string): void;
  routeRefused(reason: string): void;
}

/** Metrics exported in the Prometheus text format. */
export class PromMetrics implements Metrics, ClusterMetrics {
  readonly registry = new Registry();
  readonly #accepted: Counter;
  readonly #active: Gauge;
  readonly #rejected: Counter<'reason'>;
  readonly #hsFail: Counter<'reason'>;
  readonly #hsTime: Histogram;
  /** Plaintext bytes of tunnels that have closed. */
  readonly #closedBytes: ByteCounts = { up: 0, down: 0 };
  /** Plaintext bytes of live tunnels, so far (see liveBytes). */
  #readLive: () => ByteCounts = () => NO_BYTES;
  readonly #duration: Histogram;
  readonly #closed: Counter<'result'>;
  readonly #targetErr: Counter<'code'>;
  readonly #packetErr: Counter<'reason'>;
  readonly #cluster: ClusterSeries | null;

  /**
   * `labels` are added to every series (e.g. {mode: 'encrypt'}); `opts` says what build_info
   * reports and whether the cluster series exist. Never throws.
   */
  constructor(labels: Record<string, string> = {}, opts: PromOptions = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'cloakpipe_build_info',
      help: 'Always 1; the labels say which cloakpipe, Node.js, crypto engine and wire framing run',
      labelNames: ['version', 'node', 'crypto', 'framing'],
      aggregator: 'first',
      registers,
    }).set(
      {
        version: opts.version ?? 'unknown',
        node: process.versions.node,
        crypto: opts.crypto ?? 'unknown',
        framing: opts.framing ?? 'spiped',
      },
      1,
    );
    this.#accepted = new Counter({
      name: 'cloakpipe_connections_accepted_total',
      help: 'Connections accepted on the listen address',
      registers,
    });
    this.#active = new Gauge({
      name: 'cloakpipe_connections_active',
      help: 'Tunnels currently established',
      registers,
    });
    this.#rejected = zeroed(
      new Counter({
        name: 'cloakpipe_connections_rejected_total',
        help: `Connections turned away, by reason ${listed(REJECT_REASONS)}`,
        labelNames: ['reason'],
        registers,
      }),
      'reason',
      REJECT_REASONS,
    );
    this.#hsFail = zeroed(
      new Counter({
        name: 'cloakpipe_handshake_failures_total',
        help: `Failed handshakes, by reason ${listed(HANDSHAKE_FAILURES)}; EBADMAC is a wrong key`,
        labelNames: ['reason'],
        registers,
      }),
      'reason',
      HANDSHAKE_FAILURES,
    );
    this.#hsTime = new Histogram({
      name: 'cloakpipe_handshake_duration_seconds',
      help: 'Accept to established (connect + handshake)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    // Read at scrape time: closed tunnels' totals plus what live tunnels have counted so far. No
    // call into prom-client per chunk; the sum only grows, since a tunnel's bytes move from the
    // live reader to the closed totals in one step (connectionClosed).
    const closed = this.#closedBytes;
    const live = (): ByteCounts => this.#readLive();
    new Counter({
      name: 'cloakpipe_bytes_total',
      help: 'Plaintext bytes carried; up = client to target, down = back',
      labelNames: ['direction'],
      registers,
      collect(): void {
        const l = live();
        this.reset();
        this.inc({ direction: 'up' }, closed.up + l.up);
        this.inc({ direction: 'down' }, closed.down + l.down);
      },
    });
    this.#duration = new Histogram({
      name: 'cloakpipe_connection_duration_seconds',
      help: 'Lifetime of established tunnels',
      buckets: [0.01, 0.1, 1, 10, 60, 600, 3600, 86400],
      registers,
    });
    this.#closed = zeroed(
      new Counter({
        name: 'cloakpipe_connections_closed_total',
        help: `Established tunnels that ended, by result ${listed(CLOSE_RESULTS)}`,
        labelNames: ['result'],
        registers,
      }),
      'result',
      CLOSE_RESULTS,
    );
    this.#targetErr = zeroed(
      new Counter({
        name: 'cloakpipe_target_connect_errors_total',
        help: `Failed connections to the target, by error code ${listed(TARGET_ERROR_CODES)} or any other errno`,
        labelNames: ['code'],
        registers,
      }),
      'code',
      TARGET_ERROR_CODES,
    );
    this.#packetErr = zeroed(
      new Counter({
        name: 'cloakpipe_packets_rejected_total',
        help: `Connections dropped for a bad packet or a truncated stream, by reason ${listed(PACKET_FAILURES)}`,
        labelNames: ['reason'],
        registers,
      }),
      'reason',
      PACKET_FAILURES,
    );
    this.#cluster = opts.cluster === true ? PromMetrics.#clusterSeries(registers) : null;
  }

  /** The cloakpipe_cluster_* series, registered only in cluster mode. */
  static #clusterSeries(registers: Registry[]): ClusterSeries {
    return {
      nodes: new Gauge({
        name: 'cloakpipe_cluster_nodes',
        help: 'Cluster nodes known (cluster mode)',
        aggregator: 'max',
        registers,
      }),
      listeners: new Gauge({
        name: 'cloakpipe_cluster_listeners',
        help: 'Local node listeners open (cluster mode, -e)',
        aggregator: 'max',
        registers,
      }),
      rewrites: new Counter({
        name: 'cloakpipe_cluster_rewrites_total',
        help: `Replies rewritten, by kind ${listed(REWRITE_KINDS)}`,
        labelNames: ['kind'],
        registers,
      }),
      refusals: zeroed(
        new Counter({
          name: 'cloakpipe_cluster_route_refusals_total',
          help: `Route requests refused by -d, by reason ${listed(ROUTE_REFUSALS)}: the address is not a cluster node`,
          labelNames: ['reason'],
          registers,
        }),
        'reason',
        ROUTE_REFUSALS,
      ),
    };
  }

  connectionAccepted(): void {
    this.#accepted.inc();
  }
  connectionRejected(reason: RejectReason): void {
    this.#rejected.inc({ reason });
  }
  connectionOpened(): void {
    this.#active.inc();
  }
  liveBytes(read: () => ByteCounts): void {
    this.#readLive = read;
  }
  connectionClosed(up: number, down: number, seconds: number, error: string | null): void {
    this.#closedBytes.up += up;
    this.#closedBytes.down += down;
    this.#active.dec();
    this.#duration.observe(seconds);
    this.#closed.inc({ result: error === null ? 'ok' : 'error' });
  }
  handshakeFailed(reason: HandshakeFailure): void {
    this.#hsFail.inc({ reason });
  }
  handshakeCompleted(seconds: number): void {
    this.#hsTime.observe(seconds);
  }
  targetConnectFailed(code: string): void {
    this.#targetErr.inc({ code });
  }
  packetRejected(reason: string): void {
    this.#packetErr.inc({ reason });
  }
  nodesKnown(n: number): void {
    this.#cluster?.nodes.set(n);
  }
  listenersOpen(n: number): void {
    this.#cluster?.listeners.set(n);
  }
  rewrite(kind: string): void {
    this.#cluster?.rewrites.inc({ kind });
  }
  routeRefused(reason: string): void {
    this.#cluster?.refusals.inc({ reason });
  }
}
