// Goal: HMAC-SHA256 as the project computes it (@noble/hashes) and node:crypto both give the RFC 4231 MACs.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex, hmacVectors, toHex } from '../../helpers/vectors.js';

describe('HMAC-SHA256 (RFC 4231)', () => {
  const vectors = hmacVectors();

  test('the vector file holds test cases 1-4, 6 and 7', () => {
    assert.equal(vectors.length, 6);
  });

  for (const v of vectors) {
    test(v.name, () => {
      const key = hex(v.keyHex);
      const data = hex(v.dataHex);
      assert.equal(toHex(hmac(sha256, key, data)), v.macHex, '@noble/hashes one-shot');
      assert.equal(
        toHex(
          hmac.create(sha256, key).update(data.subarray(0, 7)).update(data.subarray(7)).digest(),
        ),
        v.macHex,
        '@noble/hashes incremental (as the noble engine uses it)',
      );
      assert.equal(createHmac('sha256', key).update(data).digest('hex'), v.macHex, 'node:crypto');
    });
  }
});
