// Goal: a dead --workers worker is restarted after a delay that starts at RESTART_BASE_MS,
// doubles with every quick death up to RESTART_MAX_MS, and falls back to the base once a worker
// has lived STABLE_MS. `-n` caps the whole end: each worker takes ceil(n / N), 0 stays no limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  RESTART_BASE_MS,
  RESTART_MAX_MS,
  restartDelay,
  STABLE_MS,
  workerShare,
} from '../../../src/cli/workers.js';

test('quick deaths double the delay up to the cap', () => {
  const waits: number[] = [];
  let prev = RESTART_BASE_MS;
  for (let i = 0; i < 12; i++) {
    const { wait, next } = restartDelay(prev, 5);
    waits.push(wait);
    prev = next;
  }
  assert.deepEqual(waits.slice(0, 4), [
    RESTART_BASE_MS,
    2 * RESTART_BASE_MS,
    4 * RESTART_BASE_MS,
    8 * RESTART_BASE_MS,
  ]);
  assert.equal(Math.max(...waits), RESTART_MAX_MS);
  assert.equal(waits.at(-1), RESTART_MAX_MS);
});

test('a worker that lived STABLE_MS resets the delay', () => {
  assert.deepEqual(restartDelay(RESTART_MAX_MS, STABLE_MS), {
    wait: RESTART_BASE_MS,
    next: 2 * RESTART_BASE_MS,
  });
  assert.equal(restartDelay(RESTART_MAX_MS, STABLE_MS - 1).wait, RESTART_MAX_MS);
});

test('-n is shared: each worker gets ceil(n / N); 0 (no limit) and one worker are left alone', () => {
  assert.equal(workerShare(100, 2), 50);
  assert.equal(workerShare(100, 3), 34);
  assert.equal(workerShare(1, 4), 1);
  assert.equal(workerShare(0, 4), 0);
  assert.equal(workerShare(7, 1), 7);
  for (const [n, w] of [
    [100, 3],
    [5, 2],
    [64, 8],
  ] as const) {
    const share = workerShare(n, w);
    assert.ok(share * w >= n && (share - 1) * w < n, `${n} over ${w}: ${share} each`);
  }
});
