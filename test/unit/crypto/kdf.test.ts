// Goal: kdf.ts's PBKDF2-SHA256 matches RFC 7914 §11 and node:crypto, and dk1/dk2 are split as spiped splits them.
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DH_ONE } from '../../../src/crypto/dh.js';
import {
  deriveDhMacKeys,
  deriveSessionKeys,
  destroySessionKeys,
  pbkdf2Sha256,
} from '../../../src/crypto/kdf.js';
import { hex, pbkdf2Vectors, toHex } from '../../helpers/vectors.js';

describe('PBKDF2-HMAC-SHA256 (RFC 7914 §11)', () => {
  for (const v of pbkdf2Vectors()) {
    test(v.name, () => {
      assert.equal(v.c, 1, 'spiped only ever uses c = 1');
      const p = hex(v.passwordHex);
      const s = hex(v.saltHex);
      assert.equal(toHex(pbkdf2Sha256(p, s, v.dkLen)), v.dkHex, 'kdf.pbkdf2Sha256');
      assert.equal(
        pbkdf2Sync(p, s, v.c, v.dkLen, 'sha256').toString('hex'),
        v.dkHex,
        'node:crypto',
      );
    });
  }

  test('agrees with node:crypto for random keys, salts and lengths', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.uint8Array({ minLength: 0, maxLength: 400 }),
        fc.integer({ min: 1, max: 160 }),
        (p, s, len) => {
          assert.equal(
            toHex(pbkdf2Sha256(p, s, len)),
            pbkdf2Sync(p, s, 1, len, 'sha256').toString('hex'),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('spiped key derivations', () => {
  const k = randomBytes(32);
  const nC = randomBytes(32);
  const nS = randomBytes(32);

  test('dk1 = PBKDF2(K, nonce_C ‖ nonce_S, 1, 64) = dhmac_C ‖ dhmac_S', () => {
    const dk1 = pbkdf2Sync(k, Buffer.concat([nC, nS]), 1, 64, 'sha256');
    const { dhmacC, dhmacS } = deriveDhMacKeys(k, nC, nS);
    assert.equal(toHex(dhmacC), dk1.subarray(0, 32).toString('hex'));
    assert.equal(toHex(dhmacS), dk1.subarray(32, 64).toString('hex'));
  });

  test('the nonce order matters (swapping client and server nonces changes dk1)', () => {
    assert.notEqual(
      toHex(deriveDhMacKeys(k, nC, nS).dhmacC),
      toHex(deriveDhMacKeys(k, nS, nC).dhmacC),
    );
  });

  test('dk2 = PBKDF2(K, nonce_C ‖ nonce_S ‖ y_SC, 1, 128) = E_C ‖ H_C ‖ E_S ‖ H_S', () => {
    const ySC = randomBytes(256);
    const dk2 = pbkdf2Sync(k, Buffer.concat([nC, nS, ySC]), 1, 128, 'sha256');
    const keys = deriveSessionKeys(k, nC, nS, ySC);
    assert.equal(toHex(keys.eC), dk2.subarray(0, 32).toString('hex'));
    assert.equal(toHex(keys.hC), dk2.subarray(32, 64).toString('hex'));
    assert.equal(toHex(keys.eS), dk2.subarray(64, 96).toString('hex'));
    assert.equal(toHex(keys.hS), dk2.subarray(96, 128).toString('hex'));
  });

  test('with -f, y_SC is the 256-byte big-endian 1', () => {
    assert.equal(DH_ONE.length, 256);
    assert.equal(toHex(DH_ONE), `${'00'.repeat(255)}01`);
  });

  test('destroySessionKeys zeroes all four keys', () => {
    const keys = deriveSessionKeys(k, nC, nS, DH_ONE);
    destroySessionKeys(keys);
    for (const part of [keys.eC, keys.hC, keys.eS, keys.hS]) {
      assert.equal(part.length, 32);
      assert.ok(part.every((b) => b === 0));
    }
  });

  test('the inputs are not modified', () => {
    const copies = [Buffer.from(k), Buffer.from(nC), Buffer.from(nS)];
    deriveDhMacKeys(k, nC, nS);
    deriveSessionKeys(k, nC, nS, DH_ONE);
    assert.deepEqual([k, nC, nS], copies);
    assert.equal(toHex(DH_ONE), `${'00'.repeat(255)}01`);
  });
});
