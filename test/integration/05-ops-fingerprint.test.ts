// Goal: both ends log the fingerprint of their key at start (the same line on both when the keys
// match, different when they do not), never the key itself, and log the new fingerprint after
// SIGHUP re-reads a rewritten key file.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { keyFingerprint } from '../../src/daemon/fingerprint.js';
import { echoServer } from '../helpers/targets.js';
import { startEnd } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);
const dir = tempDir();

function newKey(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(32), { mode: 0o600 });
  return path;
}

/** The fingerprint this test expects for a key file: computed from its bytes. */
function expected(path: string): string {
  return keyFingerprint(createHash('sha256').update(readFileSync(path)).digest());
}

test('each end logs its key fingerprint at start; the same key gives the same line', async () => {
  const key = newKey('shared');
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key, ['-F']);
  const e = await startEnd('-e', d.address, key, ['-F']);
  const fp = expected(key);
  const line = `key fingerprint ${fp}: the other end must log the same`;
  for (const end of [d, e]) {
    const logs = end.proc.logs().filter((l) => l.fingerprint !== undefined);
    assert.deepEqual(
      logs.map((l) => [l.level, l.msg, l.keyFile, l.fingerprint]),
      [['info', line, key, fp]],
    );
    const k = createHash('sha256').update(readFileSync(key)).digest('hex');
    assert.ok(!end.proc.output().includes(k), 'K never appears in the output');
  }
  const other = newKey('other');
  const wrong = await startEnd('-e', d.address, other, ['-F']);
  assert.notEqual(expected(other), fp);
  await wrong.proc.waitFor(new RegExp(`"fingerprint":"${expected(other)}"`));
});

test('SIGHUP logs the fingerprint of the re-read key file', async () => {
  const key = newKey('rotating');
  const first = expected(key);
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key, ['-F']);
  await d.proc.waitFor(new RegExp(`"fingerprint":"${first}"`));
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const second = expected(key);
  assert.notEqual(second, first);
  d.proc.child.kill('SIGHUP');
  await d.proc.waitFor(
    new RegExp(`"msg":"key fingerprint ${second}: the other end must log the same"`),
  );
});
