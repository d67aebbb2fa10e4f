/**
 * run: start a tunnel end from a checked Config and serve until a signal. Throws StartError (or
 * KeyFileError) for anything that stops it from starting; main() turns those into an exit code.
 */
import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { getEngine } from '../crypto/engines.js';
import type { ClusterAuth } from '../cluster/auth.js';
import { loadClusterAuth, nilClusterMetrics } from '../daemon/cluster.js';
import { registerClusterPrimarySeries } from '../daemon/aggregate.js';
import { startOpsServer } from '../daemon/http.js';
import { KeyRing } from '../daemon/keyring.js';
import { CounterMetrics, createLogger, RateLimitedWarning, teeMetrics } from '../daemon/observe.js';
import { EphemeralPool } from '../daemon/pool.js';
import { PromMetrics } from '../daemon/prom.js';
import { Daemon, removeQuietly } from '../daemon/server.js';
import { formatAddress } from '../pipe/address.js';
import { dial, type DialOptions } from '../pipe/dial.js';
import { Resolver } from '../pipe/resolver.js';
import { VERSION } from './args.js';
import { reportListening } from './background.js';
import { type ClusterSetup, setupCluster, startClusterPrimary } from './cluster.js';
import type { Config } from './config.js';
import { StartError } from './errors.js';
import { switchUser } from './user.js';
import { answerPrimary, onReload, onStop, requestKeys, requestStdinKey } from './workers-ipc.js';
import { runWorkersPrimary } from './workers-primary.js';
import { isWorker, workerId, workerShare } from './workers.js';

/** Resolve the target once; with -D, retry every second until it resolves. */
async function resolveTarget(resolver: Resolver, target: string, wait: boolean, log: Logger) {
  for (let attempt = 1; ; attempt++) {
    try {
      await resolver.init();
      return;
    } catch (err) {
      const reason = (err as Error).message;
      if (!wait)
        throw new StartError(`cannot resolve target ${target}: ${reason} (use -D to wait for DNS)`);
      if (attempt === 1)
        log.warn({ target, err: reason }, 'target does not resolve yet; waiting (-D)');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** /readyz --ready-probe: can we open a TCP connection to the target right now? */
async function probeTarget(resolver: Resolver, timeoutMs: number): Promise<string | null> {
  const ac = new AbortController();
  const limitMs = Math.min(timeoutMs, 2000);
  const t = setTimeout(() => ac.abort(), limitMs);
  try {
    const s = await dial(resolver.endpoints(), { keepAlive: false, timeoutMs: limitMs }, ac.signal);
    s.destroy();
    return null;
  } catch (err) {
    return `target unreachable: ${(err as Error).message}`;
  } finally {
    clearTimeout(t);
  }
}

/** The OS error code of a failed listen, or its message. */
function osReason(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Read the --cluster-auth file (-d), logging its storage warnings. */
function clusterAuth(c: Config, log: Logger): ClusterAuth | null {
  if (c.cluster?.end !== 'decrypt' || c.cluster.authFile === null) return null;
  const loaded = loadClusterAuth(c.cluster.authFile);
  if (typeof loaded === 'string') throw new StartError(loaded);
  for (const w of loaded.warnings) log.warn({ authFile: c.cluster.authFile }, `WARNING: ${w}`);
  return loaded.auth;
}

/** SIGHUP: re-read the key files (a `-k -` key is kept); on failure keep the previous keys. */
function reloadKeys(keyring: KeyRing, log: Logger): void {
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
}

/**
 * SIGTERM/SIGINT drain once (a second signal exits at once); SIGHUP re-reads the keys. In a
 * --workers worker the primary's stop messages count too, but its `drain` never counts as a
 * second signal: a terminal's Ctrl-C reaches the worker and the primary both.
 */
function handleSignals(daemon: Daemon, keyring: KeyRing, log: Logger): Promise<number> {
  process.on('SIGHUP', () => reloadKeys(keyring, log));
  return new Promise<number>((resolve) => {
    let signals = 0;
    let draining = false;
    const drain = (): void => {
      if (draining) return;
      draining = true;
      void daemon.shutdown().then(resolve);
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      if (++signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      log.info({ signal: sig }, 'signal received');
      drain();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (isWorker())
      onStop((now) => {
        if (now) {
          log.warn('the primary had a second signal: exiting now');
          resolve(1);
        } else if (!draining) {
          log.info('the primary had a signal: draining');
          drain();
        }
      });
  });
}

/**
 * Start the tunnel end `c` describes and serve until SIGTERM/SIGINT; resolves with the exit code
 * (0 after a clean drain, 1 when shutdown cut connections). Throws StartError or KeyFileError when
 * it cannot start; whatever it had opened by then is closed.
 */
export async function run(c: Config): Promise<number> {
  const root = createLogger(c.logLevel, 1, { numericLevels: c.numericLevels });
  // With --workers every line says whose it is: 0 is the primary, 1, 2, … the workers.
  const log = c.workers > 1 ? root.child({ worker: workerId() }) : root;
  const keyring = new KeyRing(c.keyFiles, log, { allowEmpty: c.allowEmptyKey });
  if (isWorker() && c.user !== null && process.getuid?.() !== 0) {
    // Forked after the primary gave up root (-u): the key files may be root's alone.
    const keys = await requestKeys();
    keyring.adopt(keys);
    for (const k of keys) k.fill(0);
  } else {
    if (isWorker() && c.keyFiles.includes('-')) {
      const k = await requestStdinKey();
      keyring.useStdinKey(k);
      k.fill(0);
    }
    keyring.load();
  }
  // A --workers primary passes SIGHUP on as a message: one that arrived before this line was
  // dropped (the keys were read just now), where a signal would have killed the worker.
  if (isWorker()) onReload(() => reloadKeys(keyring, log));
  // A worker's cluster replica never logs in to Redis: only the primary reads --cluster-auth.
  const auth = isWorker() ? null : clusterAuth(c, log);
  if (c.workers > 1 && !isWorker()) {
    const stdinKey = keyring.stdinKey();
    // With -u the primary keeps the keys (re-read on SIGHUP) for workers it forks unprivileged.
    const keep = c.user !== null;
    if (!keep) keyring.destroy();
    // Cluster mode: one port map (-e) or one poller (-d) for the end, before the first fork.
    const shared = c.cluster
      ? startClusterPrimary(c.cluster, { log, auth, metrics: nilClusterMetrics })
      : null;
    try {
      return await runWorkersPrimary(
        c,
        log,
        {
          stdinKey,
          ...(keep ? { keys: () => keyring.keys, onReload: () => reloadKeys(keyring, log) } : {}),
        },
        shared === null
          ? {}
          : { onMetrics: (r) => registerClusterPrimarySeries(r, () => shared.stats()) },
      );
    } finally {
      shared?.close();
      stdinKey?.fill(0);
      keyring.destroy();
    }
  }
  const targetText = formatAddress(c.target);
  const resolver = new Resolver(c.target, {
    refreshSeconds: c.refreshSeconds,
    onEvent: (ev, detail) =>
      ev === 'changed'
        ? log.info({ target: targetText, addresses: detail }, 'target re-resolved to new addresses')
        : log.warn(
            { target: targetText, err: detail },
            'target re-resolution failed; keeping previous addresses',
          ),
  });
  await resolveTarget(resolver, targetText, c.waitDns, log);
  const counters = new CounterMetrics();
  const prom =
    c.metrics === null
      ? null
      : new PromMetrics(
          { mode: c.mode },
          {
            cluster: c.cluster !== null,
            version: VERSION,
            crypto: c.engine,
            framing: c.framing,
          },
        );
  const metrics = prom ? teeMetrics(counters, prom) : counters;
  const pool = new EphemeralPool(c.dhPool);
  const failover = new RateLimitedWarning(log, 1000);
  const dialOptions: DialOptions = {
    keepAlive: c.keepAlive,
    keepAliveDelayMs: c.keepAliveDelayMs,
    localAddress: c.bind?.address,
    localPort: c.bind?.port,
    timeoutMs: c.timeoutMs,
    onFailover: (failed, reason, next) =>
      failover.warn(
        { target: targetText, address: failed, err: reason, next },
        'target address failed; trying the next one',
      ),
  };
  // The daemon exists before the cluster listeners that hand it connections (adopt).
  let cluster: ClusterSetup | null = null;
  const daemon = new Daemon(
    {
      tunnel: {
        mode: c.mode,
        noPfs: c.noPfs,
        requirePfs: c.requirePfs,
        timeoutMs: c.timeoutMs,
        idleTimeoutMs: c.idleTimeoutMs,
        halfCloseTimeoutMs: c.halfCloseTimeoutMs,
        maxLifetimeMs: c.maxLifetimeMs,
        framing: c.framing,
        bucket: c.bucket,
      },
      source: c.source,
      target: targetText,
      // --workers: -n caps the whole end; each worker takes its share.
      maxConns: workerShare(c.maxConns, c.workers),
      dial: dialOptions,
      shutdownTimeoutMs: c.shutdownTimeoutMs,
    },
    {
      log,
      metrics,
      engine: getEngine(c.engine),
      keyring,
      resolver,
      pool,
      ...(c.cluster
        ? {
            routing: (route) => cluster!.routing(route),
            onDrain: () => cluster!.close(),
          }
        : {}),
    },
  );
  if (c.cluster)
    cluster = setupCluster(c.cluster, {
      resolver,
      dial: dialOptions,
      log,
      metrics: prom ?? nilClusterMetrics,
      adopt: (s, r) => daemon.adopt(s, r),
      auth,
    });
  try {
    await cluster?.ready;
  } catch (err) {
    pool.close();
    throw new StartError(
      `cannot get the cluster state from the primary: ${(err as Error).message}`,
    );
  }
  try {
    await daemon.listen();
  } catch (err) {
    pool.close();
    throw new StartError(`cannot listen on ${formatAddress(c.source)}: ${osReason(err)}`);
  }
  if (isWorker())
    // The primary serves /metrics and /readyz for the whole end and asks each worker.
    answerPrimary({
      ...(prom !== null ? { metrics: () => prom.registry.getMetricsAsJSON() } : {}),
      probe: async () =>
        !daemon.ready ? 'draining' : c.readyProbe ? probeTarget(resolver, c.timeoutMs) : null,
    });
  else if (prom !== null && c.metrics !== null) {
    const where = c.metrics;
    try {
      await startOpsServer(
        where.host,
        where.port,
        prom.registry,
        {
          ready: () => daemon.ready,
          ...(c.readyProbe ? { probe: () => probeTarget(resolver, c.timeoutMs) } : {}),
        },
        log,
      );
    } catch (err) {
      throw new StartError(
        `cannot listen for --metrics on ${where.host}:${where.port}: ${osReason(err)}`,
      );
    }
    log.info({ metrics: `${where.host}:${where.port}` }, 'serving /metrics, /healthz and /readyz');
  }
  if (c.pidFile !== null && !isWorker()) writeFileSync(c.pidFile, `${process.pid}\n`);
  if (c.user !== null) {
    const warning = switchUser(c.user);
    if (warning !== null) log.warn(warning);
  }
  // Handlers go in before the 'listening' line: a supervisor may signal as soon as it sees it.
  const stopped = handleSignals(daemon, keyring, log);
  log.info(
    {
      mode: c.mode,
      source: daemon.address,
      target: targetText,
      engine: c.engine,
      framing: c.framing,
      pfs: c.noPfs ? 'off' : c.requirePfs ? 'required' : 'on',
      max_conns: c.maxConns,
      version: VERSION,
    },
    `listening on ${daemon.address}, forwarding ${c.mode === 'encrypt' ? 'encrypted' : 'decrypted'} to ${targetText}`,
  );
  if (!isWorker()) reportListening();
  const code = await stopped;
  pool.close();
  keyring.destroy();
  if (c.pidFile !== null && !isWorker()) removeQuietly(c.pidFile);
  return code;
}
