// Goal: SHA-256 as the project computes it (@noble/hashes) and node:crypto both give the FIPS 180-2 digests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex, sha256Vectors, toHex } from '../../helpers/vectors.js';

describe('SHA-256 (FIPS 180-2)', () => {
  const vectors = sha256Vectors();

  test('the vector file holds the three FIPS examples', () => {
    assert.equal(vectors.length, 3);
  });

  for (const v of vectors) {
    test(v.name, () => {
      const msg = hex(v.messageHex);
      assert.equal(toHex(sha256(msg)), v.digestHex, '@noble/hashes');
      assert.equal(createHash('sha256').update(msg).digest('hex'), v.digestHex, 'node:crypto');
    });
  }

  test('incremental hashing at every split of the 448-bit message gives the same digest', () => {
    const v = vectors[2]!;
    const msg = hex(v.messageHex);
    for (let cut = 0; cut <= msg.length; cut++) {
      const d = sha256.create().update(msg.subarray(0, cut)).update(msg.subarray(cut)).digest();
      assert.equal(toHex(d), v.digestHex, `cut at ${cut}`);
    }
  });
});
