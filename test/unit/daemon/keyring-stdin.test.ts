// Goal: a `-k -` key survives every reload (standard input cannot be read twice) while the key
// files beside it are re-read; a key handed over by a --workers primary is used instead of
// standard input, and so are all keys handed over to a worker forked by an unprivileged
// primary (-u); the ring keeps its own copies and destroy() zeroes them.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { KeyRing } from '../../../src/daemon/keyring.js';
import { tempDir } from '../../support/system.js';

const sha = (b: Buffer): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

test('the handed-over -k - key stays across reloads; the files are re-read', () => {
  const file = join(tempDir(), 'k');
  const first = randomBytes(32);
  writeFileSync(file, first, { mode: 0o600 });
  const handed = sha(randomBytes(32));
  const expected = handed.slice();
  const ring = new KeyRing(['-', file], pino({ level: 'silent' }));
  ring.useStdinKey(handed);
  handed.fill(0); // the caller zeroes its copy; the ring kept its own
  ring.load();
  assert.deepEqual(ring.keys, [expected, sha(first)]);
  const second = randomBytes(32);
  writeFileSync(file, second);
  ring.load();
  assert.deepEqual(ring.keys, [expected, sha(second)]);
  const copy = ring.stdinKey()!;
  assert.deepEqual(copy, expected);
  copy.fill(0);
  assert.deepEqual(ring.stdinKey(), expected, 'stdinKey() hands out a copy');
  const held = ring.keys[0]!;
  ring.destroy();
  assert.equal(ring.stdinKey(), null);
  assert.ok(
    held.every((b) => b === 0),
    'destroy() zeroes the keys',
  );
});

test('keys handed over by an unprivileged primary (-u) are used without reading the files; copies are kept', () => {
  const file = join(tempDir(), 'unreadable-here');
  const handed = [sha(randomBytes(32)), sha(randomBytes(32))];
  const expected = handed.map((k) => k.slice());
  const ring = new KeyRing(['-', file], pino({ level: 'silent' }));
  ring.adopt(handed);
  for (const k of handed) k.fill(0);
  assert.deepEqual(ring.keys, expected, 'the file was never read (it does not exist)');
  assert.deepEqual(ring.stdinKey(), expected[0], 'the -k - key is kept for later reloads');
  assert.throws(() => ring.adopt([expected[0]!]), /expected 2 keys, got 1/);
  ring.destroy();
});
