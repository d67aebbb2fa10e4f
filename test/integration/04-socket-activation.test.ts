// Goal: systemd socket activation works: with no -s, cloakpipe serves the socket systemd passes as
// fd 3 (LISTEN_FDS/LISTEN_PID), and `-s fd:3` says the same explicitly; run under the real
// systemd-socket-activate, which sets the environment exactly as systemd does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { BIN, startEnd } from '../support/ends.js';
import { freePort } from '../support/net.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

for (const source of [[], ['-s', 'fd:3']]) {
  test(`an -e end under systemd-socket-activate (${source.length ? '-s fd:3' : 'no -s'}) tunnels through the passed socket`, async () => {
    const activate = requireBinary('systemd-socket-activate');
    const target = await echoServer();
    const d = await startEnd('-d', target.address, key);
    const port = await freePort();
    const child = spawn(
      activate,
      [
        '-l',
        `127.0.0.1:${port}`,
        process.execPath,
        BIN,
        '-e',
        ...source,
        '-t',
        d.address,
        '-k',
        key,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    try {
      // systemd-socket-activate says "Listening on …" and starts cloakpipe on the first connection.
      const deadline = Date.now() + 10_000;
      while (!/Listening on/.test(out) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 25));
      const payload = randomBytes(300_000);
      const got = await transfer(`[127.0.0.1]:${port}`, payload);
      assert.equal(got.sha256, sha256hex(payload), out);
      assert.ok(out.includes(`listening on 127.0.0.1:${port},`), out);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
}
