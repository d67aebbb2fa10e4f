// Goal: PacketFramer reassembles exactly the packets of a stream however it is split (whole, byte by byte,
// random splits) and reports the bytes of an incomplete packet as pending; each() sees what push() returns.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PACKET_LEN } from '../../../src/crypto/sizes.js';
import { PacketFramer } from '../../../src/protocol/framer.js';

/** Cut `data` into chunks whose sizes cycle through `sizes` (each ≥ 1). */
function cut(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Feed every chunk, check each push's contract, and return the packets seen and the final pending count. */
function feed(chunks: readonly Uint8Array[]): { packets: Buffer; pending: number } {
  const f = new PacketFramer();
  const seen: Buffer[] = [];
  let fed = 0;
  for (const chunk of chunks) {
    const outs = f.push(chunk);
    fed += chunk.length;
    assert.ok(outs.length <= 2, `push returned ${outs.length} buffers`);
    for (const o of outs) {
      assert.ok(o.length > 0 && o.length % PACKET_LEN === 0, `returned ${o.length} bytes`);
      seen.push(Buffer.from(o)); // copy now: a view is only valid while the chunk is
    }
    assert.equal(f.pending, fed % PACKET_LEN, `pending after ${fed} bytes`);
  }
  return { packets: Buffer.concat(seen), pending: f.pending };
}

function stream(packets: number, tail: number): Buffer {
  const b = Buffer.alloc(packets * PACKET_LEN + tail);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

describe('PacketFramer', () => {
  for (const [packets, tail] of [
    [0, 0],
    [1, 0],
    [3, 0],
    [3, 17],
    [0, PACKET_LEN - 1],
  ] as const) {
    const data = stream(packets, tail);
    const whole = data.subarray(0, packets * PACKET_LEN);

    test(`${packets} packets + ${tail} bytes, fed whole`, () => {
      const r = feed([data]);
      assert.ok(r.packets.equals(whole));
      assert.equal(r.pending, tail);
    });

    test(`${packets} packets + ${tail} bytes, fed byte by byte`, () => {
      const r = feed(cut(data, [1]));
      assert.ok(r.packets.equals(whole));
      assert.equal(r.pending, tail);
    });
  }

  test('random byte streams split at random points reassemble identical packets (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: PACKET_LEN - 1 }),
        fc.integer(),
        fc.array(fc.integer({ min: 1, max: 3 * PACKET_LEN }), { minLength: 1, maxLength: 10 }),
        (packets, tail, seed, sizes) => {
          const data = stream(packets, tail).map((b) => b ^ (seed & 0xff));
          const r = feed(cut(data, sizes));
          assert.ok(r.packets.equals(data.subarray(0, packets * PACKET_LEN)));
          assert.equal(r.pending, tail);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('each() hands on the same packets as push() at random splits (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: PACKET_LEN - 1 }),
        fc.array(fc.integer({ min: 1, max: 3 * PACKET_LEN }), { minLength: 1, maxLength: 10 }),
        (packets, tail, sizes) => {
          const data = stream(packets, tail);
          const f = new PacketFramer();
          const seen: Buffer[] = [];
          let fed = 0;
          for (const chunk of cut(data, sizes)) {
            let calls = 0;
            const r = f.each(chunk, (o) => {
              assert.ok(o.length > 0 && o.length % PACKET_LEN === 0, `got ${o.length} bytes`);
              seen.push(Buffer.from(o));
              calls++;
              return null;
            });
            assert.equal(r, null);
            assert.ok(calls <= 2, `${calls} calls`);
            fed += chunk.length;
            assert.equal(f.pending, fed % PACKET_LEN);
          }
          assert.ok(Buffer.concat(seen).equals(data.subarray(0, packets * PACKET_LEN)));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('each() stops at the first non-null value and returns it', () => {
    const data = stream(3, 0);
    const f = new PacketFramer();
    f.each(data.subarray(0, 500), () => assert.fail('no whole packet yet'));
    let calls = 0;
    const r = f.each(data.subarray(500), () => {
      calls++;
      return 'stop';
    });
    assert.equal(r, 'stop');
    assert.equal(calls, 1, 'the packets after the assembled one are not passed');
  });

  test('an aligned chunk of whole packets comes back as one buffer', () => {
    const data = stream(4, 0);
    const outs = new PacketFramer().push(data);
    assert.equal(outs.length, 1);
    assert.ok(Buffer.from(outs[0]!).equals(data));
  });

  test('a packet assembled across reads is a copy, not a view of either chunk', () => {
    const data = stream(2, 0);
    const a = Buffer.from(data.subarray(0, 1000));
    const b = Buffer.from(data.subarray(1000));
    const f = new PacketFramer();
    assert.deepEqual(f.push(a), []);
    assert.equal(f.pending, 1000);
    const outs = f.push(b);
    assert.equal(outs.length, 2);
    a.fill(0);
    b.fill(0);
    assert.ok(Buffer.from(outs[0]!).equals(data.subarray(0, PACKET_LEN)));
    assert.equal(f.pending, 0);
  });

  test('an empty push returns nothing and keeps pending', () => {
    const f = new PacketFramer();
    f.push(stream(0, 10));
    assert.deepEqual(f.push(new Uint8Array(0)), []);
    assert.equal(f.pending, 10);
  });

  test('reset() drops the held bytes', () => {
    const f = new PacketFramer();
    f.push(stream(0, 500));
    f.reset();
    assert.equal(f.pending, 0);
    const data = stream(1, 0);
    const outs = f.push(data);
    assert.equal(outs.length, 1);
    assert.ok(Buffer.from(outs[0]!).equals(data));
  });
});
