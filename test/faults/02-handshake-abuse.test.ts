// Goal: a peer that knows the key but sends a bad Diffie-Hellman value (y = p, y > p, y = 0,
// y = p−1) is refused with EBADDH by either end, y = 1 is refused with ENOPFS under -g, and a peer
// with the wrong key is refused with EBADMAC; no plaintext reaches a target in any of these cases,
// and a client behind a refused -e end sees its connection close within -o; under both framings
// (the handshake's checks are the same, its MAC keys differ: DESIGN.md §9.1).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FRAMINGS } from '../../src/crypto/kdf.js';
import { YH_LEN } from '../../src/crypto/sizes.js';
import {
  attackServer,
  BAD_Y,
  closeAllFakeServers,
  fakeServer,
  honestY,
  keyOf,
  Y_ONE,
} from '../helpers/adversary.js';
import { startCloakpipe, startEnd } from '../support/ends.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, type TestServer, transfer } from '../helpers/targets.js';

after(async () => {
  await closeAllFakeServers();
  await stopAll();
});

const dir = tempDir();
const keyFile = join(dir, 'key');
const otherKeyFile = join(dir, 'other.key');
writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
writeFileSync(otherKeyFile, randomBytes(32), { mode: 0o600 });
const K = keyOf(keyFile);
const WRONG_K = keyOf(otherKeyFile);

/** Wait until `proc` has logged `n` lines with `fields`; returns them. */
async function waitForLines(
  proc: Proc,
  fields: Record<string, unknown>,
  n: number,
): Promise<Record<string, unknown>[]> {
  await waitUntil(
    () => logLines(proc, /./, fields).length >= n,
    `${n} log line(s) with ${JSON.stringify(fields)}`,
    10_000,
    () => proc.output(),
  );
  return logLines(proc, /./, fields);
}

for (const framing of FRAMINGS) {
  /** The --framing arguments of both ends. */
  const args = ['--framing', framing];

  describe(`${framing} framing: an adversarial client against cloakpipe -d`, () => {
    let target: TestServer;
    let d: Proc;
    let dAddr: string;
    let dg: Proc;
    let dgAddr: string;
    before(async () => {
      target = await echoServer();
      ({ proc: d, address: dAddr } = await startEnd('-d', target.address, keyFile, [
        '-o',
        '5',
        ...args,
      ]));
      ({ proc: dg, address: dgAddr } = await startCloakpipe([
        '-d',
        '-g',
        '-s',
        '[127.0.0.1]:0',
        '-t',
        target.address,
        '-k',
        keyFile,
        ...args,
      ]));
    });

    test('an honest y with the right key is answered with a y_S whose MAC verifies (the adversary is sound)', async () => {
      const res = await attackServer(dAddr, K, honestY(), { framing });
      assert.ok(res.reply.length >= YH_LEN, `server answered (${res.reply.length} bytes)`);
      assert.ok(res.serverMacOk, "the server's h_S verifies under K");
    });

    test('y = 1 without -g is accepted as a no-PFS peer', async () => {
      const res = await attackServer(dAddr, K, Y_ONE, { framing });
      assert.ok(res.serverMacOk);
    });

    for (const [i, bad] of BAD_Y.entries()) {
      test(`${bad.name} with the right key and MAC is refused with EBADDH (${bad.why}); the target gets nothing`, async () => {
        const received = target.received();
        const res = await attackServer(dAddr, K, bad.y, { framing });
        assert.equal(res.reply.length, 0, 'no y_S is sent back');
        assert.ok(res.ms < 4000, `closed promptly (${res.ms} ms)`);
        const lines = await waitForLines(d, { reason: 'EBADDH' }, i + 1);
        assert.match(
          String(lines[i]!.msg),
          new RegExp(`invalid Diffie-Hellman value \\(${bad.why}\\)`),
        );
        assert.equal(target.received(), received, 'no byte reaches the target');
      });
    }

    test('y = 1 against -g is refused with ENOPFS; the target gets nothing', async () => {
      const received = target.received();
      const res = await attackServer(dgAddr, K, Y_ONE, { framing });
      assert.equal(res.reply.length, 0);
      await waitForLines(dg, { reason: 'ENOPFS' }, 1);
      assert.equal(target.received(), received);
    });

    test('an honest y under the wrong key is refused with EBADMAC and the connection closes at once', async () => {
      const received = target.received();
      const before = logLines(d, /./, { reason: 'EBADMAC' }).length;
      const res = await attackServer(dAddr, WRONG_K, honestY(), { framing });
      assert.equal(res.reply.length, 0);
      assert.ok(res.ms < 2000, `closed promptly (${res.ms} ms)`);
      await waitForLines(d, { reason: 'EBADMAC' }, before + 1);
      assert.equal(target.received(), received);
    });

    test('the right key with a broken MAC is refused with EBADMAC before the value is looked at', async () => {
      const before = logLines(d, /./, { reason: 'EBADMAC' }).length;
      const dh = logLines(d, /./, { reason: 'EBADDH' }).length;
      const res = await attackServer(dAddr, K, BAD_Y[0]!.y, { breakMac: true, framing });
      assert.equal(res.reply.length, 0);
      await waitForLines(d, { reason: 'EBADMAC' }, before + 1);
      assert.equal(logLines(d, /./, { reason: 'EBADDH' }).length, dh, 'not reported as EBADDH');
    });
  });

  describe(`${framing} framing: a fake server against cloakpipe -e`, () => {
    /** A -e end in front of a fake server answering with `y`; returns both. */
    async function eFacing(y: Uint8Array, extra: string[] = []) {
      const fake = await fakeServer(K, y, undefined, framing);
      const e = await startEnd('-e', fake.address, keyFile, ['-o', '2', ...args, ...extra]);
      return { fake, e };
    }

    test('an honest fake server completes the handshake: the -e end sends packets (the fake is sound)', async () => {
      const { fake, e } = await eFacing(honestY());
      const got = await transfer(e.address, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.equal(fake.conns[0]?.clientMacOk, true, "the -e end's h_C verifies under K");
      await waitUntil(() => (fake.conns[0]?.bytesAfterHandshake ?? 0) > 0, 'a packet arrives');
      await e.proc.stop();
    });

    for (const bad of BAD_Y) {
      test(`a server answering ${bad.name} is refused by -e with EBADDH; the client is closed and no packet is sent`, async () => {
        const { fake, e } = await eFacing(bad.y);
        const got = await transfer(e.address, Buffer.from('secret'), 10_000, true);
        assert.equal(got.bytes, 0);
        assert.ok(got.ms < 2500, `client closed within -o (${got.ms} ms)`);
        const lines = await waitForLines(e.proc, { reason: 'EBADDH' }, 1);
        assert.match(String(lines[0]!.msg), new RegExp(`\\(${bad.why}\\)`));
        await waitUntil(() => fake.conns[0]?.closedAfterMs != null, 'the fake sees the close');
        assert.equal(fake.conns[0]!.bytesAfterHandshake, 0, 'no encrypted packet was sent');
        await e.proc.stop();
      });
    }

    test('a server answering y = 1 is refused by -e -g with ENOPFS', async () => {
      const { fake, e } = await eFacing(Y_ONE, ['-g']);
      const got = await transfer(e.address, Buffer.from('secret'), 10_000, true);
      assert.equal(got.bytes, 0);
      await waitForLines(e.proc, { reason: 'ENOPFS' }, 1);
      await waitUntil(() => fake.conns[0]?.closedAfterMs != null, 'the fake sees the close');
      assert.equal(fake.conns[0]!.bytesAfterHandshake, 0);
      await e.proc.stop();
    });

    test('a server with the wrong key is refused by -e with EBADMAC', async () => {
      const fake = await fakeServer(WRONG_K, honestY(), undefined, framing);
      const e = await startEnd('-e', fake.address, keyFile, args);
      const got = await transfer(e.address, Buffer.from('secret'), 10_000, true);
      assert.equal(got.bytes, 0);
      await waitForLines(e.proc, { reason: 'EBADMAC' }, 1);
      assert.equal(fake.conns[0]?.clientMacOk, false);
      await e.proc.stop();
    });
  });

  describe(`${framing} framing: wrong key between two cloakpipe ends`, () => {
    test('-e and -d with different keys: -d logs EBADMAC, the target gets zero bytes, and the client is closed within -o', async () => {
      const target = await echoServer();
      const d = await startEnd('-d', target.address, otherKeyFile, ['-o', '2', ...args]);
      const e = await startEnd('-e', d.address, keyFile, ['-o', '2', ...args]);
      for (let i = 1; i <= 3; i++) {
        const got = await transfer(e.address, randomBytes(64 * 1024), 10_000, true);
        assert.equal(got.bytes, 0);
        assert.ok(got.ms < 2500, `client closed within -o 2 (took ${got.ms} ms)`);
        await waitForLines(d.proc, { reason: 'EBADMAC' }, i);
      }
      assert.equal(target.received(), 0, 'zero plaintext bytes reach the target');
    });
  });
}
