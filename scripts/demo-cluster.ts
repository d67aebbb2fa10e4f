/**
 * `npm run demo:cluster`: a real 3-master Redis Cluster on loopback behind ONE cluster-mode
 * cloakpipe pair, and clients that follow redirects through it.
 *
 *   client ─▶ cloakpipe -e --cluster ══ encrypted ══▶ cloakpipe -d --cluster ─▶ 3 cluster nodes
 *             (seed on :E, node listeners on :E+1…)
 *
 * Shows a raw -MOVED rewritten to a local listener, `redis-cli -c` following it, CLUSTER SLOTS as a
 * client sees it, ioredis writing and reading 2,000 keys across all masters, and redis-benchmark
 * --cluster direct vs through the pair. Cleans up after itself; exit 0 on success.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { startCluster } from '../test/support/cluster/harness.js';
import { keyInSlot } from '../test/support/cluster/slots.js';
import { BIN, startCloakpipe } from '../test/support/ends.js';
import { freePort } from '../test/support/net.js';
import { stopAll } from '../test/support/procs.js';
import { tempDir } from '../test/support/system.js';

const say = (s = ''): void => void process.stdout.write(`${s}\n`);
const cli = (port: number, ...args: string[]): string =>
  execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();

function benchmark(port: number): string {
  const out = execFileSync(
    'redis-benchmark',
    ['--cluster', '-p', String(port), '-t', 'set,get', '-n', '50000', '-c', '50', '-q'],
    { encoding: 'utf8' },
  );
  return out
    .split(/[\r\n]/)
    .filter((l) => /requests per second/.test(l))
    .map((l) => l.trim())
    .join('; ');
}

async function main(): Promise<number> {
  const ports = [await freePort(), await freePort(), await freePort()];
  say('cloakpipe cluster demo: a 3-master Redis Cluster behind one cluster-mode tunnel pair\n');
  const cluster = await startCluster({ ports, masters: 3, replicas: 0 });
  try {
    const dir = tempDir('cloakpipe-demo-cluster-');
    const key = join(dir, 'demo.key');
    execFileSync(process.execPath, [BIN, 'keygen', key], { stdio: 'ignore' });
    const d = await startCloakpipe([
      '-d',
      '--cluster',
      '-s',
      join(dir, 'd.sock'),
      '-t',
      `127.0.0.1:${ports[0]}`,
      '-k',
      key,
    ]);
    const ePort = await freePort();
    const e = await startCloakpipe([
      '-e',
      '--cluster',
      '-s',
      `[127.0.0.1]:${ePort}`,
      '-t',
      d.address,
      '-k',
      key,
      '--cluster-ports',
      `${ePort + 1}-${ePort + 64}`,
    ]);
    say(
      `  cluster nodes      127.0.0.1:${ports.join(', :')} (real addresses, never given to clients)`,
    );
    say(`  cloakpipe -d       ${d.address} (UNIX socket here; a TCP port across a network)`);
    say(
      `  cloakpipe -e       127.0.0.1:${ePort} fronts the seed; node listeners on ${ePort + 1}-${ePort + 64}\n`,
    );

    const other = (await cluster.ownerOf(16000)).port === ports[0] ? 100 : 16000;
    const k = keyInSlot(other, 'demo');
    say(`A raw GET of a key in slot ${other} sent to the seed, through the tunnel:`);
    say(`  ${cli(ePort, 'GET', k)}        ← -MOVED names a local listener, not the node`);
    say('redis-cli -c follows it:');
    say(
      `  SET ${k} hello → ${cli(ePort, '-c', 'SET', k, 'hello')}; GET → ${cli(ePort, '-c', 'GET', k)}`,
    );
    say('CLUSTER SLOTS as a client sees it (ranges and the address it is told to dial):');
    const slots = cli(ePort, 'CLUSTER', 'SLOTS').split('\n');
    // redis-cli prints the nested reply flat: start, end, then host, port, id per node.
    for (let i = 2; i < slots.length - 1; i++)
      if (/^[0-9.:]+$/.test(slots[i]!) && slots[i]!.includes('.') && /^[0-9]+$/.test(slots[i - 2]!))
        say(`  slots ${slots[i - 2]}-${slots[i - 1]} → ${slots[i]}:${slots[i + 1]}`);

    const io = new Cluster([{ host: '127.0.0.1', port: ePort }]);
    const keys = Array.from({ length: 2000 }, (_, i) => `demo:${i}`);
    await Promise.all(keys.map((x, i) => io.set(x, `v${i}`)));
    const back = await Promise.all(keys.map((x) => io.get(x)));
    const ok = back.every((v, i) => v === `v${i}`);
    say(
      `\nioredis Cluster through the tunnel: 2000 keys across all masters written and read back: ${ok ? 'all intact' : 'MISMATCH'}`,
    );
    io.disconnect();

    say('\nredis-benchmark --cluster -t set,get -n 50000 -c 50:');
    say(`  direct to the cluster:  ${benchmark(ports[0]!)}`);
    say(`  through cloakpipe:      ${benchmark(ePort)}`);
    await e.proc.stop();
    await d.proc.stop();
    say(ok ? '\nOK' : '\nFAILED');
    return ok ? 0 : 1;
  } finally {
    await cluster.stop();
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo:cluster failed: ${err.message}\n`);
    void stopAll().then(() => process.exit(1));
  },
);
