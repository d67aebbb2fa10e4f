// Goal: a slot migrated key by key while clients read and write it stays usable through the
// tunnel. While the slot is MIGRATING/IMPORTING, -ASK replies reach clients rewritten to the
// destination's local listener (byte-identical to the address CLUSTER SLOTS gave, which node-redis
// requires) and clients follow them with ASKING through the tunnel; after the keys are MIGRATEd
// and SETSLOT NODE is set everywhere, -MOVED names the destination's listener. ioredis and
// node-redis (RESP3) see no error at all, and every key either wrote is read back.
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { askThenMovedDuringMigration } from '../support/cluster/scenarios.js';
import { startTunnelledCluster, type TunnelledCluster } from '../support/cluster/tunnel.js';
import { freePort } from '../support/net.js';
import { stopAll } from '../support/procs.js';

let fx: TunnelledCluster;
let metricsPort = 0;
const run = randomBytes(4).toString('hex');

before(async () => {
  metricsPort = await freePort();
  fx = await startTunnelledCluster({
    masters: 3,
    replicas: 0,
    eArgs: ['--metrics', `127.0.0.1:${metricsPort}`],
  });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('ASK during a live migration, then MOVED after SETSLOT NODE: clients follow both through the tunnel with no error', () =>
  askThenMovedDuringMigration(fx, run, metricsPort));
