// Goal: the real binary's first /metrics scrape, before any traffic, already has the zero series
// of its failure counters, cloakpipe_build_info with the package version, Node version, engine and
// framing, Node's standard process metrics, and (outside cluster mode) no cluster series.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer } from '../helpers/targets.js';
import { ROOT, startEnd } from '../support/ends.js';
import { fetchMetrics } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);

test('first scrape of a fresh -d end: zero series, build info, standard process metrics', async () => {
  const dir = tempDir();
  const key = join(dir, 'k');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const target = await echoServer();
  const port = await freePort();
  await startEnd('-d', target.address, key, ['-F', '--metrics', String(port), '--crypto', 'node']);
  const text = await fetchMetrics(port);
  const lines = text.split('\n');
  const version = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  assert.ok(
    lines.includes(
      `cloakpipe_build_info{version="${version}",node="${process.versions.node}",crypto="node",framing="spiped",mode="decrypt"} 1`,
    ),
    text,
  );
  for (const series of [
    'cloakpipe_handshake_failures_total{reason="EBADMAC",mode="decrypt"} 0',
    'cloakpipe_handshake_failures_total{reason="ETIMEDOUT",mode="decrypt"} 0',
    'cloakpipe_connections_rejected_total{reason="limit",mode="decrypt"} 0',
    'cloakpipe_packets_rejected_total{reason="EBADPACKET",mode="decrypt"} 0',
    'cloakpipe_target_connect_errors_total{code="ECONNREFUSED",mode="decrypt"} 0',
    'cloakpipe_connections_closed_total{result="error",mode="decrypt"} 0',
  ])
    assert.ok(lines.includes(series), `missing ${series}`);
  assert.match(text, /^process_resident_memory_bytes\{mode="decrypt"\} \d+/m);
  assert.doesNotMatch(text, /cloakpipe_cluster_|cloakpipe_process_/);
});
