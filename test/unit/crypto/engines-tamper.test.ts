// Goal: both packet engines refuse every tampered, forged, replayed, reordered or reflected packet, return only
// the plaintext of the packets before it, and keep refusing afterwards.
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type EngineName, ENGINE_NAMES } from '../../../src/crypto/engine.js';
import { getEngine } from '../../../src/crypto/engines.js';
import { MAX_DATA, PACKET_LEN, PADDED_LEN } from '../../../src/crypto/sizes.js';

const E = randomBytes(32);
const H = randomBytes(32);

/** `count` full packets of known plaintext, sealed by `name` under E/H. */
function sealed(name: EngineName, count: number): { plain: Buffer; wire: Buffer } {
  const plain = Buffer.alloc(count * MAX_DATA);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 7 + (i >> 10)) & 0xff;
  return { plain, wire: getEngine(name).sealer(E, H).seal(plain) };
}

function packet(wire: Buffer, n: number): Buffer {
  return wire.subarray(n * PACKET_LEN, (n + 1) * PACKET_LEN);
}

/**
 * Rewrite packet `pnum`'s encrypted length field to `len` and give it a valid MAC: XOR in the
 * keystream of block 64 (counter be64(pnum) ‖ be64(0), 1028 bytes in), then HMAC(H, ct ‖ be64(pnum)).
 */
function forgeLength(pkt: Buffer, pnum: number, len: number): Buffer {
  const out = Buffer.from(pkt);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(pnum), 0);
  const ks = createCipheriv('aes-256-ctr', E, iv).update(Buffer.alloc(PADDED_LEN));
  const want = Buffer.alloc(4);
  want.writeUInt32BE(len >>> 0, 0);
  for (let i = 0; i < 4; i++) out[MAX_DATA + i] = want[i]! ^ ks[MAX_DATA + i]!;
  const num = Buffer.alloc(8);
  num.writeBigUInt64BE(BigInt(pnum), 0);
  createHmac('sha256', H)
    .update(out.subarray(0, PADDED_LEN))
    .update(num)
    .digest()
    .copy(out, PADDED_LEN);
  return out;
}

for (const name of ENGINE_NAMES) {
  const engine = getEngine(name);

  describe(`${name} engine: tampering`, () => {
    test('a flipped bit anywhere in packet n: bad-mac, plaintext only from packets before n (fast-check)', () => {
      const { plain, wire } = sealed(name, 6);
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 6 }),
          fc.nat(),
          fc.integer({ min: 0, max: PACKET_LEN - 1 }),
          fc.integer({ min: 0, max: 7 }),
          (count, nRaw, pos, bit) => {
            const n = nRaw % count;
            const bad = Buffer.from(wire.subarray(0, count * PACKET_LEN));
            bad[n * PACKET_LEN + pos]! ^= 1 << bit;
            const r = engine.opener(E, H).open(bad);
            assert.equal(r.failure, 'bad-mac');
            assert.ok(
              r.plain.equals(plain.subarray(0, n * MAX_DATA)),
              `got ${r.plain.length} bytes`,
            );
          },
        ),
        { numRuns: 300 },
      );
    });

    test('a flipped bit in packet 0, 63, 64, 100 of a 150-packet stream (node engine batches of 64)', () => {
      const { plain, wire } = sealed(name, 150);
      for (const n of [0, 63, 64, 100, 149]) {
        const bad = Buffer.from(wire);
        bad[n * PACKET_LEN + 500]! ^= 0x10;
        const r = engine.opener(E, H).open(bad);
        assert.equal(r.failure, 'bad-mac', `packet ${n}`);
        assert.ok(
          r.plain.equals(plain.subarray(0, n * MAX_DATA)),
          `packet ${n}: ${r.plain.length} bytes`,
        );
      }
    });

    test('opened packet by packet, the packets before the bad one succeed and it fails', () => {
      const { plain, wire } = sealed(name, 4);
      const bad = Buffer.from(wire);
      bad[2 * PACKET_LEN + PACKET_LEN - 1]! ^= 1; // last MAC byte of packet 2
      const o = engine.opener(E, H);
      for (let i = 0; i < 2; i++) {
        const r = o.open(packet(bad, i));
        assert.equal(r.failure, undefined);
        assert.ok(r.plain.equals(plain.subarray(i * MAX_DATA, (i + 1) * MAX_DATA)));
      }
      const r = o.open(packet(bad, 2));
      assert.equal(r.failure, 'bad-mac');
      assert.equal(r.plain.length, 0);
    });

    test('the length-forging helper works: a forged length of 1 or 1024 with a valid MAC opens', () => {
      const { plain, wire } = sealed(name, 2);
      for (const len of [1, 5, MAX_DATA]) {
        const r = engine
          .opener(E, H)
          .open(Buffer.concat([packet(wire, 0), forgeLength(packet(wire, 1), 1, len)]));
        assert.equal(r.failure, undefined, `len ${len}`);
        assert.ok(r.plain.equals(plain.subarray(0, MAX_DATA + len)), `len ${len}`);
      }
    });

    for (const len of [0, MAX_DATA + 1, 0x8000_0000, 0xffff_ffff]) {
      test(`a length field forged to ${len} (valid MAC) gives bad-length`, () => {
        const { plain, wire } = sealed(name, 3);
        const bad = Buffer.concat([
          packet(wire, 0),
          forgeLength(packet(wire, 1), 1, len),
          packet(wire, 2),
        ]);
        const r = engine.opener(E, H).open(bad);
        assert.equal(r.failure, 'bad-length');
        assert.ok(r.plain.equals(plain.subarray(0, MAX_DATA)), `got ${r.plain.length} bytes`);
      });
    }

    test('after a failure, open() keeps failing even on good packets', () => {
      const { wire } = sealed(name, 3);
      for (const breakIt of [
        (w: Buffer) => forgeLength(packet(w, 0), 0, 0),
        (w: Buffer) => {
          const p = Buffer.from(packet(w, 0));
          p[0]! ^= 1;
          return p;
        },
      ]) {
        const o = engine.opener(E, H);
        assert.notEqual(o.open(breakIt(wire)).failure, undefined);
        for (const again of [packet(wire, 0), packet(wire, 1), wire, new Uint8Array(0)]) {
          const r = o.open(again);
          assert.notEqual(r.failure, undefined);
          assert.equal(r.plain.length, 0);
        }
      }
    });

    test('a replayed packet fails', () => {
      const { wire } = sealed(name, 2);
      const o = engine.opener(E, H);
      assert.equal(o.open(packet(wire, 0)).failure, undefined);
      const r = o.open(packet(wire, 0));
      assert.equal(r.failure, 'bad-mac');
      assert.equal(r.plain.length, 0);
    });

    test('reordered or dropped packets fail', () => {
      const { plain, wire } = sealed(name, 3);
      const swapped = engine.opener(E, H).open(Buffer.concat([packet(wire, 1), packet(wire, 0)]));
      assert.equal(swapped.failure, 'bad-mac');
      assert.equal(swapped.plain.length, 0);
      const dropped = engine.opener(E, H).open(Buffer.concat([packet(wire, 0), packet(wire, 2)]));
      assert.equal(dropped.failure, 'bad-mac');
      assert.ok(dropped.plain.equals(plain.subarray(0, MAX_DATA)));
    });

    test("a packet reflected back at its sender (opened with the other direction's keys) fails", () => {
      const [eC, hC, eS, hS] = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)];
      const clientSends = engine.sealer(eC, hC).seal(Buffer.from('hello'));
      const clientReceives = engine.opener(eS, hS);
      assert.equal(clientReceives.open(clientSends).failure, 'bad-mac');
      // Sanity: the intended receiver opens it.
      assert.equal(engine.opener(eC, hC).open(clientSends).plain.toString(), 'hello');
    });

    test('a packet under the wrong MAC key alone (right AES key) fails', () => {
      const { wire } = sealed(name, 1);
      assert.equal(engine.opener(E, randomBytes(32)).open(wire).failure, 'bad-mac');
    });
  });
}
