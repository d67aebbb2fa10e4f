// Goal: connection floods — 2,000 connects in one burst at the entry of a cloakpipe pair (half
// dropped at once, half sending a request), and 2,000 garbage handshakes at the -d end — leave both
// processes up, serving, and back to their baseline file descriptor count.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HANDSHAKE_LEN } from '../helpers/fault-proxy.js';
import { startEnd } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { fdCount, mib, sampleRss, tempDir } from '../support/system.js';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';

after(stopAll);

const BURST = 2000;

let e: Proc;
let d: Proc;
let entry: string;
let dAddr: string;

before(async () => {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const target = await echoServer();
  ({ proc: d, address: dAddr } = await startEnd('-d', target.address, key, [
    '-o',
    '3',
    '--log-level',
    'debug',
  ]));
  ({ proc: e, address: entry } = await startEnd('-e', dAddr, key, ['-o', '3']));
  // Warm both ends up before taking baselines.
  const warm = randomBytes(100_000);
  assert.equal((await transfer(entry, warm)).sha256, sha256hex(warm));
});

/**
 * Open `n` connections to `address` in one burst; `each` drives one. Resolves when all have
 * closed, with the number of client-side errors and the median and last close time (ms); rejects
 * if any is still open after 60 s.
 */
function burst(
  address: string,
  n: number,
  each: (i: number, s: ReturnType<typeof connect>) => void,
): Promise<{ errors: number; p50: number; max: number }> {
  let closed = 0;
  let errors = 0;
  const times: number[] = [];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${n - closed} of ${n} burst connections still open after 60 s`)),
      60_000,
    );
    for (let i = 0; i < n; i++) {
      const s = connect(parseHostPort(address));
      s.on('error', () => {
        errors++;
      });
      s.on('data', () => {});
      s.on('close', () => {
        times.push(Date.now() - t0);
        if (++closed === n) {
          clearTimeout(timer);
          times.sort((a, b) => a - b);
          resolve({ errors, p50: times[n >> 1]!, max: times[n - 1]! });
        }
      });
      each(i, s);
    }
  });
}

/** Log lines of `p` counted by reason (or message), for failure messages. */
function histogram(p: Proc): string {
  const h: Record<string, number> = {};
  for (const l of p.logs()) {
    const k = String(l.reason ?? l.msg);
    h[k] = (h[k] ?? 0) + 1;
  }
  return JSON.stringify(h);
}

/** A few transfers through the pair, each checked by digest. */
async function transfersWork(): Promise<void> {
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const payload = randomBytes(256 * 1024);
      const got = await transfer(entry, payload, 30_000);
      assert.equal(got.sha256, sha256hex(payload));
    }),
  );
}

test('2,000 connects in a burst at the -e end: both ends stay up and later transfers work', async (t) => {
  const fds = { e: fdCount(e.child.pid!), d: fdCount(d.child.pid!) };
  const rssE = sampleRss(e.child.pid!);
  const rssD = sampleRss(d.child.pid!);
  const res = await burst(entry, BURST, (i, s) => {
    s.on('connect', () => {
      if (i % 2 === 0) s.destroy();
      else s.end('PING\r\n');
    });
  });
  t.diagnostic(
    `burst closed in ${res.p50} ms (median), ${res.max} ms (last); ${res.errors} client-side ` +
      `errors; RSS -e +${mib(rssE.stop())}, -d +${mib(rssD.stop())}`,
  );
  assert.equal(e.child.exitCode, null, '-e is still running');
  assert.equal(d.child.exitCode, null, '-d is still running');
  await transfersWork();
  for (const [name, p] of [
    ['e', e],
    ['d', d],
  ] as const) {
    await waitUntil(
      () => fdCount(p.child.pid!) <= fds[name] + 2,
      `-${name} is back to about ${fds[name]} file descriptors`,
      20_000,
      () => `now ${fdCount(p.child.pid!)}`,
    );
  }
});

test('2,000 garbage handshakes in a burst at the -d end: every one it accepts is refused with EBADMAC; it stays up and serving', async (t) => {
  const fds = fdCount(d.child.pid!);
  // -d logs each connection with its peer address: count only this burst's sockets, and only
  // lines logged after it began, so connections left over from the previous test (still queued
  // at -d under -n, or from a reused port) do not count.
  const ours = new Set<string>();
  const from = d.logs().length;
  const count = (re: RegExp, fields: Record<string, unknown> = {}): number =>
    logLines(d, re, fields, from).filter((l) => ours.has(String(l.peer))).length;
  const res = await burst(dAddr, BURST, (_i, s) => {
    s.on('connect', () => {
      ours.add(`${s.localAddress}:${s.localPort}`);
      s.end(randomBytes(HANDSHAKE_LEN));
    });
  });
  assert.equal(d.child.exitCode, null, '-d is still running');
  // Connections the kernel reset while the accept queue was full never reach -d; every one that
  // does must be refused.
  await waitUntil(
    () => count(/./, { reason: 'EBADMAC' }) >= count(/^connection accepted$/),
    'every accepted garbage handshake has been refused',
    20_000,
    () => `-d log: ${histogram(d)}`,
  );
  const accepted = count(/^connection accepted$/);
  t.diagnostic(
    `${accepted} accepted and refused; ${res.errors} reset before -d saw them; last closed ` +
      `after ${res.max} ms`,
  );
  assert.ok(accepted >= BURST / 4, `most of the burst reached -d (${accepted})`);
  assert.equal(count(/./, { reason: 'EBADMAC' }), accepted);
  assert.equal(count(/^handshake complete$/), 0, 'no garbage handshake completes');
  await transfersWork();
  await waitUntil(
    () => fdCount(d.child.pid!) <= fds + 2,
    `-d is back to about ${fds} file descriptors`,
    20_000,
    () => `now ${fdCount(d.child.pid!)}`,
  );
});
