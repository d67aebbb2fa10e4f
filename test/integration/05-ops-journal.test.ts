// Goal: a real systemd-journald stores cloakpipe's lines with the right PRIORITY, so that
// `journalctl -p warning` shows its warnings and errors and hides its info lines. journald runs
// in a private mount namespace (tmpfs over /run and /var/log/journal), so the host's journal is
// untouched; systemd-cat hands cloakpipe a journal stream and JOURNAL_STREAM names it, as systemd
// does for a service. Needs root, unshare(1) and the systemd package (no running systemd).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer } from '../helpers/targets.js';
import { requireBinary } from '../support/bins.js';
import { BIN } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);

const JOURNALD = '/lib/systemd/systemd-journald';

/** Runs inside `unshare --mount`: journald, cloakpipe under systemd-cat, then two queries. */
const SCRIPT = String.raw`
set -eu
id=$1; shift
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log/journal
${JOURNALD} 2>/dev/null &
jp=$!
trap 'kill $jp; wait $jp 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.05; done
systemd-cat -t "$id" sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1); export JOURNAL_STREAM; exec "$@"' sh "$@" || true
journalctl --sync
journalctl -t "$id" -o json --no-pager
echo '--- -p warning'
journalctl -t "$id" -p warning -o json --no-pager
`;

interface Entry {
  MESSAGE: string;
  PRIORITY: string;
}

test('journalctl -p warning shows the warn line and the start-up error, not the info ones', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (README: Test prerequisites)');
  requireBinary('unshare');
  requireBinary('systemd-cat');
  requireBinary('journalctl');
  assert.ok(
    existsSync(JOURNALD),
    `${JOURNALD} is missing; install it with: apt-get install systemd`,
  );
  const dir = tempDir();
  const key = join(dir, 'k');
  writeFileSync(key, randomBytes(32), { mode: 0o640 }); // group-readable: a WARN line
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const target = await echoServer();
  const id = `cloakpipe-test-${randomBytes(4).toString('hex')}`;
  const argv = [process.execPath, BIN, '-F', '-d', '-s', `[127.0.0.1]:${port}`];
  argv.push('-t', target.address, '-k', key);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'unshare',
      ['--mount', '--propagation', 'private', 'bash', '-c', SCRIPT, 'script', id, ...argv],
      { timeout: 30_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  busy.close();
  const [all, warning] = out.split('--- -p warning\n').map((part) =>
    part
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Entry),
  );
  assert.ok(all && warning, out);
  const find = (entries: Entry[], text: string): Entry | undefined =>
    entries.find((e) => e.MESSAGE.includes(text));
  // Every stored message is bare: journald took the <N> prefix off the JSON lines and off the
  // one-line start-up error on stderr.
  for (const e of all) assert.match(e.MESSAGE, /^(\{"level":"|cloakpipe: )/, e.MESSAGE);
  assert.equal(find(all, 'key fingerprint')?.PRIORITY, '6');
  assert.equal(find(all, 'WARNING: key file')?.PRIORITY, '4');
  assert.equal(find(all, 'cannot listen on')?.PRIORITY, '3');
  assert.deepEqual(
    warning.map((e) =>
      e.MESSAGE.startsWith('{')
        ? (JSON.parse(e.MESSAGE) as { level: string }).level
        : e.MESSAGE.split(':')[0],
    ),
    ['warn', 'cloakpipe'],
  );
});
