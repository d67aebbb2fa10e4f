// Goal: a node listener that cannot open fails that node, once and with the reason, instead of
// looping: a taken port of --cluster-ports is skipped, but an address the host does not have
// (EADDRNOTAVAIL; EACCES and EMFILE act alike) resolves null at once, logs one error naming the
// code, and stays quiet for the next node that fails the same way.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { NodeListeners } from '../../../src/cluster/nodes.js';
import { freePort } from '../../support/net.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLog(lines: Record<string, unknown>[]): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

const closers: (() => void)[] = [];
after(() => closers.forEach((c) => c()));

test('a taken port of --cluster-ports is skipped: the node gets the next one', async () => {
  const from = await freePort();
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: from }, r));
  closers.push(() => taken.close());
  const l = new NodeListeners({
    bindHost: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    ports: { from, to: from + 5 },
    log: pino({ level: 'silent' }),
    accept: (s) => s.destroy(),
  });
  closers.push(() => l.close());
  const local = await l.ensure({ host: '10.0.0.1', port: 6379 });
  assert.ok(local !== null && local.port > from && local.port <= from + 5, JSON.stringify(local));
});

test('a listener that cannot bind fails its node at once, logged once per reason', async () => {
  const lines: Record<string, unknown>[] = [];
  const l = new NodeListeners({
    bindHost: '192.0.2.1', // TEST-NET-1: an address this host does not have
    advertiseHost: '127.0.0.1',
    ports: null,
    log: capturingLog(lines),
    accept: (s) => s.destroy(),
  });
  closers.push(() => l.close());
  const within = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([
      p,
      new Promise<T>((_, reject) =>
        setTimeout(() => reject(new Error('ensure() did not settle: retrying for ever?')), 2000),
      ),
    ]);
  assert.equal(await within(l.ensure({ host: '10.0.0.1', port: 6379 })), null);
  assert.equal(await within(l.ensure({ host: '10.0.0.2', port: 6379 })), null);
  const errors = lines.filter((x) => /cannot open a listener for cluster node/.test(String(x.msg)));
  assert.equal(errors.length, 1, 'one line per reason');
  assert.equal(errors[0]!.code, 'EADDRNOTAVAIL');
  assert.equal(errors[0]!.node, '10.0.0.1:6379');
  assert.equal(l.lookup({ host: '10.0.0.1', port: 6379 }), null);
});
