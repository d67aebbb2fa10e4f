// Goal: out of file descriptors (cloakpipe -d under `prlimit --nofile=64:64`), 200 extra raw
// connections are turned away while 3 long transfers already in flight finish intact; the process
// survives and reports fd exhaustion at a bounded rate (far fewer warning lines than failures),
// and serves again once descriptors are free.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { startCloakpipeUnder, startEnd } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { stopAll, waitUntil } from '../support/procs.js';
import { fdCount, MiB, tempDir } from '../support/system.js';
import { sha256hex, streamTransfer, throttledServer, transfer } from '../helpers/targets.js';

after(stopAll);

const NOFILE = 64;
const RAW = 200;
const TIMEOUT_S = 2;

test('fd exhaustion at -d: 200 extra connections fail, 3 transfers in flight finish intact, the failure is logged at a bounded rate', async (t) => {
  requireBinary('prlimit');
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  // Echoes at 2 MiB/s per connection: 8 MiB takes about 4 s, so the transfers are in flight.
  const target = await throttledServer(2 * MiB, 'echo');
  const d = await startCloakpipeUnder(
    ['prlimit', `--nofile=${NOFILE}:${NOFILE}`],
    ['-d', '-s', '[127.0.0.1]:0', '-t', target.address, '-k', key, '-o', String(TIMEOUT_S)],
  );
  const e = await startEnd('-e', d.address, key);
  const pid = d.proc.child.pid!;
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  assert.match(limits, new RegExp(`Max open files\\s+${NOFILE}\\s+${NOFILE}`), 'prlimit applied');

  const blocks = [0, 1, 2].map(() => randomBytes(MiB));
  const transfers = blocks.map((b) => streamTransfer(e.address, b, 8, { timeoutMs: 90_000 }));
  await waitUntil(
    () => target.connections() >= 3 && target.received() >= 3 * MiB,
    'the 3 transfers are in flight',
    20_000,
  );

  // 200 raw connections that never speak: each holds an fd at -d until it is dropped.
  const logStart = d.proc.logs().length;
  const t0 = Date.now();
  let closed = 0;
  let served = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${RAW - closed} raw connections still open after 30 s`)),
      30_000,
    );
    for (let i = 0; i < RAW; i++) {
      const s = connect(parseHostPort(d.address));
      s.on('error', () => {});
      s.on('data', () => {});
      s.once('data', () => {
        served++; // the -d end's nonce: it took this connection on
      });
      s.on('close', () => {
        if (++closed === RAW) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(d.proc.child.exitCode, null, '-d survived');

  const results = await Promise.all(transfers);
  for (const [i, r] of results.entries()) {
    assert.equal(r.bytes, 8 * MiB, `transfer ${i}: every byte came back`);
    assert.equal(r.sha256, r.sentSha256, `transfer ${i}: digests match`);
  }

  // Once the raw connections are gone, -d serves again.
  await waitUntil(() => fdCount(pid) < NOFILE - 10, '-d has free fds again', 10_000);
  const payload = randomBytes(256 * 1024);
  assert.equal((await transfer(e.address, payload)).sha256, sha256hex(payload));

  const lines = d.proc.logs().slice(logStart);
  const fdWarnings = lines.filter(
    (l) => l.code === 'EMFILE' || l.code === 'ENFILE' || /file descriptors/.test(String(l.msg)),
  );
  const timeouts = lines.filter((l) => l.reason === 'ETIMEDOUT').length;
  const failures = RAW - timeouts; // turned away without a handshake timer running out
  t.diagnostic(
    `${RAW} raw connections closed within ${seconds.toFixed(1)} s: ${served} got a nonce, ` +
      `${timeouts} timed out in the handshake, ${failures} were turned away for lack of fds; ` +
      `${fdWarnings.length} fd-exhaustion warning line(s)`,
  );
  assert.ok(failures >= RAW / 2, `most raw connections hit fd exhaustion (${failures})`);
  assert.ok(fdWarnings.length >= 1, 'fd exhaustion is reported');
  assert.ok(
    fdWarnings.length <= Math.ceil(seconds) + 2 && fdWarnings.length * 10 <= failures,
    `fd exhaustion logged at a bounded rate: ${fdWarnings.length} lines for ${failures} failures ` +
      `in ${seconds.toFixed(1)} s; first lines:\n${fdWarnings
        .slice(0, 3)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
  );
});
