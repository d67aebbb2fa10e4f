// Goal: the key fingerprint is the documented domain-separated hash of K, reproducible with
// sha256sum and xxd exactly as the README says, 16 hex digits, and neither K nor the key file's
// bytes nor a plain hash of either.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyFingerprint } from '../../../src/daemon/fingerprint.js';
import { requireBinary } from '../../support/bins.js';
import { ROOT } from '../../support/ends.js';
import { tempDir } from '../../support/system.js';

const RECIPE =
  '{ printf \'cloakpipe-key-fingerprint-v1:\'; sha256sum < "$1" | cut -c1-64 | xxd -r -p; } | sha256sum | cut -c1-16';

test('keyFingerprint matches the shell recipe (sha256sum, xxd) for random key files', () => {
  requireBinary('xxd');
  const dir = tempDir();
  for (let i = 0; i < 4; i++) {
    const file = join(dir, `k${i}`);
    const bytes = randomBytes(i === 0 ? 0 : 16 * i);
    writeFileSync(file, bytes);
    const k = createHash('sha256').update(bytes).digest();
    const shell = execFileSync('bash', ['-c', RECIPE, 'recipe', file], { encoding: 'utf8' });
    assert.equal(keyFingerprint(k), shell.trim());
  }
});

test('the fingerprint is 16 hex digits and shows neither K, the file, nor their plain hashes', () => {
  const file = randomBytes(32);
  const k = createHash('sha256').update(file).digest();
  const fp = keyFingerprint(k);
  assert.match(fp, /^[0-9a-f]{16}$/);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  for (const secret of [k.toString('hex'), file.toString('hex'), sha(k), sha(file)])
    assert.ok(!secret.includes(fp), 'fingerprint is not part of K, the file or a plain hash');
  assert.notEqual(keyFingerprint(createHash('sha256').update(randomBytes(32)).digest()), fp);
});

test('a key that is not 32 bytes is a RangeError with the length', () => {
  assert.throws(() => keyFingerprint(new Uint8Array(31)), {
    name: 'RangeError',
    message: 'expected a 32-byte key, got length=31',
  });
});

test("the README's troubleshooting section gives this recipe and quotes the log line", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Troubleshooting'));
  assert.ok(section.includes(RECIPE.replace('"$1"', 'KEYFILE')), 'the recipe, with KEYFILE');
  assert.match(section, /`key fingerprint [0-9a-f]{16}: the other end must log the same`/);
});
