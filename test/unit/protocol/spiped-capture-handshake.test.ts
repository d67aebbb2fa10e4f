// Goal: our Handshake, given the nonce the real spiped used, replays a recorded spiped 1.6 (-f) handshake in
// either role byte for byte, derives keys that open spiped's packets, and refuses it under -g or a wrong key.
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DH_ONE, generateEphemeralKey } from '../../../src/crypto/dh.js';
import { getEngine } from '../../../src/crypto/engines.js';
import { NONCE_LEN, YH_LEN } from '../../../src/crypto/sizes.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  Handshake,
  type HandshakeDone,
  type HandshakeOptions,
  type Role,
} from '../../../src/protocol/handshake.js';
import { hex, spipedCapture } from '../../helpers/vectors.js';

const cap = spipedCapture();
const K = hex(cap.keyHex);
const plaintext = hex(cap.plaintextHex);
const c2s = hex(cap.clientToServerHex);
const s2c = hex(cap.serverToClientHex);
const HS_LEN = NONCE_LEN + YH_LEN;
const nonceC = c2s.subarray(0, NONCE_LEN);
const nonceS = s2c.subarray(0, NONCE_LEN);
const DK2 = pbkdf2Sync(K, Buffer.concat([nonceC, nonceS, DH_ONE]), 1, 128, 'sha256').toString(
  'hex',
);

/** Our end in `role`, running -f with spiped's recorded nonce for that role. */
function replaying(role: Role, over: Partial<HandshakeOptions> = {}): Handshake {
  return new Handshake({
    role,
    keys: [K],
    noPfs: true,
    requirePfs: false,
    nonce: role === 'client' ? nonceC : nonceS,
    ephemeral: null,
    ...over,
  });
}

/** Feed `input` in chunks cut from `sizes`; returns everything sent, the result, and the bytes after the end. */
function drive(hs: Handshake, input: Uint8Array, sizes: readonly number[]) {
  const sent: Uint8Array[] = [hs.start()];
  const after: Uint8Array[] = [];
  let done: HandshakeDone | null = null;
  for (let off = 0, i = 0; off < input.length; i++) {
    const chunk = input.subarray(off, off + sizes[i % sizes.length]!);
    off += chunk.length;
    if (done) {
      after.push(chunk);
      continue;
    }
    const step = hs.push(chunk);
    sent.push(...step.send);
    if (step.done) {
      done = step.done;
      after.push(step.rest);
    }
  }
  return { sent: Buffer.concat(sent), done, after: Buffer.concat(after) };
}

const keysHex = (d: HandshakeDone): string =>
  Buffer.concat([d.keys.eC, d.keys.hC, d.keys.eS, d.keys.hS]).toString('hex');

for (const [role, mine, theirs] of [
  ['server', s2c, c2s],
  ['client', c2s, s2c],
] as const) {
  describe(`replaying spiped's handshake as the ${role}`, () => {
    for (const [how, sizes] of [
      ['whole', [Number.MAX_SAFE_INTEGER]],
      ['byte by byte', [1]],
    ] as const) {
      test(`fed ${how}: sends exactly spiped's ${role} bytes and derives spiped's keys`, () => {
        const r = drive(replaying(role), theirs, sizes);
        assert.ok(r.done);
        assert.ok(
          r.sent.equals(mine.subarray(0, HS_LEN)),
          `our ${role} bytes differ from spiped's`,
        );
        assert.equal(keysHex(r.done), DK2);
        assert.equal(r.done.noPfs, true);
        assert.equal(r.done.keyIndex, 0);
        assert.ok(r.after.equals(theirs.subarray(HS_LEN)), 'rest is the first data packets');
      });
    }

    test('fed at random split points: the same bytes and keys (fast-check)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 1200 }), { minLength: 1, maxLength: 6 }),
          (sizes) => {
            const r = drive(replaying(role), theirs, sizes);
            assert.ok(r.done);
            assert.ok(r.sent.equals(mine.subarray(0, HS_LEN)));
            assert.equal(keysHex(r.done), DK2);
            assert.ok(r.after.equals(theirs.subarray(HS_LEN)));
          },
        ),
        { numRuns: 50 },
      );
    });

    test('the derived keys open the packets spiped sent to this role', () => {
      const r = drive(replaying(role), theirs, [Number.MAX_SAFE_INTEGER]);
      assert.ok(r.done);
      const k = r.done.keys;
      const [e, h] = role === 'server' ? [k.eC, k.hC] : [k.eS, k.hS];
      const opened = getEngine('node').opener(e, h).open(r.after);
      assert.equal(opened.failure, undefined);
      assert.ok(opened.plain.equals(plaintext));
    });

    test('with -g (require forward secrecy) it refuses spiped -f: ENOPFS', () => {
      const hs = replaying(role, {
        noPfs: false,
        requirePfs: true,
        ephemeral: generateEphemeralKey(),
      });
      assert.throws(
        () => drive(hs, theirs, [Number.MAX_SAFE_INTEGER]),
        (e: unknown) => e instanceof ProtocolError && e.code === 'ENOPFS',
      );
    });

    test('without -f or -g it completes against spiped -f with y_SC = 1 and the same keys', () => {
      const hs = replaying(role, { noPfs: false, ephemeral: generateEphemeralKey() });
      const r = drive(hs, theirs, [Number.MAX_SAFE_INTEGER]);
      assert.ok(r.done);
      assert.equal(r.done.noPfs, true);
      assert.equal(keysHex(r.done), DK2);
    });

    test('with a wrong key it fails with EBADMAC', () => {
      assert.throws(
        () =>
          drive(replaying(role, { keys: [randomBytes(32)] }), theirs, [Number.MAX_SAFE_INTEGER]),
        (e: unknown) => e instanceof ProtocolError && e.code === 'EBADMAC',
      );
    });
  });
}

test('a server holding [wrong, right] keys replays spiped byte for byte with keyIndex 1', () => {
  const r = drive(replaying('server', { keys: [randomBytes(32), K] }), c2s, [
    Number.MAX_SAFE_INTEGER,
  ]);
  assert.ok(r.done);
  assert.equal(r.done.keyIndex, 1);
  assert.ok(r.sent.equals(s2c.subarray(0, HS_LEN)));
  assert.equal(keysHex(r.done), DK2);
});
