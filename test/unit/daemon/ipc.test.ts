// Goal: the --workers IPC layer answers each request with its own reply (ids, errors, timeouts,
// close), carries notes and socket handles, and ignores every message outside its namespace
// (node:cluster's, prom-client's and the other namespace's share the channel); the 'workers'
// namespace carries the -k - key as bytes over an 'advanced' channel — in memory, and over real
// child-process channels (a socket handed across; the key as bytes).
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type IpcEndpoint, IpcError, IpcPeer } from '../../../src/daemon/ipc.js';
import {
  CLUSTER_IPC_NS,
  type EncryptIpc,
  WORKERS_IPC_NS,
  type WorkersIpc,
} from '../../../src/daemon/ipc-messages.js';
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

test("namespace 'workers' and 'cluster' share one channel without crossing: the key comes back as bytes; stop and reload are notes", async () => {
  const [primarySide, workerSide] = memoryPair();
  const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const primary = new IpcPeer<WorkersIpc>(primarySide, WORKERS_IPC_NS);
  primary.onRequest('key', () => key);
  const clusterPrimary = new IpcPeer<EncryptIpc>(primarySide, CLUSTER_IPC_NS);
  clusterPrimary.onRequest('hello', () => ({ nodes: [], aliases: [] }));
  const errors: string[] = [];
  primary.onNote('error', (line) => errors.push(line));
  const worker = new IpcPeer<WorkersIpc>(workerSide, WORKERS_IPC_NS);
  const seen: string[] = [];
  worker.onNote('stop', ({ now }) => seen.push(`stop now=${now}`));
  worker.onNote('reload', () => seen.push('reload'));
  worker.onRequest('probe', () => null);
  // A 'workers' request never reaches the 'cluster' peer, which has no 'key' handler.
  const got = await worker.request('key', null);
  assert.ok(got instanceof Uint8Array);
  assert.deepEqual(got, key);
  got.fill(0);
  assert.equal(key[0], 1, 'the worker zeroes its own copy, not the primary’s');
  assert.equal(await primary.request('probe', null), null);
  primary.notify('reload', null);
  primary.notify('stop', { now: false });
  worker.notify('error', 'cloakpipe: cannot listen on 127.0.0.1:1: EACCES');
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, ['reload', 'stop now=false']);
  assert.deepEqual(errors, ['cloakpipe: cannot listen on 127.0.0.1:1: EACCES']);
  // The cluster namespace answers only its own.
  const clusterWorker = new IpcPeer<EncryptIpc>(workerSide, CLUSTER_IPC_NS, 200);
  await assert.rejects(
    clusterWorker.request('ensure', { host: 'h', port: 1 }),
    /no handler for ensure/,
  );
});

test("over a real 'advanced' channel, as --workers sets it up: the key request is answered with bytes", async () => {
  const dir = tempDir('cloakpipe-ipc-');
  const child = join(dir, 'child.mjs');
  const ipcUrl = new URL('../../../src/daemon/ipc.js', import.meta.url).href;
  writeFileSync(
    child,
    `import { IpcPeer, parentEndpoint } from ${JSON.stringify(ipcUrl)};
const peer = new IpcPeer(parentEndpoint(), 'workers');
const key = await peer.request('key', null);
peer.notify('error', (key instanceof Uint8Array ? 'bytes ' : 'not bytes ') + key.length + ' ' + key[31]);
key.fill(0);
process.disconnect();
`,
  );
  const proc = fork(child, {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const endpoint: IpcEndpoint = {
    send: (m, h, done) => void proc.send(m, h, (err: Error | null) => done?.(err)),
    listen(fn) {
      const f = (m: unknown, h: unknown): void => fn(m, h as Socket | undefined);
      proc.on('message', f);
      return () => proc.off('message', f);
    },
  };
  const parent = new IpcPeer<WorkersIpc>(endpoint, WORKERS_IPC_NS);
  const key = new Uint8Array(32).fill(7);
  parent.onRequest('key', () => key);
  const said = await new Promise<string>((r) => parent.onNote('error', r));
  assert.equal(said, 'bytes 32 7');
  parent.close();
  key.fill(0);
  await new Promise((r) => proc.on('exit', r));
});
