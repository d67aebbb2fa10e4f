/**
 * One /metrics for a --workers end: each worker's registry (as prom-client JSON, fetched by the
 * caller) plus the primary's own registry, merged by prom-client's AggregatorRegistry.aggregate.
 * Each metric is merged by its `aggregator` option: counters, histograms and gauges such as
 * cloakpipe_connections_active sum (the end's total); cloakpipe_build_info and
 * nodejs_version_info take the first; cluster gauges take the max (every worker knows the same
 * nodes); process_start_time_seconds is omitted (prom-client's choice: no sum makes sense).
 *
 * The primary's registry is the seam for series only the primary knows: it holds
 * cloakpipe_workers and cloakpipe_worker_restarts_total here, and anything registered on
 * `primaryRegistry` later is merged the same way.
 */
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import type { ClusterPrimaryStats } from './cluster-primary.js';
import type { MetricsSource } from './http.js';

/** One process's metrics as prom-client's getMetricsAsJSON() gives them. */
export type ProcessMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** What the primary knows about its workers, read at scrape time. */
export interface WorkerCounts {
  /** Workers listening now. */
  listening(): number;
  /** Workers restarted since start. */
  restarts(): number;
}

/** The aggregated metrics of a --workers end (a MetricsSource for startOpsServer). */
export class AggregatedMetrics implements MetricsSource {
  /** The primary's own series; register more here (with a fitting `aggregator`). */
  readonly primaryRegistry = new Registry();
  readonly contentType = this.primaryRegistry.contentType;

  /**
   * `collect` fetches every worker's metrics (missing workers left out); `counts` feeds the
   * primary's series; `labels` go on them (the workers' default labels, e.g. {mode}).
   */
  constructor(
    readonly collect: () => Promise<ProcessMetrics[]>,
    counts: WorkerCounts,
    labels: Record<string, string> = {},
  ) {
    this.primaryRegistry.setDefaultLabels(labels);
    const registers = [this.primaryRegistry];
    new Gauge({
      name: 'cloakpipe_workers',
      help: 'Worker processes listening (--workers)',
      registers,
      collect(): void {
        this.set(counts.listening());
      },
    });
    new Counter({
      name: 'cloakpipe_worker_restarts_total',
      help: 'Worker processes started again after one died (--workers)',
      registers,
      collect(): void {
        this.reset();
        this.inc(counts.restarts());
      },
    });
  }

  /**
   * The Prometheus text of every worker's metrics and the primary's, merged. Rejects only if
   * prom-client does (a metric with an unknown aggregator).
   */
  async metrics(): Promise<string> {
    const parts = await this.collect();
    parts.push(await this.primaryRegistry.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(parts).metrics();
  }
}

/**
 * Cluster mode with --workers: the primary owns the node map (-e) or the poller (-d), so its
 * counts are the end's. Registers cloakpipe_cluster_nodes and cloakpipe_cluster_listeners on
 * `registry` (the primary's), read from `stats` at scrape time; merged with the workers' series
 * of the same names by their max (prom.ts), so the primary's count wins over a worker's 0.
 */
export function registerClusterPrimarySeries(
  registry: Registry,
  stats: () => ClusterPrimaryStats,
): void {
  const registers = [registry];
  new Gauge({
    name: 'cloakpipe_cluster_nodes',
    help: 'Cluster nodes known (cluster mode)',
    aggregator: 'max',
    registers,
    collect(): void {
      this.set(stats().nodesKnown);
    },
  });
  new Gauge({
    name: 'cloakpipe_cluster_listeners',
    help: 'Local node listeners open (cluster mode, -e)',
    aggregator: 'max',
    registers,
    collect(): void {
      this.set(stats().listenersOpen);
    },
  });
}
