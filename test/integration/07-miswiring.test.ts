// Goal: the usual miswirings are named, once per connection, with the fix, and counted in
// /metrics: -e pointed at a plain Redis, an HTTP server, an SSH server or a silent one; a
// plaintext Redis, HTTP or TLS client pointed at -d; load-balancer connect-and-close probes
// (debug, EPROBE, not a wrong-key warning); and -d's target down, seen from -e.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { type Server, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { startEnd, startOnFreePort } from '../support/ends.js';
import { fetchMetrics, sampleValue } from '../support/metrics.js';
import { freePort, parseHostPort } from '../support/net.js';
import { type Proc, sleep, stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, silentServer, transfer } from '../helpers/targets.js';

const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  await stopAll();
});

const dir = tempDir();
const key = join(dir, 'k.key');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

const SILENT =
  'handshake failed: the -t address accepted the connection but sent nothing within the -o ' +
  'timeout; a spiped/cloakpipe -d end sends 32 bytes at once: is -t a plain server such as ' +
  'Redis, which waits for a command? Point -t at the -d end';
const REDIS_SERVER =
  'handshake failed: the -t address answers like a Redis server, not a tunnel end: point -t at ' +
  'the -d end (cloakpipe -d or spiped -d), and -d at Redis';
const HTTP_SERVER =
  'handshake failed: the -t address answers like an HTTP server, not a tunnel end: point -t at the -d end';
const SSH =
  'handshake failed: the peer speaks SSH, not the spiped protocol: check the port numbers of -s and -t';
const REDIS_CLIENT =
  'handshake failed: this looks like a Redis client speaking plaintext to the -d end: point the ' +
  'client at the -e end';
const HTTP_CLIENT =
  'handshake failed: this looks like an HTTP client (a browser or an HTTP health check) speaking ' +
  'plaintext to the -d end: use a TCP check, or point it at the -e end';
const TLS =
  'handshake failed: the peer speaks TLS; cloakpipe ends speak the spiped protocol: pair ' +
  'cloakpipe with cloakpipe or spiped, not with a TLS proxy or client';
const PROBE =
  'connection closed before sending any byte (a load balancer or TCP health check probe)';
const HANGUP =
  'the -d end hung up right after the handshake, before sending any data: its target (-t of ' +
  'the -d end) is most likely down or refusing connections; check the -d end’s log for ' +
  '"target connect failed"';

/** A tunnel end with /metrics on a free port. */
async function end(
  mode: '-e' | '-d',
  target: string,
  extra: string[] = [],
): Promise<{ proc: Proc; address: string; metric: (series: string) => Promise<number> }> {
  const port = await freePort();
  const e = await startEnd(mode, target, key, ['-o', '1', '--metrics', String(port), ...extra]);
  const metric = async (series: string): Promise<number> => {
    const value = sampleValue(await fetchMetrics(port), series);
    assert.ok(value !== undefined, `series ${series} exists`);
    return value;
  };
  return { ...e, metric };
}

/** Wait for `msg`, then check it was logged exactly once, at `level`, with `reason`. */
async function loggedOnce(p: Proc, msg: string, level: string, reason: string): Promise<void> {
  await p.waitFor(
    new RegExp(`"msg":"${msg.split('"')[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    5000,
  );
  await sleep(200);
  const lines = p.logs().filter((l) => l['msg'] === msg);
  assert.equal(lines.length, 1, `logged once: ${msg}`);
  assert.equal(lines[0]!['level'], level);
  assert.equal(lines[0]!['reason'], reason);
  assert.equal(
    p.logs().filter((l) => String(l['msg']).includes('wrong key')).length,
    0,
    'no generic wrong-key line',
  );
}

const failures = (reason: string): string =>
  `cloakpipe_handshake_failures_total{reason="${reason}",mode=`;

function listen(onConn: (s: import('node:net').Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = createServer(onConn).listen(0, '127.0.0.1', () => {
      servers.push(s);
      resolve(`127.0.0.1:${(s.address() as { port: number }).port}`);
    });
  });
}

test('-e whose -t is a real redis-server: named as Redis (its error reply, or its silence)', async () => {
  requireBinary('redis-server');
  const { port } = await startOnFreePort('redis-server', (p) => ({
    cmd: 'redis-server',
    args: ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  }));
  const e = await end('-e', `127.0.0.1:${port}`);
  await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  await e.proc.waitFor(/"reason":"E(NOTPEER|SILENT)"/, 5000);
  // Redis answers -e's random nonce with "-ERR …" only if the nonce holds a newline.
  const named = e.proc.logs().find((l) => l['msg'] === REDIS_SERVER || l['msg'] === SILENT);
  assert.ok(named !== undefined, 'named as a Redis server or a silent one');
  await loggedOnce(e.proc, named['msg'] as string, 'warn', named['reason'] as string);
  assert.equal(await e.metric(failures(named['reason'] as string)), 1);
});

test('-e whose -t is an HTTP server: "answers like an HTTP server", counted ENOTPEER', async () => {
  const http = createHttpServer((_q, r) => r.end('hi'));
  const addr = await new Promise<string>((resolve) =>
    http.listen(0, '127.0.0.1', () =>
      resolve(`127.0.0.1:${(http.address() as { port: number }).port}`),
    ),
  );
  after(() => http.close());
  const e = await end('-e', addr);
  await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  await loggedOnce(e.proc, HTTP_SERVER, 'warn', 'ENOTPEER');
  assert.equal(await e.metric(failures('ENOTPEER')), 1);
});

test('-e whose -t sends an SSH banner: "the peer speaks SSH"', async () => {
  const addr = await listen((s) => {
    s.on('error', () => {});
    s.write('SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n');
  });
  const e = await end('-e', addr);
  await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  await loggedOnce(e.proc, SSH, 'warn', 'ENOTPEER');
});

test('-e whose -t accepts and stays silent: "accepted the connection but sent nothing", ESILENT', async () => {
  const target = await silentServer();
  const e = await end('-e', target.address);
  await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  await loggedOnce(e.proc, SILENT, 'warn', 'ESILENT');
  assert.equal(await e.metric(failures('ESILENT')), 1);
  assert.equal(await e.metric(failures('ETIMEDOUT')), 0);
});

test('redis-cli PING pointed at -d: "a Redis client speaking plaintext"', async () => {
  requireBinary('redis-cli');
  const target = await echoServer();
  const d = await end('-d', target.address);
  const { host, port } = parseHostPort(d.address);
  await new Promise<void>((resolve) =>
    execFile('redis-cli', ['-h', host, '-p', String(port), 'PING'], { timeout: 5000 }, () =>
      resolve(),
    ),
  );
  await loggedOnce(d.proc, REDIS_CLIENT, 'warn', 'ENOTPEER');
  assert.equal(await d.metric(failures('ENOTPEER')), 1);
  assert.equal(target.received(), 0);
});

test('an HTTP GET and a TLS ClientHello at -d are named as such', async () => {
  const target = await echoServer();
  const d = await end('-d', target.address);
  const { host, port } = parseHostPort(d.address);
  await new Promise<void>((resolve) => {
    const q = httpGet({ host, port, path: '/healthz', timeout: 3000 }, () => resolve());
    q.on('error', () => resolve());
    q.on('timeout', () => q.destroy());
  });
  await loggedOnce(d.proc, HTTP_CLIENT, 'warn', 'ENOTPEER');
  await new Promise<void>((resolve) => {
    const t = tlsConnect({ host, port, rejectUnauthorized: false, timeout: 3000 });
    t.on('error', () => resolve());
    t.on('close', () => resolve());
    t.on('timeout', () => t.destroy());
  });
  await loggedOnce(d.proc, TLS, 'warn', 'ENOTPEER');
  assert.equal(await d.metric(failures('ENOTPEER')), 2);
});

test('connect-and-close probes at -d: debug, counted EPROBE, not ETRUNC nor a warning', async () => {
  const target = await echoServer();
  const d = await end('-d', target.address, ['--log-level', 'debug']);
  const { host, port } = parseHostPort(d.address);
  for (let i = 0; i < 3; i++)
    await new Promise<void>((resolve) => {
      const s = connect(port, host, () => s.end()).resume();
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
  await sleep(300);
  const probes = d.proc.logs().filter((l) => l['msg'] === PROBE);
  assert.equal(probes.length, 3);
  for (const p of probes) {
    assert.equal(p['level'], 'debug');
    assert.equal(p['reason'], 'EPROBE');
  }
  assert.equal(d.proc.logs().filter((l) => l['level'] === 'warn').length, 0, 'no warning');
  assert.equal(await d.metric(failures('EPROBE')), 3);
  assert.equal(await d.metric(failures('ETRUNC')), 0);
});

/** Connect to `address`, send PING, and wait until the tunnel closes the connection. */
function pingUntilClosed(address: string): Promise<void> {
  const { host, port } = parseHostPort(address);
  return new Promise<void>((resolve) => {
    const s = connect(port, host, () => s.write('PING\r\n')).resume();
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

test("-d's target hangs up, seen from -e: the -d end hung up right after the handshake", async () => {
  // The target accepts, then resets once -d's handshake with -e has finished, like a target that
  // is far away or slow to refuse (a target refused on loopback fails before the handshake ends,
  // which -e reports with the generic text; see the README's troubleshooting table).
  const target = await listen((s) => setTimeout(() => s.resetAndDestroy(), 300));
  const d = await end('-d', target);
  const e = await end('-e', d.address);
  await pingUntilClosed(e.address);
  await loggedOnce(e.proc, HANGUP, 'warn', 'EPEERHUP');
  assert.equal(
    await e.metric('cloakpipe_target_connect_errors_total{code="EPEERHUP",mode="encrypt"}'),
    1,
  );
});

test("-d's target down: the -d line 'target connect failed' carries peer and mode", async () => {
  const d = await end('-d', `127.0.0.1:${await freePort()}`);
  await pingUntilClosed(d.address);
  await d.proc.waitFor(/"msg":"target connect failed \(ECONNREFUSED\)/);
  const failed = d.proc.logs().find((l) => String(l['msg']).startsWith('target connect failed'));
  assert.match(String(failed?.['peer']), /^127\.0\.0\.1:\d+$/);
  assert.equal(failed?.['mode'], 'decrypt');
});
