// Goal: AES-256-CTR as both engines compute it (@noble/ciphers ctr, node:crypto) gives the SP 800-38A F.5.5
// ciphertext, and the spiped counter block be64(packet#) ‖ be64(block#) is a plain 128-bit counter.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ctr } from '@noble/ciphers/aes.js';
import { aesCtrVectors, hex, toHex } from '../../helpers/vectors.js';

function nodeCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

describe('AES-256-CTR (NIST SP 800-38A F.5.5)', () => {
  for (const v of aesCtrVectors()) {
    const key = hex(v.keyHex);
    const iv = hex(v.counterHex);
    const pt = hex(v.plaintextHex);
    const ct = hex(v.ciphertextHex);

    test(`${v.name}: encrypt`, () => {
      assert.equal(pt.length, 64, 'four blocks');
      assert.equal(toHex(ctr(key, iv).encrypt(pt)), v.ciphertextHex, '@noble/ciphers');
      assert.equal(toHex(nodeCtr(key, iv, pt)), v.ciphertextHex, 'node:crypto');
    });

    test(`${v.name}: decrypt`, () => {
      assert.equal(toHex(ctr(key, iv).decrypt(ct)), v.plaintextHex, '@noble/ciphers');
      const d = createDecipheriv('aes-256-ctr', key, iv);
      assert.equal(
        Buffer.concat([d.update(ct), d.final()]).toString('hex'),
        v.plaintextHex,
        'node:crypto',
      );
    });

    test(`${v.name}: each block alone, from its own counter`, () => {
      // The counter ...feff → ...ff00 → ...ff01 → ...ff02 (128-bit increment, carry into byte 14).
      for (let b = 0; b < 4; b++) {
        const cb = Buffer.from(iv);
        cb.writeUInt16BE(cb.readUInt16BE(14) + b, 14);
        const block = pt.subarray(b * 16, (b + 1) * 16);
        assert.equal(toHex(nodeCtr(key, cb, block)), toHex(ct.subarray(b * 16, (b + 1) * 16)));
      }
    });
  }

  test('spiped counter blocks: packet# in the high 64 bits, block# in the low 64 bits', () => {
    const key = randomBytes(32);
    const padded = randomBytes(1028);
    for (const pnum of [0, 1, 255, 2 ** 32 + 5, 2 ** 53 - 1]) {
      const iv = Buffer.alloc(16);
      iv.writeBigUInt64BE(BigInt(pnum), 0);
      const whole = nodeCtr(key, iv, padded);
      assert.equal(toHex(ctr(key, iv).encrypt(padded)), toHex(whole), `noble, packet ${pnum}`);
      // Block 64 (bytes 1024..1027, the length field) uses be64(pnum) ‖ be64(64).
      const last = Buffer.from(iv);
      last.writeBigUInt64BE(64n, 8);
      assert.equal(
        toHex(nodeCtr(key, last, padded.subarray(1024))),
        toHex(whole.subarray(1024)),
        `block 64 of packet ${pnum}`,
      );
    }
  });
});
