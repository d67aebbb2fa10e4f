// Goal: failovers behind a pair with `--workers 2` on both ends are as survivable as behind one
// process per end (the scenarios of 05): a graceful CLUSTER FAILOVER under ioredis and node-redis
// load, then a kill -9 of the -d end's seed master under ioredis load, after which a new client
// still bootstraps through the -e main listener (the -d workers dial the members the -d primary
// learned, falling back from the dead seed), and every acknowledged key reads back.
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { gracefulFailover, killSeedMaster } from '../support/cluster/scenarios-failover.js';
import { startTunnelledCluster, type TunnelledCluster } from '../support/cluster/tunnel.js';
import { stopAll } from '../support/procs.js';

const WORKERS = ['--workers', '2'];
let fx: TunnelledCluster;
const run = randomBytes(4).toString('hex');

before(async () => {
  fx = await startTunnelledCluster({ masters: 3, replicas: 1, eArgs: WORKERS, dArgs: WORKERS });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('graceful CLUSTER FAILOVER under load through --workers 2 ends; every key reads back', async (t) => {
  await gracefulFailover(fx, run, t);
});

test('kill -9 of the seed master under load through --workers 2 ends; a new client still bootstraps', async (t) => {
  await killSeedMaster(fx, run, t);
});
