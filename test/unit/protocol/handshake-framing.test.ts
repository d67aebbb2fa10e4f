// Goal: under compact framing two ends agree on keys that differ from the spiped-framing keys of the same
// handshake; a compact end and a spiped-framing end fail AT THE HANDSHAKE with EFRAMING on both sides, naming both
// framings (the server hands back its y ‖ h so the client can tell too), while a wrong key stays EBADMAC; and the
// node:crypto and @noble/hashes Kdfs derive identical keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DH_ONE } from '../../../src/crypto/dh.js';
import { type Framing, type Kdf, nobleKdf } from '../../../src/crypto/kdf.js';
import { nodeKdf } from '../../../src/crypto/kdf-node.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { Handshake, type HandshakeDone } from '../../../src/protocol/handshake.js';

const K = Buffer.alloc(32, 0x4b);

interface End {
  readonly framing?: Framing;
  readonly keys?: readonly Uint8Array[];
  readonly kdf?: Kdf;
}

/** -f on both ends keeps these tests free of modexps; the framing logic is the same with PFS. */
function make(role: 'client' | 'server', end: End, nonce: Uint8Array): Handshake {
  return new Handshake({
    role,
    keys: end.keys ?? [K],
    noPfs: true,
    requirePfs: false,
    nonce,
    ephemeral: null,
    ...(end.framing ? { framing: end.framing } : {}),
    ...(end.kdf ? { kdf: end.kdf } : {}),
  });
}

type Outcome = HandshakeDone | ProtocolError;

/** Run a client and a server against each other in memory; the server's `reply` is delivered. */
function run(c: End, s: End): { client: Outcome | null; server: Outcome } {
  const nC = Buffer.alloc(32, 0xc0);
  const nS = Buffer.alloc(32, 0x5e);
  const client = make('client', c, nC);
  const server = make('server', s, nS);
  let toClient: Uint8Array[] = [server.start(), ...server.push(client.start()).send];
  const c1 = client.push(Buffer.concat(toClient));
  toClient = [];
  let serverOut: Outcome;
  try {
    const st = server.push(Buffer.concat(c1.send));
    toClient.push(...st.send);
    serverOut = st.done!;
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    serverOut = err;
    if (err.reply) toClient.push(err.reply);
  }
  // null: the client is still waiting (the server closed without a word).
  let clientOut: Outcome | null;
  try {
    clientOut = client.push(Buffer.concat(toClient)).done;
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    clientOut = err;
  }
  return { client: clientOut, server: serverOut };
}

const done = (o: Outcome | null): HandshakeDone => {
  assert.ok(o !== null && !(o instanceof Error), `expected success, got ${String(o)}`);
  return o;
};
const hexKeys = (d: HandshakeDone): string =>
  [d.keys.eC, d.keys.hC, d.keys.eS, d.keys.hS].map((k) => Buffer.from(k).toString('hex')).join();

describe('handshake framing', () => {
  test('compact ends agree on keys, tagged compact, that differ from the spiped-framing keys', () => {
    const compact = run({ framing: 'compact' }, { framing: 'compact' });
    const spiped = run({}, {});
    assert.equal(done(compact.client).framing, 'compact');
    assert.equal(hexKeys(done(compact.client)), hexKeys(done(compact.server)));
    assert.equal(done(spiped.server).framing, 'spiped');
    assert.notEqual(hexKeys(done(compact.client)), hexKeys(done(spiped.client)));
  });

  for (const [c, s] of [
    ['compact', 'spiped'],
    ['spiped', 'compact'],
  ] as const)
    test(`a ${c} client and a ${s} server both fail with EFRAMING naming both framings`, () => {
      const r = run({ framing: c }, { framing: s });
      for (const [out, mine, peer] of [
        [r.client, c, s],
        [r.server, s, c],
      ] as const) {
        assert.ok(out instanceof ProtocolError);
        assert.equal(out.code, 'EFRAMING');
        assert.match(
          out.message,
          new RegExp(`this end uses ${mine} framing, the peer uses ${peer}`),
        );
      }
      assert.ok(r.server instanceof ProtocolError && r.server.reply?.length === 288);
    });

  test('a server with several keys diagnoses the framing for whichever key matches', () => {
    const r = run({ framing: 'compact' }, { keys: [randomBytes(32), K] });
    assert.ok(r.server instanceof ProtocolError && r.server.code === 'EFRAMING');
    assert.ok(r.client instanceof ProtocolError && r.client.code === 'EFRAMING');
  });

  test('a wrong key is EBADMAC whatever the framings, and the server sends nothing back', () => {
    for (const [c, s] of [
      ['compact', 'compact'],
      ['compact', 'spiped'],
      ['spiped', 'compact'],
    ] as const) {
      const r = run({ framing: c }, { framing: s, keys: [randomBytes(32)] });
      assert.ok(r.server instanceof ProtocolError);
      assert.equal(r.server.code, 'EBADMAC');
      assert.equal(r.server.reply, undefined);
      assert.equal(r.client, null);
    }
  });

  test('a node:crypto Kdf end and a @noble/hashes Kdf end agree, in both framings', () => {
    for (const framing of ['spiped', 'compact'] as const) {
      const a = run({ framing, kdf: nodeKdf }, { framing, kdf: nobleKdf });
      const b = run({ framing, kdf: nobleKdf }, { framing });
      assert.equal(hexKeys(done(a.client)), hexKeys(done(a.server)));
      assert.equal(hexKeys(done(a.client)), hexKeys(done(b.client)));
    }
  });

  test('nodeKdf and nobleKdf give identical PBKDF2 and HMAC bytes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 400 }),
        fc.integer({ min: 1, max: 200 }),
        (p, s, len) => {
          assert.deepEqual(
            Buffer.from(nodeKdf.pbkdf2Sha256(p, s, len)),
            Buffer.from(nobleKdf.pbkdf2Sha256(p, s, len)),
          );
          assert.deepEqual(
            Buffer.from(nodeKdf.hmacSha256(p, s)),
            Buffer.from(nobleKdf.hmacSha256(p, s)),
          );
        },
      ),
      { numRuns: 100 },
    );
    assert.equal(DH_ONE.length, 256);
  });
});
