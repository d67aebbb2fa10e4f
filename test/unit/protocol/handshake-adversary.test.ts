// Goal: a peer that knows the key but sends a bad DH value (y = p, y > p, y = 0, y = p−1) is refused with EBADDH in
// either role, y = 1 is refused with ENOPFS under -g (and accepted as no-PFS otherwise), and the MAC is checked
// before the value.
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { DH_ONE, GROUP14_PRIME_HEX, generateEphemeralKey } from '../../../src/crypto/dh.js';
import { deriveDhMacKeys } from '../../../src/crypto/kdf.js';
import { DH_LEN } from '../../../src/crypto/sizes.js';
import { ProtocolError, type ProtocolErrorCode } from '../../../src/protocol/errors.js';
import { Handshake, type HandshakeStep, type Role } from '../../../src/protocol/handshake.js';

const P = BigInt(`0x${GROUP14_PRIME_HEX}`);
const be256 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(2 * DH_LEN, '0'), 'hex');
const K = randomBytes(32);

/** Our end under test, playing `role` with a real ephemeral key. */
function victim(role: Role, requirePfs: boolean, keys: readonly Uint8Array[] = [K]) {
  const nonce = randomBytes(32);
  const hs = new Handshake({
    role,
    keys,
    noPfs: false,
    requirePfs,
    nonce,
    ephemeral: generateEphemeralKey(),
  });
  return { hs, nonce };
}

/**
 * Play the other role against `role` with the right key and DH value `y`: send the adversary's nonce,
 * then y ‖ HMAC(dhmac, y) with dhmac from kdf.deriveDhMacKeys. Returns the victim's final step, or throws
 * what the victim threw.
 */
function attack(
  role: Role,
  y: Uint8Array,
  opts: { requirePfs?: boolean; keys?: readonly Uint8Array[]; breakMac?: boolean } = {},
): { step: HandshakeStep; nonceC: Uint8Array; nonceS: Uint8Array; yVictim: Uint8Array | null } {
  const v = victim(role, opts.requirePfs ?? false, opts.keys);
  const advNonce = randomBytes(32);
  const [nonceC, nonceS] = role === 'server' ? [advNonce, v.nonce] : [v.nonce, advNonce];
  assert.deepEqual(Buffer.from(v.hs.start()), Buffer.from(v.nonce));
  const first = v.hs.push(advNonce);
  const { dhmacC, dhmacS } = deriveDhMacKeys(K, nonceC, nonceS);
  // The adversary plays the client against a server victim (MAC with dhmac_C), and vice versa.
  const h = Buffer.from(hmac(sha256, role === 'server' ? dhmacC : dhmacS, y));
  if (opts.breakMac) h[0]! ^= 1;
  let yVictim: Uint8Array | null = null;
  if (role === 'client') {
    // The client victim has already sent y_C ‖ h_C; check it, as a real server would.
    assert.equal(first.send.length, 1);
    yVictim = first.send[0]!.subarray(0, DH_LEN);
    assert.deepEqual(
      Buffer.from(first.send[0]!.subarray(DH_LEN)),
      Buffer.from(hmac(sha256, dhmacC, yVictim)),
    );
  } else assert.deepEqual(first.send, []);
  const step = v.hs.push(Buffer.concat([y, h]));
  if (role === 'server') yVictim = step.send[0]?.subarray(0, DH_LEN) ?? null;
  return { step, nonceC, nonceS, yVictim };
}

function throwsCode(fn: () => unknown, code: ProtocolErrorCode, what: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `${what}: ${String(e)}`);
      assert.equal(e.code, code, what);
      return true;
    },
    what,
  );
}

const BAD: readonly (readonly [string, Uint8Array])[] = [
  ['y = p', be256(P)],
  ['y = p + 1 (> p)', be256(P + 1n)],
  ['y = 2^2048 − 1 (> p)', Buffer.alloc(DH_LEN, 0xff)],
  ['y = 0', be256(0n)],
  ['y = p − 1', be256(P - 1n)],
];

for (const role of ['server', 'client'] as const) {
  describe(`adversary with the right key against our ${role}`, () => {
    for (const [name, y] of BAD) {
      test(`${name} → EBADDH`, () => {
        throwsCode(() => attack(role, y), 'EBADDH', name);
        throwsCode(() => attack(role, y, { requirePfs: true }), 'EBADDH', `${name} under -g`);
      });
    }

    test('y = 1 against -g → ENOPFS', () => {
      throwsCode(() => attack(role, DH_ONE, { requirePfs: true }), 'ENOPFS', 'y = 1');
    });

    test('y = 1 without -g is accepted as a no-forward-secrecy session (y_SC = 1)', () => {
      const { step, nonceC, nonceS } = attack(role, DH_ONE);
      assert.ok(step.done);
      assert.equal(step.done.noPfs, true);
      const want = pbkdf2Sync(K, Buffer.concat([nonceC, nonceS, DH_ONE]), 1, 128, 'sha256');
      const k = step.done.keys;
      assert.equal(Buffer.concat([k.eC, k.hC, k.eS, k.hS]).toString('hex'), want.toString('hex'));
    });

    test('control: a valid y = 2 is accepted, and y_SC = 2^x = the victim’s own y', () => {
      // y_SC = 2^x_victim mod p, which is exactly the public value the victim sent.
      const { step, nonceC, nonceS, yVictim } = attack(role, be256(2n));
      assert.ok(step.done);
      assert.equal(step.done.noPfs, false);
      assert.ok(yVictim);
      const want = pbkdf2Sync(K, Buffer.concat([nonceC, nonceS, yVictim]), 1, 128, 'sha256');
      const k = step.done.keys;
      assert.equal(Buffer.concat([k.eC, k.hC, k.eS, k.hS]).toString('hex'), want.toString('hex'));
    });

    test('the MAC is checked first: a bad y with a bad MAC gives EBADMAC', () => {
      for (const [name, y] of [...BAD, ['y = 1', DH_ONE] as const])
        throwsCode(() => attack(role, y, { breakMac: true, requirePfs: true }), 'EBADMAC', name);
    });
  });
}

test('a server with several keys still refuses a bad y from the holder of its second key', () => {
  throwsCode(
    () => attack('server', be256(P), { keys: [randomBytes(32), K] }),
    'EBADDH',
    'second key, y = p',
  );
});
