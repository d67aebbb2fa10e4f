// Goal: the ephemeral-key pool fills itself on a worker thread (or, in 'loop' mode, on the event loop), every key
// it hands out is distinct and agrees with a peer key on the DH secret, keys made on the worker equal in use those
// made in place, and close() destroys what is held and stops the worker.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { generateEphemeralKey } from '../../../src/crypto/dh.js';
import { EphemeralPool, type PoolMode } from '../../../src/daemon/pool.js';

/** Give the pool time to make its keys. */
async function filled(): Promise<void> {
  await sleep(500);
}

describe('EphemeralPool', () => {
  for (const mode of ['worker', 'loop'] as const satisfies readonly PoolMode[])
    test(`${mode}: hands out distinct keys that agree with a peer on the shared secret`, async () => {
      const pool = new EphemeralPool(4, mode);
      try {
        assert.equal(pool.mode, mode);
        await filled();
        const peer = generateEphemeralKey();
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const k = pool.take();
          const y = Buffer.from(k.publicValue).toString('hex');
          assert.ok(!seen.has(y), 'a key was handed out twice');
          seen.add(y);
          const other = generateEphemeralKey();
          const mine = k.computeSecret(other.publicValue);
          assert.deepEqual(Buffer.from(mine), Buffer.from(other.computeSecret(k.publicValue)));
          assert.throws(() => k.computeSecret(peer.publicValue), /already used/);
        }
        peer.destroy();
      } finally {
        pool.close();
      }
    });

  test('worker: fills with a fraction of the event-loop time that loop mode spends', async () => {
    const SIZE = 16;
    const active: Record<PoolMode, number> = { worker: 0, loop: 0 };
    for (const mode of ['worker', 'loop'] as const) {
      const pool = new EphemeralPool(SIZE, mode);
      const fill = async (): Promise<void> => {
        const until = Date.now() + 20_000;
        while (pool.ready < SIZE && Date.now() < until) await sleep(5);
        assert.equal(pool.ready, SIZE, `${mode} pool did not fill`);
      };
      await fill();
      // Measure a refill from empty, past the worker's start-up.
      for (let i = 0; i < SIZE; i++) pool.take().destroy();
      const before = performance.eventLoopUtilization();
      await fill();
      active[mode] = performance.eventLoopUtilization(before).active;
      pool.close();
      assert.equal(pool.ready, 0);
    }
    // Loop mode runs 16 modexps (≈6 ms or more) on the loop; the worker mode only receives keys.
    assert.ok(active.worker < active.loop / 2, JSON.stringify(active));
  });
});
