// Goal: the route exchange (both ends) gives the same outcome and the same surplus bytes whether
// the peer's line arrives whole, one byte at a time or split at random points, and recognises a
// peer that is not in cluster mode from its first bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  encodeRouteReply,
  encodeRouteRequest,
  ROUTE_MAGIC,
  type Route,
  RouteExchange,
  type RouteOutcome,
  type RouteSide,
} from '../../../src/protocol/route.js';

const REDIS = Buffer.from('*1\r\n$4\r\nPING\r\n');
const ERR = Buffer.from("-ERR unknown command 'CLOAKPIPE/1'\r\n");

/** Feed `bytes` cut at `cuts`; returns the outcome, what was to be sent, and the surplus. */
function run(
  side: RouteSide,
  bytes: Buffer,
  cuts: readonly number[],
): { done: RouteOutcome | null; send: Buffer; rest: Buffer } {
  const x = new RouteExchange(side);
  const sent: Buffer[] = [...x.start()];
  let done: RouteOutcome | null = null;
  const rest: Buffer[] = [];
  let at = 0;
  for (const end of [...cuts, bytes.length]) {
    const piece = bytes.subarray(at, Math.max(at, end));
    at = Math.max(at, end);
    if (done !== null) {
      rest.push(piece);
      continue;
    }
    const step = x.push(piece);
    sent.push(...step.send);
    if (step.done !== null) {
      done = step.done;
      rest.push(Buffer.from(step.rest));
    }
  }
  return { done, send: Buffer.concat(sent), rest: Buffer.concat(rest) };
}

const printable = (b: Buffer): string => b.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
const whole: number[] = [];
const byteByByte = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Every case is checked fed whole, byte by byte and at random splits. */
function everyWay(
  side: RouteSide,
  bytes: Buffer,
  check: (r: ReturnType<typeof run>) => void,
): void {
  check(run(side, bytes, whole));
  check(run(side, bytes, byteByByte(bytes.length)));
  fc.assert(
    fc.property(fc.array(fc.nat({ max: bytes.length }), { maxLength: 8 }), (cuts) => {
      check(
        run(
          side,
          bytes,
          [...cuts].sort((a, b) => a - b),
        ),
      );
    }),
    { numRuns: 100 },
  );
}

const client = (route: Route): RouteSide => ({ role: 'client', route });
const server: RouteSide = { role: 'server' };

test('the server reads a route request and hands on the bytes after it', () => {
  for (const route of [
    { host: '127.0.0.1', port: 7000 },
    { host: '::1', port: 7202 },
    { host: '-', port: 0 },
  ]) {
    everyWay(server, Buffer.concat([encodeRouteRequest(route), REDIS]), (r) => {
      assert.deepEqual(r.done, { kind: 'routed', route });
      assert.equal(r.send.length, 0);
      assert.deepEqual(r.rest, REDIS);
    });
  }
});

test('the server refuses a malformed request and says so to the client', () => {
  const line = Buffer.from(`${ROUTE_MAGIC}ROUTE 10.0.0.1 0\r\n`); // port 0 is only for the seed
  everyWay(server, line, (r) => {
    assert.deepEqual(r.done, { kind: 'refused', reason: 'malformed route line' });
    assert.deepEqual(r.send, encodeRouteReply('malformed route line'));
  });
});

test('the client sends its request first and reads an OK answer', () => {
  const route = { host: 'node-7100.internal', port: 7100 };
  const dialled = { host: '10.1.2.3', port: 7100 };
  everyWay(client(route), Buffer.concat([encodeRouteReply(dialled), REDIS]), (r) => {
    assert.deepEqual(r.send, encodeRouteRequest(route));
    assert.deepEqual(r.done, { kind: 'routed', route: dialled });
    assert.deepEqual(r.rest, REDIS);
  });
});

test('the client reads a refusal and a malformed answer as refused', () => {
  const route = { host: '10.0.0.9', port: 7000 };
  everyWay(client(route), encodeRouteReply('not a member'), (r) => {
    assert.deepEqual(r.done, { kind: 'refused', reason: 'not a member' });
  });
  everyWay(client(route), Buffer.from(`${ROUTE_MAGIC}MAYBE\r\n`), (r) => {
    assert.deepEqual(r.done, { kind: 'refused', reason: 'malformed answer' });
  });
});

test('either end recognises a peer that is not in cluster mode', () => {
  // A plain -d forwarded our header to Redis, which answered with an error.
  everyWay(client({ host: '-', port: 0 }), ERR, (r) => {
    assert.equal(r.done?.kind, 'foreign');
    // The head is what had arrived when the bytes stopped looking like a route line.
    if (r.done?.kind === 'foreign')
      assert.ok(printable(ERR).startsWith(r.done.head) && r.done.head.length > 0);
  });
  // A plain -e sent Redis bytes first.
  everyWay(server, REDIS, (r) => assert.equal(r.done?.kind, 'foreign'));
  // No CRLF within the line limit.
  everyWay(server, Buffer.from(`${ROUTE_MAGIC}${'x'.repeat(400)}`), (r) =>
    assert.equal(r.done?.kind, 'foreign'),
  );
});

test('an unfinished line waits for more, and input after the end is a programming error', () => {
  const x = new RouteExchange(server);
  const line = encodeRouteRequest({ host: '127.0.0.1', port: 7000 });
  const first = x.push(line.subarray(0, line.length - 1));
  assert.equal(first.done, null);
  assert.equal(x.finished, false);
  assert.notEqual(x.push(line.subarray(line.length - 1)).done, null);
  assert.equal(x.finished, true);
  assert.throws(() => x.push(REDIS), /already finished/);
  assert.throws(() => new RouteExchange(client({ host: 'a b', port: 1 })), TypeError);
});
