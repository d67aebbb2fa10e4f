// Goal: one cloakpipe --cluster pair fronts a whole 3-master cluster for smart clients: ioredis
// (explicit per-node pipelines and auto-pipelining) and node-redis v5 (RESP2 and RESP3) write one
// key into every one of the 16384 slots through the -e end and read every key back, redis-cli -c
// follows -MOVED through the tunnel, and redis-benchmark --cluster runs to completion; in every
// case the traps on the real node ports stay silent and every connection a node sees is the -d's.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { allSlotsViaIoredis, allSlotsViaNodeRedis } from '../support/cluster/scenarios.js';
import { keySlot } from '../support/cluster/slots.js';
import {
  logTails,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { execCapture } from '../support/netns.js';
import { logLines, stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('ioredis Cluster: SET via per-node pipelines and GET auto-pipelined, one key in each of the 16384 slots', () =>
  allSlotsViaIoredis(fx, run));

for (const RESP of [2, 3] as const) {
  test(`node-redis createCluster RESP${RESP}: SET and GET one key in each of the 16384 slots`, () =>
    allSlotsViaNodeRedis(fx, run, RESP));
}

test('redis-cli -c through the -e port follows -MOVED to the local listeners: SET/GET in all three masters', async () => {
  const cli = requireBinary('redis-cli');
  const masters = await fx.cluster.masters();
  const before = logLines(fx.e, /./).length;
  for (const m of masters) {
    const first = m.slots.find((r) => !r.startsWith('['))!;
    const slot = Number(first.split('-')[0]);
    let n = 0;
    let key = `cli-${run}:${n}`;
    while (keySlot(key) !== slot) key = `cli-${run}:${++n}`;
    const base = [cli, '-c', '-h', fx.eHost, '-p', String(fx.ePort)];
    assert.equal((await execCapture([...base, 'set', key, `cli-${slot}`], 10_000)).trim(), 'OK');
    assert.equal((await execCapture([...base, 'get', key], 10_000)).trim(), `cli-${slot}`);
    assert.equal((await fx.cluster.exec(m.port, 'get', key)).trim(), `cli-${slot}`);
  }
  assert.ok(logLines(fx.e, /./).length > before, 'the -e end logged the connections');
  await fx.assertTunnelOnly();
});

test('redis-benchmark --cluster -t set,get -n 20000 -c 20 through the -e port exits 0 and reports rps', async () => {
  const bench = requireBinary('redis-benchmark');
  const out = await execCapture(
    [
      bench,
      '--cluster',
      '-h',
      fx.eHost,
      '-p',
      String(fx.ePort),
      '-t',
      'set,get',
      '-n',
      '20000',
      '-c',
      '20',
      '-q',
    ],
    120_000,
  ).catch((e: Error) => assert.fail(`${e.message}${logTails(fx, 40)}`));
  const rps = [...out.matchAll(/^(SET|GET): ([\d.]+) requests per second/gm)];
  assert.equal(rps.length, 2, `benchmark output:\n${out}`);
  for (const m of rps) assert.ok(Number(m[2]) > 0, m[0]);
  assert.doesNotMatch(out, /error/i);
  await fx.assertTunnelOnly();
});
