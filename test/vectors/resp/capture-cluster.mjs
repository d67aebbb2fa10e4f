#!/usr/bin/env node
// Goal: record the exact bytes a REAL Redis cluster (Debian redis-server 7.0.15) sends for every
// reply that names nodes (MOVED, ASK, CLUSTER SLOTS/SHARDS/NODES/REPLICAS, MULTI/EXEC), in RESP2
// and RESP3, for each endpoint type, plus how the real server frames odd request streams, so the
// src/resp unit tests run on real bytes, not on bytes we imagined.
//
// One-off, run by hand:   node test/vectors/resp/capture-cluster.mjs [path/to/redis-server]
// Writes test/vectors/resp/cluster-captures.json (overwriting it). See test/vectors/resp/README.md.
//
// Clusters (each in a temporary directory, torn down at the end):
//   A  6 nodes on 127.0.0.1:27100-27105, one replica per master (redis-cli --cluster create);
//      variants: ip (default), hostnames announced, preferred hostname, preferred hostname with
//      none announced ("?"), unknown-endpoint; plus ASK (slot migrating) and MULTI/EXEC.
//   B  3 masters on ::1:27200-27202 (IPv6).
//   C  1 node on 127.0.0.1:27300 owning all slots (reports "" as its own IP).
// Every reply is read until the connection has been idle for IDLE_MS: no RESP parser is involved
// in capturing, so the data does not depend on the code it tests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = process.argv[2] ?? '/usr/bin/redis-server';
const CLI = SERVER.replace(/redis-server$/, 'redis-cli');
const OUT = fileURLToPath(new URL('./cluster-captures.json', import.meta.url));
const IDLE_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-capture-'));
const procs = [];

function startNode(host, port) {
  const d = join(dir, String(port));
  mkdirSync(d);
  const args = [
    '--port',
    String(port),
    '--bind',
    host,
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '2000',
    '--dir',
    d,
    '--save',
    '',
    '--appendonly',
    'no',
    '--enable-debug-command',
    'yes',
    '--protected-mode',
    'no',
  ];
  procs.push(spawn(SERVER, args, { stdio: 'ignore' }));
}

/** Send `requests` (raw strings, latin1) one at a time on one connection; each reply read to idle. */
async function exchange(host, port, requests) {
  const sock = net.connect({ host, port });
  await new Promise((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  let buf = [];
  sock.on('data', (d) => buf.push(d));
  const replies = [];
  for (const req of requests) {
    buf = [];
    sock.write(Buffer.from(req, 'latin1'));
    let len = -1;
    for (;;) {
      await sleep(IDLE_MS);
      const now = buf.reduce((n, b) => n + b.length, 0);
      if (now === len) break;
      len = now;
    }
    replies.push(Buffer.concat(buf).toString('latin1'));
  }
  sock.destroy();
  return replies;
}

const cmd = (...args) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`;

async function cli(host, port, ...args) {
  const [r] = await exchange(host, port, [cmd(...args)]);
  return r;
}

async function waitFor(what, f, ms = 60000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await f().catch(() => false)) return;
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const captures = [];
/** Capture `command` on host:port in RESP2 and RESP3. */
async function capture(cluster, variant, host, port, args, protos = [2, 3]) {
  for (const resp of protos) {
    const reqs = resp === 3 ? [cmd('HELLO', '3'), cmd(...args)] : [cmd(...args)];
    const replies = await exchange(host, port, reqs);
    captures.push({
      cluster,
      variant,
      resp,
      node: `${host}:${port}`,
      command: args.join(' '),
      request: reqs.at(-1),
      reply: replies.at(-1),
    });
  }
}

/** A MULTI/EXEC transaction: every reply, the EXEC one last. */
async function captureMulti(cluster, variant, host, port, queued) {
  for (const resp of [2, 3]) {
    const reqs = [
      ...(resp === 3 ? [cmd('HELLO', '3')] : []),
      cmd('MULTI'),
      ...queued.map((q) => cmd(...q)),
      cmd('EXEC'),
    ];
    const replies = await exchange(host, port, reqs);
    captures.push({
      cluster,
      variant,
      resp,
      node: `${host}:${port}`,
      command: `MULTI; ${queued.map((q) => q.join(' ')).join('; ')}; EXEC`,
      request: reqs.slice(resp === 3 ? 1 : 0).join(''),
      reply: replies.slice(resp === 3 ? 1 : 0).join(''),
      exec: replies.at(-1),
      queued: queued.map((q) => q.join(' ')),
    });
  }
}

/** Which node of `ports` does NOT own `key`'s slot (for a MOVED), and which does. */
async function owner(host, ports, key) {
  const slot = Number((await cli(host, ports[0], 'CLUSTER', 'KEYSLOT', key)).slice(1));
  const slots = await exchange(host, ports[0], [cmd('CLUSTER', 'NODES')]);
  for (const line of slots[0].split('\n')) {
    const f = line.split(' ');
    if (!f[2]?.includes('master')) continue;
    for (const r of f.slice(8)) {
      const [a, b] = r.split('-').map(Number);
      if (slot >= a && slot <= (b ?? a))
        return { slot, id: f[0], port: Number(f[1].split('@')[0].split(':').at(-1)) };
    }
  }
  throw new Error('no owner');
}

async function clusterA() {
  const host = '127.0.0.1';
  const ports = [27100, 27101, 27102, 27103, 27104, 27105];
  for (const p of ports) startNode(host, p);
  await waitFor('nodes up', async () => (await cli(host, ports[5], 'PING')) === '+PONG\r\n');
  const r = spawnSync(
    CLI,
    [
      '--cluster',
      'create',
      ...ports.map((p) => `${host}:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`cluster create: ${r.stdout}${r.stderr}`);
  await waitFor('cluster ok', async () =>
    (await cli(host, ports[0], 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
  );
  for (let k = 0; k < 30; k++)
    spawnSync(CLI, ['-c', '-p', String(ports[0]), 'SET', `k${k}`, 'v'], { encoding: 'utf8' });
  await waitFor('replicas in SLOTS', async () => {
    const s = await cli(host, ports[0], 'CLUSTER', 'SLOTS');
    return (s.match(/\r\n:2710\d\r\n/g) ?? []).length === 6;
  });
  const key = 'somekey';
  const own = await owner(host, ports, key);
  const other = ports.find((p) => p !== own.port && p <= 27102) ?? ports[0];
  const master = own.id;
  const set = async (k, v) => {
    for (const p of ports) await cli(host, p, 'CONFIG', 'SET', k, v);
    await sleep(3000); // let gossip carry announced hostnames
  };
  const topo = async (variant) => {
    await capture('A', variant, host, other, ['CLUSTER', 'SLOTS']);
    await capture('A', variant, host, other, ['CLUSTER', 'SHARDS']);
    await capture('A', variant, host, other, ['CLUSTER', 'NODES']);
    await capture('A', variant, host, other, ['CLUSTER', 'REPLICAS', master]);
    await capture('A', variant, host, other, ['GET', key]);
  };
  await topo('ip');
  await capture('A', 'ip', host, other, ['CLUSTER', 'SLAVES', master], [2]);
  await captureMulti('A', 'ip', host, other, [
    ['CLUSTER', 'SHARDS'],
    ['CLUSTER', 'SLOTS'],
    ['PING'],
  ]);
  await captureMulti('A', 'ip', host, other, [
    ['CLUSTER', 'NODES'],
    ['CLUSTER', 'REPLICAS', master],
  ]);
  await capture('A', 'ip', host, other, ['EVAL', "return redis.call('cluster','slots')", '0']);
  await capture('A', 'ip', host, other, [
    'EVAL',
    "return redis.error_reply('MOVED 1 10.9.9.9:6379')",
    '0',
  ]);
  const slotsBytes = captures.find((c) => c.command === 'CLUSTER SLOTS' && c.resp === 2).reply;
  await cli(host, own.port, 'SET', key, slotsBytes);
  await capture('A', 'ip', host, own.port, ['GET', key]);
  await cli(host, own.port, 'DEL', key);
  for (const p of ports)
    await cli(host, p, 'CONFIG', 'SET', 'cluster-announce-hostname', `node-${p}.internal`);
  await sleep(3000);
  await topo('hostnames');
  await set('cluster-preferred-endpoint-type', 'hostname');
  await topo('preferred-hostname');
  for (const p of ports) await cli(host, p, 'CONFIG', 'SET', 'cluster-announce-hostname', '');
  await sleep(3000);
  await capture('A', 'preferred-hostname-none', host, other, ['CLUSTER', 'SLOTS']);
  await capture('A', 'preferred-hostname-none', host, other, ['GET', key]);
  for (const p of ports)
    await cli(host, p, 'CONFIG', 'SET', 'cluster-announce-hostname', `node-${p}.internal`);
  await set('cluster-preferred-endpoint-type', 'unknown-endpoint');
  await topo('unknown-endpoint');
  await set('cluster-preferred-endpoint-type', 'ip');
  // ASK: the key's slot MIGRATING from its owner to `other`, key absent.
  const dstId = (await cli(host, other, 'CLUSTER', 'MYID')).split('\r\n')[1];
  await cli(host, other, 'CLUSTER', 'SETSLOT', String(own.slot), 'IMPORTING', master);
  await cli(host, own.port, 'CLUSTER', 'SETSLOT', String(own.slot), 'MIGRATING', dstId);
  await capture('A', 'ask', host, own.port, ['GET', key]);
  await capture('A', 'ask', host, own.port, ['CLUSTER', 'NODES']);
  await capture('A', 'ask', host, other, ['CLUSTER', 'NODES']);
}

async function clusterB() {
  const host = '::1';
  const ports = [27200, 27201, 27202];
  for (const p of ports) startNode(host, p);
  await waitFor('v6 nodes up', async () => (await cli(host, ports[2], 'PING')) === '+PONG\r\n');
  const r = spawnSync(
    CLI,
    ['--cluster', 'create', ...ports.map((p) => `${host}:${p}`), '--cluster-yes'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`v6 cluster create: ${r.stdout}${r.stderr}`);
  await waitFor('v6 cluster ok', async () =>
    (await cli(host, ports[0], 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
  );
  const own = await owner(host, ports, 'somekey');
  const other = ports.find((p) => p !== own.port);
  for (const args of [
    ['CLUSTER', 'SLOTS'],
    ['CLUSTER', 'SHARDS'],
    ['CLUSTER', 'NODES'],
    ['GET', 'somekey'],
  ])
    await capture('B', 'ipv6', host, other, args);
}

async function clusterC() {
  const host = '127.0.0.1';
  const port = 27300;
  startNode(host, port);
  await waitFor('lone node up', async () => (await cli(host, port, 'PING')) === '+PONG\r\n');
  await cli(host, port, 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor('lone cluster ok', async () =>
    (await cli(host, port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
  );
  for (const args of [
    ['CLUSTER', 'SLOTS'],
    ['CLUSTER', 'SHARDS'],
    ['CLUSTER', 'NODES'],
  ])
    await capture('C', 'lone', host, port, args);
  // How the real server frames odd request streams (for the request scanner).
  const streams = [
    ['payload CRLF unchecked', '*1\r\n$4\r\nPINGXY*1\r\n$4\r\nPING\r\n'],
    ['header LF unchecked', '*1\rX$4\rXPING\r\n'],
    ['negative and zero counts', '*-5\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n'],
    ['empty inline lines', '\r\n\n   \r\nPING\r\n'],
    ['inline quotes', 'ECHO "a b\\x41\\n\\"" \r\nECHO \'c\\\'d\'\r\nECHO a"b c"d\r\n'],
    ['inline bad hex is plain', 'ECHO "\\x4g"\r\n'],
    ['inline NUL ends the line', 'ECHO a\0 b c\r\nPING\r\n'],
    ['inline lone CR', 'ECHO a\rb\r\n'],
    ['unbalanced quotes', 'ECHO "abc\r\nPING\r\n'],
    ['quote glued to text', 'ECHO "abc"d\r\nPING\r\n'],
    ['expected dollar', '*1\r\n*1\r\nPING\r\n'],
    ['count over INT_MAX', '*3000000000\r\n'],
    ['count at INT_MAX then data', '*2147483647\r\n$4\r\nPING\r\n'],
    ['bad count', '*1x\r\n'],
    ['leading zero count', '*01\r\n$4\r\nPING\r\n'],
    ['negative bulk length', '*1\r\n$-1\r\n'],
    ['bulk over proto-max-bulk-len', '*2\r\n$4\r\nECHO\r\n$536870913\r\n'],
  ];
  const requests = [];
  for (const [name, input] of streams) {
    const [reply] = await exchange(host, port, [input]);
    requests.push({ name, input, reply });
  }
  return requests;
}

try {
  await clusterA();
  await clusterB();
  const requests = await clusterC();
  const version = spawnSync(SERVER, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const out = {
    source: `captured from ${version} by test/vectors/resp/capture-cluster.mjs`,
    captures,
    requests,
  };
  writeFileSync(OUT, `${JSON.stringify(out, null, 1)}\n`);
  console.log(`wrote ${captures.length} captures and ${requests.length} request streams to ${OUT}`);
} finally {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
