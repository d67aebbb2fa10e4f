// Goal: `--workers 2` in plain mode behaves as one end. Connections reach both workers (every
// log line names its worker); one /metrics adds up every worker's traffic; /readyz turns 503 on
// SIGTERM while the workers drain, and the end exits 0. A worker killed mid-load leaves the
// other worker's transfers whole, and a new worker takes its place. `-k -` is read once by the
// primary and reaches every worker (restarted ones too); SIGHUP re-reads the key files in every
// worker and keeps the `-k -` key. A terminal's Ctrl-C, which reaches every process of the
// group, drains once, and --shutdown-timeout and a second signal act as on one process. With
// -u, the primary gives up root once every worker listens, and so does each worker (restarted
// ones too).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';
import { BIN, cloakpipe, foreground, startEnd } from '../support/ends.js';
import { fetchMetrics, samples } from '../support/metrics.js';
import { freePort, parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, track, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
const keyBytes = randomBytes(32);
writeFileSync(key, keyBytes, { mode: 0o600 });
const otherKey = join(dir, 'other');
writeFileSync(otherKey, randomBytes(32), { mode: 0o600 });

/** Start a -d end with `--workers 2` and wait until the primary has seen both workers listen. */
async function workersEnd(
  target: string,
  keyArgs: readonly string[],
  extra: readonly string[] = [],
  stdin?: Buffer,
): Promise<{ proc: Proc; address: string }> {
  const args = ['-d', '-s', '[127.0.0.1]:0', '-t', target, ...keyArgs, '--workers', '2', ...extra];
  const proc = cloakpipe(args, { name: 'cloakpipe -d --workers 2', ...(stdin ? { stdin } : {}) });
  const address = (await proc.waitFor(/"msg":"listening on (\S+),/))[1]!;
  await waitUntil(() => logLines(proc, /^worker \d+ listens$/).length >= 2, 'both workers listen');
  return { proc, address };
}

/** Worker ids (the `worker` field) of the -d end's 'connection established' lines from `since`. */
function servedBy(d: Proc, since = 0): Set<unknown> {
  return new Set(logLines(d, /^connection established$/, {}, since).map((l) => l.worker));
}

/** A scrape of `port`'s /metrics as a map of series → value. */
async function scrape(port: number): Promise<Map<string, number>> {
  return samples(await fetchMetrics(port));
}

/**
 * A tunnel held open mid-transfer: `first` is sent and echoed back before the promise resolves;
 * finish() sends `rest`, half-closes and collects everything until the end.
 */
function heldTransfer(
  address: string,
  first: Buffer,
  rest: Buffer,
): Promise<{ finish(): Promise<{ sha256: string; bytes: number }> }> {
  return new Promise((resolve, reject) => {
    const s = connect({ ...parseHostPort(address), allowHalfOpen: true });
    const parts: Buffer[] = [];
    let got = 0;
    let ended: (r: { sha256: string; bytes: number }) => void = () => {};
    const done = new Promise<{ sha256: string; bytes: number }>((r) => (ended = r));
    const finish = (): void => {
      const data = Buffer.concat(parts);
      ended({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length });
    };
    s.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got === first.length) resolve({ finish: () => (s.end(rest), done) });
    });
    s.on('end', () => {
      s.end();
      finish();
    });
    s.on('close', finish);
    s.on('error', (err) => (got < first.length ? reject(err) : finish()));
    s.on('connect', () => s.write(first));
  });
}

test('--workers 2: both workers serve, /metrics adds up over workers, /readyz 503 on SIGTERM, exit 0', async () => {
  const target = await echoServer();
  const port = await freePort();
  const d = await workersEnd(target.address, ['-k', key], ['--metrics', String(port)]);
  const e = await startEnd('-e', d.address, key);
  const conns = 10;
  const size = 50_000;
  const payload = randomBytes(size);
  for (let i = 0; i < conns; i++) {
    const r = await transfer(e.address, payload);
    assert.equal(r.sha256, sha256hex(payload));
  }
  assert.equal(servedBy(d.proc).size, 2, 'tunnels reached both workers');
  for (const l of d.proc.logs()) assert.ok('worker' in l, `a line without its worker: ${l.msg}`);
  await waitUntil(
    () => logLines(d.proc, /^connection closed$/).length >= conns,
    'every tunnel closed',
  );
  const m = await scrape(port);
  assert.equal(m.get('cloakpipe_connections_accepted_total{mode="decrypt"}'), conns);
  assert.equal(m.get('cloakpipe_connections_closed_total{result="ok",mode="decrypt"}'), conns);
  assert.equal(m.get('cloakpipe_bytes_total{direction="up",mode="decrypt"}'), conns * size);
  assert.equal(m.get('cloakpipe_bytes_total{direction="down",mode="decrypt"}'), conns * size);
  assert.equal(m.get('cloakpipe_connection_duration_seconds_count{mode="decrypt"}'), conns);
  assert.equal(m.get('cloakpipe_workers{mode="decrypt"}'), 2);
  assert.equal(m.get('cloakpipe_connections_active{mode="decrypt"}'), 0);
  const info = [...m].filter(([k]) => k.startsWith('cloakpipe_build_info'));
  assert.deepEqual(
    info.map(([, v]) => v),
    [1],
    'build_info is not summed',
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  // A tunnel left open keeps the workers draining, so /readyz can be asked after SIGTERM.
  const held = await heldTransfer(e.address, payload, payload);
  process.kill(d.proc.pid, 'SIGTERM');
  await d.proc.waitFor(/shutting down: no longer accepting/);
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 503);
  const r = await held.finish();
  assert.equal(r.bytes, 2 * size);
  assert.equal(await d.proc.exited, 0);
});

test("--workers 2: a worker killed mid-load leaves the other one's transfers whole; a new one takes its place", async () => {
  const target = await echoServer();
  const d = await workersEnd(target.address, ['-k', key]);
  const e = await startEnd('-e', d.address, key);
  const first = randomBytes(64_000);
  const rest = randomBytes(256_000);
  const whole = sha256hex(Buffer.concat([first, rest]));
  const held = await Promise.all(
    Array.from({ length: 8 }, () => heldTransfer(e.address, first, rest)),
  );
  const byWorker = new Map<unknown, number>();
  for (const l of logLines(d.proc, /^connection established$/))
    byWorker.set(l.pid, (byWorker.get(l.pid) ?? 0) + 1);
  assert.equal(byWorker.size, 2, 'the held tunnels are on both workers');
  const [victim, survivor] = [...byWorker.keys()] as [number, number];
  process.kill(victim, 'SIGKILL');
  const results = await Promise.all(held.map((h) => h.finish()));
  const ok = results.filter((r) => r.sha256 === whole).length;
  assert.equal(ok, byWorker.get(survivor), 'every tunnel on the surviving worker finished whole');
  assert.equal(results.length - ok, byWorker.get(victim), "the killed worker's tunnels were cut");
  await d.proc.waitFor(/exited unexpectedly; starting a new one in \d+ ms/);
  await waitUntil(
    () => logLines(d.proc, /^worker \d+ listens$/).length >= 3,
    'a new worker listens',
  );
  const since = d.proc.logs().length;
  const payload = randomBytes(20_000);
  for (let i = 0; i < 6; i++)
    assert.equal((await transfer(e.address, payload)).sha256, sha256hex(payload));
  const pids = new Set(logLines(d.proc, /^connection established$/, {}, since).map((l) => l.pid));
  assert.equal(pids.size, 2, 'both workers serve again');
  assert.ok(pids.has(survivor) && !pids.has(victim));
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});

test('--workers 2 with -k -: the primary reads the key once and every worker (restarted too) uses it', async () => {
  const target = await echoServer();
  const d = await workersEnd(target.address, ['-k', '-'], [], keyBytes);
  const good = await startEnd('-e', d.address, key);
  const payload = randomBytes(20_000);
  for (let i = 0; i < 4; i++)
    assert.equal((await transfer(good.address, payload)).sha256, sha256hex(payload));
  assert.equal(servedBy(d.proc).size, 2, 'both workers know the key');
  const wrong = await startEnd('-e', d.address, otherKey);
  const bad = await transfer(wrong.address, payload, 10_000, true);
  assert.equal(bad.bytes, 0, 'a wrong key carries nothing');
  await d.proc.waitFor(/handshake failed/);
  // A restarted worker asks the primary for the key again.
  const victim = logLines(d.proc, /^connection established$/)[0]!.pid as number;
  process.kill(victim, 'SIGKILL');
  await waitUntil(
    () => logLines(d.proc, /^worker \d+ listens$/).length >= 3,
    'a new worker listens',
  );
  const since = d.proc.logs().length;
  for (let i = 0; i < 4; i++)
    assert.equal((await transfer(good.address, payload)).sha256, sha256hex(payload));
  assert.equal(servedBy(d.proc, since).size, 2);
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});

test('--workers 2: SIGHUP re-reads the key file in every worker and keeps the -k - key', async () => {
  const target = await echoServer();
  const rotating = join(dir, 'rotating');
  writeFileSync(rotating, randomBytes(32), { mode: 0o600 });
  const old = join(dir, 'old');
  writeFileSync(old, readFileSync(rotating), { mode: 0o600 });
  const d = await workersEnd(target.address, ['-k', '-', '-k', rotating], [], keyBytes);
  const fresh = join(dir, 'fresh');
  writeFileSync(fresh, randomBytes(32), { mode: 0o600 });
  writeFileSync(rotating, readFileSync(fresh));
  const reloadsBefore = logLines(d.proc, /^SIGHUP: key files re-read/).length;
  process.kill(d.proc.pid, 'SIGHUP');
  await waitUntil(
    () => logLines(d.proc, /^SIGHUP: key files re-read/).length >= reloadsBefore + 2,
    'both workers re-read their keys',
  );
  const payload = randomBytes(20_000);
  for (const k of [fresh, key]) {
    const e = await startEnd('-e', d.address, k);
    const since = d.proc.logs().length;
    for (let i = 0; i < 4; i++)
      assert.equal((await transfer(e.address, payload)).sha256, sha256hex(payload), k);
    assert.equal(servedBy(d.proc, since).size, 2, `both workers accept ${k}`);
  }
  const stale = await startEnd('-e', d.address, old);
  assert.equal(
    (await transfer(stale.address, payload, 10_000, true)).bytes,
    0,
    'the old key is gone',
  );
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});

test('--workers 2 with --ready-probe: /readyz asks the workers whether the target answers', async () => {
  const closed = await freePort();
  const port = await freePort();
  const d = await workersEnd(
    `127.0.0.1:${closed}`,
    ['-k', key],
    ['--metrics', String(port), '--ready-probe'],
  );
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(res.status, 503);
  assert.match(await res.text(), /target unreachable/);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  assert.equal(await d.proc.stop('SIGTERM'), 0);
  const target = await echoServer();
  const up = await workersEnd(
    target.address,
    ['-k', key],
    ['--metrics', String(port), '--ready-probe'],
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  assert.equal(await up.proc.stop('SIGTERM'), 0);
});

test('--workers 2: --shutdown-timeout cuts a held tunnel with exit 1; a second SIGTERM exits at once', async () => {
  const target = await echoServer();
  const payload = randomBytes(10_000);
  const d = await workersEnd(target.address, ['-k', key], ['--shutdown-timeout', '1']);
  const e = await startEnd('-e', d.address, key);
  const held = await heldTransfer(e.address, payload, payload);
  const t0 = Date.now();
  process.kill(d.proc.pid, 'SIGTERM');
  assert.equal(await d.proc.exited, 1, 'connections were cut');
  assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
  await held.finish();
  const d2 = await workersEnd(target.address, ['-k', key]);
  const e2 = await startEnd('-e', d2.address, key);
  const held2 = await heldTransfer(e2.address, payload, payload);
  process.kill(d2.proc.pid, 'SIGTERM');
  await d2.proc.waitFor(/shutting down: no longer accepting/);
  const t1 = Date.now();
  process.kill(d2.proc.pid, 'SIGTERM');
  assert.equal(await d2.proc.exited, 1);
  assert.ok(Date.now() - t1 < 3000, `second signal took ${Date.now() - t1} ms`);
  await held2.finish();
});

test("--workers 2: a terminal's Ctrl-C (SIGINT to the process group) drains once, exit 0", async () => {
  const target = await echoServer();
  // Its own process group, as a shell job has: SIGINT then reaches the primary and the workers.
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...foreground([
        '-d',
        '-s',
        '[127.0.0.1]:0',
        '-t',
        target.address,
        '-k',
        key,
        '--workers',
        '2',
      ]),
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = track('cloakpipe -d --workers 2 (own group)', child);
  const address = (await proc.waitFor(/"msg":"listening on (\S+),/))[1]!;
  await waitUntil(() => logLines(proc, /^worker \d+ listens$/).length >= 2, 'both workers listen');
  const e = await startEnd('-e', address, key);
  const payload = randomBytes(10_000);
  const held = await heldTransfer(e.address, payload, payload);
  process.kill(-proc.pid, 'SIGINT');
  await waitUntil(
    () => logLines(proc, /^shutting down: no longer accepting/).length >= 2,
    'both workers drain',
  );
  assert.deepEqual(logLines(proc, /^second signal/), [], 'one Ctrl-C is one signal');
  const r = await held.finish();
  assert.equal(r.sha256, sha256hex(Buffer.concat([payload, payload])));
  assert.equal(await proc.exited, 0);
});

test('--workers 2: /readyz is 503 while no worker listens, 200 again once a new one does', async () => {
  const target = await echoServer();
  const port = await freePort();
  const d = await workersEnd(target.address, ['-k', key], ['--metrics', String(port)]);
  const readyz = async (): Promise<number> =>
    (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  assert.equal(await readyz(), 200);
  const pids = logLines(d.proc, /^worker \d+ listens$/).map((l) => l.child_pid as number);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const seen: number[] = [];
  await waitUntil(
    () => logLines(d.proc, /^worker \d+ exited unexpectedly/).length >= 2,
    'both workers are seen dead',
  );
  seen.push(await readyz());
  await waitUntil(() => logLines(d.proc, /^worker \d+ listens$/).length >= 3, 'a worker is back');
  seen.push(await readyz());
  assert.deepEqual(seen, [503, 200]);
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});

/** The real uid of process `pid` (/proc/<pid>/status, `Uid:` line). */
function uidOf(pid: number): number {
  const line = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(line, `no Uid line for pid ${pid}`);
  return Number(line[1]);
}

test('--workers 2 with -u nobody: the primary and every worker (restarted too) give up root once listening; tunnels work', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (README: Test prerequisites)');
  const target = await echoServer();
  // A restarted worker, forked by the unprivileged primary, cannot read `otherKey` (root's
  // alone, in a 0700 directory): it gets both keys from the primary over IPC.
  const d = await workersEnd(
    target.address,
    ['-k', '-', '-k', otherKey],
    ['-u', 'nobody'],
    keyBytes,
  );
  await d.proc.waitFor(/the primary gave up root/);
  const workerPids = () =>
    logLines(d.proc, /^worker \d+ listens$/).map((l) => l.child_pid as number);
  assert.equal(uidOf(d.proc.pid), 65534, 'the primary runs as 65534');
  await waitUntil(() => workerPids().every((p) => uidOf(p) === 65534), 'both workers run as 65534');
  const e = await startEnd('-e', d.address, otherKey);
  const payload = randomBytes(50_000);
  for (let i = 0; i < 4; i++)
    assert.equal((await transfer(e.address, payload)).sha256, sha256hex(payload));
  assert.equal(servedBy(d.proc).size, 2, 'both workers serve');
  // A worker killed now is restarted by the unprivileged primary, and listens again.
  process.kill(workerPids()[0]!, 'SIGKILL');
  await waitUntil(() => workerPids().length >= 3, 'a restarted worker listens');
  assert.equal(uidOf(workerPids()[2]!), 65534, 'the restarted worker runs as 65534');
  await d.proc.waitFor(/handed over by the primary/);
  for (const k of [otherKey, key]) {
    const e2 = await startEnd('-e', d.address, k);
    const since = d.proc.logs().length;
    for (let i = 0; i < 4; i++)
      assert.equal((await transfer(e2.address, payload)).sha256, sha256hex(payload), k);
    assert.equal(servedBy(d.proc, since).size, 2, `both workers serve again with ${k}`);
  }
  assert.equal(await d.proc.stop('SIGTERM'), 0);
});

test('--workers 2 with -u nobody on a port < 1024: once every worker died, the primary cannot listen again and exits 1', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (README: Test prerequisites)');
  const port = 900 + Math.floor(Math.random() * 100);
  const target = await echoServer();
  const args = ['-d', '-s', `[127.0.0.1]:${port}`, '-t', target.address, '-k', '-'];
  const proc = cloakpipe([...args, '--workers', '2', '-u', 'nobody'], {
    name: 'cloakpipe -d --workers 2 -u nobody (port < 1024)',
    stdin: keyBytes,
  });
  await proc.waitFor(/the primary gave up root/);
  for (const l of logLines(proc, /^worker \d+ listens$/))
    process.kill(l.child_pid as number, 'SIGKILL');
  await proc.waitFor(/no worker listens: the primary gave up root \(-u\) and cannot listen again/);
  assert.equal(await proc.exited, 1);
});
