/**
 * `npm run soak [-- --minutes N]` (default 5; outside CI): a cluster-mode pair in front of a real
 * 3+3 Redis Cluster (in its own network namespace, joined only through a UNIX socket), under
 * ioredis read/write loops and repeated `redis-benchmark --cluster`, with a failover every minute
 * (alternating a graceful CLUSTER FAILOVER and a kill -9 of a master). It ends with a full read-back
 * of every acknowledged write and prints RSS and fd counts of both ends before and after.
 * Exit 1 on any lost write, a process that died, or traffic that went around the tunnel.
 */
import { spawn } from 'node:child_process';
import { ioredisCluster } from '../test/support/cluster/clients.js';
import { startTunnelledCluster } from '../test/support/cluster/tunnel.js';
import { readBack, startWorkload } from '../test/support/cluster/workload.js';
import { stopAll } from '../test/support/procs.js';
import { fdCount, mib, rssBytes } from '../test/support/system.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const minutes = arg('--minutes', 5);
const say = (s: string): void =>
  void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

function snapshot(pid: number): { rss: number; fds: number } {
  return { rss: rssBytes(pid), fds: fdCount(pid) };
}

/**
 * One redis-benchmark --cluster run, killed after 60 s: redis-benchmark reads the topology once at
 * start and can wait forever on a node that failed meanwhile (its limitation, not the tunnel's).
 */
function benchmarkOnce(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(
      'redis-benchmark',
      [
        '--cluster',
        '-h',
        host,
        '-p',
        String(port),
        '-t',
        'set,get',
        '-n',
        '20000',
        '-c',
        '20',
        '-q',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const collect = (b: Buffer): void => {
      out += b.toString();
    };
    c.stdout.on('data', collect);
    c.stderr.on('data', collect);
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out
        .split(/[\r\n]/)
        .filter((l) => l.trim())
        .slice(-2)
        .join(' | ');
      resolve(`${code === 0 ? 'ok' : `failed (${signal ?? code})`}: ${last}`);
    });
  });
}

async function main(): Promise<number> {
  say(`starting a 3+3 cluster behind a cluster-mode pair; ${minutes} minute(s)`);
  const fx = await startTunnelledCluster({ masters: 3, replicas: 1 });
  let failed = false;
  try {
    const client = ioredisCluster(fx);
    const ePid = fx.e.child.pid!;
    const dPid = fx.d.child.pid!;
    await client.set('soak:warmup', '1');
    const before = { e: snapshot(ePid), d: snapshot(dPid) };
    say(
      `before: -e rss ${mib(before.e.rss)} fds ${before.e.fds}; -d rss ${mib(before.d.rss)} fds ${before.d.fds}`,
    );
    const w = startWorkload({
      name: 'soak',
      set: (k, v) => client.set(k, v),
      get: (k) => client.get(k),
      key: (i) => `soak:{${i % 1000}}:${i}`,
      concurrency: 4,
    });
    const end = Date.now() + minutes * 60_000;
    let round = 0;
    let benchRuns = 0;
    const bench = (async () => {
      while (Date.now() < end) {
        const r = await benchmarkOnce(fx.eHost, fx.ePort);
        say(`redis-benchmark --cluster ${r}`);
        benchRuns++;
        if (!r.startsWith('ok')) await new Promise((res) => setTimeout(res, 2000));
      }
    })();
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(60_000, Math.max(0, end - Date.now()))));
      if (Date.now() >= end) break;
      round++;
      const topo = await fx.cluster.topology();
      const replica = topo.find((n) => n.flags.includes('slave') && !n.flags.includes('fail'));
      const master = topo.find(
        (n) => n.flags.includes('master') && n.slots.length > 0 && !n.flags.includes('fail'),
      );
      if (round % 2 === 1 && replica) {
        say(`failover ${round}: CLUSTER FAILOVER on replica ${replica.port}`);
        await fx.cluster.failover(replica.port);
      } else if (master) {
        say(`failover ${round}: kill -9 master ${master.port}`);
        await fx.cluster.killMaster(master.port);
      }
      say(`ops so far ${w.ops()}, errors ${w.errors.length}`);
    }
    await bench;
    await w.stop();
    const bad = await readBack(w, (k) => client.get(k));
    client.disconnect();
    await new Promise((r) => setTimeout(r, 2000));
    const after = { e: snapshot(ePid), d: snapshot(dPid) };
    const check = await fx.assertTunnelOnly({ minNodeClients: 0 });
    const lastErr = w.errors.at(-1);
    process.stdout.write(
      [
        `soak: ${minutes} min, ${round} failovers, ${benchRuns} redis-benchmark runs, ${w.ops()} workload ops`,
        `  writes acknowledged ${w.written.size}, read back wrong or missing ${bad.length}`,
        `  client errors ${w.errors.length} (failover windows)${lastErr ? `, last: ${lastErr.message}` : ''}`,
        `  -e rss ${mib(before.e.rss)} → ${mib(after.e.rss)}, fds ${before.e.fds} → ${after.e.fds}`,
        `  -d rss ${mib(before.d.rss)} → ${mib(after.d.rss)}, fds ${before.d.fds} → ${after.d.fds}`,
        `  around-the-tunnel check: ${JSON.stringify(check)}`,
        '',
      ].join('\n'),
    );
    if (bad.length > 0) {
      failed = true;
      process.stdout.write(`  first lost writes: ${bad.slice(0, 5).join('; ')}\n`);
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`soak failed: ${(err as Error).stack}\n`);
  } finally {
    await fx.close();
    await stopAll();
  }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code));
