/**
 * Entry point: parse → validate → build config → start the daemon. Exit codes: 0 clean shutdown,
 * 1 usage or start-up error (printed before anything listens) or connections cut at shutdown.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { EngineName } from '../crypto/engine.js';
import { getEngine } from '../crypto/engines.js';
import { generateKeyFile, KeyFileError } from '../crypto/keyfile.js';
import { KeyRing } from '../daemon/keyring.js';
import { CounterMetrics, createLogger, type LogLevel, teeMetrics } from '../daemon/observe.js';
import { EphemeralPool } from '../daemon/pool.js';
import {
  clusterDecrypt,
  clusterEncrypt,
  loadClusterAuth,
  nilClusterMetrics,
} from '../daemon/cluster.js';
import type { ClusterAuth } from '../cluster/auth.js';
import { startOpsServer } from '../daemon/http.js';
import { type ClusterMetrics, PromMetrics } from '../daemon/prom.js';
import { Daemon } from '../daemon/server.js';
import { AddressError, type Address, formatAddress, parseAddress } from '../pipe/address.js';
import type { Socket } from 'node:net';
import type { TunnelRouting } from '../pipe/connection.js';
import { type DialOptions, dial } from '../pipe/dial.js';
import type { Route } from '../protocol/route.js';
import { Resolver } from '../pipe/resolver.js';
import {
  buildParser,
  checkTunnelArgs,
  dropUnknownEnv,
  parsePortRange,
  type TunnelArgs,
  UsageError,
  VERSION,
} from './args.js';
import { parseBind } from './bind.js';
import { spipe } from './spipe.js';
import { isWorker, runPrimary } from './workers.js';

/** Print `msg` and the usage text to stderr; the caller exits 1. */
function usageFail(msg: string): number {
  process.stderr.write(`cloakpipe: ${msg}\n\n`);
  buildParser([]).showHelp((s: string) => process.stderr.write(`${s}\n`));
  return 1;
}

/** Print a start-up error (no usage text: the flags were fine); the caller exits 1. */
function startFail(msg: string): number {
  process.stderr.write(`cloakpipe: ${msg}\n`);
  return 1;
}

function keygen(args: string[]): number {
  if (args.length !== 1 || args[0]!.startsWith('-'))
    return usageFail(
      'usage: cloakpipe keygen <file>  (writes 32 random bytes, mode 0600; never overwrites)',
    );
  try {
    generateKeyFile(args[0]!);
  } catch (err) {
    return startFail((err as Error).message);
  }
  process.stderr.write(`cloakpipe: wrote a new 32-byte key to ${args[0]} (mode 0600)\n`);
  return 0;
}

/** Parse and validate; returns the args or an exit code. */
async function parse(argv: string[]): Promise<TunnelArgs | number> {
  let failed: string | null = null;
  for (const name of dropUnknownEnv(process.env))
    process.stderr.write(`cloakpipe: ignoring environment variable ${name}: it names no option\n`);
  const parser = buildParser(argv)
    .exitProcess(false)
    .fail((msg: string | null, err: Error | null) => {
      failed = msg ?? err?.message ?? 'invalid arguments';
    });
  let a: TunnelArgs & { v?: boolean; help?: boolean };
  try {
    a = (await parser.parseAsync()) as unknown as TunnelArgs & { v?: boolean; help?: boolean };
  } catch (err) {
    return usageFail((err as Error).message);
  }
  if (failed !== null) return usageFail(failed);
  if (a.help) return 0;
  if (a.v) {
    process.stdout.write(`cloakpipe ${VERSION}\n`);
    return 0;
  }
  // systemd socket activation: with no -s, take the first inherited socket (fd 3).
  if (a.s === undefined && process.env.LISTEN_FDS && Number(process.env.LISTEN_PID) === process.pid)
    a.s = 'fd:3';
  try {
    checkTunnelArgs(a);
  } catch (err) {
    if (err instanceof UsageError) return usageFail(err.message);
    throw err;
  }
  return a;
}

async function resolveTarget(
  resolver: Resolver,
  target: string,
  wait: boolean,
  log: Logger,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await resolver.init();
      return true;
    } catch (err) {
      if (!wait) {
        log.fatal(
          { target, err: (err as Error).message },
          `cannot resolve target ${target} (use -D to wait for DNS)`,
        );
        return false;
      }
      if (attempt === 1)
        log.warn(
          { target, err: (err as Error).message },
          'target does not resolve yet; waiting (-D)',
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** `9100` → 127.0.0.1:9100; `host:port`; `[v6]:port`. Null when malformed. */
export function parseMetricsAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?([0-9]{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** /readyz --ready-probe: can we open a TCP connection to the target right now? */
async function probeTarget(resolver: Resolver, timeoutMs: number): Promise<string | null> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), Math.min(timeoutMs, 2000));
  try {
    const s = await dial(resolver.endpoints(), { keepAlive: false }, ac.signal);
    s.destroy();
    return null;
  } catch (err) {
    return `target unreachable: ${(err as Error).message}`;
  } finally {
    clearTimeout(t);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Cluster-mode pieces, by end. */
interface ClusterSetup {
  readonly routing: (route: Route | null) => TunnelRouting;
  readonly close: () => void;
}

/** Build cluster mode for this end; returns a usage error text when the addresses do not fit. */
function setupCluster(
  a: TunnelArgs,
  mode: 'encrypt' | 'decrypt',
  source: Address,
  target: Address,
  resolver: Resolver,
  dialOptions: DialOptions,
  log: Logger,
  metrics: ClusterMetrics,
  adopt: (s: Socket, r: Route) => void,
  auth: ClusterAuth | null,
): ClusterSetup | string {
  if (mode === 'decrypt') {
    if (target.kind !== 'tcp') return '--cluster -d needs a TCP seed node as -t (host:port)';
    const d = clusterDecrypt({
      auth,
      seed: { host: target.host, port: target.port },
      seedResolver: resolver,
      dial: dialOptions,
      log,
      metrics,
      refreshSeconds: a['cluster-refresh'],
    });
    return { routing: d.routing, close: () => d.membership.close() };
  }
  const srcHost = source.kind === 'tcp' ? source.host : '127.0.0.1';
  const advertise =
    a['advertise-host'] ??
    (srcHost === '0.0.0.0' ? '127.0.0.1' : srcHost === '::' ? '::1' : srcHost);
  const range =
    a['cluster-ports'] !== undefined
      ? parsePortRange(a['cluster-ports'])
      : source.kind === 'tcp' && source.port > 0
        ? { from: source.port + 1, to: Math.min(65535, source.port + 64) }
        : null;
  const e = clusterEncrypt({
    bindHost: srcHost,
    advertiseHost: advertise,
    ports: range,
    log,
    metrics,
    adopt,
  });
  return { routing: e.routing, close: () => e.listeners.close() };
}

/** Run the program; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'keygen') return keygen(argv.slice(1));
  if (argv[0] === 'spipe') return spipe(argv.slice(1));
  const parsed = await parse(argv);
  if (typeof parsed === 'number') return parsed;
  const a = parsed;
  let source: Address;
  let target: Address;
  let bind: { address: string; port: number } | null;
  try {
    source = parseAddress(a.s!, true);
    target = parseAddress(a.t!);
    bind = a.b === undefined ? null : parseBind(a.b);
  } catch (err) {
    if (err instanceof AddressError || err instanceof UsageError) return usageFail(err.message);
    throw err;
  }
  const log = createLogger(a['log-level'] as LogLevel, 1, {
    numericLevels: a['log-numeric-levels'] === true,
  });
  const keyring = new KeyRing(([] as string[]).concat(a.k!), log);
  let clusterAuth: ClusterAuth | null = null;
  try {
    keyring.load();
    if (a['cluster-auth'] !== undefined) {
      const loaded = loadClusterAuth(a['cluster-auth']);
      if (typeof loaded === 'string') return startFail(loaded);
      for (const w of loaded.warnings) log.warn({ authFile: a['cluster-auth'] }, `WARNING: ${w}`);
      clusterAuth = loaded.auth;
    }
  } catch (err) {
    if (err instanceof KeyFileError) return startFail(err.message);
    throw err;
  }
  if (a.workers > 1 && !isWorker()) {
    keyring.destroy();
    if (a.p !== undefined) writeFileSync(a.p, `${process.pid}\n`);
    const code = await runPrimary(a.workers, log);
    if (a.p !== undefined) removeQuietly(a.p);
    return code;
  }
  const mode = a.e ? 'encrypt' : 'decrypt';
  const targetText = formatAddress(target);
  const resolver = new Resolver(target, {
    refreshSeconds: a.R ? 0 : (a.r ?? 60),
    onEvent: (ev, detail) =>
      ev === 'changed'
        ? log.info({ target: targetText, addresses: detail }, 'target re-resolved to new addresses')
        : log.warn(
            { target: targetText, err: detail },
            'target re-resolution failed; keeping previous addresses',
          ),
  });
  if (!(await resolveTarget(resolver, targetText, a.D === true, log))) return 1;
  const counters = new CounterMetrics();
  const prom =
    a.metrics === undefined
      ? null
      : new PromMetrics(
          { mode },
          { cluster: a.cluster === true, version: VERSION, crypto: a.crypto },
        );
  const metrics = prom ? teeMetrics(counters, prom) : counters;
  const pool = new EphemeralPool(a.f ? 0 : a['dh-pool']);
  const dialOptions = {
    keepAlive: !a.j,
    keepAliveDelayMs: a['keepalive-delay'] * 1000,
    localAddress: bind?.address,
    localPort: bind?.port,
  };
  let cluster: ClusterSetup | null = null;
  if (a.cluster) {
    const made = setupCluster(
      a,
      mode,
      source,
      target,
      resolver,
      dialOptions,
      log,
      prom ?? nilClusterMetrics,
      (s, r) => daemon.adopt(s, r),
      clusterAuth,
    );
    if (typeof made === 'string') return usageFail(made);
    cluster = made;
  }
  const daemon: Daemon = new Daemon(
    {
      tunnel: {
        mode,
        noPfs: a.f === true,
        requirePfs: a.g === true,
        timeoutMs: a.o * 1000,
        idleTimeoutMs: a['idle-timeout'] * 1000,
        halfCloseTimeoutMs: a['half-close-timeout'] * 1000,
        maxLifetimeMs: a['max-conn-lifetime'] * 1000,
      },
      source,
      target: targetText,
      maxConns: a.n,
      dial: dialOptions,
      keepAlive: !a.j,
      keepAliveDelayMs: a['keepalive-delay'] * 1000,
      shutdownTimeoutMs: a['shutdown-timeout'] * 1000,
    },
    {
      log,
      metrics,
      engine: getEngine(a.crypto as EngineName),
      keyring,
      resolver,
      pool,
      ...(cluster ? { routing: cluster.routing, onDrain: cluster.close } : {}),
    },
  );
  try {
    await daemon.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.fatal({ source: a.s, code: e.code }, `cannot listen on ${a.s}: ${e.code ?? e.message}`);
    pool.close();
    return 1;
  }
  if (prom !== null) {
    const where = parseMetricsAddress(a.metrics!);
    if (where === null)
      return usageFail(`--metrics ${a.metrics}: expected port, host:port or [IPv6]:port`);
    try {
      await startOpsServer(
        where.host,
        where.port,
        prom,
        {
          ready: () => daemon.ready,
          ...(a['ready-probe'] ? { probe: () => probeTarget(resolver, a.o * 1000) } : {}),
        },
        log,
      );
    } catch (err) {
      log.fatal(
        { metrics: a.metrics },
        `cannot listen for --metrics on ${a.metrics}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
      return 1;
    }
    log.info({ metrics: `${where.host}:${where.port}` }, 'serving /metrics, /healthz and /readyz');
  }
  if (a.p !== undefined && !isWorker()) writeFileSync(a.p, `${process.pid}\n`);
  if (a.u !== undefined) {
    const [user, group] = a.u.split(':');
    try {
      if (group) process.setgid?.(group);
      process.setuid?.(user!);
    } catch (err) {
      log.fatal({ user: a.u, err: (err as Error).message }, `cannot switch to user ${a.u}`);
      return 1;
    }
  }
  process.on('SIGHUP', () => {
    try {
      keyring.load();
      log.info(
        { keys: keyring.paths.length },
        'SIGHUP: key files re-read; live connections keep their session keys',
      );
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        'SIGHUP: key reload failed; keeping the previous keys',
      );
    }
  });
  // Handlers go in before the 'listening' line: a supervisor may signal as soon as it sees it.
  const stopped = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (++signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      log.info({ signal: sig }, 'signal received');
      void daemon.shutdown().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  log.info(
    {
      mode,
      source: daemon.address,
      target: targetText,
      engine: a.crypto,
      pfs: a.f ? 'off' : a.g ? 'required' : 'on',
      max_conns: a.n,
      version: VERSION,
    },
    `listening on ${daemon.address}, forwarding ${mode === 'encrypt' ? 'encrypted' : 'decrypted'} to ${targetText}`,
  );
  const code = await stopped;
  pool.close();
  keyring.destroy();
  if (a.p !== undefined && !isWorker()) removeQuietly(a.p);
  return code;
}
