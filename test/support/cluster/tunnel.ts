/**
 * The fixture every cluster scenario uses: the cluster and a `cloakpipe -d --cluster` end inside a
 * network namespace, a `cloakpipe -e --cluster` end outside it, the two joined only through a
 * UNIX socket, and traps on the nodes' real ports outside; plus what the tests read from the ends
 * (node listeners, metrics, log tails).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloakpipe, startCloakpipeUnder } from '../ends.js';
import { createNetns, execCapture, type Netns, type Trap, trapPorts } from '../netns.js';
import { parseHostPort } from '../net.js';
import { type Proc, sleep } from '../procs.js';
import { tempDir } from '../system.js';
import { type ClusterOptions, type RedisCluster, startCluster } from './harness.js';
import { fetchMetrics, sampleValue } from '../metrics.js';

/** How to start one cloakpipe pair in front of the cluster. */
export interface PairOptions {
  /** Run the -e end with --cluster (default true). */
  readonly clusterE?: boolean;
  /** Run the -d end with --cluster (default true). */
  readonly clusterD?: boolean;
  /** Listen address of the -e end (default `[127.0.0.1]:0`; `[::1]:0` for IPv6). */
  readonly eSource?: string;
  /** Extra -e / -d arguments. */
  readonly eArgs?: readonly string[];
  readonly dArgs?: readonly string[];
  /** The node the -d end dials as its seed (default: the first node). */
  readonly seedPort?: number;
}

/** One cloakpipe pair: -d inside the namespace on a UNIX socket, -e here. */
export interface TunnelPair {
  /** The -d end (inside the namespace), listening on `dSocket`. */
  readonly d: Proc;
  readonly dSocket: string;
  /** The -e end (here); `eHost`:`ePort` fronts the seed node. */
  readonly e: Proc;
  readonly eAddress: string;
  readonly eHost: string;
  readonly ePort: number;
  /** The seed node's real port (the -d target). */
  readonly seedPort: number;
  /** SIGKILL both ends. */
  close(): Promise<void>;
}

type TunnelledBase = Omit<ClusterOptions, 'ports' | 'sparePorts' | 'ns'> &
  Omit<PairOptions, 'seedPort'>;

/** Options for startTunnelledCluster(): those of startCluster() and of the first pair. */
export interface TunnelledOptions extends TunnelledBase {
  /** Ports kept (and trapped) for addNode() (default 0). */
  readonly spare?: number;
}

/** A cluster behind a cloakpipe pair, with the checks that nothing went around the tunnel. */
export interface TunnelledCluster extends TunnelPair {
  readonly ns: Netns;
  readonly cluster: RedisCluster;
  /** Traps on the nodes' real (and spare) ports, in this namespace. */
  readonly trap: Trap;
  readonly dir: string;
  /** The key file both ends use. */
  readonly key: string;
  /** Start one more pair in front of the same cluster (closed by close()). */
  addPair(o?: PairOptions): Promise<TunnelPair>;
  /**
   * Assert that nothing reached around the tunnel: the traps saw no connection, every client
   * connection on every live node belongs to a -d process or one of its --workers (found with
   * `ss -tnp` inside the namespace; replication links and a node's MIGRATE connection to another
   * node excepted), and every TCP connection this test process holds goes to a port an -e
   * process listens on. Resolves the counts checked.
   */
  assertTunnelOnly(opts?: { minNodeClients?: number }): Promise<TunnelCheck>;
  /** Stop every pair and the cluster, close the traps and delete the namespace. Never throws. */
  close(): Promise<void>;
}

/** What assertTunnelOnly() looked at. */
export interface TunnelCheck {
  /** Client connections on the nodes (replication links and the CLIENT LIST itself excluded). */
  readonly nodeClients: number;
  /** TCP connections of this test process (to the -e end). */
  readonly localConns: number;
}

/** Pick `n` consecutive ports in 20000–29999 that can be trapped on `host` here. */
async function trapFreePorts(host: string, n: number): Promise<{ ports: number[]; trap: Trap }> {
  for (let attempt = 0; ; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (10_000 - n));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    try {
      return { ports, trap: await trapPorts(host, ports) };
    } catch (e) {
      if (attempt > 20) throw e;
    }
  }
}

/** `ss -tnpH` rows: local, peer, pids. */
interface SocketRow {
  readonly local: string;
  readonly peer: string;
  readonly pids: readonly number[];
}

function parseSs(text: string): SocketRow[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5)
    .map((f) => ({
      local: normAddr(f[3]!),
      peer: normAddr(f[4]!),
      pids: [
        ...f
          .slice(5)
          .join(' ')
          .matchAll(/pid=(\d+)/g),
      ].map((m) => Number(m[1])),
    }));
}

/** `[::1]:5`, `::1:5`, `[::ffff:127.0.0.1]:5` and `127.0.0.1:5` → `host:port` without brackets. */
function normAddr(a: string): string {
  const i = a.lastIndexOf(':');
  return `${a
    .slice(0, i)
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:/, '')}:${a.slice(i + 1)}`;
}

const portOf = (a: string): number => Number(a.slice(a.lastIndexOf(':') + 1));

/** `pids` and every live descendant of them (an end's --workers processes), from /proc. */
export function withDescendants(pids: Iterable<number | undefined>): Set<number> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out = new Set<number>();
  const todo = [...pids].filter((p): p is number => p !== undefined);
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (out.has(p)) continue;
    out.add(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Start a namespace with a cluster (the options of startCluster) and `cloakpipe -d [--cluster]`
 * inside it, `cloakpipe -e [--cluster]` outside it, joined by a UNIX socket; trap the nodes' real
 * ports outside. Both ends run with `-n 500 --log-level debug`. Everything is torn down if any
 * step fails.
 */
export async function startTunnelledCluster(o: TunnelledOptions = {}): Promise<TunnelledCluster> {
  const host = o.host ?? '127.0.0.1';
  const masters = o.masters ?? 3;
  const count = masters * (1 + (masters === 1 ? 0 : (o.replicas ?? 1))) + (o.spare ?? 0);
  const ns = await createNetns();
  const dir = tempDir('cloakpipe-cluster-tunnel-');
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  let trap: Trap | null = null;
  let cluster: RedisCluster | null = null;
  const pairs: TunnelPair[] = [];
  const close = async (): Promise<void> => {
    for (const p of pairs) await p.close().catch(() => {});
    await cluster?.stop().catch(() => {});
    await trap?.close().catch(() => {});
    await ns.close();
    rmSync(dir, { recursive: true, force: true });
  };

  const addPair = async (po: PairOptions = {}): Promise<TunnelPair> => {
    const c = cluster!;
    const dSocket = join(dir, `d${pairs.length}.sock`);
    const seedPort = po.seedPort ?? c.nodes[0]!.port;
    const seed = host.includes(':') ? `[${host}]:${seedPort}` : `${host}:${seedPort}`;
    const common = ['-n', '500', '--log-level', 'debug'];
    let d: Proc | null = null;
    let e: Proc | null = null;
    const closePair = async (): Promise<void> => {
      await e?.stop('SIGKILL');
      await d?.stop('SIGKILL');
    };
    const pair = {
      dSocket,
      seedPort,
      close: closePair,
    } as { -readonly [K in keyof TunnelPair]: TunnelPair[K] };
    pairs.push(pair);
    d = (
      await startCloakpipeUnder(ns.wrap([]), [
        '-d',
        ...(po.clusterD === false ? [] : ['--cluster']),
        '-s',
        dSocket,
        '-t',
        seed,
        '-k',
        key,
        ...common,
        ...(po.dArgs ?? []),
      ])
    ).proc;
    pair.d = d;
    const eStarted = await startCloakpipe([
      '-e',
      ...(po.clusterE === false ? [] : ['--cluster']),
      '-s',
      po.eSource ?? '[127.0.0.1]:0',
      '-t',
      dSocket,
      '-k',
      key,
      ...common,
      ...(po.eArgs ?? []),
    ]);
    e = eStarted.proc;
    const ep = parseHostPort(eStarted.address);
    Object.assign(pair, { e, eAddress: eStarted.address, eHost: ep.host, ePort: ep.port });
    return pair;
  };

  const assertTunnelOnly = async (opts: { minNodeClients?: number } = {}): Promise<TunnelCheck> => {
    const c = cluster!;
    assert.deepEqual(trap!.hits(), [], 'a client reached a real node address around the tunnel');
    // Every client connection on every live node must belong to a -d process. CLIENT LIST first,
    // then `ss -tnp` in the namespace to find each connection's owner; a connection that closed
    // in between is simply looked at again on the next pass.
    const dPids = withDescendants(pairs.map((p) => p.d?.child.pid));
    // A node's own connections to another node (MIGRATE keeps one cached for 10 s) are internal.
    const nodePids = new Set(c.nodes.map((n) => n.pid));
    let nodeClients: number;
    for (let pass = 0; ; pass++) {
      const unknown: string[] = [];
      const foreign: string[] = [];
      nodeClients = 0;
      const rows: { node: number; addr: string; line: string }[] = [];
      for (const n of c.nodes.filter((x) => x.alive)) {
        const list = await c.exec(n.port, 'client', 'list');
        for (const line of list.split('\n').filter(Boolean)) {
          const f = Object.fromEntries(
            line.split(' ').map((kv) => {
              const i = kv.indexOf('=');
              return [kv.slice(0, i), kv.slice(i + 1)];
            }),
          );
          if (f.cmd === 'client|list') continue; // the redis-cli asking
          if (/[SM]/.test(f.flags ?? '')) continue; // replication links
          rows.push({ node: n.port, addr: normAddr(f.addr ?? ''), line });
        }
      }
      const ss = parseSs(await ns.run('ss', ['-tnpH']));
      for (const r of rows) {
        const owner = ss.find((s) => s.local === r.addr && s.peer === normAddr(c.addr(r.node)));
        if (!owner) unknown.push(`${r.node}: ${r.line}`);
        else if (owner.pids.some((p) => nodePids.has(p)))
          continue; // MIGRATE's cached link
        else if (!owner.pids.some((p) => dPids.has(p)))
          foreign.push(`${r.node}: pids ${owner.pids.join(',')}: ${r.line}`);
        else nodeClients++;
      }
      assert.deepEqual(foreign, [], 'node clients not owned by a -d process');
      if (unknown.length === 0) break;
      if (pass >= 4) assert.fail(`node clients whose owner ss cannot find:\n${unknown.join('\n')}`);
      await sleep(100);
    }
    const min = opts.minNodeClients ?? 0;
    assert.ok(nodeClients >= min, `expected ≥ ${min} node clients from -d, saw ${nodeClients}`);
    // This process's TCP connections go only to the -e ends' listeners.
    const ePids = withDescendants(pairs.map((p) => p.e?.child.pid));
    const ePorts = new Set(
      parseSs(await execCapture(['ss', '-tlnpH']))
        .filter((s) => s.pids.some((p) => ePids.has(p)))
        .map((s) => portOf(s.local)),
    );
    const mine = parseSs(await execCapture(['ss', '-tnpH'])).filter((s) =>
      s.pids.includes(process.pid),
    );
    const stray = mine.filter((s) => !ePorts.has(portOf(s.peer)));
    assert.deepEqual(
      stray.map((s) => `${s.local} -> ${s.peer}`),
      [],
      `this process holds connections not to an -e end (listening on ${[...ePorts].join(',')})`,
    );
    return { nodeClients, localConns: mine.length };
  };

  try {
    const picked = await trapFreePorts(host, count);
    trap = picked.trap;
    const nodeCount = count - (o.spare ?? 0);
    cluster = await startCluster({
      ...o,
      host,
      masters,
      ns,
      ports: picked.ports.slice(0, nodeCount),
      sparePorts: picked.ports.slice(nodeCount),
    });
    const first = await addPair(o);
    const c = cluster;
    const t = trap;
    const fx: TunnelledCluster = {
      ...first,
      ns,
      cluster: c,
      trap: t,
      dir,
      key,
      addPair,
      assertTunnelOnly,
      close,
    };
    return fx;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The node listeners an -e end has opened so far, from its log: real `node` → `local` address. */
export function nodeListeners(pair: Pick<TunnelPair, 'e'>): { node: string; local: string }[] {
  return pair.e
    .logs()
    .filter((l) => l.msg === 'cluster node listener opened')
    .map((l) => ({ node: String(l.node), local: String(l.local) }));
}

/** The value of Prometheus series `name` whose labels include every `k="v"` in `labels` (0 if absent). */
export async function metricValue(
  port: number,
  name: string,
  labels: string[] = [],
): Promise<number> {
  return sampleValue(await fetchMetrics(port), `${name}{`, labels) ?? 0;
}

/** The last `lines` log lines of both ends, for assertion messages. */
export function logTails(p: Pick<TunnelPair, 'e' | 'd'>, lines = 30): string {
  const tail = (s: string): string => s.split('\n').slice(-lines).join('\n');
  return `\n--- -e log ---\n${tail(p.e.output())}\n--- -d log ---\n${tail(p.d.output())}`;
}
