// Goal: packets recorded from the real spiped 1.6 (both ends -f) open with both engines under keys derived from
// K and the nonces on the wire, and re-sealing the plaintext at the same message lengths gives the same bytes.
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, test } from 'node:test';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ctEqual } from '../../../src/crypto/bytes.js';
import { DH_ONE } from '../../../src/crypto/dh.js';
import { ENGINE_NAMES } from '../../../src/crypto/engine.js';
import { getEngine } from '../../../src/crypto/engines.js';
import { deriveDhMacKeys, deriveSessionKeys } from '../../../src/crypto/kdf.js';
import { DH_LEN, MAX_DATA, NONCE_LEN, PACKET_LEN, YH_LEN } from '../../../src/crypto/sizes.js';
import { hex, spipedCapture, toHex } from '../../helpers/vectors.js';

const cap = spipedCapture();
const keyFile = hex(cap.keyFileHex);
const K = hex(cap.keyHex);
const plaintext = hex(cap.plaintextHex);
const c2s = hex(cap.clientToServerHex);
const s2c = hex(cap.serverToClientHex);
const nonceC = c2s.subarray(0, NONCE_LEN);
const nonceS = s2c.subarray(0, NONCE_LEN);
const HS_LEN = NONCE_LEN + YH_LEN;

describe('capture from the real spiped', () => {
  test('is what the README says: spiped 1.6, K = SHA-256(key file), whole packets after a 320-byte handshake', () => {
    assert.match(cap.spipedVersion, /^spiped 1\.6\./);
    assert.equal(createHash('sha256').update(keyFile).digest('hex'), cap.keyHex);
    assert.ok(plaintext.length > 2 * MAX_DATA, 'several packets');
    for (const wire of [c2s, s2c]) {
      assert.equal((wire.length - HS_LEN) % PACKET_LEN, 0);
      assert.ok(wire.length - HS_LEN >= 3 * PACKET_LEN);
    }
    assert.notEqual(toHex(nonceC), toHex(nonceS));
  });

  test('y_C ‖ h_C and y_S ‖ h_S verify under dk1, and both y are 1 (-f)', () => {
    const dk1 = pbkdf2Sync(K, Buffer.concat([nonceC, nonceS]), 1, 64, 'sha256');
    const { dhmacC, dhmacS } = deriveDhMacKeys(K, nonceC, nonceS);
    assert.equal(toHex(dhmacC), toHex(dk1.subarray(0, 32)));
    assert.equal(toHex(dhmacS), toHex(dk1.subarray(32)));
    for (const [wire, key, who] of [
      [c2s, dhmacC, 'client'],
      [s2c, dhmacS, 'server'],
    ] as const) {
      const y = wire.subarray(NONCE_LEN, NONCE_LEN + DH_LEN);
      const h = wire.subarray(NONCE_LEN + DH_LEN, HS_LEN);
      assert.equal(toHex(y), toHex(DH_ONE), `${who} y`);
      assert.ok(ctEqual(hmac(sha256, key, y), h), `${who} h (noble)`);
      assert.equal(createHmac('sha256', key).update(y).digest('hex'), toHex(h), `${who} h (node)`);
    }
    // And the MACs are not interchangeable: the client's h does not verify under dhmac_S.
    assert.ok(
      !ctEqual(
        hmac(sha256, dhmacS, c2s.subarray(NONCE_LEN, NONCE_LEN + DH_LEN)),
        c2s.subarray(NONCE_LEN + DH_LEN, HS_LEN),
      ),
    );
  });

  const keys = deriveSessionKeys(K, nonceC, nonceS, DH_ONE);
  const directions = [
    { name: 'client → server', wire: c2s.subarray(HS_LEN), e: keys.eC, h: keys.hC },
    { name: 'server → client (echo)', wire: s2c.subarray(HS_LEN), e: keys.eS, h: keys.hS },
  ];

  test('dk2 = PBKDF2(K, nonce_C ‖ nonce_S ‖ 1, 1, 128) as node:crypto computes it', () => {
    const dk2 = pbkdf2Sync(K, Buffer.concat([nonceC, nonceS, DH_ONE]), 1, 128, 'sha256');
    assert.equal(toHex(Buffer.concat([keys.eC, keys.hC, keys.eS, keys.hS])), dk2.toString('hex'));
  });

  /** Message lengths as spiped cut them: open one packet at a time with engine `name`. */
  function messageLengths(
    name: (typeof ENGINE_NAMES)[number],
    d: (typeof directions)[number],
  ): number[] {
    const o = getEngine(name).opener(d.e, d.h);
    const got: number[] = [];
    for (let off = 0; off < d.wire.length; off += PACKET_LEN) {
      const r = o.open(d.wire.subarray(off, off + PACKET_LEN));
      assert.equal(r.failure, undefined, `${name}, packet ${off / PACKET_LEN}`);
      got.push(r.plain.length);
    }
    return got;
  }

  for (const d of directions) {
    test(`${d.name}: every packet opens with both engines and gives the plaintext`, () => {
      const byEngine = ENGINE_NAMES.map((name) => {
        const whole = getEngine(name).opener(d.e, d.h).open(d.wire);
        assert.equal(whole.failure, undefined, `${name}, all at once`);
        assert.ok(whole.plain.equals(plaintext), `${name}, all at once`);
        return messageLengths(name, d);
      });
      const lengths = byEngine[0]!;
      assert.deepEqual(byEngine[1], lengths, 'both engines see the same message lengths');
      assert.equal(
        lengths.reduce((a, b) => a + b, 0),
        plaintext.length,
      );
      assert.ok(lengths.every((n) => n >= 1 && n <= MAX_DATA));
    });

    test(`${d.name}: re-sealing at the same message lengths gives byte-identical packets`, () => {
      const lengths = messageLengths('node', d);
      for (const name of ENGINE_NAMES) {
        const s = getEngine(name).sealer(d.e, d.h);
        const parts: Buffer[] = [];
        let off = 0;
        for (const n of lengths) {
          parts.push(s.seal(plaintext.subarray(off, off + n)));
          off += n;
        }
        const again = Buffer.concat(parts);
        assert.equal(again.length, d.wire.length, name);
        assert.ok(again.equals(d.wire), `${name} re-sealed packets differ from spiped's`);
      }
    });

    test(`${d.name}: does not open under the other direction's keys`, () => {
      const other = directions.find((x) => x !== d)!;
      for (const name of ENGINE_NAMES)
        assert.equal(
          getEngine(name).opener(other.e, other.h).open(d.wire).failure,
          'bad-mac',
          name,
        );
    });
  }
});
