// Goal: --cluster on one end only fails loudly and names the misconfigured end. A `--cluster` -e
// facing a plain -d logs a line matching /misconfiguration/ (the -d end does not run --cluster),
// and a plain -e facing a `--cluster` -d makes the -d log /misconfiguration/ (no route header); in
// both cases the client gets no Redis reply, and its command must not run on the node.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { parseInfo } from '../support/cluster/info.js';
import {
  startTunnelledCluster,
  type TunnelledCluster,
  type TunnelPair,
} from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { logLines, type Proc, stopAll } from '../support/procs.js';

let fx: TunnelledCluster;

before(async () => {
  // The fixture's own pair is the first case: --cluster -e, plain -d.
  fx = await startTunnelledCluster({ masters: 1, clusterE: true, clusterD: false });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

/** Times the node has run PING (the clients below send PING; the harness never does). */
async function pings(): Promise<number> {
  const stats = parseInfo(await fx.cluster.exec(fx.seedPort, 'info', 'commandstats'));
  return Number(stats.cmdstat_ping?.match(/calls=(\d+)/)?.[1] ?? 0);
}

async function pingThrough(pair: TunnelPair): Promise<string> {
  const cli = requireBinary('redis-cli');
  return execCapture([cli, '-h', pair.eHost, '-p', String(pair.ePort), 'ping'], 10_000).then(
    (out) => `stdout: ${out}`,
    (e: Error) => e.message,
  );
}

async function misconfigLine(proc: Proc): Promise<Record<string, unknown>> {
  await proc.waitFor(/misconfiguration/, 10_000);
  const lines = logLines(proc, /misconfiguration/);
  assert.ok(lines.length > 0, proc.output());
  return lines[0]!;
}

test('--cluster -e facing a plain -d: the -e logs a misconfiguration line naming the -d end; the PING gets no reply', async () => {
  const out = await pingThrough(fx);
  assert.doesNotMatch(out, /PONG/, out);
  const line = await misconfigLine(fx.e);
  assert.match(
    String(line.msg),
    /misconfiguration: this end runs --cluster but the -d end does not/,
  );
  assert.equal(logLines(fx.d, /misconfiguration/).length, 0, 'the plain -d cannot tell');
});

test("--cluster -e facing a plain -d: the client's command does not run on the node before the -e gives up", async () => {
  // The plain -d passes the route line to Redis as an inline command and Redis rejects it; any
  // client bytes the -e sent along before reading that answer are executed (a SET, a FLUSHALL…).
  const before = await pings();
  const out = await pingThrough(fx);
  assert.doesNotMatch(out, /PONG/, out);
  assert.equal(await pings(), before, "the client's PING reached the node");
});

test('plain -e facing a --cluster -d: the -d logs a misconfiguration line (no route header); the PING gets no reply', async () => {
  const pair = await fx.addPair({ clusterE: false, clusterD: true });
  try {
    const before = await pings();
    const out = await pingThrough(pair);
    assert.doesNotMatch(out, /PONG/, out);
    const line = await misconfigLine(pair.d);
    assert.match(String(line.msg), /misconfiguration: the peer sent no cluster route header/);
    assert.equal(await pings(), before, "the client's PING never reached the node");
    assert.equal(logLines(pair.e, /misconfiguration/).length, 0, 'the plain -e cannot tell');
  } finally {
    await pair.close();
  }
});

test('control: --cluster on both ends over the same node answers PONG', async () => {
  const pair = await fx.addPair();
  try {
    assert.equal(await pingThrough(pair), 'stdout: PONG\n');
    await fx.assertTunnelOnly();
  } finally {
    await pair.close();
  }
});
