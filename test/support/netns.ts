/**
 * Network namespaces for the cluster tests: the Redis Cluster and the `cloakpipe -d --cluster` end
 * run inside a namespace of their own (loopback only), the client and the `-e` end stay in the
 * default one, and the two ends meet only through a UNIX socket on the shared filesystem. A client
 * that follows a real node address cannot reach the node; trap listeners on the nodes' real ports
 * in the default namespace make that failure loud (assert `trap.hits()` is empty).
 *
 * Needs root and iproute2 (`ip netns`); a missing `ip` fails with the command that installs it.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { requireBinary } from './bins.js';

/** A namespace the test owns; `close()` kills what runs in it and deletes it. */
export interface Netns {
  readonly name: string;
  /** `argv` prefixed so that it runs inside the namespace (`ip netns exec NAME …`, which execs). */
  wrap(argv: readonly string[]): string[];
  /** Spawn `cmd args` inside the namespace (the child's pid is the command's own). */
  spawn(cmd: string, args: readonly string[]): ChildProcess;
  /** Run `cmd args` inside the namespace to completion; rejects with its output on failure. */
  run(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  /** SIGKILL every process left in the namespace, then delete it. Idempotent; never throws. */
  close(): Promise<void>;
}

const PREFIX = 'cp-test-';
const open = new Set<string>();

/** Delete `name` now (kill its processes first); used by close() and the exit hook. */
function destroySync(name: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // The namespace is already gone: nothing runs in it.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // Already deleted.
  }
  open.delete(name);
}

let hooked = false;
/** Even when the test process dies on an uncaught error, its namespaces are deleted on exit. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const n of [...open]) destroySync(n);
  });
}

/**
 * Namespaces left by test processes that no longer exist (named cp-test-<pid>-…): a crashed run
 * (SIGKILL) cannot clean up after itself, so the next run does.
 */
function reapStale(): void {
  let list: string;
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = name.match(/^cp-test-(\d+)-/);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) destroySync(name);
  }
}

/**
 * Create a fresh namespace `cp-test-<pid>-<rand>` with loopback (127.0.0.1 and ::1) up. Throws if
 * `ip` is missing or the caller may not create namespaces (not root).
 */
export async function createNetns(): Promise<Netns> {
  try {
    requireBinary('ip');
  } catch {
    throw new Error(
      'ip (iproute2) is not installed; install it with: sudo apt-get install -y iproute2',
    );
  }
  reapStale();
  hookExit();
  const name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  open.add(name);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
  } catch (e) {
    destroySync(name);
    throw e;
  }
  const wrap = (argv: readonly string[]): string[] => ['ip', 'netns', 'exec', name, ...argv];
  return {
    name,
    wrap,
    spawn(cmd, args) {
      return spawn('ip', ['netns', 'exec', name, cmd, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    run(cmd, args, timeoutMs = 30_000) {
      return execCapture(wrap([cmd, ...args]), timeoutMs);
    },
    async close() {
      if (open.has(name)) destroySync(name);
    },
  };
}

/** Run argv to completion; resolve stdout, reject with stdout+stderr and the exit status. */
export function execCapture(argv: readonly string[], timeoutMs = 30_000): Promise<string> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new TypeError('empty command'));
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`${argv.join(' ')} failed (${err.code ?? err.signal}): ${stdout}${stderr}`),
          );
        else resolve(stdout);
      },
    );
  });
}

/** One connection a trap accepted. */
export interface TrapHit {
  /** The real node address that was dialled, host:port. */
  readonly address: string;
  /** Peer of the connection (who dialled). */
  readonly from: string;
  readonly at: Date;
}

/** Listeners on real node addresses in the client's namespace; every connection is a failure. */
export interface Trap {
  /** Connections seen so far (should stay empty). */
  hits(): readonly TrapHit[];
  /** Ports trapped. */
  readonly ports: readonly number[];
  /** Trap one more port (a node added later); throws if it cannot listen there. */
  add(port: number): Promise<void>;
  close(): Promise<void>;
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listen on `host:port` for every port in `ports` (in this, the default, namespace). Each accepted
 * connection is recorded and destroyed at once, so a client that reaches past the tunnel gets a
 * dead connection and the test a recorded hit. Rejects (closing what it opened) if any port is
 * taken: callers use that to choose node ports free in both namespaces.
 */
export async function trapPorts(host: string, ports: readonly number[]): Promise<Trap> {
  const hits: TrapHit[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const trapped: number[] = [];
  const add = async (port: number): Promise<void> => {
    const s = createServer((sock) => {
      hits.push({
        address: `${host}:${port}`,
        from: `${sock.remoteAddress}:${sock.remotePort}`,
        at: new Date(),
      });
      sock.on('error', () => {});
      sock.destroy();
    });
    s.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await listenOn(s, host, port);
    servers.push(s);
    trapped.push(port);
  };
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  };
  try {
    for (const p of ports) await add(p);
  } catch (e) {
    await close();
    throw e;
  }
  return { hits: () => hits, ports: trapped, add, close };
}
