// Goal: backpressure holds end to end — a target reading at 20 MiB/s while 256 MiB are sent
// (the figure is 1 GiB; 256 MiB keeps CI time down and is still four times the limit),
// and a client reading a 256 MiB reply at 20 MiB/s, leave each cloakpipe end's RSS within 64 MiB
// of its baseline, and every byte arrives intact; under both framings (compact frames hold up to
// 16 KiB each, DESIGN.md §9.3, against spiped's 1 KiB packets).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FRAMINGS, type Framing } from '../../src/crypto/kdf.js';
import { startEnd } from '../support/ends.js';
import { type Proc, stopAll } from '../support/procs.js';
import { MiB, mib, sampleRss, tempDir } from '../support/system.js';
import {
  sourceServer,
  streamTransfer,
  type TestServer,
  throttledServer,
} from '../helpers/targets.js';

after(stopAll);

const TOTAL_MIB = 256;
const SLOW = 20 * MiB;
const LIMIT = 64 * MiB;
const BLOCK = randomBytes(MiB);

/** A cloakpipe pair with `framing` in front of `target`. */
async function pair(
  target: TestServer,
  framing: Framing,
): Promise<{ e: Proc; d: Proc; entry: string }> {
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const args = ['--framing', framing];
  const d = await startEnd('-d', target.address, key, args);
  const e = await startEnd('-e', d.address, key, args);
  return { e: e.proc, d: d.proc, entry: e.address };
}

for (const framing of FRAMINGS) {
  test(`${framing} framing: a slow target (20 MiB/s) receiving 256 MiB: each end stays within 64 MiB of its baseline RSS`, async (t) => {
    const target = await throttledServer(SLOW, 'digest');
    const p = await pair(target, framing);
    await streamTransfer(p.entry, BLOCK, 16); // warm-up, so the baselines include a busy tunnel
    const rssE = sampleRss(p.e.child.pid!);
    const rssD = sampleRss(p.d.child.pid!);
    const r = await streamTransfer(p.entry, BLOCK, TOTAL_MIB, { timeoutMs: 120_000 });
    const growth = { e: rssE.stop(), d: rssD.stop() };
    t.diagnostic(
      `${TOTAL_MIB} MiB in ${(r.ms / 1000).toFixed(1)} s; RSS growth -e ${mib(growth.e)}, -d ${mib(growth.d)}`,
    );
    assert.equal(r.head.subarray(0, 32).toString('hex'), r.sentSha256, 'target digest matches');
    assert.ok(
      r.ms >= ((TOTAL_MIB * MiB) / SLOW) * 1000 * 0.9,
      'the target really was the bottleneck',
    );
    assert.ok(growth.e < LIMIT, `-e RSS grew by ${mib(growth.e)}`);
    assert.ok(growth.d < LIMIT, `-d RSS grew by ${mib(growth.d)}`);
  });

  test(`${framing} framing: a slow client (20 MiB/s) reading a 256 MiB reply: each end stays within 64 MiB of its baseline RSS`, async (t) => {
    // The first connection is a 16 MiB warm-up; the second gets the full reply.
    const target = await sourceServer(BLOCK, (n) => (n === 0 ? 16 : TOTAL_MIB));
    const p = await pair(target, framing);
    assert.equal((await streamTransfer(p.entry, BLOCK, 0)).bytes, 16 * MiB);
    const rssE = sampleRss(p.e.child.pid!);
    const rssD = sampleRss(p.d.child.pid!);
    const r = await streamTransfer(p.entry, BLOCK, 0, {
      readBytesPerSecond: SLOW,
      timeoutMs: 120_000,
    });
    const growth = { e: rssE.stop(), d: rssD.stop() };
    t.diagnostic(
      `${TOTAL_MIB} MiB back in ${(r.ms / 1000).toFixed(1)} s; RSS growth -e ${mib(growth.e)}, -d ${mib(growth.d)}`,
    );
    const expected = createHash('sha256');
    for (let i = 0; i < TOTAL_MIB; i++) expected.update(BLOCK);
    assert.equal(r.bytes, TOTAL_MIB * MiB);
    assert.equal(r.sha256, expected.digest('hex'));
    assert.ok(
      r.ms >= ((TOTAL_MIB * MiB) / SLOW) * 1000 * 0.9,
      'the client really was the bottleneck',
    );
    assert.ok(growth.e < LIMIT, `-e RSS grew by ${mib(growth.e)}`);
    assert.ok(growth.d < LIMIT, `-d RSS grew by ${mib(growth.d)}`);
  });
}
