// Goal: compact frames (DESIGN.md §9) from both engines equal the vectors built straight from the wire format,
// each engine opens what either sealed however the stream is split, and every fault (bit flip, truncation, replay,
// reorder, length-field tamper, oversize length) is refused without releasing a byte of the bad frame or after it.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checkBucket,
  CompactOpener,
  CompactSealer,
  type CompactFailure,
} from '../../../src/crypto/compact.js';
import { ENGINE_NAMES, type EngineName } from '../../../src/crypto/engine.js';
import { getEngine } from '../../../src/crypto/engines.js';
import {
  COMPACT_HEADER_LEN,
  COMPACT_MAX_DATA,
  COMPACT_MAX_FRAME,
  MAC_LEN,
} from '../../../src/crypto/sizes.js';
import { hex, readVectorFile } from '../../helpers/vectors.js';

interface CompactVectors {
  readonly e: string;
  readonly h: string;
  readonly cases: readonly {
    name: string;
    bucket: number;
    messages: string[];
    wire: string;
  }[];
}
const V = readVectorFile<CompactVectors>('compact-frames.json');
const E = hex(V.e);
const H = hex(V.h);

function sealer(
  name: EngineName,
  bucket = 64,
  e: Uint8Array = E,
  h: Uint8Array = H,
): CompactSealer {
  return new CompactSealer(getEngine(name).frameCipher(e, h), bucket);
}

/** Open `parts` in order; returns the released plaintext and the first failure. */
function openParts(
  name: EngineName,
  parts: readonly Uint8Array[],
  e: Uint8Array = E,
  h: Uint8Array = H,
): { plain: Buffer; failure: CompactFailure | null; pending: number; frames: number } {
  const got: Buffer[] = [];
  const o = new CompactOpener(getEngine(name).frameCipher(e, h), (p) => got.push(Buffer.from(p)));
  let failure: CompactFailure | null = null;
  for (const p of parts) {
    failure = o.push(p);
    if (failure !== null) break;
  }
  const r = { plain: Buffer.concat(got), failure, pending: o.pending, frames: got.length };
  o.destroy();
  return r;
}

function bytewise(b: Uint8Array): Uint8Array[] {
  return Array.from(b, (_, i) => b.subarray(i, i + 1));
}

function splitAt(b: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}

/** The three ways every stream is fed: whole, byte by byte, and at the given cuts. */
function feeds(wire: Uint8Array, cuts: readonly number[] = [7, 100, 101, 5000]): Uint8Array[][] {
  return [[wire], bytewise(wire), splitAt(wire, cuts)];
}

/** Frame boundaries of a wire stream, read with the keystream (a test-side parser). */
function frameLengths(wire: Uint8Array, e: Uint8Array = E): number[] {
  const ctr = createCipheriv('aes-256-ctr', e, Buffer.alloc(16));
  const out: number[] = [];
  for (let off = 0; off < wire.length;) {
    const hdr = ctr.update(wire.subarray(off, off + COMPACT_HEADER_LEN));
    const body = hdr.readUInt16BE(0);
    ctr.update(wire.subarray(off + COMPACT_HEADER_LEN, off + COMPACT_HEADER_LEN + body));
    out.push(COMPACT_HEADER_LEN + body + MAC_LEN);
    off += COMPACT_HEADER_LEN + body + MAC_LEN;
  }
  return out;
}

describe('compact framing: vectors', () => {
  for (const name of ENGINE_NAMES)
    for (const c of V.cases)
      test(`${name}: ${c.name} seals to the vector and opens back, whole and byte by byte`, () => {
        const s = sealer(name, c.bucket);
        const wire = Buffer.concat(c.messages.map((m) => s.seal(hex(m))));
        assert.equal(wire.toString('hex'), c.wire);
        const want = Buffer.concat(c.messages.map(hex));
        for (const parts of feeds(wire)) {
          const r = openParts(name, parts);
          assert.equal(r.failure, null);
          assert.equal(r.pending, 0);
          assert.deepEqual(r.plain, want);
        }
      });

  test('a frame is header + body rounded up to the bucket + tag, never over COMPACT_MAX_FRAME', () => {
    const s = sealer('node', 64);
    assert.equal(s.seal(randomBytes(1)).length, COMPACT_HEADER_LEN + 64 + MAC_LEN);
    assert.equal(s.seal(randomBytes(65)).length, COMPACT_HEADER_LEN + 128 + MAC_LEN);
    const big = sealer('node', 64).seal(randomBytes(COMPACT_MAX_DATA * 2 + 1));
    assert.deepEqual(frameLengths(big, E), [
      COMPACT_MAX_FRAME,
      COMPACT_MAX_FRAME,
      COMPACT_HEADER_LEN + 64 + MAC_LEN,
    ]);
  });

  test('buckets outside 16..16384 or not integers are refused with the range', () => {
    for (const b of [0, 15, 16385, 64.5, Number.NaN])
      assert.throws(() => checkBucket(b), /padding bucket must be an integer in 16\.\.16384/);
    assert.equal(checkBucket(16), 16);
  });
});

describe('compact framing: engines agree', () => {
  test('node and noble seal byte-identical frames and each opens the other at random splits (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 16, max: 300 }),
        fc.array(fc.integer({ min: 1, max: 20000 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (e, h, bucket, lengths, cuts) => {
          const msgs = lengths.map((n) => randomBytes(n));
          const [a, b] = ENGINE_NAMES.map((n) => {
            const s = sealer(n, bucket, e, h);
            return Buffer.concat(msgs.map((m) => s.seal(m)));
          });
          assert.deepEqual(a, b);
          for (const name of ENGINE_NAMES) {
            const r = openParts(name, splitAt(a!, cuts), e, h);
            assert.equal(r.failure, null);
            assert.deepEqual(r.plain, Buffer.concat(msgs));
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('compact framing: long streams', () => {
  test('hundreds of small and mixed frames (keystream made ahead, across its refills) match between engines', () => {
    const lengths = Array.from({ length: 300 }, (_, i) =>
      i % 7 === 0 ? 300 + i * 13 : 1 + ((i * 37) % 250),
    );
    const msgs = lengths.map((n) => randomBytes(n));
    const [a, b] = ENGINE_NAMES.map((n) => {
      const s = sealer(n, 16);
      return Buffer.concat(msgs.map((m) => s.seal(m)));
    });
    assert.deepEqual(a, b);
    for (const name of ENGINE_NAMES)
      for (const parts of [[a!], splitAt(a!, [5, 999, 2048, 4097, 30000])]) {
        const r = openParts(name, parts);
        assert.equal(r.failure, null);
        assert.equal(r.frames, msgs.length);
        assert.deepEqual(r.plain, Buffer.concat(msgs));
      }
  });
});

describe('compact framing: faults', () => {
  // Three frames of 30, 200 and 5000 bytes.
  const msgs = [randomBytes(30), randomBytes(200), randomBytes(5000)];
  const wireOf = (name: EngineName): Buffer => {
    const s = sealer(name);
    return Buffer.concat(msgs.map((m) => s.seal(m)));
  };
  const lens = frameLengths(wireOf('node'));
  const starts = lens.map((_, i) => lens.slice(0, i).reduce((a, b) => a + b, 0));
  /** Plaintext of the frames before frame i. */
  const before = (i: number): Buffer => Buffer.concat(msgs.slice(0, i));

  for (const name of ENGINE_NAMES) {
    test(`${name}: a flipped bit anywhere stops at its frame, releasing only the frames before it (fast-check)`, () => {
      const wire = wireOf(name);
      fc.assert(
        fc.property(
          fc.nat({ max: wire.length - 1 }),
          fc.integer({ min: 0, max: 7 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          (pos, bit, cuts) => {
            const bad = Buffer.from(wire);
            bad[pos]! ^= 1 << bit;
            const frame = starts.findLastIndex((s) => s <= pos);
            for (const parts of [[bad], splitAt(bad, cuts)]) {
              const r = openParts(name, parts);
              // A flipped body length may point past the end of the stream: then it waits.
              assert.ok(r.failure !== null || r.pending > 0);
              assert.deepEqual(r.plain, before(frame));
            }
          },
        ),
        { numRuns: 150 },
      );
    });

    test(`${name}: a flipped bit, fed byte by byte, stops at its frame`, () => {
      const wire = wireOf(name);
      for (const pos of [
        0,
        3,
        4,
        lens[0]! - 1,
        starts[1]! + 1,
        starts[2]! + 100,
        wire.length - 1,
      ]) {
        const bad = Buffer.from(wire);
        bad[pos]! ^= 0x80;
        const r = openParts(name, bytewise(bad));
        assert.ok(r.failure !== null || r.pending > 0, `pos ${pos}`);
        assert.deepEqual(r.plain, before(starts.findLastIndex((s) => s <= pos)));
      }
    });

    test(`${name}: a truncated stream releases only whole frames and holds the rest as pending`, () => {
      const wire = wireOf(name);
      for (const cut of [1, 3, 4, lens[0]! - 1, lens[0]!, starts[2]! + 10, wire.length - 1]) {
        for (const parts of feeds(wire.subarray(0, cut), [2, 50])) {
          const r = openParts(name, parts);
          assert.equal(r.failure, null);
          const whole = starts.filter((s, i) => s + lens[i]! <= cut).length;
          assert.deepEqual(r.plain, before(whole));
          assert.equal(r.pending, cut - (starts[whole] ?? wire.length), `cut ${cut}`);
        }
      }
    });

    test(`${name}: replayed and reordered frames are refused`, () => {
      const wire = wireOf(name);
      const f = (i: number): Buffer => wire.subarray(starts[i]!, starts[i]! + lens[i]!);
      const replay = Buffer.concat([f(0), f(0)]);
      const reorder = Buffer.concat([f(1), f(0)]);
      const skip = Buffer.concat([f(0), f(2)]);
      for (const [bad, good] of [
        [replay, 1],
        [reorder, 0],
        [skip, 1],
      ] as const)
        for (const parts of feeds(bad)) {
          const r = openParts(name, parts);
          assert.notEqual(r.failure, null);
          assert.deepEqual(r.plain, before(good));
        }
    });

    test(`${name}: a tampered data-length field fails the MAC; an oversize or zero body length fails before buffering`, () => {
      const wire = wireOf(name);
      // The keystream of the first header is known to the test (it holds E), so it can write any length.
      const ks = createCipheriv('aes-256-ctr', E, Buffer.alloc(16)).update(Buffer.alloc(4));
      const withHeader = (body: number, data: number): Buffer => {
        const bad = Buffer.from(wire);
        bad.writeUInt16BE(body ^ ks.readUInt16BE(0), 0);
        bad.writeUInt16BE(data ^ ks.readUInt16BE(2), 2);
        return bad;
      };
      for (const parts of feeds(withHeader(64, 31))) {
        const r = openParts(name, parts);
        assert.equal(r.failure, 'bad-mac');
        assert.equal(r.plain.length, 0);
      }
      for (const body of [0, COMPACT_MAX_DATA + 1, 0xffff])
        for (const parts of feeds(withHeader(body, 30))) {
          const r = openParts(name, parts);
          assert.equal(r.failure, 'bad-length', `body ${body}`);
          assert.equal(r.plain.length, 0);
        }
      // Fed only its header, an oversize frame is refused at once, with nothing held.
      const o = new CompactOpener(getEngine(name).frameCipher(E, H), () => assert.fail('released'));
      assert.equal(o.push(withHeader(COMPACT_MAX_DATA + 1, 30).subarray(0, 4)), 'bad-length');
      assert.equal(o.pending, 0);
      assert.equal(o.push(wire), 'bad-length', 'stays refused');
      o.destroy();
      assert.throws(() => o.push(wire), /destroyed/);
    });

    test(`${name}: frames under other keys fail the MAC`, () => {
      const r = openParts(name, [wireOf(name)], E, randomBytes(32));
      assert.equal(r.failure, 'bad-mac');
      assert.equal(r.plain.length, 0);
    });
  }
});
