// Goal: a cluster that requires a password works through one --cluster pair when -d is given the
// password with --cluster-auth (its own CLUSTER NODES polling logs in; clients log in through the
// tunnel as usual), and a -d without it, or with a wrong one, says so in its log — naming
// --cluster-auth, never printing the password — instead of failing silently.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ioredisCluster, ioredisReady, nodeRedisCluster } from '../support/cluster/clients.js';
import { keysForAllSlots, keySlot } from '../support/cluster/slots.js';
import {
  logTails,
  startTunnelledCluster,
  type TunnelledCluster,
} from '../support/cluster/tunnel.js';
import { logLines, stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const run = randomBytes(4).toString('hex');
const dir = tempDir('cloakpipe-cluster-auth-');
const authFile = join(dir, 'auth');
writeFileSync(authFile, `${PASSWORD}\n`, { mode: 0o600 });

let fx: TunnelledCluster;

before(async () => {
  fx = await startTunnelledCluster({
    masters: 3,
    replicas: 0,
    password: PASSWORD,
    dArgs: ['--cluster-auth', authFile, '--cluster-refresh', '1'],
  });
});
after(async () => {
  await fx?.close();
  await stopAll();
});

test('with --cluster-auth, -d learns every member and ioredis and node-redis (with the password) reach every master', async () => {
  // 48 keys spread over the 16384 slots, so every master owns some.
  const keys = keysForAllSlots(`auth-${run}`).filter((_, slot) => slot % 342 === 0);
  const io = ioredisCluster(fx, { redisOptions: { password: PASSWORD } });
  const nr = nodeRedisCluster(fx, 3, { defaults: { password: PASSWORD } });
  nr.on('error', () => {});
  try {
    await ioredisReady(io);
    await nr.connect();
    for (const k of keys) assert.equal(await io.set(k, `v-${k}`), 'OK');
    for (const k of keys) assert.equal(await nr.get(k), `v-${k}`, `node-redis reads ${k}`);
    const owners = new Set<number>();
    for (const k of keys) owners.add((await fx.cluster.ownerOf(keySlot(k))).port);
    assert.equal(owners.size, 3, 'the keys live on all three masters');
    assert.deepEqual(
      logLines(fx.d, /refusing route|could not query CLUSTER NODES/).map((l) => l.msg),
      [],
      `-d refused nothing and polled fine${logTails(fx)}`,
    );
    assert.ok(!fx.d.output().includes(PASSWORD), 'the password never reaches the -d log');
    await fx.assertTunnelOnly({ minNodeClients: 3 });
  } finally {
    io.disconnect();
    await nr.close().catch(() => {});
  }
});

test('without --cluster-auth, -d logs NOAUTH with the --cluster-auth hint', async () => {
  const pair = await fx.addPair({ dArgs: ['--cluster-refresh', '1'] });
  await pair.d.waitFor(/could not query CLUSTER NODES.*NOAUTH.*--cluster-auth FILE/, 15_000);
  assert.ok(!pair.d.output().includes(PASSWORD));
});

test('with a wrong password, -d logs that AUTH failed and never prints either password', async () => {
  const wrong = join(dir, 'wrong');
  writeFileSync(wrong, 'poller\nnot-the-password\n', { mode: 0o600 });
  const pair = await fx.addPair({ dArgs: ['--cluster-auth', wrong, '--cluster-refresh', '1'] });
  await pair.d.waitFor(/could not query CLUSTER NODES.*AUTH failed: WRONGPASS/, 15_000);
  assert.ok(!pair.d.output().includes('not-the-password'));
  assert.ok(!pair.d.output().includes(PASSWORD));
});
