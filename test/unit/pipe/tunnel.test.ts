// Goal: a Tunnel pair built from in-memory streams (real keys, the real node engine, no sockets)
// carries bytes both ways exactly, half-closes each way, lets a slow reader slow the writer with
// bounded memory, drops a connection whose packet was tampered with (logged and counted, the
// other direction's bytes and other tunnels unaffected), and keeps order through a cluster filter
// that answers with a slow Promise. Every case runs with the encrypted wire (and the test's own
// writes) cut whole, one byte at a time, and at seeded random points.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { PACKET_LEN } from '../../../src/crypto/sizes.js';
import { halfCloseFromClient, halfCloseFromTarget } from './half-close.js';
import { CUTS, cutName, readAll, readExactly, tunnelPair, writeCut } from './harness.js';

/** Bytes the -e end sends during the handshake: nonce ‖ y ‖ h. */
const HANDSHAKE_UP = 32 + 256 + 32;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const cut of CUTS) {
  // Byte by byte, each byte the test writes is sealed alone (a 1060-byte packet, then relayed
  // one byte at a time), so that variant moves less.
  const size = cut === 'bytes' ? 200 : 200_000;

  test(`half-close from the client: the request arrives whole, then the reply (${cutName(cut)})`, () =>
    halfCloseFromClient(tunnelPair({ cut }), size, cut));

  test(`half-close from the target: the client still sends after EOF (${cutName(cut)})`, () =>
    halfCloseFromTarget(tunnelPair({ cut }), size, cut));

  test(`a slow reader slows the writer, with bounded memory (${cutName(cut)})`, async () => {
    const p = tunnelPair({ cut });
    const offered = cut === 'bytes' ? 256 << 10 : 8 << 20;
    const data = randomBytes(offered);
    // The target reads nothing: count what the client gets to write before it must wait.
    let written = 0;
    let stalled = false;
    const chunk = 16 << 10;
    while (written < offered) {
      const ok = p.client.write(data.subarray(written, written + chunk));
      written += chunk;
      if (ok) continue;
      const drained = await Promise.race([
        new Promise((r) => p.client.once('drain', () => r(true))),
        sleep(300).then(() => false),
      ]);
      if (!drained) {
        stalled = true;
        break;
      }
    }
    assert.ok(stalled, `the writer never had to wait (wrote all ${offered} bytes)`);
    assert.ok(written < 768 << 10, `${written} bytes were taken in while nothing was read`);
    // Reading resumes: every byte arrives, in order.
    const atTarget = readAll(p.target);
    p.client.write(data.subarray(written));
    p.client.end();
    assert.equal(sha(await atTarget), sha(data));
    // (An in-memory end only finishes once its peer has read the EOF.)
    const atClient = readAll(p.client);
    p.target.end();
    assert.equal((await atClient).length, 0);
    await Promise.all([p.e.done, p.d.done]);
    assert.equal(p.e.error, null);
  });

  test(`a tampered packet drops its connection only, logged and counted (${cutName(cut)})`, async () => {
    // The second data packet going up has one bit flipped.
    const bad = HANDSHAKE_UP + PACKET_LEN + 100;
    const p = tunnelPair({
      cut,
      tamperUp: (b, at) => {
        if (bad >= at && bad < at + b.length) b[bad - at]! ^= 0x01;
        return b;
      },
    });
    const other = tunnelPair({ cut });
    // Down first: the reply the client gets before the tamper is intact.
    const hello = randomBytes(3000);
    await writeCut(p.target, hello, cut);
    assert.deepEqual(await readExactly(p.client, hello.length), hello);
    const atTarget = readAll(p.target);
    p.client.write(randomBytes(3 * 1024)); // one chunk: three packets
    await p.d.done;
    assert.equal(p.d.error, 'EBADPACKET');
    assert.equal(p.metricsD.count('packetRejected:EBADPACKET'), 1);
    assert.ok(
      p.logD.some(
        (l) => l.reason === 'EBADPACKET' && String(l.msg).startsWith('dropping connection'),
      ),
    );
    // Only the packet before the bad one reached the target.
    assert.equal((await atTarget).length, 1024);
    await p.e.done;
    // The other tunnel carries on.
    const atOther = readAll(other.target);
    const payload = randomBytes(size);
    await writeCut(other.client, payload, cut);
    other.client.end();
    assert.equal(sha(await atOther), sha(payload));
    const otherBack = readAll(other.client);
    other.target.end();
    assert.equal((await otherBack).length, 0);
    await Promise.all([other.e.done, other.d.done]);
    assert.equal(other.d.error, null);
    assert.equal(other.metricsD.count('packetRejected:EBADPACKET'), 0);
  });

  test(`a slow filter Promise keeps replies in order (${cutName(cut)})`, async () => {
    let routedTo: unknown = null;
    let slow = 0;
    const p = tunnelPair({
      cut,
      routingE: {
        route: { host: '-', port: 0 },
        filter: {
          routed: (r) => {
            routedTo = r;
          },
          up: (c) => c,
          down: (c) => {
            // Every other batch is held for a while; the ones after it must wait.
            if (slow++ % 2 === 1) return [Buffer.from(c)];
            const copy = Buffer.from(c);
            return sleep(1 + (slow % 5)).then(() => [copy]);
          },
        },
      },
      routingD: (targetSide) => ({ serve: () => Promise.resolve(targetSide as Socket) }),
    });
    const lines = Buffer.from(
      Array.from({ length: cut === 'bytes' ? 30 : 5000 }, (_, i) => `line ${i}\n`).join(''),
    );
    const atClient = readAll(p.client);
    p.client.write('go');
    assert.equal((await readExactly(p.target, 2)).toString(), 'go');
    const rest = readAll(p.target);
    // In several writes, so even fed whole the filter sees several chunks.
    for (let at = 0; at < lines.length; at += 64) {
      await writeCut(p.target, lines.subarray(at, at + 64), cut);
      await sleep(0);
    }
    p.target.end();
    assert.equal((await atClient).toString(), lines.toString());
    assert.ok(slow > 1, 'the filter was never slow');
    assert.deepEqual(routedTo, { host: '-', port: 0 });
    p.client.end();
    assert.equal((await rest).length, 0);
    await Promise.all([p.e.done, p.d.done]);
    assert.equal(p.e.error, null);
  });
}

test('a wrong key fails the handshake, logged and counted, and nothing reaches the target', async () => {
  const p = tunnelPair({
    cut: 'whole',
    tamperUp: (b, at) => {
      if (40 >= at && 40 < at + b.length) b[40 - at]! ^= 0x80; // in y_C: h_C no longer matches
      return b;
    },
  });
  const atTarget = readAll(p.target);
  p.client.write('never');
  await Promise.all([p.e.done, p.d.done]);
  assert.equal(p.d.error, 'handshake failed: EBADMAC');
  assert.equal(p.metricsD.count('handshakeFailed:EBADMAC'), 1);
  assert.equal(p.metricsD.count('opened'), 0);
  assert.equal((await atTarget).length, 0);
});
