// Goal: a Daemon pair (-e and -d, built through DaemonDeps with counting metrics and an in-memory
// log) drains on shutdown: it stops accepting at once, live tunnels keep carrying bytes until
// their clients end them, and shutdown then resolves 0; with a shutdown timeout, tunnels still
// live are cut, each one logged, and shutdown resolves 1. The clients' bytes are written whole,
// one byte at a time and at seeded random splits.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { nodeEngine } from '../../../src/crypto/engine-node.js';
import { KeyRing } from '../../../src/daemon/keyring.js';
import { EphemeralPool } from '../../../src/daemon/pool.js';
import { Daemon } from '../../../src/daemon/server.js';
import { parseAddress } from '../../../src/pipe/address.js';
import { Resolver } from '../../../src/pipe/resolver.js';
import {
  type Cut,
  CUTS,
  cutName,
  CountingMetrics,
  memoryLog,
  readExactly,
  writeCut,
} from '../pipe/harness.js';

let dir = '';
let keyPath = '';
let echo: Server;
let echoPort = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cloakpipe-daemon-'));
  keyPath = join(dir, 'key');
  writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
});

after(() => {
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One end (-e or -d) listening on a free port, in front of `target`. */
async function end(mode: 'encrypt' | 'decrypt', target: string, shutdownTimeoutMs: number) {
  const { log, lines } = memoryLog();
  const metrics = new CountingMetrics();
  const keyring = new KeyRing([keyPath], log);
  keyring.load();
  const resolver = new Resolver(parseAddress(target), { refreshSeconds: 0 });
  await resolver.init();
  const pool = new EphemeralPool(2);
  const daemon = new Daemon(
    {
      tunnel: { mode, noPfs: false, requirePfs: false, timeoutMs: 5000 },
      source: parseAddress('127.0.0.1:0', true),
      target,
      maxConns: 0,
      dial: { keepAlive: false },
      shutdownTimeoutMs,
    },
    { log, metrics, engine: nodeEngine, keyring, resolver, pool },
  );
  await daemon.listen();
  return { daemon, lines, metrics, pool };
}

/** A -e/-d pair in front of the echo server; the -e end is the one shut down. */
async function pair(shutdownTimeoutMs: number) {
  const d = await end('decrypt', `127.0.0.1:${echoPort}`, 0);
  const e = await end('encrypt', d.daemon.address, shutdownTimeoutMs);
  const stop = async (): Promise<void> => {
    await d.daemon.shutdown();
    e.pool.close();
    d.pool.close();
  };
  return { e, d, stop };
}

/** A client connected through `address` that has had one echo round trip (so it is live). */
async function liveClient(address: string, cut: Cut): Promise<Socket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.split(':').pop()];
  const s = connect({ host, port: Number(port), allowHalfOpen: true });
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  const hello = randomBytes(cut === 'bytes' ? 50 : 5000);
  await writeCut(s, hello, cut);
  assert.deepEqual(await readExactly(s, hello.length), hello);
  return s;
}

/** Resolves with the error code when connecting to `address` fails, or 'connected'. */
function tryConnect(address: string): Promise<string> {
  const port = Number(address.split(':').pop());
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

for (const cut of CUTS) {
  test(`shutdown stops accepting, lets live tunnels finish, then resolves 0 (${cutName(cut)})`, async () => {
    const { e, stop } = await pair(0);
    const address = e.daemon.address;
    const clients = await Promise.all([1, 2, 3].map(() => liveClient(address, cut)));
    assert.equal(e.daemon.active, 3);
    let exit: number | null = null;
    const shut = e.daemon.shutdown().then((code) => (exit = code));
    assert.equal(await tryConnect(address), 'ECONNREFUSED');
    assert.equal(e.daemon.ready, false);
    // The live tunnels still carry bytes both ways while the daemon drains.
    for (const s of clients) {
      const more = randomBytes(cut === 'bytes' ? 40 : 20_000);
      await writeCut(s, more, cut);
      assert.deepEqual(await readExactly(s, more.length), more);
    }
    assert.equal(exit, null, 'shutdown resolved while tunnels were live');
    for (const s of clients) {
      s.end();
      s.resume();
    }
    assert.equal(await shut, 0);
    assert.equal(e.daemon.active, 0);
    assert.equal(e.metrics.count('closed'), 3);
    assert.ok(e.lines.some((l) => l.msg === 'all connections closed; exiting'));
    await stop();
  });

  test(`a shutdown timeout cuts live tunnels, logs them, and resolves 1 (${cutName(cut)})`, async () => {
    const { e, stop } = await pair(300);
    const clients = await Promise.all([1, 2].map(() => liveClient(e.daemon.address, cut)));
    // Each client sees its connection end (EOF or reset) when the tunnel is cut.
    const closed = clients.map(
      (s) =>
        new Promise((r) => {
          s.once('end', r);
          s.once('close', r);
          s.resume();
        }),
    );
    assert.equal(await e.daemon.shutdown(), 1);
    await Promise.all(closed);
    const cutLine = e.lines.find((l) => String(l.msg).startsWith('shutdown timeout'));
    assert.ok(cutLine, 'no shutdown-timeout line');
    assert.equal((cutLine.cut as unknown[]).length, 2);
    for (const s of clients) s.destroy();
    for (let i = 0; i < 200 && e.daemon.active > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(e.daemon.active, 0);
    assert.equal(e.metrics.count('closed'), 2);
    await stop();
  });
}
