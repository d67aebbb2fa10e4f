// Goal: the --workers IPC layer answers each request with its own reply (ids, errors, timeouts,
// close), carries notes and socket handles, and ignores every message outside its namespace
// (node:cluster's and prom-client's share the channel) — in memory, and once over a real
// child-process channel with a real socket handed across.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type IpcEndpoint, IpcError, IpcPeer } from '../../../src/daemon/ipc.js';
import { tempDir } from '../../support/system.js';
import { memoryPair } from './ipc-pair.js';

interface Calc {
  requests: {
    add: { req: { a: number; b: number }; res: number };
    slow: { req: null; res: string };
    fail: { req: null; res: null };
    missing: { req: null; res: null };
  };
  notes: { hello: string };
}

test('requests get their own replies, in any order; a throwing or missing handler rejects with its reason', async () => {
  const [a, b] = memoryPair();
  const client = new IpcPeer<Calc>(a, 'calc');
  const server = new IpcPeer<Calc>(b, 'calc');
  let release: () => void = () => {};
  server.onRequest('add', ({ a: x, b: y }) => x + y);
  server.onRequest('slow', () => new Promise<string>((r) => (release = () => r('late'))));
  server.onRequest('fail', () => {
    throw new Error('no such node');
  });
  const slow = client.request('slow', null);
  const sums = await Promise.all([1, 2, 3].map((i) => client.request('add', { a: i, b: 10 })));
  assert.deepEqual(sums, [11, 12, 13]);
  release();
  assert.equal(await slow, 'late');
  await assert.rejects(client.request('fail', null), (e: Error) => {
    assert.ok(e instanceof IpcError);
    assert.equal(e.message, 'no such node');
    return true;
  });
  await assert.rejects(client.request('missing', null), /no handler for missing/);
});

test('messages of other namespaces and foreign shapes are ignored; notes reach their handler', async () => {
  const [a, b] = memoryPair();
  const other = new IpcPeer<Calc>(b, 'other');
  other.onRequest('add', () => -1);
  const server = new IpcPeer<Calc>(b, 'calc');
  server.onRequest('add', ({ a: x, b: y }) => x + y);
  const seen: string[] = [];
  server.onNote('hello', (s) => seen.push(s));
  // What node:cluster and prom-client put on the same channel.
  a.send({ cmd: 'NODE_CLUSTER', act: 'online' } as never);
  a.send({ type: 'prom-client:getMetricsReq', requestId: 1 } as never);
  a.send({ cloakpipe: 'calc' } as never);
  const client = new IpcPeer<Calc>(a, 'calc');
  client.notify('hello', 'w1');
  assert.equal(await client.request('add', { a: 2, b: 3 }), 5);
  assert.deepEqual(seen, ['w1']);
});

test('a request with no reply times out; close() rejects pending and later requests; a failed send rejects', async () => {
  const [a] = memoryPair();
  const quick = new IpcPeer<Calc>(a, 'calc', 50);
  await assert.rejects(quick.request('slow', null), /no reply to slow within 50 ms/);
  const p = new IpcPeer<Calc>(a, 'calc');
  const pending = p.request('slow', null);
  p.close('worker exited');
  await assert.rejects(pending, /worker exited/);
  await assert.rejects(p.request('slow', null), /worker exited/);
  const broken: IpcEndpoint = {
    send() {
      throw new Error('channel closed');
    },
    listen: () => () => {},
  };
  await assert.rejects(
    new IpcPeer<Calc>(broken, 'calc').request('add', { a: 1, b: 1 }),
    /cannot send add: channel closed/,
  );
});

test('over a real child-process channel: a reply comes back and a socket handed across serves its client', async () => {
  const dir = tempDir('cloakpipe-ipc-');
  const child = join(dir, 'child.mjs');
  const ipcUrl = new URL('../../../src/daemon/ipc.js', import.meta.url).href;
  writeFileSync(
    child,
    `import { IpcPeer, parentEndpoint } from ${JSON.stringify(ipcUrl)};
const peer = new IpcPeer(parentEndpoint(), 'calc');
peer.onNote('adopt', (route, socket) => { socket.end('served ' + route.port + '\\n'); });
const answer = await peer.request('add', { a: 40, b: 2 });
peer.notify('hello', 'child got ' + answer);
`,
  );
  const proc = fork(child, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const endpoint: IpcEndpoint = {
    send: (m, h, done) => void proc.send(m, h, (err: Error | null) => done?.(err)),
    listen(fn) {
      const f = (m: unknown, h: unknown): void => fn(m, h as Socket | undefined);
      proc.on('message', f);
      return () => proc.off('message', f);
    },
  };
  const parent = new IpcPeer<Calc & { notes: { adopt: { port: number } } }>(endpoint, 'calc');
  parent.onRequest('add', ({ a, b }) => a + b);
  const said = new Promise<string>((r) => parent.onNote('hello', r));
  assert.equal(await said, 'child got 42');
  const srv = createServer({ pauseOnConnect: true }, (s) =>
    parent.notify('adopt', { port: 7000 }, s),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = createConnection((srv.address() as { port: number }).port, '127.0.0.1');
  let got = '';
  c.on('data', (d) => (got += String(d)));
  await new Promise((r) => c.on('close', r));
  assert.equal(got, 'served 7000\n');
  parent.close();
  proc.kill();
  srv.close();
});
