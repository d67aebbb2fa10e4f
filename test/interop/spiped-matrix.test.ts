// Goal: cloakpipe interoperates byte for byte with the real spiped 1.6 in both roles, over TCP and
// UNIX sockets, with and without -f; half-close crosses the tunnel both ways; -g refuses a -f peer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { startEnd } from '../support/ends.js';
import { type Proc, stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { replyAfterEofServer, sha256hex, transfer } from '../helpers/targets.js';

type Impl = 'spiped' | 'cloakpipe';
const PAYLOAD = randomBytes(4 * 1024 * 1024 + 123);

after(stopAll);

async function pair(
  e: Impl,
  d: Impl,
  transport: 'tcp' | 'unix',
  eFlags: string[],
  dFlags: string[],
): Promise<{ entry: string; dEnd: Proc; eEnd: Proc; received: () => number }> {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const target = await replyAfterEofServer(
    transport === 'unix' ? join(dir, 'target.sock') : undefined,
  );
  /** A UNIX socket in `dir` for `impl`'s `mode` end; over TCP, startEnd picks the port. */
  const source = (impl: Impl, mode: '-e' | '-d'): { impl: Impl; source?: string } =>
    transport === 'unix'
      ? { impl, source: join(dir, `${impl === 'spiped' ? 'sp' : 'cp'}${mode}.sock`) }
      : { impl };
  const dEnd = await startEnd('-d', target.address, key, dFlags, source(d, '-d'));
  const eEnd = await startEnd('-e', dEnd.address, key, eFlags, source(e, '-e'));
  return { entry: eEnd.address, dEnd: dEnd.proc, eEnd: eEnd.proc, received: target.received };
}

requireBinary('spiped');

for (const transport of ['tcp', 'unix'] as const) {
  describe(`interop over ${transport}`, () => {
    for (const [e, d] of [
      ['spiped', 'cloakpipe'],
      ['cloakpipe', 'spiped'],
      ['cloakpipe', 'cloakpipe'],
    ] as const) {
      for (const f of [[], ['-f']]) {
        test(`${e} -e ${f.join(' ')} → ${d} -d ${f.join(' ')}: 4 MiB arrive intact and the reply after half-close arrives whole`, async () => {
          const p = await pair(e, d, transport, f, f);
          const got = await transfer(p.entry, PAYLOAD);
          assert.equal(p.received(), PAYLOAD.length, 'target received every byte');
          assert.equal(got.bytes, PAYLOAD.length + 32, 'reply = payload + its sha256');
          assert.equal(sha256hex(got.data.subarray(0, PAYLOAD.length)), sha256hex(PAYLOAD));
          assert.equal(got.data.subarray(PAYLOAD.length).toString('hex'), sha256hex(PAYLOAD));
          await p.eEnd.stop();
          await p.dEnd.stop();
        });
      }
    }

    test('cloakpipe -e -f against a -d that requires PFS (spiped -d -g): refused, no byte reaches the target', async () => {
      const p = await pair('cloakpipe', 'spiped', transport, ['-f'], ['-g']);
      const got = await transfer(p.entry, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.equal(p.received(), 0);
      await p.eEnd.waitFor(/handshake failed/);
    });

    test('spiped -e -f against cloakpipe -d -g: refused with ENOPFS logged, no byte reaches the target', async () => {
      const p = await pair('spiped', 'cloakpipe', transport, ['-f'], ['-g']);
      const got = await transfer(p.entry, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.equal(p.received(), 0);
      await p.dEnd.waitFor(/"reason":"ENOPFS"/);
    });

    test('cloakpipe -e -g against cloakpipe -d -f: the -e end refuses with ENOPFS', async () => {
      const p = await pair('cloakpipe', 'cloakpipe', transport, ['-g'], ['-f']);
      const got = await transfer(p.entry, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.equal(p.received(), 0);
      await p.eEnd.waitFor(/"reason":"ENOPFS"/);
    });
  });
}
