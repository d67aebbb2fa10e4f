// Goal: the real binary writes log levels as names by default ("level":"info") and as pino's
// numbers with --log-numeric-levels; with JOURNAL_STREAM naming its stdout (as systemd sets it),
// every line starts with the sd-daemon priority prefix journald turns into PRIORITY, and with
// JOURNAL_STREAM naming some other stream, no line does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { echoServer } from '../helpers/targets.js';
import { BIN, startEnd } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

test('levels are names by default and numbers with --log-numeric-levels', async () => {
  const target = await echoServer();
  const named = await startEnd('-d', target.address, key, ['-F']);
  const line = named.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"listening on'));
  assert.match(line ?? '', /^\{"level":"info",/);
  const numeric = await startEnd('-d', target.address, key, ['-F', '--log-numeric-levels']);
  const nline = numeric.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"listening on'));
  assert.match(nline ?? '', /^\{"level":30,/);
});

/**
 * Run one -d end with stdout and stderr on one file (as systemd connects a service), JOURNAL_STREAM
 * set by `journal(dev, ino)`, a key that is group-readable (a WARN line) and a target that does not
 * resolve (a start-up error on stderr, exit 1). Returns the file's lines.
 */
async function runWithStdoutFile(journal: (dev: bigint, ino: bigint) => string): Promise<string[]> {
  const loose = join(dir, 'loose');
  writeFileSync(loose, randomBytes(32), { mode: 0o640 });
  const out = join(dir, `out-${randomBytes(4).toString('hex')}`);
  const fd = openSync(out, 'w');
  const st = fstatSync(fd, { bigint: true });
  const child = spawn(
    process.execPath,
    [BIN, '-F', '-d', '-s', '[127.0.0.1]:0', '-t', 'no-such-host.invalid:1', '-k', loose],
    {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, JOURNAL_STREAM: journal(st.dev, st.ino) },
    },
  );
  closeSync(fd);
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 1);
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

test('under systemd (JOURNAL_STREAM is stdout) each line starts with its <N> priority', async () => {
  const lines = await runWithStdoutFile((dev, ino) => `${dev}:${ino}`);
  const warn = lines.find((l) => l.includes('WARNING: key file'));
  const fatal = lines.find((l) => l.includes('cannot resolve target'));
  assert.match(warn ?? '', /^<4>\{"level":"warn",/);
  assert.match(fatal ?? '', /^<3>cloakpipe: cannot resolve target no-such-host\.invalid:1/);
  for (const l of lines) assert.match(l, /^<[2-7]>(\{"level":"|cloakpipe: )/, l);
});

test('JOURNAL_STREAM naming another stream (output redirected) gives plain JSON lines', async () => {
  const lines = await runWithStdoutFile((dev, ino) => `${dev}:${ino + 1n}`);
  assert.ok(lines.length >= 2, lines.join('\n'));
  for (const l of lines) assert.match(l, /^(\{"level":"|cloakpipe: )/, l);
  assert.ok(lines.some((l) => l.startsWith('cloakpipe: cannot resolve target')));
});
