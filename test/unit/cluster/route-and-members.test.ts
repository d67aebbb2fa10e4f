// Goal: the route header round-trips and recognises a misconfigured peer from its first bytes,
// and the -d allow-list learns exactly the addresses CLUSTER NODES reports; the main listener's
// route falls over to another member while the seed node is down.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { Membership } from '../../../src/cluster/members.js';
import { parseClusterNodes } from '../../../src/cluster/nodes-reply.js';
import {
  encodeRouteReply,
  encodeRouteRequest,
  parseRouteReply,
  parseRouteRequest,
  RouteLineReader,
} from '../../../src/protocol/route.js';

test('a route request round-trips, fed whole and one byte at a time', () => {
  for (const route of [
    { host: '127.0.0.1', port: 7000 },
    { host: '::1', port: 7202 },
    { host: 'node-7100.internal', port: 7100 },
    { host: '-', port: 0 },
  ]) {
    const bytes = Buffer.concat([encodeRouteRequest(route), Buffer.from('*1\r\n$4\r\nPING\r\n')]);
    const whole = new RouteLineReader().push(bytes);
    assert.equal(whole.kind, 'line');
    if (whole.kind !== 'line') return;
    assert.deepEqual(parseRouteRequest(whole.line), route);
    assert.equal(whole.rest.toString(), '*1\r\n$4\r\nPING\r\n');
    const r = new RouteLineReader();
    let got: ReturnType<RouteLineReader['push']> = { kind: 'more' };
    for (let i = 0; i < bytes.length && got.kind === 'more'; i++)
      got = r.push(bytes.subarray(i, i + 1));
    assert.equal(got.kind, 'line');
  }
});

test('a plain client (Redis bytes first) and a plain -d answer (-ERR …) are recognised as foreign at once', () => {
  assert.equal(new RouteLineReader().push(Buffer.from('*1\r\n')).kind, 'foreign');
  const r = new RouteLineReader().push(Buffer.from("-ERR unknown command 'CLOAKPIPE/1'\r\n"));
  assert.equal(r.kind, 'foreign');
  assert.equal(new RouteLineReader().push(Buffer.from('CLOAK')).kind, 'more');
});

test('replies: OK, REFUSED with a reason, anything else malformed', () => {
  assert.deepEqual(
    parseRouteReply(encodeRouteReply({ host: '10.0.0.5', port: 6379 }).toString().trim()),
    { host: '10.0.0.5', port: 6379 },
  );
  assert.equal(
    parseRouteReply(encodeRouteReply('10.0.0.9:6379 is not a member').toString().trim()),
    '10.0.0.9:6379 is not a member',
  );
  assert.equal(parseRouteReply('CLOAKPIPE/1 MAYBE'), undefined);
});

test('malformed route requests are refused, port 0 only for the seed', () => {
  assert.equal(parseRouteRequest('CLOAKPIPE/1 ROUTE 10.0.0.1 0'), null);
  assert.equal(parseRouteRequest('CLOAKPIPE/1 ROUTE 10.0.0.1 70000'), null);
  assert.equal(parseRouteRequest('CLOAKPIPE/1 ROUTE a b c'), null);
  assert.equal(parseRouteRequest('CLOAKPIPE/2 ROUTE 10.0.0.1 1'), null);
});

test('the route line reader never throws on random bytes and stops early on foreign input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const r = new RouteLineReader().push(Buffer.from(bytes));
      assert.ok(['more', 'line', 'foreign'].includes(r.kind));
    }),
  );
});

test('CLUSTER NODES members: ip:port, announced hostnames, IPv6, and a lone node with an empty ip', () => {
  const text =
    'ef06 127.0.0.1:7105@17105,node-7105.internal slave 4a5e 0 1 1 connected\n' +
    'f0fd ::1:7202@17202 master - 0 1 3 connected 10923-16383\n' +
    'd99b :7300@17300 myself,master - 0 0 0 connected 0-16383\n' +
    'garbage line\n';
  assert.deepEqual(parseClusterNodes(text, '10.1.1.1'), [
    { host: '127.0.0.1', port: 7105 },
    { host: 'node-7105.internal', port: 7105, ip: '127.0.0.1' },
    { host: '::1', port: 7202 },
    { host: '10.1.1.1', port: 7300 },
  ]);
});

/**
 * A TCP server that answers -d's membership query (CLIENT SETNAME, then CLUSTER NODES) with +OK
 * and a CLUSTER NODES bulk listing `ports`.
 */
function nodesServer(ports: () => number[], port = 0): Promise<Server> {
  const srv = createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => {
      const text = ports()
        .map((p, i) => `id${p} 127.0.0.1:${p}@1${p} ${i ? 'slave' : 'master'} - 0 1 1 connected\n`)
        .join('');
      c.end(`+OK\r\n$${Buffer.byteLength(text)}\r\n${text}\r\n`);
    });
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

const portOf = (s: Server): number => (s.address() as { port: number }).port;
const closeServer = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

test('seed candidates: the seed first while it answers, last while it does not, first again once back', async () => {
  let ports: number[] = [];
  const seed = await nodesServer(() => ports);
  const other = await nodesServer(() => ports);
  ports = [portOf(seed), portOf(other)];
  const m = new Membership(
    { host: '127.0.0.1', port: ports[0]! },
    pino({ level: 'silent' }),
    { nodesKnown() {}, routeRefused() {} },
    0,
  );
  const order = (): number[] => m.seedCandidates().map((c) => c.port);
  try {
    assert.deepEqual(order(), [ports[0]], 'before the first refresh: the seed alone');
    await m.refresh();
    assert.deepEqual(order(), ports, 'seed answers: seed first');
    await closeServer(seed);
    await m.refresh();
    assert.deepEqual(order(), [ports[1], ports[0]], 'seed down: the member that answered first');
    const back = await nodesServer(() => ports, ports[0]);
    await m.refresh();
    assert.deepEqual(order(), ports, 'seed back: seed first again');
    await closeServer(back);
  } finally {
    m.close();
    await closeServer(other);
  }
});
