// Goal: whatever a man in the middle does to the encrypted stream (flip a bit, drop, replay, reorder
// or reflect a packet, tamper with a length field or make it oversize, cut it mid-packet), the
// receiving end drops the connection or discards the damaged tail with a logged reason and a
// counter, its target never receives a byte of the damaged packet or anything after it, and other
// connections through the same ends carry on; under both framings (spiped's 1060-byte packets,
// DESIGN.md §2.3, and compact frames, §9.3), over TCP and UNIX sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Framing } from '../../src/crypto/kdf.js';
import { loadKeyFile } from '../../src/crypto/keyfile.js';
import {
  COMPACT_DEFAULT_BUCKET,
  COMPACT_HEADER_LEN,
  COMPACT_MAX_DATA,
  LEN_FIELD,
  MAC_LEN,
  MAX_DATA,
  PACKET_LEN,
} from '../../src/crypto/sizes.js';
import {
  closeAllProxies,
  type Direction,
  type Fault,
  type FaultProxy,
  faultProxy,
  HANDSHAKE_LEN,
  type LinkStats,
  packetStart,
  type WireFraming,
} from '../helpers/fault-proxy.js';
import { startCloakpipe } from '../support/ends.js';
import { fetchMetrics, sampleValue } from '../support/metrics.js';
import { freePort, parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import {
  type CollectServer,
  collectServer,
  echoServer,
  type TestServer,
  transfer,
} from '../helpers/targets.js';

/** Data packets (or frames, at least) each run sends: one write of PACKETS full units. */
const PACKETS = 8;

/** What differs between the framings, for the same fault families. */
interface FramingCase {
  readonly framing: Framing;
  /** Arguments for both ends, and for the -e end only. */
  readonly args: readonly string[];
  readonly eArgs: readonly string[];
  /** Most data one unit carries. */
  readonly unitData: number;
  /** Shortest whole data unit on the wire: flip offsets within ±unitMin stay inside a unit. */
  readonly unitMin: number;
  /** Low byte of the data-length field the MAC covers: changing it changes no unit boundary. */
  readonly lengthByte: number;
  /** The unit's first length byte and a bit that makes that length oversize, and the refusal. */
  readonly oversize: { readonly offset: number; readonly bit: number; readonly reason: string };
  /** Reasons a damaged or misplaced unit may be refused with. */
  readonly refusals: readonly string[];
  /** What the truncation log line calls a unit. */
  readonly unit: 'packet' | 'frame';
  /** How the fault proxy finds units, given the key file. */
  wire(keyFile: string): WireFraming;
}

const CASES: readonly FramingCase[] = [
  {
    // Plaintext M ‖ zeros ‖ be32(len M), then the MAC: every length is checked after the MAC.
    framing: 'spiped',
    args: [],
    eArgs: [],
    unitData: MAX_DATA,
    unitMin: PACKET_LEN,
    lengthByte: MAX_DATA + LEN_FIELD - 1,
    oversize: { offset: MAX_DATA, bit: 7, reason: 'EBADPACKET' },
    refusals: ['EBADPACKET'],
    unit: 'packet',
    wire: () => ({ framing: 'spiped' }),
  },
  {
    // be16(body b) ‖ be16(data d) ‖ data ‖ zeros, then the tag: b is acted on before the tag
    // (capped at COMPACT_MAX_DATA before buffering), d only after it. A garbled header is refused
    // with EBADLEN when its b is out of range, else with EBADPACKET. -e runs -f so the proxy,
    // holding K, can read frame headers (test/helpers/wire-units.ts).
    framing: 'compact',
    args: ['--framing', 'compact'],
    eArgs: ['-f'],
    unitData: COMPACT_MAX_DATA,
    unitMin: COMPACT_HEADER_LEN + COMPACT_DEFAULT_BUCKET + MAC_LEN,
    lengthByte: COMPACT_HEADER_LEN - 1,
    oversize: { offset: 0, bit: 7, reason: 'EBADLEN' },
    refusals: ['EBADPACKET', 'EBADLEN'],
    unit: 'frame',
    wire: (keyFile) => ({ framing: 'compact', key: loadKeyFile(keyFile).key }),
  },
];

after(async () => {
  await closeAllProxies();
  await stopAll();
});

interface Rig {
  readonly c: FramingCase;
  readonly payload: Buffer;
  readonly e: End;
  readonly d: End;
  readonly entry: string;
  readonly proxy: FaultProxy;
  readonly target: CollectServer;
}

/** One end and its /metrics port. */
interface End {
  readonly proc: Proc;
  readonly metrics: number;
}

/** target ← cloakpipe -d ← fault proxy ← cloakpipe -e ← (test client), over `transport`. */
async function rig(c: FramingCase, transport: 'tcp' | 'unix', target?: TestServer): Promise<Rig> {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const src = (name: string): string =>
    transport === 'unix' ? join(dir, `${name}.sock`) : '[127.0.0.1]:0';
  const collect = await collectServer(transport === 'unix' ? join(dir, 'target.sock') : undefined);
  const start = async (args: string[]): Promise<End & { address: string }> => {
    const metrics = await freePort();
    const p = await startCloakpipe([...args, ...c.args, '--metrics', `127.0.0.1:${metrics}`]);
    return { proc: p.proc, metrics, address: p.address };
  };
  const d = await start(['-d', '-s', src('d'), '-t', (target ?? collect).address, '-k', key]);
  const proxy = await faultProxy(
    d.address,
    [],
    transport === 'unix' ? join(dir, 'proxy.sock') : undefined,
    c.wire(key),
  );
  const e = await start(['-e', '-s', src('e'), '-t', proxy.address, '-k', key, ...c.eArgs]);
  return {
    c,
    payload: randomBytes(PACKETS * c.unitData),
    e,
    d,
    entry: e.address,
    proxy,
    target: collect,
  };
}

/** The outcome of one damaged connection. */
interface Run {
  /** What the target received on this connection. */
  readonly delivered: Buffer;
  /** What the client received back. */
  readonly reply: Buffer;
  /** What the proxy saw and did on it. */
  readonly link: LinkStats;
}

/**
 * Send the rig's payload with `faults` on the encrypted hop and wait until the target's
 * connection has closed.
 */
async function run(r: Rig, faults: readonly Fault[]): Promise<Run> {
  r.proxy.setFaults(faults);
  const link = r.proxy.links().length;
  const conn = r.target.conns().length;
  const got = await transfer(r.entry, r.payload, 20_000, true);
  await waitUntil(
    () => r.target.conns()[conn]?.closed === true,
    "the target's connection closed",
    10_000,
  );
  return {
    delivered: r.target.conns()[conn]!.data,
    reply: got.data,
    link: r.proxy.links()[link]!,
  };
}

/** Data bytes the first `n` units of `dir` carried as sent (spiped packets here are full). */
function dataBefore(link: LinkStats, dir: Direction, n: number): number {
  const units = link.units[dir];
  assert.ok(units.length > n, `${dir} had ${units.length} units, fewer than ${n + 1}`);
  return units.slice(0, n).reduce((sum, u) => sum + (u.data ?? MAX_DATA), 0);
}

/** Sum of the rejected-packet counters of `end` for `reasons`. */
async function rejected(end: End, reasons: readonly string[]): Promise<number> {
  const text = await fetchMetrics(end.metrics);
  let sum = 0;
  for (const reason of reasons)
    sum += sampleValue(text, `cloakpipe_packets_rejected_total{reason="${reason}"`) ?? 0;
  return sum;
}

/** Log lines and counted rejections of `end` with one of `reasons`, so far. */
async function refusals(end: End, reasons: readonly string[]): Promise<[number, number]> {
  const lines = reasons.reduce((n, reason) => n + logLines(end.proc, /./, { reason }).length, 0);
  return [lines, await rejected(end, reasons)];
}

/**
 * Wait until `end` has logged (and counted) one more connection dropped with one of `reasons`
 * than `before`.
 */
async function waitForRefusal(
  end: End,
  reasons: readonly string[],
  before: [number, number],
): Promise<void> {
  await waitUntil(
    () =>
      reasons.reduce((n, reason) => n + logLines(end.proc, /./, { reason }).length, 0) > before[0],
    `a log line with reason ${reasons.join(' or ')}`,
    10_000,
    () => end.proc.output(),
  );
  assert.ok(
    (await rejected(end, reasons)) > before[1],
    `cloakpipe_packets_rejected_total{reason=${reasons.join('|')}} went up`,
  );
}

/** Assert `delivered` is a prefix of the payload carrying nothing past `limit` bytes. */
function assertPrefixUpTo(r: Rig, delivered: Buffer, limit: number): void {
  assert.ok(
    delivered.length <= limit,
    `delivered ${delivered.length} bytes, more than the ${limit} before the damage`,
  );
  assert.ok(
    delivered.equals(r.payload.subarray(0, delivered.length)),
    'delivered bytes are a prefix of the payload',
  );
}

for (const c of CASES) {
  for (const transport of ['tcp', 'unix'] as const) {
    describe(`${c.framing} framing: integrity over ${transport}`, () => {
      let r: Rig;
      before(async () => {
        r = await rig(c, transport);
      });

      test('a delayed but undamaged stream delivers every unit, as the faults below assume', async () => {
        const res = await run(r, [{ kind: 'delay', ms: 5 }]);
        assert.deepEqual(res.delivered, r.payload);
        const units = res.link.units.c2s;
        const wire = units.reduce((n, u) => n + u.wire, 0);
        assert.equal(res.link.read.c2s, HANDSHAKE_LEN + wire, 'c2s = handshake + whole units');
        assert.ok(units.length >= PACKETS, `${units.length} units`);
        if (c.framing === 'spiped') assert.equal(res.link.read.c2s, packetStart(PACKETS));
        const data = units.reduce((n, u) => n + (u.data ?? MAX_DATA), 0);
        assert.equal(data, r.payload.length, 'the units carry the payload');
        assert.equal(res.link.read.s2c, HANDSHAKE_LEN, 's2c = handshake only');
      });

      test('bit flip in unit n drops the connection and delivers nothing from unit n on', async () => {
        const n = 3;
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: -c.unitMin, max: c.unitMin - 1 }),
            fc.integer({ min: 0, max: 7 }),
            async (pos, bit) => {
              const before = await refusals(r.d, c.refusals);
              const res = await run(r, [{ kind: 'flip', dir: 'c2s', packet: n, offset: pos, bit }]);
              assert.equal(res.link.applied.length, 1, `applied: ${res.link.applied}`);
              assert.match(res.link.applied[0]!, new RegExp(`^flip c2s@\\d+ bit ${bit}$`));
              assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', n));
              assert.equal(res.reply.length, 0);
              await waitForRefusal(r.d, c.refusals, before);
            },
          ),
          {
            numRuns: 10,
            examples: [
              [0, 0],
              [-1, 7],
              [c.lengthByte, 0],
              [-MAC_LEN, 3],
            ],
          },
        );
      });

      test('a tampered data-length field fails the MAC: EBADPACKET, nothing of the unit delivered', async () => {
        const before = await refusals(r.d, ['EBADPACKET']);
        const res = await run(r, [
          { kind: 'flip', dir: 'c2s', packet: 2, offset: c.lengthByte, bit: 0 },
        ]);
        assert.equal(res.link.applied.length, 1);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 2));
        await waitForRefusal(r.d, ['EBADPACKET'], before);
      });

      test(`an oversize length is refused (${c.oversize.reason}); nothing of the unit delivered`, async () => {
        const before = await refusals(r.d, [c.oversize.reason]);
        const { offset, bit } = c.oversize;
        const res = await run(r, [{ kind: 'flip', dir: 'c2s', packet: 2, offset, bit }]);
        assert.equal(res.link.applied.length, 1);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 2));
        await waitForRefusal(r.d, [c.oversize.reason], before);
      });

      test('bit flip in the handshake (nonce, y or MAC) is refused with EBADMAC; nothing is delivered', async () => {
        const before = logLines(r.d.proc, /./, { reason: 'EBADMAC' }).length;
        const offsets = [0, 31, 32, 200, 287, HANDSHAKE_LEN - 1];
        for (const offset of offsets) {
          const res = await run(r, [{ kind: 'flip', dir: 'c2s', offset, bit: offset % 8 }]);
          assert.equal(res.link.applied.length, 1);
          assert.equal(res.delivered.length, 0, `flip at ${offset}: nothing delivered`);
        }
        await waitUntil(
          () => logLines(r.d.proc, /./, { reason: 'EBADMAC' }).length >= before + offsets.length,
          `${offsets.length} more EBADMAC lines`,
          10_000,
          () => r.d.proc.output(),
        );
      });

      test('a dropped unit drops the connection and delivers nothing from it on', async () => {
        const before = await refusals(r.d, c.refusals);
        const all = Number.MAX_SAFE_INTEGER;
        const res = await run(r, [{ kind: 'drop', dir: 'c2s', packet: 3, from: 0, to: all }]);
        assert.equal(res.link.applied.length, 1);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 3));
        await waitForRefusal(r.d, c.refusals, before);
      });

      test('a replayed unit drops the connection and delivers nothing of the copy or after it', async () => {
        const before = await refusals(r.d, c.refusals);
        const res = await run(r, [{ kind: 'replay', dir: 'c2s', packet: 3 }]);
        assert.deepEqual(res.link.applied, ['replay c2s #3']);
        // Units 0–3 are genuine; the copy sits where unit 4 belongs.
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 4));
        await waitForRefusal(r.d, c.refusals, before);
      });

      test('two reordered units drop the connection and deliver nothing from the first of them on', async () => {
        const before = await refusals(r.d, c.refusals);
        const res = await run(r, [{ kind: 'reorder', dir: 'c2s', packet: 3 }]);
        assert.deepEqual(res.link.applied, ['reorder c2s #3 <-> #4']);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 3));
        await waitForRefusal(r.d, c.refusals, before);
      });

      test('a unit reflected back at its sender is refused by the sender; nothing from it on is delivered either way', async () => {
        const before = await refusals(r.e, c.refusals);
        const res = await run(r, [{ kind: 'reflect', dir: 'c2s', packet: 3 }]);
        assert.deepEqual(res.link.applied, ['reflect c2s #3']);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 3));
        assert.equal(res.reply.length, 0, 'the client receives nothing of its own unit');
        // The -e end opens it with the server→client keys: the MAC (or the length) fails.
        await waitForRefusal(r.e, c.refusals, before);
      });

      test(`truncation mid-${c.unit} delivers the earlier units and discards the partial one, with a log line and a counter`, async () => {
        const text = new RegExp(`ended in the middle of a ${c.unit}`);
        const lines = logLines(r.d.proc, text).length;
        const counted = await rejected(r.d, ['ETRUNC']);
        const res = await run(r, [{ kind: 'truncate', dir: 'c2s', packet: 5, after: 500 }]);
        assert.match(res.link.applied[0] ?? '', /^truncate c2s@\d+ \(end\)$/);
        assert.deepEqual(
          res.delivered,
          r.payload.subarray(0, dataBefore(res.link, 'c2s', 5)),
          'units 0–4, whole',
        );
        await waitUntil(
          () => logLines(r.d.proc, text, { pending: 500 }).length > lines,
          `-d logs the discarded partial ${c.unit} (pending: 500)`,
          10_000,
          () => r.d.proc.output(),
        );
        assert.ok((await rejected(r.d, ['ETRUNC'])) > counted, 'ETRUNC counted');
      });

      test('truncation at a unit boundary looks like a clean EOF (as in spiped): the units before it arrive', async () => {
        const text = /ended in the middle of a/;
        const truncs = logLines(r.d.proc, text).length;
        const res = await run(r, [{ kind: 'truncate', dir: 'c2s', packet: 5, after: 0 }]);
        assert.equal(res.link.applied.length, 1);
        assert.deepEqual(res.delivered, r.payload.subarray(0, dataBefore(res.link, 'c2s', 5)));
        assert.equal(logLines(r.d.proc, text).length, truncs);
      });

      test('a connection dropped for a bad unit leaves another connection through the same ends alive', async () => {
        r.proxy.setFaults([]);
        const idx = r.target.conns().length;
        const half = r.payload.length / 2;
        const s = r.entry.startsWith('/')
          ? connect({ path: r.entry, allowHalfOpen: true })
          : connect({ ...parseHostPort(r.entry), allowHalfOpen: true });
        s.on('error', () => {});
        s.write(r.payload.subarray(0, half));
        await waitUntil(
          () => (r.target.conns()[idx]?.data.length ?? 0) === half,
          'the first half through the clean connection',
          10_000,
        );
        const before = await refusals(r.d, c.refusals);
        const res = await run(r, [{ kind: 'flip', dir: 'c2s', packet: 1, offset: 9, bit: 1 }]);
        assertPrefixUpTo(r, res.delivered, dataBefore(res.link, 'c2s', 1));
        await waitForRefusal(r.d, c.refusals, before);
        s.end(r.payload.subarray(half));
        await waitUntil(
          () => r.target.conns()[idx]?.closed === true,
          'the clean connection ended',
          10_000,
        );
        assert.ok(r.target.conns()[idx]!.data.equals(r.payload), 'the clean connection got all');
      });
    });
  }

  describe(`${c.framing} framing: integrity of the return direction`, () => {
    let r: Rig;
    before(async () => {
      r = await rig(c, 'tcp', await echoServer());
    });

    test('bit flip in server→client unit n drops the connection at the -e end; the client gets nothing from unit n on', async () => {
      const n = 3;
      const before = await refusals(r.e, c.refusals);
      r.proxy.setFaults([{ kind: 'flip', dir: 's2c', packet: n, offset: 17, bit: 5 }]);
      const got = await transfer(r.entry, r.payload, 20_000, true);
      const link = r.proxy.links().at(-1)!;
      assert.match(link.applied[0] ?? '', /^flip s2c@\d+ bit 5$/);
      const limit = dataBefore(link, 's2c', n);
      assert.ok(got.bytes <= limit, `client got ${got.bytes} bytes, more than ${limit}`);
      assert.ok(got.data.equals(r.payload.subarray(0, got.bytes)), 'a prefix of the echo');
      await waitForRefusal(r.e, c.refusals, before);
    });
  });
}
