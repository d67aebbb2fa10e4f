// Goal: a node added to the cluster and given slots while clients write (redis-cli --cluster
// add-node + reshard, run directly against the cluster inside the namespace, never through the
// tunnel) becomes reachable through the tunnel: the -e end opens a listener for it on demand the
// first time a reply names it, ioredis and node-redis follow -ASK/-MOVED to that listener, the
// -d end dials the new node (a member it learned from the cluster), and every key written before,
// during and after the reshard is read back.
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startTunnelledCluster, type TunnelledCluster } from '../support/cluster/tunnel.js';
import { stopAll } from '../support/procs.js';
import { reshardToAddedNode } from '../support/cluster/scenarios.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 0, spare: 1 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('reshard to a node added under load: the client reaches it through a listener opened on demand; every key reads back', async () => {
  await reshardToAddedNode(fx, run);
});
