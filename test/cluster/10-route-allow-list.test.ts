// Goal: a key holder cannot use a `-d --cluster` end to reach a host that is not a cluster member
// (DESIGN.md §6). A route request naming a live listener outside the cluster is refused with a
// REFUSED answer, logged and counted by -d, and that listener never sees a connection; a route
// to the member itself, through the same pair, is answered OK and carries Redis traffic (so the
// refusal comes from the allow-list, not from a broken pair).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeRouteRequest } from '../../src/protocol/route.js';
import { type RedisCluster, startCluster } from '../support/cluster/harness.js';
import { metricValue } from '../support/cluster/tunnel.js';
import { startEnd } from '../support/ends.js';
import { freePort, parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { type CollectServer, collectServer } from '../helpers/targets.js';

const REFUSALS = 'cloakpipe_cluster_route_refusals_total';

let cluster: RedisCluster;
let outsider: CollectServer;
let d: Proc;
let metricsPort: number;
/** The plain -e end: it encrypts whatever the test writes, route line included. */
let eAddress: string;

before(async () => {
  const port = await freePort();
  cluster = await startCluster({ masters: 1, replicas: 0, ports: [port] });
  outsider = await collectServer();
  const key = join(tempDir('cloakpipe-allow-list-'), 'key');
  writeFileSync(key, randomBytes(32));
  metricsPort = await freePort();
  const dEnd = await startEnd('-d', `[127.0.0.1]:${port}`, key, [
    '--cluster',
    '--metrics',
    `127.0.0.1:${metricsPort}`,
  ]);
  d = dEnd.proc;
  eAddress = (await startEnd('-e', dEnd.address, key)).address;
});
after(async () => {
  await cluster?.stop();
  await stopAll();
});

/** Send `bytes` through the plain -e end; resolves everything received until the -d closes. */
function exchange(bytes: Buffer, untilClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(parseHostPort(eAddress));
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within 10 s; got ${JSON.stringify(got)}`));
    }, 10_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (!untilClose && got.includes('+PONG\r\n')) s.destroy();
    });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

test('a route to a live listener that is not a member is refused, logged and counted; the listener sees no connection', async () => {
  const target = parseHostPort(outsider.address);
  const before = await metricValue(metricsPort, REFUSALS, ['reason="not-a-member"']);
  const answer = await exchange(
    Buffer.concat([encodeRouteRequest(target), Buffer.from('*1\r\n$4\r\nPING\r\n')]),
    true,
  );
  const key = `${target.host}:${target.port}`;
  assert.equal(answer, `CLOAKPIPE/1 REFUSED ${key} is not a member of the cluster\r\n`);
  const lines = logLines(d, /^route refused: /, { reason: 'EROUTE' });
  assert.equal(lines.length, 1, d.output());
  assert.match(String(lines[0]!.msg), new RegExp(`${key} is not a member`));
  assert.equal(
    await metricValue(metricsPort, REFUSALS, ['reason="not-a-member"']),
    before + 1,
    'one refusal counted',
  );
  // Give a wrongly dialled connection time to arrive before looking.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(outsider.connections(), 0, 'the outsider was dialled');
  assert.equal(outsider.received(), 0);
});

test('control: a route to the member itself is answered OK and carries a PING through the same pair', async () => {
  const member = cluster.nodes[0]!;
  const answer = await exchange(
    Buffer.concat([
      encodeRouteRequest({ host: member.host, port: member.port }),
      Buffer.from('*1\r\n$4\r\nPING\r\n'),
    ]),
    false,
  );
  assert.equal(answer, `CLOAKPIPE/1 OK ${member.host} ${member.port}\r\n+PONG\r\n`);
  assert.equal(outsider.connections(), 0);
});
