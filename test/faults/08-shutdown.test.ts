// Goal: SIGTERM under load drains — with 10 transfers of 32 MiB in flight, the -e end refuses new
// connections at once, lets every transfer finish intact and exits 0; with --shutdown-timeout 1
// and targets too slow to finish, it cuts them after 1 s, logs each one cut, and exits 1; TCP and
// UNIX with spiped framing, and TCP with compact framing (DESIGN.md §9).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Framing } from '../../src/crypto/kdf.js';
import { startCloakpipe } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { MiB, tempDir } from '../support/system.js';
import { streamTransfer, type TestServer, throttledServer } from '../helpers/targets.js';

after(stopAll);

/** -e → -d → `target` with `framing`, the -e end with `eFlags`; sources on `transport`. */
async function pair(
  transport: 'tcp' | 'unix',
  framing: Framing,
  target: TestServer,
  eFlags: string[],
): Promise<{ e: Proc; entry: string; d: Proc }> {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const src = (name: string): string =>
    transport === 'unix' ? join(dir, `${name}.sock`) : '[127.0.0.1]:0';
  const f = ['--framing', framing];
  const d = await startCloakpipe(['-d', '-s', src('d'), '-t', target.address, '-k', key, ...f]);
  const e = await startCloakpipe([
    '-e',
    '-s',
    src('e'),
    '-t',
    d.address,
    '-k',
    key,
    ...f,
    ...eFlags,
  ]);
  return { e: e.proc, entry: e.address, d: d.proc };
}

/** Resolves with the error code of a connection attempt to `address` (or 'connected'). */
function tryConnect(address: string): Promise<string> {
  return new Promise((resolve) => {
    const s = address.startsWith('/')
      ? connect({ path: address })
      : connect(parseHostPort(address));
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

const RUNS: readonly (readonly ['tcp' | 'unix', Framing])[] = [
  ['tcp', 'spiped'],
  ['unix', 'spiped'],
  ['tcp', 'compact'],
];

for (const [transport, framing] of RUNS) {
  describe(`shutdown under load over ${transport}, ${framing} framing`, () => {
    test('SIGTERM with 10 × 32 MiB in flight: new connects are refused, every transfer completes intact, exit 0', async () => {
      // 5 MiB/s per connection: 32 MiB take 6 s or more, so all 10 are in flight at the signal.
      const target = await throttledServer(5 * MiB, 'digest');
      const p = await pair(transport, framing, target, []);
      const blocks = Array.from({ length: 10 }, () => randomBytes(MiB));
      const transfers = blocks.map((b) => streamTransfer(p.entry, b, 32, { timeoutMs: 120_000 }));
      await waitUntil(
        () => target.connections() === 10 && target.received() >= 10 * MiB,
        'all 10 transfers are in flight',
        30_000,
      );
      p.e.child.kill('SIGTERM');
      await p.e.waitFor(/shutting down: no longer accepting/);
      const refused = await tryConnect(p.entry);
      assert.ok(
        ['ECONNREFUSED', 'ENOENT'].includes(refused),
        `a new connection is refused (${refused})`,
      );
      const results = await Promise.all(transfers);
      for (const [i, r] of results.entries())
        assert.equal(
          r.head.toString('hex'),
          r.sentSha256,
          `transfer ${i}: digest at the target matches`,
        );
      assert.ok(target.received() >= 320 * MiB, 'all 320 MiB arrived');
      assert.equal(await p.e.exited, 0, 'exit code 0');
      assert.equal(logLines(p.e, /^all connections closed; exiting$/).length, 1);
      assert.equal(p.d.child.exitCode, null, 'the -d end is unaffected');
    });

    test('SIGTERM with --shutdown-timeout 1 and targets too slow to finish: after 1 s the connections are cut and listed, exit 1', async () => {
      const target = await throttledServer(256 * 1024, 'digest');
      const p = await pair(transport, framing, target, ['--shutdown-timeout', '1']);
      const blocks = Array.from({ length: 4 }, () => randomBytes(MiB));
      const transfers = blocks.map((b) =>
        streamTransfer(p.entry, b, 8, { timeoutMs: 60_000, allowReset: true }),
      );
      await waitUntil(
        () => target.connections() === 4 && target.received() >= 4 * 64 * 1024,
        'all 4 transfers are in flight',
        30_000,
      );
      const t0 = Date.now();
      p.e.child.kill('SIGTERM');
      assert.equal(await p.e.exited, 1, 'exit code 1');
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 5000, `exited after the 1 s timeout (${took} ms)`);
      const [line] = logLines(p.e, /^shutdown timeout: cutting 4 live connection\(s\)$/);
      assert.ok(line, `a shutdown timeout line:\n${p.e.output()}`);
      const cut = line.cut as { id: number; peer: string; state: string; up: number }[];
      assert.equal(cut.length, 4, 'all 4 listed');
      for (const c of cut) {
        assert.equal(c.state, 'open');
        assert.ok(c.up > 0, `connection ${c.id} had sent bytes (${c.up})`);
        assert.equal(typeof c.peer, 'string');
      }
      assert.equal(new Set(cut.map((c) => c.id)).size, 4, 'distinct connections');
      const results = await Promise.all(transfers);
      for (const r of results)
        assert.notEqual(r.head.toString('hex'), r.sentSha256, 'a cut transfer gets no digest');
    });
  });
}
