// Goal: a Tunnel pair running compact framing (DESIGN.md §9), built from in-memory streams with
// real keys and the real node engine, carries bytes both ways exactly and half-closes each way;
// its frames are the compact ones (a short message costs header + bucket + tag on the wire, not a
// 1060-byte packet); a flipped bit in a frame's data drops that connection with EBADPACKET, and a
// flipped bit in a frame's body length drops it with EBADLEN before the frame is buffered, both
// logged and counted, while another tunnel carries on. Every case runs with the encrypted wire
// (and the test's own writes) cut whole, one byte at a time, and at seeded random points.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  COMPACT_DEFAULT_BUCKET,
  COMPACT_HEADER_LEN,
  COMPACT_MAX_DATA,
  MAC_LEN,
} from '../../../src/crypto/sizes.js';
import { halfCloseFromClient, halfCloseFromTarget } from './half-close.js';
import { type Cut, CUTS, cutName, readAll, readExactly, tunnelPair, writeCut } from './harness.js';

/** Bytes each end sends during the handshake: nonce ‖ y ‖ h. */
const HANDSHAKE_LEN = 32 + 256 + 32;
/** Wire bytes of one compact frame carrying a message of up to one bucket. */
const SMALL_FRAME = COMPACT_HEADER_LEN + COMPACT_DEFAULT_BUCKET + MAC_LEN;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const compact = (cut: Cut, tamperUp?: (b: Buffer, at: number) => Buffer) =>
  tunnelPair({ cut, cfg: { framing: 'compact' }, ...(tamperUp ? { tamperUp } : {}) });

/** A tamper that flips `mask` in the byte at `offset` of the up stream. */
const flipAt =
  (offset: number, mask: number) =>
  (b: Buffer, at: number): Buffer => {
    if (offset >= at && offset < at + b.length) b[offset - at]! ^= mask;
    return b;
  };

for (const cut of CUTS) {
  const size = cut === 'bytes' ? 300 : 300_000;

  test(`compact: half-close from the client, then the reply (${cutName(cut)})`, () =>
    halfCloseFromClient(compact(cut), size, cut));

  test(`compact: half-close from the target, the client still sends (${cutName(cut)})`, () =>
    halfCloseFromTarget(compact(cut), size, cut));

  test(`compact: a flipped data bit drops the connection with EBADPACKET only (${cutName(cut)})`, async () => {
    // The second frame going up has one bit of its data flipped.
    const p = compact(cut, flipAt(HANDSHAKE_LEN + SMALL_FRAME + COMPACT_HEADER_LEN + 1, 0x01));
    const other = compact(cut);
    p.client.write(Buffer.from('first'));
    assert.equal((await readExactly(p.target, 5)).toString(), 'first');
    const atTarget = readAll(p.target);
    p.client.write(Buffer.from('second'));
    await p.d.done;
    assert.equal(p.d.error, 'EBADPACKET');
    assert.equal(p.metricsD.count('packetRejected:EBADPACKET'), 1);
    assert.ok(p.logD.some((l) => l.reason === 'EBADPACKET'));
    assert.equal((await atTarget).length, 0, 'nothing of the bad frame was released');
    await p.e.done;
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
  });
}

test('compact: a short message is one header + bucket + tag frame on the wire', async () => {
  let up = 0;
  const p = compact('whole', (b) => {
    up += b.length;
    return b;
  });
  const message = Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n'); // 22 bytes: one bucket
  p.client.write(message);
  assert.deepEqual(await readExactly(p.target, message.length), message);
  assert.equal(up, HANDSHAKE_LEN + SMALL_FRAME);
  // A write over the cap is cut into full frames and a remainder.
  const big = randomBytes(COMPACT_MAX_DATA + 1);
  p.client.write(big);
  assert.equal(sha(await readExactly(p.target, big.length)), sha(big));
  const full = COMPACT_HEADER_LEN + COMPACT_MAX_DATA + MAC_LEN;
  assert.equal(up, HANDSHAKE_LEN + SMALL_FRAME + full + SMALL_FRAME);
  // (An in-memory end only finishes once its peer has read the EOF.)
  const rest = [readAll(p.client), readAll(p.target)];
  p.client.end();
  p.target.end();
  await Promise.all([p.e.done, p.d.done, ...rest]);
  assert.equal(p.d.error, null);
});

test('compact: a flipped body-length bit is refused with EBADLEN, nothing released', async () => {
  // The high bit of the first frame's body length: 64 becomes 32832, over the cap.
  const p = compact('whole', flipAt(HANDSHAKE_LEN, 0x80));
  const atTarget = readAll(p.target);
  p.client.write(Buffer.from('hello'));
  await p.d.done;
  assert.equal(p.d.error, 'EBADLEN');
  assert.equal(p.metricsD.count('packetRejected:EBADLEN'), 1);
  assert.equal((await atTarget).length, 0);
});

test('compact: many small writes made before the handshake ends arrive whole and in order', async () => {
  const p = compact({ seed: 3 });
  const lines = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i}\n`));
  const atTarget = readAll(p.target);
  for (const l of lines) p.client.write(l);
  p.client.end();
  assert.equal((await atTarget).toString(), Buffer.concat(lines).toString());
  const atClient = readAll(p.client);
  p.target.end();
  assert.equal((await atClient).length, 0);
  await Promise.all([p.e.done, p.d.done]);
  assert.equal(p.d.error, null);
});
