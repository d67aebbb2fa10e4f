// Goal: dial() tries a target's endpoints in order and fails over to the next one when an
// endpoint refuses (at once) or never answers (after its share of the -o deadline, not the whole
// of it); the shares follow what is left of the deadline; the last endpoint, and a target with
// one endpoint, may use everything left; without a deadline it waits for the signal as before.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { addressShareMs, dial, DialError } from '../../../src/pipe/dial.js';
import type { Endpoint } from '../../../src/pipe/resolver.js';
import { blackHole, type BlackHole } from '../../helpers/blackhole.js';
import { freePort } from '../../support/net.js';

/** Timer slack allowed around a share (a loaded CI runner). */
const SLACK_MS = 400;

const tcp = (port: number): Endpoint => ({ kind: 'tcp', host: '127.0.0.1', port, family: 4 });

let live: Server;
let livePort: number;
let hole: BlackHole;
let hole2: BlackHole;
let refusedPort: number;

before(async () => {
  live = createServer((c) => c.destroy());
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  livePort = (live.address() as { port: number }).port;
  hole = await blackHole('127.0.0.1');
  hole2 = await blackHole('127.0.0.1');
  refusedPort = await freePort();
});

after(async () => {
  live.close();
  await hole.close();
  await hole2.close();
});

/** Dial `eps` with deadline `timeoutMs` (or none) and a signal aborting at `abortMs`. */
async function timedDial(
  eps: Endpoint[],
  timeoutMs: number | undefined,
  abortMs: number,
): Promise<{ port: number | undefined; ms: number }> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), abortMs);
  const t0 = Date.now();
  try {
    const s = await dial(eps, { keepAlive: false, timeoutMs }, ac.signal);
    const port = s.remotePort;
    s.destroy();
    return { port, ms: Date.now() - t0 };
  } finally {
    clearTimeout(t);
  }
}

test('addressShareMs: an equal share of what is left; the last endpoint gets all of it', () => {
  assert.equal(addressShareMs(5000, 2), 2500);
  assert.equal(addressShareMs(3000, 3), 1000);
  assert.equal(addressShareMs(2000, 1), 2000);
  assert.equal(addressShareMs(-5, 2), 0);
});

test('a refusing endpoint costs nothing: the next one serves at once', async () => {
  const r = await timedDial([tcp(refusedPort), tcp(livePort)], 5000, 5000);
  assert.equal(r.port, livePort);
  assert.ok(r.ms < SLACK_MS, `took ${r.ms} ms`);
});

test('a black-holed endpoint costs its share, not the whole deadline', async () => {
  const r = await timedDial([tcp(hole.port), tcp(livePort)], 2000, 2000);
  assert.equal(r.port, livePort);
  assert.ok(r.ms >= 1000 - 20 && r.ms < 1000 + SLACK_MS, `took ${r.ms} ms, share 1000`);
});

test('onFailover hears of each endpoint given up, with why and what comes next', async () => {
  const heard: string[] = [];
  const s = await dial(
    [tcp(refusedPort), tcp(hole.port), tcp(livePort)],
    {
      keepAlive: false,
      timeoutMs: 3000,
      onFailover: (failed, reason, next) => heard.push(`${failed} ${reason} → ${next}`),
    },
    AbortSignal.timeout(3000),
  );
  s.destroy();
  const at = (p: number): string => `127.0.0.1:${p}`;
  assert.equal(heard.length, 2);
  assert.equal(heard[0], `${at(refusedPort)} ECONNREFUSED → ${at(hole.port)}`);
  assert.match(
    heard[1]!,
    new RegExp(`^${at(hole.port)} no answer in 1\\d{3} ms → ${at(livePort)}$`),
  );
});

test('two black holes then a live endpoint: shares of 1/3 then 1/2 of what is left', async () => {
  const r = await timedDial([tcp(hole.port), tcp(hole2.port), tcp(livePort)], 3000, 3000);
  assert.equal(r.port, livePort);
  assert.ok(r.ms >= 2000 - 20 && r.ms < 2000 + SLACK_MS, `took ${r.ms} ms, shares 1000 + 1000`);
});

test('every endpoint silent: ETIMEDOUT naming each one, at the deadline', async () => {
  const eps = [tcp(hole.port), tcp(hole2.port)];
  const t0 = Date.now();
  const err = await timedDial(eps, 1000, 1000).then(
    () => assert.fail('dial succeeded'),
    (e: unknown) => e,
  );
  const ms = Date.now() - t0;
  assert.ok(err instanceof DialError);
  assert.equal(err.code, 'ETIMEDOUT');
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${hole.port}: no answer in 500 ms`));
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${hole2.port}: timed out`));
  assert.ok(ms >= 1000 - 20 && ms < 1000 + SLACK_MS, `took ${ms} ms`);
});

test('one endpoint waits for the whole deadline; without one, the signal alone decides', async () => {
  const one = await timedDial([tcp(hole.port)], 600, 600).catch((e: DialError) => e);
  assert.ok(one instanceof DialError && one.code === 'ETIMEDOUT');
  const t0 = Date.now();
  const none = await timedDial([tcp(hole.port), tcp(livePort)], undefined, 600).catch(
    (e: DialError) => e,
  );
  assert.ok(none instanceof DialError, 'no share: the black hole held the dial to the signal');
  assert.equal(none.code, 'ETIMEDOUT');
  assert.ok(Date.now() - t0 >= 600 - 20);
  assert.doesNotMatch(none.message, new RegExp(`:${livePort}`));
});
