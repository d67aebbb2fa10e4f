/**
 * The half-close scenarios every framing must pass, run by tunnel.test.ts (spiped framing) and
 * compact-tunnel.test.ts on their own tunnel pairs: EOF from one side ends that direction only,
 * and the other direction still carries everything, byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type Cut, readAll, type TunnelPair, writeCut } from './harness.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The client sends `size` bytes and half-closes; the request arrives whole, then the reply. */
export async function halfCloseFromClient(p: TunnelPair, size: number, cut: Cut): Promise<void> {
  const request = randomBytes(size);
  const reply = randomBytes(size + 7);
  const atTarget = readAll(p.target);
  await writeCut(p.client, request, cut);
  p.client.end();
  assert.equal(sha(await atTarget), sha(request));
  // The client's write side is closed; the reply still flows down.
  const atClient = readAll(p.client);
  await writeCut(p.target, reply, cut);
  p.target.end();
  assert.equal(sha(await atClient), sha(reply));
  await Promise.all([p.e.done, p.d.done]);
  assert.equal(p.e.error, null);
  assert.equal(p.d.error, null);
  assert.deepEqual(p.metricsE.bytes, { up: size, down: size + 7 });
  assert.deepEqual(p.metricsD.bytes, { up: size, down: size + 7 });
  assert.deepEqual(p.e.info().up, size);
  assert.equal(p.e.state, 'closed');
}

/** The target sends and half-closes first; the client still sends after that EOF. */
export async function halfCloseFromTarget(p: TunnelPair, size: number, cut: Cut): Promise<void> {
  const first = randomBytes(size);
  const later = randomBytes(size / 2);
  const atClient = readAll(p.client);
  await writeCut(p.target, first, cut);
  p.target.end();
  assert.equal(sha(await atClient), sha(first));
  const atTarget = readAll(p.target);
  await writeCut(p.client, later, cut);
  p.client.end();
  assert.equal(sha(await atTarget), sha(later));
  await Promise.all([p.e.done, p.d.done]);
  assert.equal(p.d.error, null);
}
