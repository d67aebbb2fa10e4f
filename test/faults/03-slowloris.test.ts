// Goal: slowloris — 200 sockets trickling one byte a second at a `-d -n 100 -o 2` end are each
// dropped about -o after the end starts serving them (the second hundred wait in the -n queue
// first, as in spiped's listen backlog), a real client gets through afterwards, and the -d process
// neither leaks file descriptors nor grows its RSS by more than 30 MiB.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startEnd } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, stopAll, waitUntil } from '../support/procs.js';
import { fdCount, MiB, mib, sampleRss, tempDir } from '../support/system.js';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';

after(stopAll);

const SOCKETS = 200;
const MAX_CONNS = 100;
const TIMEOUT_S = 2;

/** A socket that sends one byte a second and records when the -d end closed it. */
interface Loris {
  readonly socket: Socket;
  readonly opened: number;
  closedAt: number | null;
  sent: number;
}

function loris(address: string): Loris {
  const s = connect(parseHostPort(address));
  const l: Loris = { socket: s, opened: Date.now(), closedAt: null, sent: 0 };
  const tick = setInterval(() => {
    if (!s.destroyed && s.writable) {
      s.write(randomBytes(1));
      l.sent++;
    }
  }, 1000);
  s.on('connect', () => {
    s.write(randomBytes(1));
    l.sent++;
  });
  const closed = (): void => {
    clearInterval(tick);
    l.closedAt ??= Date.now();
  };
  s.on('data', () => {}); // the -d end's nonce; reading it lets the FIN be seen at once
  s.on('end', closed);
  s.on('close', closed);
  s.on('error', () => {});
  return l;
}

test('200 slowloris sockets are each dropped at about -o, a real client gets through afterwards, and -d does not grow', async (t) => {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key, [
    '-n',
    String(MAX_CONNS),
    '-o',
    String(TIMEOUT_S),
  ]);
  const e = await startEnd('-e', d.address, key);
  const pid = d.proc.child.pid!;
  // Warm up, so the baseline includes a served connection.
  const warm = randomBytes(100_000);
  assert.equal((await transfer(e.address, warm)).sha256, sha256hex(warm));
  const fds = fdCount(pid);
  const rss = sampleRss(pid);

  const all = Array.from({ length: SOCKETS }, () => loris(d.address));
  await waitUntil(
    () => all.every((l) => l.closedAt !== null),
    'every slowloris socket has been closed by -d',
    30_000,
    () => `${all.filter((l) => l.closedAt === null).length} still open`,
  );
  const lifetimes = all.map((l) => (l.closedAt! - l.opened) / 1000).sort((a, b) => a - b);
  const first = lifetimes.slice(0, MAX_CONNS);
  const queued = lifetimes.slice(MAX_CONNS);
  // The first hundred are served at once and dropped at -o; the rest wait for a free slot first.
  assert.ok(first[0]! >= TIMEOUT_S - 0.3, `none dropped early (shortest ${first[0]} s)`);
  assert.ok(first.at(-1)! <= TIMEOUT_S + 2, `first 100 dropped by -o + 2 s (${first.at(-1)} s)`);
  assert.ok(queued[0]! >= 2 * TIMEOUT_S - 0.5, `the queued 100 waited a turn (${queued[0]} s)`);
  assert.ok(
    queued.at(-1)! <= 2 * TIMEOUT_S + 4,
    `the queued 100 by 2·-o + 4 s (${queued.at(-1)} s)`,
  );
  assert.ok(
    all.every((l) => l.sent <= 2 * TIMEOUT_S + 6),
    'no socket lived long enough to trickle in a handshake',
  );
  await waitUntil(
    () => logLines(d.proc, /handshake failed/, { reason: 'ETIMEDOUT' }).length >= SOCKETS,
    `-d logs ${SOCKETS} handshake timeouts`,
    10_000,
  );
  assert.equal(logLines(d.proc, /handshake failed/, { reason: 'ETIMEDOUT' }).length, SOCKETS);
  assert.ok(logLines(d.proc, /connection limit reached/).length >= 1, 'the -n warning is logged');

  const payload = randomBytes(1024 * 1024);
  const got = await transfer(e.address, payload);
  assert.equal(got.sha256, sha256hex(payload), 'a real client gets through afterwards');

  const growth = rss.stop();
  t.diagnostic(
    `lifetimes ${first[0]}–${first.at(-1)} s and ${queued[0]}–${queued.at(-1)} s; RSS +${mib(growth)}`,
  );
  assert.ok(growth < 30 * MiB, `-d RSS grew by ${mib(growth)} (limit 30 MiB)`);
  await waitUntil(
    () => fdCount(pid) <= fds + 2,
    `-d is back to about ${fds} file descriptors`,
    10_000,
    () => `now ${fdCount(pid)}`,
  );
});
