// Goal: loadKeyFile derives K = SHA-256(file) and warns about loose modes and short keys;
// generateKeyFile writes 32 random bytes with mode 0600 and never overwrites.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateKeyFile, KeyFileError, loadKeyFile } from '../../../src/crypto/keyfile.js';

const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-keyfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, bytes: Uint8Array, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
  return path;
}

describe('loadKeyFile', () => {
  test('K = SHA-256 of the whole file, with no warnings for a 0600 32-byte file', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const path = keyFile('good', bytes, 0o600);
    const loaded = loadKeyFile(path);
    assert.equal(loaded.path, path);
    assert.equal(
      Buffer.from(loaded.key).toString('hex'),
      createHash('sha256').update(bytes).digest('hex'),
    );
    assert.deepEqual(loaded.warnings, []);
  });

  test('hashes every byte of a long file (not just the first 32)', () => {
    const a = Buffer.alloc(100, 7);
    const b = Buffer.from(a);
    b[99] = 8;
    const ka = loadKeyFile(keyFile('long-a', a, 0o600)).key;
    const kb = loadKeyFile(keyFile('long-b', b, 0o600)).key;
    assert.equal(Buffer.from(ka).toString('hex'), createHash('sha256').update(a).digest('hex'));
    assert.notDeepEqual(ka, kb);
  });

  test('an empty file is refused (fail closed), naming the file and cloakpipe keygen', () => {
    const path = keyFile('empty', new Uint8Array(0), 0o600);
    assert.throws(
      () => loadKeyFile(path),
      (err: unknown) => {
        assert.ok(err instanceof KeyFileError);
        assert.equal(
          err.message,
          `cannot use key file ${path}: the file is empty, and an empty key is no secret; ` +
            'make a key with: cloakpipe keygen FILE (or pass --insecure-empty-key to accept it anyway)',
        );
        return true;
      },
    );
  });

  test('with allowEmpty, an empty file (like spiped -k /dev/null) gives K = SHA-256 of nothing, with a short-key warning', () => {
    const loaded = loadKeyFile(keyFile('empty-ok', new Uint8Array(0), 0o600), { allowEmpty: true });
    assert.equal(
      Buffer.from(loaded.key).toString('hex'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.equal(loaded.warnings.length, 1);
    assert.match(loaded.warnings[0]!, /holds only 0 bytes/);
  });

  test('a missing file throws KeyFileError naming the path and ENOENT', () => {
    const path = join(dir, 'no-such-key');
    assert.throws(
      () => loadKeyFile(path),
      (err: unknown) => {
        assert.ok(err instanceof KeyFileError);
        assert.equal(err.path, path);
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, /ENOENT/);
        return true;
      },
    );
  });

  test('a directory throws KeyFileError', () => {
    assert.throws(
      () => loadKeyFile(dir),
      (err: unknown) => err instanceof KeyFileError && /EISDIR/.test(err.message),
    );
  });

  for (const [mode, who] of [
    [0o640, 'its group'],
    [0o644, 'others'],
    [0o604, 'others'],
  ] as const) {
    test(`mode ${mode.toString(8)} draws the chmod 600 warning naming the file`, () => {
      const path = keyFile(`mode-${mode.toString(8)}`, Buffer.alloc(32, 1), mode);
      const { warnings } = loadKeyFile(path);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      const w = warnings[0]!;
      assert.ok(w.includes(path), w);
      assert.ok(w.includes(`chmod 600 ${path}`), w);
      assert.ok(w.includes(who), w);
      assert.ok(w.includes(mode.toString(8)), w);
    });
  }

  test('modes 0600 and 0400 draw no permission warning', () => {
    for (const mode of [0o600, 0o400]) {
      const path = keyFile(`mode-ok-${mode.toString(8)}`, Buffer.alloc(32, 2), mode);
      assert.deepEqual(loadKeyFile(path).warnings, [], mode.toString(8));
    }
  });

  test('a 10-byte file draws the short-key warning naming the file and its size', () => {
    const path = keyFile('short', Buffer.alloc(10, 3), 0o600);
    const { warnings, key } = loadKeyFile(path);
    assert.equal(warnings.length, 1);
    const w = warnings[0]!;
    assert.ok(w.includes(path), w);
    assert.match(w, /\b10 bytes\b/);
    assert.match(w, /\b32\b/);
    assert.equal(
      Buffer.from(key).toString('hex'),
      createHash('sha256').update(Buffer.alloc(10, 3)).digest('hex'),
    );
  });

  test('a short, group-readable file draws both warnings', () => {
    const { warnings } = loadKeyFile(keyFile('short-loose', Buffer.alloc(10, 4), 0o640));
    assert.equal(warnings.length, 2);
  });

  test('warnings never contain key bytes', () => {
    const bytes = Buffer.from('0123456789');
    const path = keyFile('secret-ish', bytes, 0o644);
    const { warnings, key } = loadKeyFile(path);
    for (const w of warnings) {
      assert.ok(!w.includes(bytes.toString('hex')));
      assert.ok(!w.includes(Buffer.from(key).toString('hex')));
    }
  });
});

describe('generateKeyFile', () => {
  test('writes 32 bytes with mode 0600 that load without warnings', () => {
    const path = join(dir, 'generated');
    generateKeyFile(path);
    const st = statSync(path);
    assert.equal(st.size, 32);
    assert.equal(st.mode & 0o777, 0o600);
    const loaded = loadKeyFile(path);
    assert.deepEqual(loaded.warnings, []);
    assert.equal(
      Buffer.from(loaded.key).toString('hex'),
      createHash('sha256').update(readFileSync(path)).digest('hex'),
    );
  });

  test('two generated keys differ', () => {
    generateKeyFile(join(dir, 'gen-a'));
    generateKeyFile(join(dir, 'gen-b'));
    assert.notDeepEqual(readFileSync(join(dir, 'gen-a')), readFileSync(join(dir, 'gen-b')));
  });

  test('refuses to overwrite an existing file (EEXIST) and leaves it intact', () => {
    const path = keyFile('existing', Buffer.from('do not clobber'), 0o600);
    assert.throws(
      () => generateKeyFile(path),
      (err: unknown) => {
        assert.ok(err instanceof KeyFileError);
        assert.equal(err.path, path);
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, /EEXIST/);
        return true;
      },
    );
    assert.equal(readFileSync(path, 'utf8'), 'do not clobber');
  });
});
