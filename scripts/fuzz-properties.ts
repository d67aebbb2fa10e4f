/**
 * The fast-check properties over the untrusted-input parsers that `npm run fuzz` (./fuzz.ts) runs
 * for minutes and test/unit/fuzz-properties.test.ts runs briefly in CI: the packet framer and
 * opener, the compact framer under both engines, the handshake, the route line reader and the
 * RESP scanners. Each gets random bytes and random split points; it must never throw (except as
 * its contract says), never hang, and keep its contract.
 */
import fc from 'fast-check';
import { CompactOpener, CompactSealer } from '../src/crypto/compact.js';
import { generateEphemeralKey } from '../src/crypto/dh.js';
import { type EngineName, ENGINE_NAMES } from '../src/crypto/engine.js';
import { getEngine } from '../src/crypto/engines.js';
import { nodeEngine } from '../src/crypto/engine-node.js';
import { PACKET_LEN } from '../src/crypto/sizes.js';
import { PacketFramer } from '../src/protocol/framer.js';
import { Handshake } from '../src/protocol/handshake.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { RouteLineReader } from '../src/protocol/route.js';
import { ReplyScanner, RequestScanner } from '../src/resp/index.js';

const key = new Uint8Array(32).fill(7);

/** Cut `bytes` at the given (sorted, deduplicated) points. */
export function split(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** One named property over random bytes and cut points. */
export type FuzzProperty = [string, fc.IPropertyWithHooks<[[Uint8Array, number[]]]>];

const bytesAndCuts = fc.tuple(
  fc.uint8Array({ maxLength: 8192 }),
  fc.array(fc.nat(), { maxLength: 20 }),
);

/** The compact framer's properties, with engine `name`'s FrameCipher. */
function compactProperties(name: EngineName): FuzzProperty[] {
  const engine = getEngine(name);
  return [
    [
      `compact framer (${name}): random bytes at random splits never throw and release nothing`,
      fc.property(bytesAndCuts, ([bytes, cuts]) => {
        const o = new CompactOpener(engine.frameCipher(key, key), () => {
          throw new Error('random frame accepted');
        });
        for (const part of split(bytes, cuts)) if (o.push(part) !== null) break;
        o.destroy();
      }),
    ],
    [
      `compact framer (${name}): sealed frames with one flipped bit release only an unmodified prefix`,
      fc.property(bytesAndCuts, ([bytes, cuts]) => {
        if (bytes.length === 0) return;
        // The flip position and the bucket come from the input, so a counterexample replays.
        const flip = cuts[0] ?? bytes.length;
        const bucket = 16 + (bytes[0]! % 497);
        const s = new CompactSealer(engine.frameCipher(key, key), bucket);
        // Three messages, so the flip can land before, in or after a frame boundary.
        const third = Math.ceil(bytes.length / 3);
        const msgs = [0, 1, 2]
          .map((i) => bytes.subarray(i * third, (i + 1) * third))
          .filter((m) => m.length > 0);
        const wire = Buffer.concat(msgs.map((m) => s.seal(m)));
        const at = flip % wire.length;
        wire[at]! ^= 1 << (flip % 8);
        const got: Buffer[] = [];
        const o = new CompactOpener(engine.frameCipher(key, key), (p) => got.push(p));
        for (const part of split(wire, cuts)) if (o.push(part) !== null) break;
        const plain = Buffer.concat(got);
        const want = Buffer.concat(msgs);
        if (!want.subarray(0, plain.length).equals(plain))
          throw new Error('modified bytes released');
        if (plain.length === want.length) throw new Error('flipped stream accepted whole');
      }),
    ],
  ];
}

/**
 * Every fuzz property, named: random bytes (or sealed frames) cut at random points. Each throws
 * (fails) on a broken contract. `npm run fuzz` runs them for minutes; the unit test
 * test/unit/fuzz-properties.test.ts runs each briefly on every test run.
 */
export const FUZZ_PROPERTIES: readonly FuzzProperty[] = [
  [
    'framer: random bytes at random splits never throw; output is whole packets of the input',
    fc.property(bytesAndCuts, ([bytes, cuts]) => {
      const f = new PacketFramer();
      let total = 0;
      for (const part of split(bytes, cuts))
        for (const b of f.push(part)) {
          if (b.length % PACKET_LEN !== 0) throw new Error('partial packet emitted');
          total += b.length;
        }
      if (total + f.pending !== bytes.length) throw new Error('bytes lost');
    }),
  ],
  [
    'packet opener: random packets never throw, always fail the MAC',
    fc.property(bytesAndCuts, ([bytes]) => {
      const o = nodeEngine.opener(key, key);
      const whole = bytes.subarray(0, bytes.length - (bytes.length % PACKET_LEN));
      const r = o.open(whole);
      if (whole.length > 0 && (r.failure === undefined || r.plain.length > 0))
        throw new Error('random packet accepted');
    }),
  ],
  ...ENGINE_NAMES.flatMap((name) => compactProperties(name)),
  [
    'handshake: random peer bytes at random splits only ever raise ProtocolError',
    fc.property(bytesAndCuts, ([bytes, cuts]) => {
      for (const role of ['client', 'server'] as const) {
        const hs = new Handshake({
          role,
          keys: [key],
          noPfs: false,
          requirePfs: false,
          nonce: new Uint8Array(32),
          ephemeral: generateEphemeralKey(),
        });
        try {
          for (const part of split(bytes, cuts)) if (!hs.finished) hs.push(part);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        } finally {
          hs.destroy();
        }
      }
    }),
  ],
  [
    'route line reader: random bytes never throw',
    fc.property(bytesAndCuts, ([bytes, cuts]) => {
      const r = new RouteLineReader();
      for (const part of split(bytes, cuts)) if (r.push(Buffer.from(part)).kind !== 'more') break;
    }),
  ],
  [
    'RESP reply scanner: random bytes at random splits never throw; output bytes = input bytes',
    fc.property(bytesAndCuts, ([bytes, cuts]) => {
      const s = new ReplyScanner<true>({ capture: () => true });
      let out = 0;
      for (const part of split(bytes, cuts))
        for (const ev of s.push(part)) if (ev.kind !== 'error') out += ev.bytes.length;
      // Captured frames still open at the end are held, so out ≤ input.
      if (out > bytes.length) throw new Error('scanner produced more bytes than it was given');
    }),
  ],
  [
    'RESP request scanner: random bytes at random splits never throw',
    fc.property(bytesAndCuts, ([bytes, cuts]) => {
      const s = new RequestScanner();
      for (const part of split(bytes, cuts)) s.push(part);
    }),
  ],
];
