// Goal: the byte helpers (ctEqual, be32/be64, concatBytes, zeroize) and xorInto behave exactly as a plain byte loop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  concatBytes,
  ctEqual,
  readBe32,
  writeBe32,
  writeBe64,
  zeroize,
} from '../../../src/crypto/bytes.js';
import { xorInto } from '../../../src/crypto/xor.js';

describe('ctEqual', () => {
  test('equal, unequal, and different lengths', () => {
    assert.equal(ctEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
    assert.equal(ctEqual(new Uint8Array(0), new Uint8Array(0)), true);
    assert.equal(ctEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
    assert.equal(ctEqual(new Uint8Array([0, 2, 3]), new Uint8Array([1, 2, 3])), false);
    assert.equal(ctEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2])), false);
    assert.equal(ctEqual(new Uint8Array(0), new Uint8Array([0])), false);
  });

  test('agrees with a byte comparison (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        assert.equal(ctEqual(a, b), Buffer.from(a).equals(Buffer.from(b)));
        assert.equal(ctEqual(a, Uint8Array.from(a)), true);
      }),
    );
  });

  test('a single flipped bit anywhere makes 32-byte tags unequal', () => {
    const a = new Uint8Array(32).map((_, i) => i * 37);
    for (let bit = 0; bit < 256; bit++) {
      const b = Uint8Array.from(a);
      b[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(ctEqual(a, b), false, `bit ${bit}`);
    }
  });
});

describe('big-endian integers', () => {
  test('writeBe32 / readBe32 round-trip and match Buffer (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 12 }),
        (n, off) => {
          const buf = new Uint8Array(16);
          writeBe32(buf, off, n);
          assert.equal(readBe32(buf, off), n);
          assert.equal(Buffer.from(buf).readUInt32BE(off), n);
          assert.ok(
            buf.every((b, i) => (i >= off && i < off + 4) || b === 0),
            'wrote outside its 4 bytes',
          );
        },
      ),
    );
  });

  test('edge values of be32', () => {
    const buf = new Uint8Array(4);
    for (const [n, h] of [
      [0, '00000000'],
      [1, '00000001'],
      [1024, '00000400'],
      [0x8000_0000, '80000000'],
      [0xffff_ffff, 'ffffffff'],
    ] as const) {
      writeBe32(buf, 0, n);
      assert.equal(Buffer.from(buf).toString('hex'), h);
      assert.equal(readBe32(buf, 0), n);
    }
  });

  test('writeBe64 matches Buffer.writeBigUInt64BE for 0 ≤ n < 2^53 (fast-check)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 8 }), (n, off) => {
        const buf = new Uint8Array(16);
        writeBe64(buf, off, n);
        const want = Buffer.alloc(16);
        want.writeBigUInt64BE(BigInt(n), off);
        assert.deepEqual(Buffer.from(buf), want);
        assert.equal(Number(Buffer.from(buf).readBigUInt64BE(off)), n);
      }),
    );
  });

  test('edge values of be64', () => {
    const buf = new Uint8Array(8);
    for (const [n, h] of [
      [0, '0000000000000000'],
      [1, '0000000000000001'],
      [0xffff_ffff, '00000000ffffffff'],
      [2 ** 32, '0000000100000000'],
      [2 ** 53 - 1, '001fffffffffffff'],
    ] as const) {
      writeBe64(buf, 0, n);
      assert.equal(Buffer.from(buf).toString('hex'), h);
    }
  });
});

describe('concatBytes and zeroize', () => {
  test('concatBytes joins in order into a new array', () => {
    const a = new Uint8Array([1, 2]);
    const out = concatBytes(a, new Uint8Array(0), new Uint8Array([3]));
    assert.deepEqual([...out], [1, 2, 3]);
    out[0] = 9;
    assert.equal(a[0], 1, 'not a view of the input');
    assert.equal(concatBytes().length, 0);
  });

  test('zeroize clears every array and skips null/undefined', () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = Buffer.from([4, 5]);
    zeroize(a, null, b, undefined);
    assert.ok(a.every((x) => x === 0));
    assert.ok(b.every((x) => x === 0));
  });
});

describe('xorInto', () => {
  function byteLoop(
    dst: Uint8Array,
    dOff: number,
    src: Uint8Array,
    sOff: number,
    len: number,
  ): void {
    for (let i = 0; i < len; i++) dst[dOff + i]! ^= src[sOff + i]!;
  }

  test('aligned and unaligned ranges agree with a byte loop (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 1 << 16 }),
        fc.integer({ min: 0, max: 1 << 16 }),
        fc.integer({ min: 0, max: 1 << 16 }),
        (d0, s0, dView, sView, r1, r2, r3) => {
          // Views at byte offsets 0..7 into their buffers exercise both the word and the byte path.
          const dBuf = new Uint8Array(d0.length + 8);
          dBuf.set(d0, dView);
          const sBuf = new Uint8Array(s0.length + 8);
          sBuf.set(s0, sView);
          const dst = dBuf.subarray(dView, dView + d0.length);
          const src = sBuf.subarray(sView, sView + s0.length);
          const maxLen = Math.min(dst.length, src.length);
          const len = maxLen === 0 ? 0 : r1 % (maxLen + 1);
          const dOff = r2 % (dst.length - len + 1);
          const sOff = r3 % (src.length - len + 1);
          const want = Uint8Array.from(dBuf);
          byteLoop(want.subarray(dView, dView + d0.length), dOff, src, sOff, len);
          xorInto(dst, dOff, src, sOff, len);
          assert.deepEqual(dBuf, want);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('the word path: a long 4-aligned range, and its unaligned twin', () => {
    const src = new Uint8Array(2048).map((_, i) => (i * 31 + 7) & 0xff);
    for (const [dOff, sOff] of [
      [0, 0],
      [4, 8],
      [1, 0],
      [0, 3],
      [2, 2],
    ] as const) {
      const dst = new Uint8Array(2048).map((_, i) => (i * 13) & 0xff);
      const want = Uint8Array.from(dst);
      byteLoop(want, dOff, src, sOff, 1031);
      xorInto(dst, dOff, src, sOff, 1031);
      assert.deepEqual(dst, want, `dOff ${dOff} sOff ${sOff}`);
    }
  });

  test('XOR twice restores the original', () => {
    const dst = new Uint8Array(1028).map((_, i) => i & 0xff);
    const ks = new Uint8Array(1040).map((_, i) => (i * 97) & 0xff);
    xorInto(dst, 0, ks, 0, 1028);
    assert.notDeepEqual(
      dst,
      new Uint8Array(1028).map((_, i) => i & 0xff),
    );
    xorInto(dst, 0, ks, 0, 1028);
    assert.deepEqual(
      dst,
      new Uint8Array(1028).map((_, i) => i & 0xff),
    );
  });
});
