// Goal: the node and noble packet engines seal byte-identical packets, both equal to a spec-literal reference
// (AES-256-CTR + HMAC-SHA256 from node:crypto), and each opens what either sealed.
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ENGINE_NAMES } from '../../../src/crypto/engine.js';
import { getEngine } from '../../../src/crypto/engines.js';
import { MAX_DATA, PACKET_LEN, PADDED_LEN } from '../../../src/crypto/sizes.js';

/** Deterministic bytes from a seed (xorshift32), so fast-check counterexamples replay. */
function pattern(len: number, seed: number): Buffer {
  const out = Buffer.alloc(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The packet format read straight off DESIGN.md §2.3, one message (1..1024 bytes) at a time. */
function referencePacket(e: Uint8Array, h: Uint8Array, pnum: number, msg: Uint8Array): Buffer {
  const padded = Buffer.alloc(PADDED_LEN);
  padded.set(msg);
  padded.writeUInt32BE(msg.length, MAX_DATA);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(pnum), 0);
  const ct = createCipheriv('aes-256-ctr', e, iv).update(padded);
  const num = Buffer.alloc(8);
  num.writeBigUInt64BE(BigInt(pnum), 0);
  return Buffer.concat([ct, createHmac('sha256', h).update(ct).update(num).digest()]);
}

/** Reference packets for a sequence of seal() calls, each cut at MAX_DATA. */
function referenceSeal(e: Uint8Array, h: Uint8Array, calls: readonly Uint8Array[]): Buffer[] {
  let pnum = 0;
  return calls.map((plain) => {
    const parts: Buffer[] = [];
    for (let off = 0; off < plain.length; off += MAX_DATA)
      parts.push(referencePacket(e, h, pnum++, plain.subarray(off, off + MAX_DATA)));
    return Buffer.concat(parts);
  });
}

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('node and noble engines', () => {
  test('seal every message length 1..MAX_DATA as the reference (the padding is keystream, the length field XORed)', () => {
    const e = randomBytes(32);
    const h = randomBytes(32);
    for (const name of ENGINE_NAMES) {
      const s = getEngine(name).sealer(e, h);
      let pnum = 0;
      for (let len = 1; len <= MAX_DATA; len += name === 'node' ? 1 : 37) {
        const msg = pattern(len, len);
        assert.deepEqual(s.seal(msg), referencePacket(e, h, pnum++, msg), `${name} length ${len}`);
      }
    }
  });

  test('seal byte-identical packets, equal to the reference, for any sequence of seal calls (fast-check)', () => {
    fc.assert(
      fc.property(
        key32,
        key32,
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        (e, h, lengths, seed) => {
          const calls = lengths.map((len, i) => pattern(len, seed + i));
          const want = referenceSeal(e, h, calls);
          const sealers = ENGINE_NAMES.map((n) => getEngine(n).sealer(e, h));
          calls.forEach((plain, i) => {
            const outs = sealers.map((s) => s.seal(plain));
            assert.equal(outs[0]!.length, Math.ceil(plain.length / MAX_DATA) * PACKET_LEN);
            for (const [j, out] of outs.entries())
              assert.ok(out.equals(want[i]!), `${ENGINE_NAMES[j]} differs on call ${i}`);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a long stream crossing the node engine batch boundary (64 packets) matches', () => {
    const e = randomBytes(32);
    const h = randomBytes(32);
    const calls = [pattern(63 * MAX_DATA + 5, 1), pattern(130 * MAX_DATA, 2), pattern(1, 3)];
    const want = referenceSeal(e, h, calls);
    for (const name of ENGINE_NAMES) {
      const s = getEngine(name).sealer(e, h);
      for (const [i, plain] of calls.entries())
        assert.ok(s.seal(plain).equals(want[i]!), `${name} call ${i}`);
    }
  });

  test('many small messages (node keystream made ahead 16 packets at a time), interleaved with large ones, seal and open identically', () => {
    const e = randomBytes(32);
    const h = randomBytes(32);
    // One-packet messages past the look-ahead threshold, a 3-packet one straddling the end of a
    // look-ahead run, a 70-packet one (beyond a batch), then small ones again.
    const sizes = [
      ...Array.from({ length: 20 }, (_, i) => 1 + ((i * 97) % 1024)),
      3 * MAX_DATA,
      ...Array.from({ length: 13 }, () => 10),
      2 * MAX_DATA + 1,
      70 * MAX_DATA,
      ...Array.from({ length: 40 }, (_, i) => 1 + i),
    ];
    const calls = sizes.map((n, i) => pattern(n, 100 + i));
    const want = referenceSeal(e, h, calls);
    for (const name of ENGINE_NAMES) {
      const s = getEngine(name).sealer(e, h);
      const o = getEngine(name).opener(e, h);
      for (const [i, plain] of calls.entries()) {
        const wire = s.seal(plain);
        assert.ok(wire.equals(want[i]!), `${name} seal call ${i}`);
        const r = o.open(wire);
        assert.equal(r.failure, undefined, `${name} open call ${i}`);
        assert.ok(r.plain.equals(plain), `${name} open call ${i}`);
      }
    }
  });

  test('seal does not modify its input, and keys are copied at construction', () => {
    for (const name of ENGINE_NAMES) {
      const e = randomBytes(32);
      const h = randomBytes(32);
      const want = referenceSeal(e, h, [pattern(2000, 9)])[0]!;
      const s = getEngine(name).sealer(e, h);
      e.fill(0);
      h.fill(0);
      const plain = pattern(2000, 9);
      assert.ok(s.seal(plain).equals(want), name);
      assert.ok(plain.equals(pattern(2000, 9)), name);
    }
  });

  test('each engine opens what either sealed, fed in random whole-packet chunks (fast-check)', () => {
    fc.assert(
      fc.property(
        key32,
        key32,
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        fc.array(fc.integer({ min: 0, max: 10 }), { maxLength: 12 }),
        (e, h, lengths, seed, cuts) => {
          const calls = lengths.map((len, i) => pattern(len, seed + i));
          const plain = Buffer.concat(calls);
          for (const sealerName of ENGINE_NAMES) {
            const sealer = getEngine(sealerName).sealer(e, h);
            const wire = Buffer.concat(calls.map((c) => sealer.seal(c)));
            const packets = wire.length / PACKET_LEN;
            for (const openerName of ENGINE_NAMES) {
              const opener = getEngine(openerName).opener(e, h);
              const got: Buffer[] = [];
              let at = 0;
              for (const c of [...cuts, packets]) {
                const upTo = Math.min(packets, at + c);
                const r = opener.open(wire.subarray(at * PACKET_LEN, upTo * PACKET_LEN));
                assert.equal(r.failure, undefined, `${sealerName} → ${openerName}`);
                got.push(r.plain);
                at = upTo;
              }
              assert.ok(Buffer.concat(got).equals(plain), `${sealerName} → ${openerName}`);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('opening nothing returns nothing', () => {
    for (const name of ENGINE_NAMES) {
      const r = getEngine(name).opener(randomBytes(32), randomBytes(32)).open(new Uint8Array(0));
      assert.equal(r.plain.length, 0, name);
      assert.equal(r.failure, undefined, name);
    }
  });

  test('after destroy(), seal and open throw', () => {
    for (const name of ENGINE_NAMES) {
      const s = getEngine(name).sealer(randomBytes(32), randomBytes(32));
      const o = getEngine(name).opener(randomBytes(32), randomBytes(32));
      s.destroy();
      o.destroy();
      assert.throws(() => s.seal(new Uint8Array(1)), /destroyed/, name);
      assert.throws(() => o.open(new Uint8Array(0)), /destroyed/, name);
    }
  });
});

describe('openEach', () => {
  test('hands over the same plaintext and failure as open(), good stream or tampered (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.option(fc.nat(), { nil: undefined }),
        (len, flip) => {
          const e = randomBytes(32);
          const h = randomBytes(32);
          const wire = getEngine('node').sealer(e, h).seal(randomBytes(len));
          if (flip !== undefined) wire[flip % wire.length]! ^= 1;
          for (const name of ENGINE_NAMES) {
            const want = getEngine(name).opener(e, h).open(wire);
            const got: Buffer[] = [];
            const failure = getEngine(name)
              .opener(e, h)
              .openEach(wire, (p) => got.push(p));
            assert.equal(failure, want.failure ?? null);
            assert.deepEqual(Buffer.concat(got), want.plain);
            assert.ok(got.every((p) => p.length > 0));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
