// Goal: two Handshakes in memory agree on the session keys for every -f/-g combination (or the -g side refuses
// with ENOPFS), wrong keys and tampering fail with EBADMAC, a server finds the matching key among several, and
// feeding the bytes whole, byte by byte or at random splits changes nothing, surplus bytes included.
import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DH_ONE,
  type EphemeralKey,
  GROUP14_PRIME_HEX,
  generateEphemeralKey,
} from '../../../src/crypto/dh.js';
import type { SessionKeys } from '../../../src/crypto/kdf.js';
import { DH_LEN, NONCE_LEN, YH_LEN } from '../../../src/crypto/sizes.js';
import { ProtocolError, type ProtocolErrorCode } from '../../../src/protocol/errors.js';
import { Handshake, type HandshakeDone, type Role } from '../../../src/protocol/handshake.js';

const P = BigInt(`0x${GROUP14_PRIME_HEX}`);

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

const be256 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(2 * DH_LEN, '0'), 'hex');
const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex')}`);

/** A deterministic ephemeral key with exponent 2^258 + x, computed with BigInt (independent of OpenSSL). */
function fixedEphemeral(x: bigint): EphemeralKey & { readonly exponent: bigint } {
  const exponent = (1n << 258n) + x;
  let used = false;
  return {
    exponent,
    publicValue: be256(modPow(2n, exponent, P)),
    computeSecret(peer: Uint8Array): Uint8Array {
      if (used) throw new Error('ephemeral DH key already used');
      used = true;
      return be256(modPow(big(peer), exponent, P));
    },
    destroy(): void {
      used = true;
    },
  };
}

type Mode = 'plain' | '-f' | '-g';
const MODES: readonly Mode[] = ['plain', '-f', '-g'];

const K = Buffer.alloc(32, 0x4b);
const NONCE_C = Buffer.alloc(32, 0xc0);
const NONCE_S = Buffer.alloc(32, 0x5e);
const X_C = 0x1234_5678_9abc_def0_1234_5678_9abc_def0n;
const X_S = 0xfedc_ba98_7654_3210_fedc_ba98_7654_3210n;

interface Side {
  readonly role: Role;
  readonly mode?: Mode;
  readonly keys?: readonly Uint8Array[];
  readonly nonce?: Uint8Array;
  /** 'fixed' (default): X_C / X_S; 'real': dh.generateEphemeralKey(). */
  readonly dh?: 'fixed' | 'real';
}

function make(s: Side): Handshake {
  const mode = s.mode ?? 'plain';
  const noPfs = mode === '-f';
  const fixed = fixedEphemeral(s.role === 'client' ? X_C : X_S);
  return new Handshake({
    role: s.role,
    keys: s.keys ?? [K],
    noPfs,
    requirePfs: mode === '-g',
    nonce: s.nonce ?? (s.role === 'client' ? NONCE_C : NONCE_S),
    ephemeral: noPfs ? null : s.dh === 'real' ? generateEphemeralKey() : fixed,
  });
}

/** Cut `data` into chunks whose sizes cycle through `sizes`. */
function cut(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

interface End {
  readonly hs: Handshake;
  /** Everything this end sent, in order. */
  readonly sent: Buffer[];
  out: Buffer[];
  done: HandshakeDone | null;
  error: unknown;
  /** Bytes that arrived after the handshake finished (`rest`, then later chunks). */
  readonly after: Buffer[];
}

/** Run two handshakes against each other in memory, delivering each batch of bytes cut into chunks of `sizes`. */
function pump(
  client: Handshake,
  server: Handshake,
  sizes: readonly number[] = [Number.MAX_SAFE_INTEGER],
) {
  const end = (hs: Handshake): End => {
    const first = Buffer.from(hs.start());
    return { hs, sent: [first], out: [first], done: null, error: undefined, after: [] };
  };
  const c = end(client);
  const s = end(server);
  for (let progress = true; progress;) {
    progress = false;
    for (const [from, to] of [
      [c, s],
      [s, c],
    ] as const) {
      if (from.out.length === 0) continue;
      progress = true;
      const bytes = Buffer.concat(from.out);
      from.out = [];
      for (const chunk of cut(bytes, sizes)) {
        if (to.error !== undefined) break;
        if (to.done) {
          to.after.push(Buffer.from(chunk));
          continue;
        }
        try {
          const step = to.hs.push(chunk);
          for (const b of step.send) {
            to.sent.push(Buffer.from(b));
            to.out.push(Buffer.from(b));
          }
          if (step.done) {
            to.done = step.done;
            to.after.push(Buffer.from(step.rest));
          }
        } catch (err) {
          to.error = err;
        }
      }
    }
  }
  return { c, s };
}

const keysHex = (k: SessionKeys): string => Buffer.concat([k.eC, k.hC, k.eS, k.hS]).toString('hex');

/** dk2 straight from node:crypto, for the fixed nonces and exponents. */
function expectedKeys(noPfs: boolean, k: Uint8Array = K): string {
  const ySC = noPfs ? DH_ONE : be256(modPow(2n, ((1n << 258n) + X_C) * ((1n << 258n) + X_S), P));
  return pbkdf2Sync(k, Buffer.concat([NONCE_C, NONCE_S, ySC]), 1, 128, 'sha256').toString('hex');
}

function assertCode(err: unknown, code: ProtocolErrorCode): void {
  assert.ok(err instanceof ProtocolError, `expected ProtocolError ${code}, got ${String(err)}`);
  assert.equal(err.code, code);
}

describe('Handshake: client ↔ server in memory', () => {
  for (const cm of MODES) {
    for (const sm of MODES) {
      const refused = (cm === '-f' && sm === '-g') || (cm === '-g' && sm === '-f');
      test(`client ${cm} vs server ${sm}: ${refused ? 'the -g side refuses with ENOPFS' : 'same keys'}`, () => {
        const { c, s } = pump(
          make({ role: 'client', mode: cm }),
          make({ role: 'server', mode: sm }),
        );
        if (cm === '-f' && sm === '-g') {
          assertCode(s.error, 'ENOPFS');
          assert.equal(s.done, null);
          assert.equal(c.error, undefined, 'the client just waits (the server drops it)');
          assert.equal(c.done, null);
          assert.equal(s.sent.length, 1, 'the server never sent y_S');
        } else if (cm === '-g' && sm === '-f') {
          assertCode(c.error, 'ENOPFS');
          assert.equal(c.done, null);
          assert.ok(s.done, 'the -f server completes; the -g client refuses its y_S = 1');
        } else {
          assert.equal(c.error, undefined);
          assert.equal(s.error, undefined);
          assert.ok(c.done && s.done);
          const noPfs = cm === '-f' || sm === '-f';
          assert.equal(c.done.noPfs, noPfs);
          assert.equal(s.done.noPfs, noPfs);
          assert.equal(keysHex(c.done.keys), expectedKeys(noPfs), 'client keys');
          assert.equal(keysHex(s.done.keys), expectedKeys(noPfs), 'server keys');
          assert.equal(c.done.keyIndex, 0);
          assert.equal(s.done.keyIndex, 0);
        }
      });
    }
  }

  for (const [cm, sm] of [
    ['plain', 'plain'],
    ['-g', '-g'],
    ['-g', 'plain'],
    ['-f', 'plain'],
  ] as const) {
    test(`client ${cm} vs server ${sm} with real (OpenSSL) ephemeral keys agree`, () => {
      const { c, s } = pump(
        make({ role: 'client', mode: cm, dh: 'real', nonce: randomBytes(32) }),
        make({ role: 'server', mode: sm, dh: 'real', nonce: randomBytes(32) }),
      );
      assert.ok(c.done && s.done, String(c.error ?? s.error));
      assert.equal(keysHex(c.done.keys), keysHex(s.done.keys));
      assert.equal(c.done.noPfs, cm === '-f');
      // Distinct keys per direction.
      assert.notDeepEqual(c.done.keys.eC, c.done.keys.eS);
      assert.notDeepEqual(c.done.keys.hC, c.done.keys.hS);
    });
  }

  test('wire shape: nonce (32) then y ‖ h (288) each way; the server answers only after y_C; -f sends y = 1', () => {
    const client = make({ role: 'client', mode: '-f' });
    const server = make({ role: 'server' });
    assert.deepEqual(Buffer.from(client.start()), NONCE_C);
    assert.deepEqual(Buffer.from(server.start()), NONCE_S);
    const s1 = server.push(NONCE_C);
    assert.deepEqual(s1.send, [], 'the server waits for y_C before sending y_S');
    assert.equal(s1.done, null);
    const c1 = client.push(NONCE_S);
    assert.equal(c1.send.length, 1);
    const yhC = c1.send[0]!;
    assert.equal(yhC.length, YH_LEN);
    assert.deepEqual(Buffer.from(yhC.subarray(0, DH_LEN)), DH_ONE);
    const s2 = server.push(yhC);
    assert.ok(s2.done);
    assert.equal(s2.send.length, 1);
    assert.equal(s2.send[0]!.length, YH_LEN);
    assert.deepEqual(Buffer.from(s2.send[0]!.subarray(0, DH_LEN)), fixedEphemeral(X_S).publicValue);
    assert.equal(s2.rest.length, 0);
    const c2 = client.push(s2.send[0]!);
    assert.ok(c2.done);
    assert.deepEqual(c2.send, []);
    assert.equal(keysHex(c2.done.keys), keysHex(s2.done.keys));
  });

  test('push after completion or after a failure throws', () => {
    const { c, s } = pump(make({ role: 'client' }), make({ role: 'server' }));
    assert.ok(c.hs.finished && s.hs.finished);
    assert.throws(() => c.hs.push(new Uint8Array(1)), /already finished/);
    const bad = pump(make({ role: 'client' }), make({ role: 'server', keys: [Buffer.alloc(32)] }));
    assert.ok(bad.s.hs.finished);
    assert.throws(() => bad.s.hs.push(new Uint8Array(1)), /already finished/);
  });

  test('bad options are programming errors (TypeError)', () => {
    const base = {
      role: 'server',
      keys: [K],
      noPfs: false,
      requirePfs: false,
      nonce: NONCE_S,
    } as const;
    const eph = fixedEphemeral(1n);
    assert.throws(() => new Handshake({ ...base, keys: [], ephemeral: eph }), TypeError);
    assert.throws(
      () => new Handshake({ ...base, role: 'client', keys: [K, K], ephemeral: eph }),
      TypeError,
    );
    assert.throws(
      () => new Handshake({ ...base, nonce: new Uint8Array(31), ephemeral: eph }),
      TypeError,
    );
    assert.throws(
      () => new Handshake({ ...base, noPfs: true, requirePfs: true, ephemeral: null }),
      TypeError,
    );
    assert.throws(() => new Handshake({ ...base, ephemeral: null }), TypeError);
  });
});

describe('Handshake: keys', () => {
  const K2 = Buffer.alloc(32, 0x22);
  const K3 = Buffer.alloc(32, 0x33);

  test('a wrong key fails on the server with EBADMAC, before it sends y_S', () => {
    const { c, s } = pump(make({ role: 'client' }), make({ role: 'server', keys: [K2] }));
    assertCode(s.error, 'EBADMAC');
    assert.equal(s.sent.length, 1);
    assert.equal(c.done, null);
  });

  for (const [keys, index] of [
    [[K2, K], 1],
    [[K, K2], 0],
    [[K2, K3, K], 2],
  ] as const) {
    test(`a server holding ${keys.length} keys finds the client's at index ${index}`, () => {
      const { c, s } = pump(make({ role: 'client' }), make({ role: 'server', keys }));
      assert.ok(c.done && s.done, String(s.error));
      assert.equal(s.done.keyIndex, index);
      assert.equal(c.done.keyIndex, 0);
      assert.equal(keysHex(s.done.keys), expectedKeys(false));
      assert.equal(keysHex(c.done.keys), expectedKeys(false));
    });
  }

  test('when several keys match, the first one wins (keyIndex 1 of [K2, K, K])', () => {
    const { s } = pump(make({ role: 'client' }), make({ role: 'server', keys: [K2, K, K] }));
    assert.ok(s.done);
    assert.equal(s.done.keyIndex, 1);
  });

  test('a server whose keys all differ fails with EBADMAC', () => {
    const { s } = pump(make({ role: 'client' }), make({ role: 'server', keys: [K2, K3] }));
    assertCode(s.error, 'EBADMAC');
  });

  test('the server answers with the key that matched: a client with the second key completes', () => {
    const { c, s } = pump(
      make({ role: 'client', keys: [K2] }),
      make({ role: 'server', keys: [K, K2] }),
    );
    assert.ok(c.done && s.done);
    assert.equal(s.done.keyIndex, 1);
    assert.equal(keysHex(c.done.keys), expectedKeys(false, K2));
  });
});

describe('Handshake: tampering', () => {
  test('a flipped bit in y_C ‖ h_C fails on the server with EBADMAC (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: YH_LEN - 1 }),
        fc.integer({ min: 0, max: 7 }),
        (pos, bit) => {
          const client = make({ role: 'client' });
          const server = make({ role: 'server' });
          server.push(client.start());
          const yh = Buffer.from(client.push(server.start()).send[0]!);
          yh[pos]! ^= 1 << bit;
          assert.throws(
            () => server.push(yh),
            (e: unknown) => e instanceof ProtocolError && e.code === 'EBADMAC',
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a flipped bit in y_S ‖ h_S fails on the client with EBADMAC (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: YH_LEN - 1 }),
        fc.integer({ min: 0, max: 7 }),
        (pos, bit) => {
          const client = make({ role: 'client' });
          const server = make({ role: 'server' });
          server.push(client.start());
          const yhS = Buffer.from(server.push(client.push(server.start()).send[0]!).send[0]!);
          yhS[pos]! ^= 1 << bit;
          assert.throws(
            () => client.push(yhS),
            (e: unknown) => e instanceof ProtocolError && e.code === 'EBADMAC',
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a flipped nonce bit in either direction is caught by the server (EBADMAC)', () => {
    for (const dir of ['toServer', 'toClient'] as const) {
      for (const pos of [0, 13, NONCE_LEN - 1]) {
        const client = make({ role: 'client' });
        const server = make({ role: 'server' });
        const nC = Buffer.from(client.start());
        const nS = Buffer.from(server.start());
        (dir === 'toServer' ? nC : nS)[pos]! ^= 0x80;
        server.push(nC);
        const yh = client.push(nS).send[0]!;
        assert.throws(
          () => server.push(yh),
          (e: unknown) => e instanceof ProtocolError && e.code === 'EBADMAC',
          `${dir} byte ${pos}`,
        );
      }
    }
  });
});

describe('Handshake: incremental input', () => {
  const reference = pump(make({ role: 'client' }), make({ role: 'server' }));

  const check = (r: ReturnType<typeof pump>, what: string): void => {
    assert.ok(r.c.done && r.s.done, `${what}: ${String(r.c.error ?? r.s.error)}`);
    assert.equal(keysHex(r.c.done.keys), expectedKeys(false), what);
    assert.equal(keysHex(r.s.done.keys), expectedKeys(false), what);
    assert.ok(
      Buffer.concat(r.c.sent).equals(Buffer.concat(reference.c.sent)),
      `${what}: client bytes`,
    );
    assert.ok(
      Buffer.concat(r.s.sent).equals(Buffer.concat(reference.s.sent)),
      `${what}: server bytes`,
    );
  };

  test('fed whole', () => {
    check(reference, 'whole');
    assert.equal(Buffer.concat(reference.c.sent).length, NONCE_LEN + YH_LEN);
    assert.equal(Buffer.concat(reference.s.sent).length, NONCE_LEN + YH_LEN);
  });

  test('fed byte by byte gives identical keys and bytes', () => {
    check(pump(make({ role: 'client' }), make({ role: 'server' }), [1]), 'byte by byte');
  });

  test('fed at random split points gives identical keys and bytes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
        (sizes) => {
          check(pump(make({ role: 'client' }), make({ role: 'server' }), sizes), `sizes ${sizes}`);
        },
      ),
      { numRuns: 25 },
    );
  });

  // The full byte streams each side receives, plus surplus data that follows the handshake.
  const toServer = Buffer.concat(reference.c.sent);
  const toClient = Buffer.concat(reference.s.sent);

  for (const [role, stream] of [
    ['server', toServer],
    ['client', toClient],
  ] as const) {
    test(`${role}: surplus bytes after the handshake come back in rest, however the input is split (fast-check)`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 3000 }),
          fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
          (extra, sizes) => {
            const hs = make({ role });
            hs.start();
            const after: Buffer[] = [];
            let done: HandshakeDone | null = null;
            const sent: Uint8Array[] = [];
            for (const chunk of cut(Buffer.concat([stream, extra]), sizes)) {
              if (done) {
                after.push(Buffer.from(chunk));
                continue;
              }
              const step = hs.push(chunk);
              sent.push(...step.send);
              if (step.done) {
                done = step.done;
                after.push(Buffer.from(step.rest));
              } else assert.equal(step.rest.length, 0);
            }
            assert.ok(done);
            assert.equal(keysHex(done.keys), expectedKeys(false));
            assert.ok(Buffer.concat(after).equals(extra), 'rest + later chunks = the surplus');
            const mine = role === 'server' ? reference.s.sent : reference.c.sent;
            assert.ok(Buffer.concat(sent).equals(Buffer.concat(mine.slice(1))), 'same bytes sent');
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  test('rest of a whole-stream push is exactly the surplus', () => {
    const server = make({ role: 'server' });
    server.start();
    const extra = Buffer.from('first data packet bytes');
    const step = server.push(Buffer.concat([toServer, extra]));
    assert.ok(step.done);
    assert.deepEqual(Buffer.from(step.rest), extra);
  });
});
