// Goal: a wrong key lets nothing through (the client sees the close within -o, the target gets zero
// bytes, the log says why), and a key read from standard input (-k -) works like the file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { cloakpipe, startCloakpipe, startEnd, startSpiped } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, freeAddress, sha256hex, transfer } from '../helpers/targets.js';

after(stopAll);

const dir = tempDir();
const keyA = join(dir, 'a.key');
const keyB = join(dir, 'b.key');
const keyBytes = randomBytes(32);
writeFileSync(keyA, keyBytes, { mode: 0o600 });
writeFileSync(keyB, randomBytes(32), { mode: 0o600 });

test('wrong key: client closed within -o, zero bytes reach the target, -d logs EBADMAC', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, keyB, ['-o', '2']);
  const e = await startEnd('-e', d.address, keyA, ['-o', '2']);
  const got = await transfer(e.address, randomBytes(100_000), 10_000, true);
  assert.equal(got.bytes, 0, 'client receives nothing');
  assert.ok(got.ms < 2500, `closed within -o (took ${got.ms} ms)`);
  assert.equal(target.received(), 0, 'target receives zero bytes');
  await d.proc.waitFor(/"reason":"EBADMAC".*handshake failed: handshake MAC mismatch/);
  await e.proc.waitFor(
    /handshake failed: peer closed the connection during the handshake: wrong key/,
  );
});

test('wrong key from the real spiped -e: cloakpipe -d refuses with EBADMAC, target gets nothing', async () => {
  requireBinary('spiped');
  const target = await echoServer();
  const d = await startEnd('-d', target.address, keyB);
  const src = await freeAddress('tcp', dir, 'sp');
  await startSpiped(
    ['-e', '-s', src, '-t', `[${d.address.replace(/:(\d+)$/, ']:$1')}`, '-k', keyA],
    src,
  );
  const got = await transfer(src, Buffer.from('PING\r\n'), 10_000, true);
  assert.equal(got.bytes, 0);
  assert.equal(target.received(), 0);
  await d.proc.waitFor(/"reason":"EBADMAC"/);
});

test('-k - reads the key from standard input and interoperates with the same key in a file', async () => {
  const target = await echoServer();
  const dProc = cloakpipe(['-d', '-s', '[127.0.0.1]:0', '-t', target.address, '-k', '-'], {
    stdin: keyBytes,
  });
  const m = await dProc.waitFor(/"msg":"listening on (\S+),/);
  const e = await startCloakpipe(['-e', '-s', '[127.0.0.1]:0', '-t', m[1]!, '-k', keyA]);
  const payload = randomBytes(300_000);
  const got = await transfer(e.address, payload);
  assert.equal(got.sha256, sha256hex(payload));
});

test('a -d holding several keys (-k old -k new) accepts clients of either key', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, keyB, ['-k', keyA]);
  for (const k of [keyA, keyB]) {
    const e = await startEnd('-e', d.address, k);
    const payload = randomBytes(10_000);
    const got = await transfer(e.address, payload);
    assert.equal(got.sha256, sha256hex(payload), `client with ${k}`);
    await e.proc.stop();
  }
});
