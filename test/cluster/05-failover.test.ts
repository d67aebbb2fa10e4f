// Goal: failovers behind the tunnel are survivable for clients that only ever talk to the -e end.
// On a 3+3 cluster, a graceful CLUSTER FAILOVER on a replica and then a kill -9 of a master (its
// replica promoted after the 2 s node timeout) happen while clients write and read (ioredis and
// node-redis RESP3 for the graceful one; ioredis for kill -9, see there); the clients follow the
// new topology through the -e end's listeners, errors occur only inside the failover window,
// writes succeed again after it, and every acknowledged key is read back (for kill -9, the
// writers pause only while the replica catches up just before the kill, so a write lost to
// asynchronous replication, which is Redis's behaviour, not the tunnel's, cannot make the test
// flaky). The master killed is the -d end's seed node, so a client that connects afterwards
// proves the main -e listener still bootstraps while its seed is dead.
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { gracefulFailover, killSeedMaster } from '../support/cluster/scenarios-failover.js';
import { startTunnelledCluster, type TunnelledCluster } from '../support/cluster/tunnel.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 1 });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('graceful CLUSTER FAILOVER under load: clients move to the promoted replica through the tunnel; every key reads back', async (t) => {
  await gracefulFailover(fx, run, t);
});

test('kill -9 of a master under load: its replica is promoted, ioredis recovers through the tunnel; every acknowledged key reads back', async (t) => {
  await killSeedMaster(fx, run, t);
});
