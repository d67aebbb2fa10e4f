// Goal: the primary's asks of its workers (the end's one /metrics and /readyz) collect the
// answers that come in time: a worker that hangs or fails is left out, never the whole ask.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askWorkers } from '../../../src/cli/workers-ipc.js';
import { IpcPeer } from '../../../src/daemon/ipc.js';
import { WORKERS_IPC_NS, type WorkersIpc } from '../../../src/daemon/ipc-messages.js';
import { memoryPair } from '../daemon/ipc-pair.js';

/** A primary-side peer whose worker answers with `answer`. */
function worker(answer: () => Promise<string | null>): IpcPeer<WorkersIpc> {
  const [p, w] = memoryPair();
  new IpcPeer<WorkersIpc>(w, WORKERS_IPC_NS).onRequest('probe', answer);
  return new IpcPeer<WorkersIpc>(p, WORKERS_IPC_NS);
}

test('askWorkers returns the answers within the time limit, leaving out hung and failing workers', async () => {
  const peers = [
    worker(async () => null),
    worker(() => new Promise<never>(() => {})),
    worker(async () => {
      throw new Error('broken');
    }),
    worker(async () => 'draining'),
  ];
  const t0 = Date.now();
  const answers = await askWorkers(peers, 'probe', 200);
  assert.ok(Date.now() - t0 >= 150, 'it waited for the hung worker');
  assert.deepEqual(answers.sort(), ['draining', null].sort());
  for (const p of peers) p.close();
});

test('askWorkers resolves at once when every worker has answered, and with [] when there is none', async () => {
  const t0 = Date.now();
  assert.deepEqual(await askWorkers([worker(async () => null)], 'probe', 5000), [null]);
  assert.ok(Date.now() - t0 < 1000);
  assert.deepEqual(await askWorkers([], 'probe', 5000), []);
});
