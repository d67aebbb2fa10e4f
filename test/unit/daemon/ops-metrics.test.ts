// Goal: /metrics is useful from the first scrape: every failure counter has a zero series per
// reason, cloakpipe_build_info names the build, Node's metrics keep their standard names, cluster
// series appear only in cluster mode, and each HELP text names every label value the README's
// metrics table lists.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PromMetrics } from '../../../src/daemon/prom.js';
import { ROOT } from '../../support/ends.js';

async function scrape(cluster: boolean): Promise<string> {
  const p = new PromMetrics({ mode: 'decrypt' }, { cluster, version: '1.2.3', crypto: 'noble' });
  return p.registry.metrics();
}

/** The README's metrics table: metric name → label name and values ("" when none are listed). */
function readmeTable(): Map<string, { label: string; values: string[] }> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = new Map<string, { label: string; values: string[] }>();
  for (const line of readme.split('\n')) {
    const m = /^\| `(cloakpipe_[a-z_]+)`[^|]*\|[^|]*\| `([a-z]+)` = ([^|]+?) *\|$/.exec(line);
    if (!m) continue;
    const values = m[3]!
      .split(', ')
      .map((v) => v.replace(/ \(.*\)$/, ''))
      .filter((v) => v !== '…');
    rows.set(m[1]!, { label: m[2]!, values });
  }
  return rows;
}

test('every failure counter has a zero series for each reason the README lists', async () => {
  const text = await scrape(true);
  const failures = [
    'cloakpipe_connections_rejected_total',
    'cloakpipe_handshake_failures_total',
    'cloakpipe_packets_rejected_total',
    'cloakpipe_connections_closed_total',
    'cloakpipe_target_connect_errors_total',
    'cloakpipe_cluster_route_refusals_total',
  ];
  const table = readmeTable();
  for (const name of failures) {
    const row = table.get(name);
    assert.ok(row !== undefined && row.values.length > 0, `README lists the values of ${name}`);
    for (const v of row.values) {
      const series = `${name}{${row.label}="${v}",mode="decrypt"} 0`;
      assert.ok(text.split('\n').includes(series), `missing: ${series}`);
    }
  }
});

test('each HELP text names every label value the README lists for that metric', async () => {
  const text = await scrape(true);
  const table = readmeTable();
  assert.ok(table.size >= 7, `README metrics table parsed (${table.size} rows)`);
  for (const [name, row] of table) {
    const help = text.split('\n').find((l) => l.startsWith(`# HELP ${name} `));
    assert.ok(help !== undefined, `${name} is exported`);
    for (const v of row.values) assert.ok(help.includes(v), `HELP of ${name} names ${v}: ${help}`);
  }
});

test('cloakpipe_build_info says version, Node, crypto engine and framing', async () => {
  const text = await scrape(false);
  const line = `cloakpipe_build_info{version="1.2.3",node="${process.versions.node}",crypto="noble",framing="spiped",mode="decrypt"} 1`;
  assert.ok(text.split('\n').includes(line), text);
});

test("Node's default metrics keep their standard process_* and nodejs_* names", async () => {
  const text = await scrape(false);
  assert.match(text, /^process_cpu_user_seconds_total\{mode="decrypt"\} /m);
  assert.match(text, /^process_start_time_seconds\{mode="decrypt"\} /m);
  assert.match(text, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
  assert.match(text, /^# TYPE nodejs_heap_size_used_bytes gauge$/m);
  assert.doesNotMatch(text, /^cloakpipe_(process|nodejs)_/m);
});

test('cluster series exist only in cluster mode', async () => {
  assert.doesNotMatch(await scrape(false), /cloakpipe_cluster_/);
  const text = await scrape(true);
  for (const name of [
    'cloakpipe_cluster_nodes',
    'cloakpipe_cluster_listeners',
    'cloakpipe_cluster_rewrites_total',
    'cloakpipe_cluster_route_refusals_total',
  ])
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
});
