// Goal: --framing compact (DESIGN.md §9) works end to end with the real binaries, and fails
// cleanly wherever the ends disagree. A compact pair carries 4 MiB each way with matching SHA-256
// over TCP and over UNIX sockets, and a reply sent after the client's half-close; `cloakpipe spipe
// --framing compact` talks to a compact -d; a compact end facing a spiped-framing end (either way
// round) fails the handshake on BOTH ends with a log line naming both framings and the EFRAMING
// counter, and the target receives nothing; a compact -e against the real spiped -d fails without
// a crash; a flipped bit on the wire drops that connection with EBADPACKET while others carry on;
// a stream cut inside a frame is logged as truncated and only whole frames are delivered; and
// /metrics reports the framing that runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../support/bins.js';
import { BIN, startEnd } from '../support/ends.js';
import { fetchMetrics } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { closeAllProxies, faultProxy, HANDSHAKE_LEN } from '../helpers/fault-proxy.js';
import {
  collectServer,
  echoServer,
  freeAddress,
  replyAfterEofServer,
  sha256hex,
  transfer,
} from '../helpers/targets.js';

after(async () => {
  await closeAllProxies();
  await stopAll();
});

const dir = tempDir();
const key = join(dir, 'key');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

const COMPACT = ['--framing', 'compact'];
const MiB = 1024 * 1024;

/** The handshake failure line each end logs on a framing mismatch, for this end's framing. */
const mismatch = (mine: string, peer: string): RegExp =>
  new RegExp(
    `handshake failed: framing mismatch: both ends must run the same --framing \\(this end uses ${mine} framing, the peer uses ${peer} framing\\)`,
  );

/** Wait until `proc` logged a line matching `re` with reason `reason`. */
function waitForReason(proc: Proc, re: RegExp, reason: string): Promise<void> {
  return waitUntil(
    () => logLines(proc, re, { reason }).length > 0,
    `a ${reason} line matching ${re}`,
    10_000,
    () => proc.output(),
  );
}

for (const transport of ['tcp', 'unix'] as const) {
  test(`a compact pair carries 4 MiB through an echo target, SHA-256 intact (${transport})`, async () => {
    const target = await echoServer(
      transport === 'unix' ? join(dir, `echo-${transport}.sock`) : undefined,
    );
    const src = (n: string): string =>
      transport === 'unix' ? join(dir, `${n}.sock`) : '[127.0.0.1]:0';
    const d = await startEnd('-d', target.address, key, COMPACT, { source: src('d-echo') });
    const e = await startEnd('-e', d.address, key, COMPACT, { source: src('e-echo') });
    const payload = randomBytes(4 * MiB);
    const got = await transfer(e.address, payload, 60_000);
    assert.equal(got.bytes, payload.length);
    assert.equal(got.sha256, sha256hex(payload));
    assert.equal(target.received(), payload.length);
  });

  test(`a compact pair: the reply after the client's half-close arrives whole (${transport})`, async () => {
    const target = await replyAfterEofServer(
      transport === 'unix' ? join(dir, `reof-${transport}.sock`) : undefined,
    );
    const src = (n: string): string =>
      transport === 'unix' ? join(dir, `${n}.sock`) : '[127.0.0.1]:0';
    const d = await startEnd('-d', target.address, key, [...COMPACT, '--frame-bucket', '256'], {
      source: src('d-reof'),
    });
    const e = await startEnd('-e', d.address, key, COMPACT, { source: src('e-reof') });
    const payload = randomBytes(1_000_003);
    const got = await transfer(e.address, payload, 60_000);
    assert.equal(got.bytes, payload.length + 32);
    assert.equal(sha256hex(got.data.subarray(0, payload.length)), sha256hex(payload));
    assert.equal(got.data.subarray(payload.length).toString('hex'), sha256hex(payload));
  });
}

test('cloakpipe spipe --framing compact against a compact -d: stdin EOF half-closes, reply whole', async () => {
  const target = await replyAfterEofServer();
  const d = await startEnd('-d', target.address, key, COMPACT);
  const payload = randomBytes(500_000);
  const child = spawn(process.execPath, [BIN, 'spipe', '-t', d.address, '-k', key, ...COMPACT]);
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.end(payload);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  const got = Buffer.concat(out);
  assert.equal(sha256hex(got.subarray(0, payload.length)), sha256hex(payload));
  assert.equal(got.subarray(payload.length).toString('hex'), sha256hex(payload));
});

for (const [eFraming, dFraming] of [
  ['compact', 'spiped'],
  ['spiped', 'compact'],
] as const) {
  test(`-e --framing ${eFraming} against -d --framing ${dFraming}: both ends log EFRAMING naming both framings, the target gets nothing`, async () => {
    const target = await collectServer();
    const [pe, pd] = [await freePort(), await freePort()];
    const d = await startEnd('-d', target.address, key, [
      '--framing',
      dFraming,
      '--metrics',
      String(pd),
    ]);
    const e = await startEnd('-e', d.address, key, [
      '--framing',
      eFraming,
      '--metrics',
      String(pe),
      '-o',
      '3',
    ]);
    const got = await transfer(e.address, randomBytes(50_000), 10_000, true);
    assert.equal(got.bytes, 0, 'the client receives nothing');
    await waitForReason(d.proc, mismatch(dFraming, eFraming), 'EFRAMING');
    await waitForReason(e.proc, mismatch(eFraming, dFraming), 'EFRAMING');
    assert.equal(target.received(), 0, 'the target receives zero bytes');
    for (const [port, mode] of [
      [pe, 'encrypt'],
      [pd, 'decrypt'],
    ] as const) {
      const text = await fetchMetrics(port);
      assert.ok(
        text.includes(`cloakpipe_handshake_failures_total{reason="EFRAMING",mode="${mode}"} 1`),
        text,
      );
      const framing = mode === 'encrypt' ? eFraming : dFraming;
      assert.match(text, new RegExp(`cloakpipe_build_info\\{[^}]*framing="${framing}"`));
    }
  });
}

test('a compact -e against the real spiped -d fails the handshake cleanly, and both keep serving', async () => {
  requireBinary('spiped');
  const target = await echoServer();
  const src = await freeAddress('tcp', dir, 'spd');
  const spiped = await startEnd('-d', target.address, key, [], { impl: 'spiped', source: src });
  const e = await startEnd('-e', spiped.address, key, [...COMPACT, '-o', '3']);
  const got = await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  assert.equal(got.bytes, 0);
  assert.equal(target.received(), 0);
  // spiped closes without answering (its MAC check failed), so this end cannot tell why.
  await waitUntil(
    () => logLines(e.proc, /^handshake failed/).length > 0,
    'a handshake failure line',
    10_000,
    () => e.proc.output(),
  );
  // No crash: a spiped-framing -e on the same spiped still works, and the compact -e still listens.
  const plain = await startEnd('-e', spiped.address, key);
  const payload = randomBytes(100_000);
  assert.equal((await transfer(plain.address, payload)).sha256, sha256hex(payload));
  const again = await transfer(e.address, Buffer.from('PING\r\n'), 10_000, true);
  assert.equal(again.bytes, 0);
});

test('a flipped bit in a compact frame drops that connection with EBADPACKET; the next one works', async () => {
  const target = await collectServer();
  const d = await startEnd('-d', target.address, key, COMPACT);
  const proxy = await faultProxy(d.address);
  const e = await startEnd('-e', proxy.address, key, COMPACT);
  // A bit deep in the client's data: frames are at most 16 KiB, so this is several frames in.
  proxy.setFaults([{ kind: 'flip', dir: 'c2s', offset: HANDSHAKE_LEN + 100_000, bit: 3 }]);
  const payload = randomBytes(400_000);
  await transfer(e.address, payload, 20_000, true);
  await waitForReason(d.proc, /^dropping connection: packet MAC mismatch/, 'EBADPACKET');
  await waitUntil(() => target.conns()[0]?.closed === true, "the target's connection closed");
  const delivered = target.conns()[0]!.data;
  assert.ok(delivered.length < 100_000, `delivered ${delivered.length} bytes past the damage`);
  assert.equal(
    sha256hex(delivered),
    sha256hex(payload.subarray(0, delivered.length)),
    'what was delivered is an intact prefix',
  );
  proxy.setFaults([]);
  const again = randomBytes(300_000);
  const got = await transfer(e.address, again, 20_000);
  assert.equal(got.bytes, 0);
  await waitUntil(() => target.conns()[1]?.closed === true, 'the second connection closed');
  assert.equal(sha256hex(target.conns()[1]!.data), sha256hex(again));
});

test('a compact stream cut in the middle of a frame: ETRUNC logged, only whole frames delivered', async () => {
  const target = await collectServer();
  const d = await startEnd('-d', target.address, key, COMPACT);
  const proxy = await faultProxy(d.address);
  const e = await startEnd('-e', proxy.address, key, COMPACT);
  // Bulk data goes as full frames of 4 + 16384 + 32 bytes; cut 100 bytes into the fourth.
  const frame = 4 + 16_384 + 32;
  proxy.setFaults([{ kind: 'truncate', dir: 'c2s', after: HANDSHAKE_LEN + 3 * frame + 100 }]);
  await transfer(e.address, randomBytes(200_000), 20_000, true);
  await waitUntil(
    () => logLines(d.proc, /in the middle of a frame/).length > 0,
    'an ETRUNC line',
    10_000,
    () => d.proc.output(),
  );
  await waitUntil(() => target.conns()[0]?.closed === true, "the target's connection closed");
  assert.equal(target.conns()[0]!.data.length, 3 * 16_384, 'exactly the three whole frames');
});
