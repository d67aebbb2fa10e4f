// Goal: the merged /metrics of a --workers end sums what must be summed (counters, histograms,
// connections_active, bytes) and does not sum what must not be (build_info, cluster gauges);
// the primary's own series and anything later registered on its registry appear too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gauge } from 'prom-client';
import { AggregatedMetrics, registerClusterPrimarySeries } from '../../../src/daemon/aggregate.js';
import { PromMetrics } from '../../../src/daemon/prom.js';

/** A worker's metrics after `n` tunnels of `bytes` each way, one still open. */
function worker(n: number, bytes: number): PromMetrics {
  const m = new PromMetrics({ mode: 'decrypt' }, { cluster: true, version: '9.9.9' });
  for (let i = 0; i < n; i++) {
    m.connectionAccepted();
    m.connectionOpened();
    m.handshakeCompleted(0.002);
    m.connectionClosed(bytes, bytes, 0.5, null);
  }
  m.connectionAccepted();
  m.connectionOpened();
  m.nodesKnown(6);
  m.listenersOpen(6);
  m.handshakeFailed('EBADMAC');
  return m;
}

function series(text: string, name: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

test('two workers and the primary merge into one scrape', async () => {
  const workers = [worker(3, 100), worker(5, 1000)];
  const agg = new AggregatedMetrics(
    () => Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
    { listening: () => 2, restarts: () => 1 },
    { mode: 'decrypt' },
  );
  new Gauge({
    name: 'cloakpipe_test_primary_gauge',
    help: 'registered later on the primary',
    registers: [agg.primaryRegistry],
  }).set(7);
  const text = await agg.metrics();
  assert.deepEqual(series(text, 'cloakpipe_connections_accepted_total'), [10]);
  assert.deepEqual(series(text, 'cloakpipe_connections_active'), [2]);
  assert.deepEqual(series(text, 'cloakpipe_bytes_total'), [3 * 100 + 5 * 1000, 3 * 100 + 5 * 1000]);
  assert.ok(text.includes('cloakpipe_handshake_failures_total{reason="EBADMAC",mode="decrypt"} 2'));
  assert.ok(text.includes('cloakpipe_connection_duration_seconds_count{mode="decrypt"} 8'));
  assert.ok(text.includes('cloakpipe_connection_duration_seconds_bucket{le="1",mode="decrypt"} 8'));
  assert.deepEqual(series(text, 'cloakpipe_build_info'), [1]);
  assert.deepEqual(series(text, 'cloakpipe_cluster_nodes'), [6]);
  assert.deepEqual(series(text, 'cloakpipe_cluster_listeners'), [6]);
  assert.deepEqual(series(text, 'cloakpipe_workers'), [2]);
  assert.deepEqual(series(text, 'cloakpipe_worker_restarts_total'), [1]);
  assert.deepEqual(series(text, 'cloakpipe_test_primary_gauge'), [7]);
  assert.deepEqual(series(text, 'process_start_time_seconds'), []);
});

test("cluster mode: the primary's node and listener counts win over the workers' zeros", async () => {
  const workers = [0, 1].map(() => new PromMetrics({ mode: 'encrypt' }, { cluster: true }));
  const agg = new AggregatedMetrics(
    () => Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
    { listening: () => 2, restarts: () => 0 },
    { mode: 'encrypt' },
  );
  let stats = { nodesKnown: 6, listenersOpen: 4 };
  registerClusterPrimarySeries(agg.primaryRegistry, () => stats);
  let text = await agg.metrics();
  assert.deepEqual(series(text, 'cloakpipe_cluster_nodes'), [6]);
  assert.deepEqual(series(text, 'cloakpipe_cluster_listeners'), [4]);
  stats = { nodesKnown: 7, listenersOpen: 5 };
  text = await agg.metrics();
  assert.deepEqual(series(text, 'cloakpipe_cluster_listeners'), [5], 'read at scrape time');
});
