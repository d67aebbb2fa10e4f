// Goal: whatever a man in the middle does to the encrypted stream (flip a bit, drop, replay, reorder
// or reflect a packet, cut it mid-packet), the receiving end drops the connection or discards the
// damaged tail, and its target never receives a byte of the damaged packet or anything after it;
// over TCP and UNIX sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_DATA, PACKET_LEN } from '../../src/crypto/sizes.js';
import {
  closeAllProxies,
  type Fault,
  type FaultProxy,
  faultProxy,
  HANDSHAKE_LEN,
  packetStart,
} from '../helpers/fault-proxy.js';
import { startCloakpipe } from '../support/ends.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import {
  type CollectServer,
  collectServer,
  echoServer,
  type TestServer,
  transfer,
} from '../helpers/targets.js';

/** 8 full packets of known data (one write, so the -e end seals exactly 8 × 1024 bytes). */
const PACKETS = 8;
const PAYLOAD = randomBytes(PACKETS * MAX_DATA);

after(async () => {
  await closeAllProxies();
  await stopAll();
});

interface Rig {
  readonly e: Proc;
  readonly d: Proc;
  readonly entry: string;
  readonly proxy: FaultProxy;
  readonly target: CollectServer;
}

/** target ← cloakpipe -d ← fault proxy ← cloakpipe -e ← (test client), over `transport`. */
async function rig(transport: 'tcp' | 'unix', target?: TestServer): Promise<Rig> {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const src = (name: string): string =>
    transport === 'unix' ? join(dir, `${name}.sock`) : '[127.0.0.1]:0';
  const collect = await collectServer(transport === 'unix' ? join(dir, 'target.sock') : undefined);
  const d = await startCloakpipe([
    '-d',
    '-s',
    src('d'),
    '-t',
    (target ?? collect).address,
    '-k',
    key,
  ]);
  const proxy = await faultProxy(
    d.address,
    [],
    transport === 'unix' ? join(dir, 'proxy.sock') : undefined,
  );
  const e = await startCloakpipe(['-e', '-s', src('e'), '-t', proxy.address, '-k', key]);
  return { e: e.proc, d: d.proc, entry: e.address, proxy, target: collect };
}

/** The outcome of one damaged connection. */
interface Run {
  /** What the target received on this connection. */
  readonly delivered: Buffer;
  /** What the client received back. */
  readonly reply: Buffer;
  /** Faults the proxy applied to it. */
  readonly applied: readonly string[];
}

/**
 * Send PAYLOAD through the rig with `faults` on the encrypted hop and wait until the target's
 * connection has closed.
 */
async function run(r: Rig, faults: readonly Fault[]): Promise<Run> {
  r.proxy.setFaults(faults);
  const link = r.proxy.links().length;
  const conn = r.target.conns().length;
  const got = await transfer(r.entry, PAYLOAD, 20_000, true);
  await waitUntil(
    () => r.target.conns()[conn]?.closed === true,
    "the target's connection closed",
    10_000,
  );
  return {
    delivered: r.target.conns()[conn]!.data,
    reply: got.data,
    applied: r.proxy.links()[link]!.applied,
  };
}

/** Wait until `proc` has logged `n` lines with reason `code`. */
function waitForReason(proc: Proc, code: string, n: number): Promise<void> {
  return waitUntil(
    () => logLines(proc, /./, { reason: code }).length >= n,
    `${n} log line(s) with reason ${code}`,
    10_000,
    () => proc.output(),
  );
}

/** Assert the target got a prefix of PAYLOAD carrying nothing from packet `n` on. */
function assertNothingFrom(delivered: Buffer, n: number): void {
  assert.ok(
    delivered.length <= n * MAX_DATA,
    `delivered ${delivered.length} bytes, more than the ${n} packets before the damage`,
  );
  assert.ok(
    delivered.equals(PAYLOAD.subarray(0, delivered.length)),
    'delivered bytes are a prefix of the payload',
  );
}

for (const transport of ['tcp', 'unix'] as const) {
  describe(`integrity over ${transport}`, () => {
    let r: Rig;
    before(async () => {
      r = await rig(transport);
    });

    test('a delayed but undamaged stream delivers all 8 packets at the offsets the faults assume', async () => {
      const res = await run(r, [{ kind: 'delay', ms: 5 }]);
      assert.deepEqual(res.delivered, PAYLOAD);
      const link = r.proxy.links().at(-1)!;
      assert.equal(link.read.c2s, packetStart(PACKETS), 'c2s = handshake + 8 packets');
      assert.equal(link.read.s2c, HANDSHAKE_LEN, 's2c = handshake only');
    });

    test('bit flip in packet n drops the connection and delivers nothing from packet n on', async () => {
      const n = 3;
      let flips = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: PACKET_LEN - 1 }),
          fc.integer({ min: 0, max: 7 }),
          async (pos, bit) => {
            const offset = packetStart(n) + pos;
            const res = await run(r, [{ kind: 'flip', dir: 'c2s', offset, bit }]);
            assert.deepEqual(res.applied, [`flip c2s@${offset} bit ${bit}`]);
            assertNothingFrom(res.delivered, n);
            assert.equal(res.reply.length, 0);
            await waitForReason(r.d, 'EBADPACKET', ++flips);
          },
        ),
        {
          numRuns: 10,
          examples: [
            [0, 0],
            [PACKET_LEN - 1, 7],
            [MAX_DATA + 4, 0],
          ],
        },
      );
    });

    test('bit flip in the handshake (nonce, y or MAC) is refused with EBADMAC; nothing is delivered', async () => {
      const before = logLines(r.d, /./, { reason: 'EBADMAC' }).length;
      const offsets = [0, 31, 32, 200, 287, HANDSHAKE_LEN - 1];
      for (const offset of offsets) {
        const res = await run(r, [{ kind: 'flip', dir: 'c2s', offset, bit: offset % 8 }]);
        assert.equal(res.applied.length, 1);
        assert.equal(res.delivered.length, 0, `flip at ${offset}: nothing delivered`);
      }
      await waitForReason(r.d, 'EBADMAC', before + offsets.length);
    });

    test('a dropped packet drops the connection and delivers nothing from it on', async () => {
      const before = logLines(r.d, /./, { reason: 'EBADPACKET' }).length;
      const res = await run(r, [
        { kind: 'drop', dir: 'c2s', from: packetStart(3), to: packetStart(4) },
      ]);
      assert.equal(res.applied.length, 1);
      assertNothingFrom(res.delivered, 3);
      await waitForReason(r.d, 'EBADPACKET', before + 1);
    });

    test('a replayed packet drops the connection and delivers nothing of the copy or after it', async () => {
      const before = logLines(r.d, /./, { reason: 'EBADPACKET' }).length;
      const res = await run(r, [{ kind: 'replay', dir: 'c2s', packet: 3 }]);
      assert.deepEqual(res.applied, ['replay c2s #3']);
      // Packets 0–3 are genuine; the copy sits where packet 4 belongs.
      assertNothingFrom(res.delivered, 4);
      await waitForReason(r.d, 'EBADPACKET', before + 1);
    });

    test('two reordered packets drop the connection and deliver nothing from the first of them on', async () => {
      const before = logLines(r.d, /./, { reason: 'EBADPACKET' }).length;
      const res = await run(r, [{ kind: 'reorder', dir: 'c2s', packet: 3 }]);
      assert.deepEqual(res.applied, ['reorder c2s #3 <-> #4']);
      assertNothingFrom(res.delivered, 3);
      await waitForReason(r.d, 'EBADPACKET', before + 1);
    });

    test('a packet reflected back at its sender is refused by the sender; nothing from it on is delivered either way', async () => {
      const eBefore = logLines(r.e, /./, { reason: 'EBADPACKET' }).length;
      const res = await run(r, [{ kind: 'reflect', dir: 'c2s', packet: 3 }]);
      assert.deepEqual(res.applied, ['reflect c2s #3']);
      assertNothingFrom(res.delivered, 3);
      assert.equal(res.reply.length, 0, 'the client receives nothing of its own packet');
      // The -e end opens it with the server→client keys: the MAC fails.
      await waitForReason(r.e, 'EBADPACKET', eBefore + 1);
    });

    test('truncation mid-packet delivers the earlier packets and discards the partial one, with a log line', async () => {
      const before = logLines(r.d, /ended in the middle of a packet/).length;
      const cut = packetStart(5) + 500;
      const res = await run(r, [{ kind: 'truncate', dir: 'c2s', after: cut }]);
      assert.deepEqual(res.applied, [`truncate c2s@${cut} (end)`]);
      assert.deepEqual(res.delivered, PAYLOAD.subarray(0, 5 * MAX_DATA), 'packets 0–4, whole');
      await waitUntil(
        () => logLines(r.d, /ended in the middle of a packet/, { pending: 500 }).length > before,
        '-d logs the discarded partial packet (pending: 500)',
        10_000,
        () => r.d.output(),
      );
    });

    test('truncation at a packet boundary looks like a clean EOF (as in spiped): the packets before it arrive', async () => {
      const truncs = logLines(r.d, /ended in the middle of a packet/).length;
      const res = await run(r, [{ kind: 'truncate', dir: 'c2s', after: packetStart(5) }]);
      assert.equal(res.applied.length, 1);
      assert.deepEqual(res.delivered, PAYLOAD.subarray(0, 5 * MAX_DATA));
      assert.equal(logLines(r.d, /ended in the middle of a packet/).length, truncs);
    });
  });
}

describe('integrity of the return direction', () => {
  let r: Rig;
  before(async () => {
    r = await rig('tcp', await echoServer());
  });

  test('bit flip in server→client packet n drops the connection at the -e end; the client gets nothing from packet n on', async () => {
    const n = 3;
    r.proxy.setFaults([{ kind: 'flip', dir: 's2c', offset: packetStart(n) + 17, bit: 5 }]);
    const got = await transfer(r.entry, PAYLOAD, 20_000, true);
    assert.deepEqual(r.proxy.links().at(-1)!.applied, [`flip s2c@${packetStart(n) + 17} bit 5`]);
    assert.ok(got.bytes <= n * MAX_DATA, `client got ${got.bytes} bytes`);
    assert.ok(got.data.equals(PAYLOAD.subarray(0, got.bytes)), 'a prefix of the echo');
    await waitForReason(r.e, 'EBADPACKET', 1);
  });
});
