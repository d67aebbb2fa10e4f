/**
 * Prometheus metrics (prom-client) on a private Registry — no global state, so tests can run
 * several daemons in one process. Names follow Prometheus conventions (`_total` counters, base
 * units in seconds and bytes).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HandshakeFailure, Metrics, RejectReason } from '../pipe/metrics.js';

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
  readonly #bytesUp: Counter;
  readonly #bytesDown: Counter;
  readonly #duration: Histogram;
  readonly #closed: Counter<'result'>;
  readonly #targetErr: Counter<'code'>;
  readonly #packetErr: Counter<'reason'>;
  readonly #nodes: Gauge;
  readonly #listeners: Gauge;
  readonly #rewrites: Counter<'kind'>;
  readonly #refusals: Counter<'reason'>;

  /** `labels` are added to every series (e.g. {mode: 'encrypt'}). */
  constructor(labels: Record<string, string> = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'cloakpipe_' });
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
    this.#rejected = new Counter({
      name: 'cloakpipe_connections_rejected_total',
      help: 'Connections turned away, by reason (limit, draining, accept-error)',
      labelNames: ['reason'],
      registers,
    });
    this.#hsFail = new Counter({
      name: 'cloakpipe_handshake_failures_total',
      help: 'Failed handshakes, by reason (EBADMAC wrong key, EBADDH, ENOPFS, ETIMEDOUT, ETRUNC, ESOCKET)',
      labelNames: ['reason'],
      registers,
    });
    this.#hsTime = new Histogram({
      name: 'cloakpipe_handshake_duration_seconds',
      help: 'Accept to established (connect + handshake)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const bytes = new Counter({
      name: 'cloakpipe_bytes_total',
      help: 'Plaintext bytes carried; up = client to target, down = back',
      labelNames: ['direction'],
      registers,
    });
    this.#bytesUp = bytes.labels('up') as unknown as Counter;
    this.#bytesDown = bytes.labels('down') as unknown as Counter;
    this.#duration = new Histogram({
      name: 'cloakpipe_connection_duration_seconds',
      help: 'Lifetime of established tunnels',
      buckets: [0.01, 0.1, 1, 10, 60, 600, 3600, 86400],
      registers,
    });
    this.#closed = new Counter({
      name: 'cloakpipe_connections_closed_total',
      help: 'Established tunnels that ended, by result (ok, error)',
      labelNames: ['result'],
      registers,
    });
    this.#targetErr = new Counter({
      name: 'cloakpipe_target_connect_errors_total',
      help: 'Failed connections to the target, by error code',
      labelNames: ['code'],
      registers,
    });
    this.#packetErr = new Counter({
      name: 'cloakpipe_packets_rejected_total',
      help: 'Connections dropped for a bad packet (EBADPACKET, EBADLEN) or a truncated stream (ETRUNC)',
      labelNames: ['reason'],
      registers,
    });
    this.#nodes = new Gauge({
      name: 'cloakpipe_cluster_nodes',
      help: 'Cluster nodes known (cluster mode)',
      registers,
    });
    this.#listeners = new Gauge({
      name: 'cloakpipe_cluster_listeners',
      help: 'Local node listeners open (cluster mode, -e)',
      registers,
    });
    this.#rewrites = new Counter({
      name: 'cloakpipe_cluster_rewrites_total',
      help: 'Replies rewritten, by kind (moved, ask, slots, shards, nodes, replicas)',
      labelNames: ['kind'],
      registers,
    });
    this.#refusals = new Counter({
      name: 'cloakpipe_cluster_route_refusals_total',
      help: 'Route requests refused by -d (not a cluster member, bad header)',
      labelNames: ['reason'],
      registers,
    });
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
  bytesTransferred(direction: 'up' | 'down', n: number): void {
    (direction === 'up' ? this.#bytesUp : this.#bytesDown).inc(n);
  }
  connectionClosed(_up: number, _down: number, seconds: number, error: string | null): void {
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
    this.#nodes.set(n);
  }
  listenersOpen(n: number): void {
    this.#listeners.set(n);
  }
  rewrite(kind: string): void {
    this.#rewrites.inc({ kind });
  }
  routeRefused(reason: string): void {
    this.#refusals.inc({ reason });
  }
}
