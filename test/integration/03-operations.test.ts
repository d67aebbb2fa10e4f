// Goal: the operational features work on real processes: /metrics counters move by the right
// amounts during a transfer, /readyz turns 503 the moment SIGTERM arrives, SIGHUP key rotation keeps
// a live transfer intact, the stdio client interoperates with Debian's spipe/spiped, and
// --idle-timeout closes an idle tunnel while sparing a busy one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { BIN, startCloakpipe, startEnd, startSpiped } from '../support/ends.js';
import { sampleValue } from '../support/metrics.js';
import { freePort, parseHostPort } from '../support/net.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import {
  echoServer,
  freeAddress,
  replyAfterEofServer,
  sha256hex,
  transfer,
} from '../helpers/targets.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metric(text: string, name: string, labels: string): number {
  return sampleValue(text, `${name}{`, labels.split(',')) ?? 0;
}

test('/metrics: accepted, bytes each way, closed and handshake failures move by the right amounts', async () => {
  const target = await echoServer();
  const mport = await freePort();
  const d = await startEnd('-d', target.address, key, ['--metrics', String(mport)]);
  const e = await startEnd('-e', d.address, key);
  const before = (await get(mport, '/metrics')).body;
  const payload = randomBytes(1_234_567);
  const got = await transfer(e.address, payload);
  assert.equal(got.sha256, sha256hex(payload));
  const other = join(dir, 'other');
  writeFileSync(other, randomBytes(32), { mode: 0o600 });
  const bad = await startEnd('-e', d.address, other);
  await transfer(bad.address, Buffer.from('x'), 10_000, true);
  await d.proc.waitFor(/EBADMAC/);
  const m = (await get(mport, '/metrics')).body;
  const delta = (name: string, labels: string): number =>
    metric(m, name, labels) - metric(before, name, labels);
  assert.equal(delta('cloakpipe_connections_accepted_total', 'mode="decrypt"'), 2);
  assert.equal(delta('cloakpipe_bytes_total', 'direction="up"'), payload.length);
  assert.equal(delta('cloakpipe_bytes_total', 'direction="down"'), payload.length);
  assert.equal(delta('cloakpipe_connections_closed_total', 'result="ok"'), 1);
  assert.equal(delta('cloakpipe_handshake_failures_total', 'reason="EBADMAC"'), 1);
  assert.match(m, /cloakpipe_connection_duration_seconds_bucket/);
  assert.equal((await get(mport, '/healthz')).status, 200);
  assert.equal((await get(mport, '/nope')).status, 404);
});

test('/readyz is 200 while serving and 503 the moment SIGTERM arrives; exit 0 once the last connection ends', async () => {
  const target = await echoServer();
  const mport = await freePort();
  const d = await startEnd('-d', target.address, key);
  const e = await startEnd('-e', d.address, key, ['--metrics', `127.0.0.1:${mport}`]);
  assert.equal((await get(mport, '/readyz')).status, 200);
  const live = connect(parseHostPort(e.address));
  await new Promise<void>((r) => live.once('connect', () => r()));
  live.write('ping');
  await new Promise<void>((r) => live.once('data', () => r()));
  e.proc.child.kill('SIGTERM');
  await e.proc.waitFor(/shutting down/);
  const r = await get(mport, '/readyz');
  assert.equal(r.status, 503);
  assert.match(r.body, /draining/);
  live.end();
  assert.equal(await e.proc.exited, 0);
});

test('--ready-probe: /readyz is 503 while the target is down, 200 once it is up', async () => {
  const mport = await freePort();
  const port = await freePort();
  const d = await startCloakpipe([
    '-d',
    '-s',
    '[127.0.0.1]:0',
    '-t',
    `[127.0.0.1]:${port}`,
    '-k',
    key,
    '--metrics',
    String(mport),
    '--ready-probe',
  ]);
  const down = await get(mport, '/readyz');
  assert.equal(down.status, 503);
  assert.match(down.body, /target unreachable/);
  const { createServer } = await import('node:net');
  const srv = createServer((s) => s.destroy()).listen(port, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  assert.equal((await get(mport, '/readyz')).status, 200);
  srv.close();
  await d.proc.stop();
});

test('key rotation: SIGHUP re-reads the key file while a transfer continues intact; old-key clients then fail', async () => {
  const rotating = join(dir, 'rotating.key');
  const oldKey = join(dir, 'old.key');
  const newKey = join(dir, 'new.key');
  const oldBytes = randomBytes(32);
  const newBytes = randomBytes(32);
  writeFileSync(rotating, oldBytes, { mode: 0o600 });
  writeFileSync(oldKey, oldBytes, { mode: 0o600 });
  writeFileSync(newKey, newBytes, { mode: 0o600 });
  const target = await echoServer();
  const d = await startEnd('-d', target.address, rotating);
  const eOld = await startEnd('-e', d.address, oldKey);
  const eNew = await startEnd('-e', d.address, newKey);
  // A live transfer on the old key, trickled so that it spans the SIGHUP.
  const sock = connect(parseHostPort(eOld.address));
  const h = createHash('sha256');
  const sent = createHash('sha256');
  let received = 0;
  sock.on('data', (b: Buffer) => {
    h.update(b);
    received += b.length;
  });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  for (let i = 0; i < 20; i++) {
    const chunk = randomBytes(50_000);
    sent.update(chunk);
    sock.write(chunk);
    if (i === 5) {
      writeFileSync(rotating, newBytes);
      d.proc.child.kill('SIGHUP');
      await d.proc.waitFor(/SIGHUP: key files re-read/);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  sock.end();
  await new Promise<void>((r) => sock.once('end', () => r()));
  assert.equal(received, 20 * 50_000);
  assert.equal(
    h.digest('hex'),
    sent.digest('hex'),
    'the live transfer survived the key swap intact',
  );
  const ok = await transfer(eNew.address, Buffer.from('new key works'));
  assert.equal(ok.data.toString(), 'new key works');
  const refused = await transfer(eOld.address, Buffer.from('old key'), 10_000, true);
  assert.equal(refused.bytes, 0, 'the old key is no longer accepted');
});

function runSpipe(
  bin: string,
  args: string[],
  input: Buffer,
): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    c.on('exit', (code) => resolve({ code, out: Buffer.concat(out), err }));
    c.stdin.end(input);
  });
}

test('cloakpipe spipe → the real spiped -d: stdin EOF is a half-close and the reply arrives whole', async () => {
  requireBinary('spiped');
  const target = await replyAfterEofServer();
  const src = await freeAddress('tcp', dir, 'spd');
  await startSpiped(['-d', '-s', src, '-t', target.address, '-k', key], src);
  const payload = randomBytes(2_000_000);
  const r = await runSpipe(
    process.execPath,
    [BIN, 'spipe', '-t', src.replace(/^\[|\](?=:)/g, ''), '-k', key],
    payload,
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.length, payload.length + 32);
  assert.equal(sha256hex(r.out.subarray(0, payload.length)), sha256hex(payload));
});

test("Debian's spipe → cloakpipe -d: the same, in the other direction", async () => {
  const spipeBin = requireBinary('spipe');
  const target = await replyAfterEofServer();
  const d = await startEnd('-d', target.address, key);
  const payload = randomBytes(2_000_000);
  const r = await runSpipe(spipeBin, ['-t', d.address, '-k', key], payload);
  assert.equal(r.code, 0, r.err);
  assert.equal(sha256hex(r.out.subarray(0, payload.length)), sha256hex(payload));
  assert.equal(r.out.subarray(payload.length).toString('hex'), sha256hex(payload));
});

test('cloakpipe spipe with a wrong key exits 1 and says why on stderr', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key);
  const other = join(dir, 'spipe-other');
  writeFileSync(other, randomBytes(32), { mode: 0o600 });
  const r = await runSpipe(
    process.execPath,
    [BIN, 'spipe', '-t', d.address, '-k', other, '-o', '2'],
    Buffer.from('hi'),
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /handshake failed/);
  assert.equal(r.out.length, 0);
});

test('--idle-timeout closes an idle tunnel and spares a busy one', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key, ['--idle-timeout', '1']);
  const e = await startEnd('-e', d.address, key);
  const open = (): Promise<import('node:net').Socket> =>
    new Promise((r) => {
      const s = connect(parseHostPort(e.address));
      s.on('error', () => {});
      s.once('connect', () => r(s));
    });
  const idle = await open();
  const busy = await open();
  let idleClosedAt = 0;
  let busyClosed = false;
  const t0 = Date.now();
  idle.on('close', () => {
    idleClosedAt = Date.now() - t0;
  });
  busy.on('close', () => {
    busyClosed = true;
  });
  busy.resume();
  for (let i = 0; i < 10; i++) {
    busy.write('tick');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(idleClosedAt > 0 && idleClosedAt < 2200, `idle tunnel closed after ${idleClosedAt} ms`);
  assert.equal(busyClosed, false, 'the busy tunnel is still open after 2.5 s');
  busy.destroy();
  await d.proc.waitFor(/--idle-timeout reached/);
});

test('--workers 2: two processes share the listener, both serve tunnels, SIGTERM stops them all with exit 0', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key, ['--workers', '2']);
  await d.proc.waitFor(/listening on[^\n]*\n(?:.*\n)*.*listening on/);
  const e = await startEnd('-e', d.address, key);
  const payload = randomBytes(200_000);
  const results = await Promise.all(Array.from({ length: 12 }, () => transfer(e.address, payload)));
  for (const r of results) assert.equal(r.sha256, sha256hex(payload));
  const pids = new Set(
    d.proc
      .logs()
      .filter((l) => l.msg === 'connection closed')
      .map((l) => l.pid),
  );
  assert.equal(pids.size, 2, `tunnels served by ${pids.size} worker(s)`);
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});
