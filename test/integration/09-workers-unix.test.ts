// Goal: a --workers end on a UNIX socket serves from every worker under both node:cluster
// schedules. Under the kernel's (SharedHandle), the primary binds the socket file before a worker
// listens on it; a worker that checked for a stale socket in that gap unlinked the live one, so
// the end listened on nothing. The primary now clears a stale socket once, before any worker.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';
import { cloakpipe, startEnd } from '../support/ends.js';
import { logLines, stopAll, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

for (const schedule of ['kernel', 'rr'] as const)
  test(`--workers 2 --workers-schedule ${schedule} on a UNIX socket: every tunnel works`, async () => {
    const target = await echoServer();
    const sock = join(dir, `d-${schedule}.sock`);
    // A stale socket file, left by a process that exited without closing its listener: the
    // primary must clear it, once, and no worker may take the live one for stale.
    execFileSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => process.exit(0))`,
    ]);
    assert.ok(lstatSync(sock).isSocket(), 'the stale socket file exists');
    const d = cloakpipe(
      ['-d', '-s', sock, '-t', target.address, '-k', key, '--workers', '2'].concat([
        '--workers-schedule',
        schedule,
      ]),
      { name: `cloakpipe -d --workers 2 (${schedule})` },
    );
    await waitUntil(() => logLines(d, /^worker \d+ listens$/).length >= 2, 'both workers listen');
    const e = await startEnd('-e', sock, key);
    const payload = randomBytes(20_000);
    for (let i = 0; i < 8; i++) {
      const r = await transfer(e.address, payload);
      assert.equal(r.sha256, sha256hex(payload), `tunnel ${i} through ${schedule}`);
    }
    const removed = logLines(d, /removing stale UNIX socket/);
    assert.equal(removed.length, 1, 'the stale socket is removed once');
    assert.equal(removed[0]!.worker, 0, 'by the primary, before any worker binds');
  });
