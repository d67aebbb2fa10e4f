// Goal: dh.ts uses the RFC 3526 group-14 prime, classifies peer values as spiped (plus our documented
// refusals of 0 and p−1), and two ephemeral keys agree on a secret.
import assert from 'node:assert/strict';
import { getDiffieHellman } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checkPeerValue,
  DH_ONE,
  GROUP14_PRIME,
  GROUP14_PRIME_HEX,
  generateEphemeralKey,
} from '../../../src/crypto/dh.js';
import { hex, modpGroup14, toHex } from '../../helpers/vectors.js';

const P = BigInt(`0x${GROUP14_PRIME_HEX}`);

function be256(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(512, '0'), 'hex');
}

describe('group-14 prime (RFC 3526 §3)', () => {
  const group = modpGroup14();

  test('dh.GROUP14_PRIME equals the RFC 3526 prime and node:crypto modp14', () => {
    assert.equal(group.bits, 2048);
    assert.equal(group.generator, 2);
    assert.equal(toHex(GROUP14_PRIME), group.primeHex, 'ours vs RFC 3526');
    assert.equal(
      getDiffieHellman('modp14').getPrime('hex'),
      group.primeHex,
      'node:crypto vs RFC 3526',
    );
    assert.equal(getDiffieHellman('modp14').getGenerator('hex'), '02');
  });

  test('the prime equals its RFC 3526 formula 2^2048 − 2^1984 − 1 + 2^64·(⌊2^1918·π⌋ + 124476)', () => {
    // π to 1918 + 64 guard bits with Machin's formula, π = 16·atan(1/5) − 4·atan(1/239).
    const guard = 64n;
    const one = 1n << (1918n + guard);
    const atanInv = (x: bigint): bigint => {
      let term = one / x;
      let sum = term;
      for (let k = 1n; term !== 0n; k++) {
        term /= x * x;
        sum += (k % 2n === 0n ? 1n : -1n) * (term / (2n * k + 1n));
      }
      return sum;
    };
    const piFloor = (16n * atanInv(5n) - 4n * atanInv(239n)) >> guard;
    const p = (1n << 2048n) - (1n << 1984n) - 1n + (1n << 64n) * (piFloor + 124476n);
    assert.equal(p.toString(16), group.primeHex);
    assert.equal(hex(group.primeHex).length, 256);
  });
});

describe('checkPeerValue', () => {
  test('classifies the edge values', () => {
    assert.equal(checkPeerValue(be256(0n)), 'zero');
    assert.equal(checkPeerValue(DH_ONE), 'one');
    assert.equal(checkPeerValue(be256(2n)), 'ok');
    assert.equal(checkPeerValue(be256(P - 2n)), 'ok');
    assert.equal(checkPeerValue(be256(P - 1n)), 'p-minus-one');
    assert.equal(checkPeerValue(be256(P)), 'not-below-p');
    assert.equal(checkPeerValue(be256(P + 1n)), 'not-below-p');
    assert.equal(checkPeerValue(Buffer.alloc(256, 0xff)), 'not-below-p');
  });

  test('a value of the wrong length is refused', () => {
    assert.equal(checkPeerValue(Buffer.alloc(255, 1)), 'not-below-p');
    assert.equal(checkPeerValue(Buffer.alloc(257)), 'not-below-p');
  });

  test('agrees with BigInt comparison on random values near and below p', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 2048n) - 1n }),
        fc.bigInt({ min: -3n, max: 3n }),
        (r, d) => {
          for (const y of [r, P + d]) {
            if (y < 0n) continue;
            const want =
              y >= P
                ? 'not-below-p'
                : y === 0n
                  ? 'zero'
                  : y === 1n
                    ? 'one'
                    : y === P - 1n
                      ? 'p-minus-one'
                      : 'ok';
            assert.equal(checkPeerValue(be256(y)), want, y.toString(16));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('generateEphemeralKey', () => {
  test('two keys agree on a 256-byte secret, and their public values are in range', () => {
    const a = generateEphemeralKey();
    const b = generateEphemeralKey();
    for (const k of [a, b]) {
      assert.equal(k.publicValue.length, 256);
      assert.equal(checkPeerValue(k.publicValue), 'ok');
    }
    assert.notEqual(toHex(a.publicValue), toHex(b.publicValue));
    const sa = a.computeSecret(b.publicValue);
    const sb = b.computeSecret(a.publicValue);
    assert.equal(sa.length, 256);
    assert.equal(toHex(sa), toHex(sb));
  });

  test('a key computes only one secret', () => {
    const a = generateEphemeralKey();
    const b = generateEphemeralKey();
    a.computeSecret(b.publicValue);
    assert.throws(() => a.computeSecret(b.publicValue), /already used/);
  });
});
