/**
 * buildConfig: the checked tunnel arguments → the settings run() starts from. Pure: no I/O, no
 * environment, no clock. Every cross-flag rule (spiped main.c's sanity checks after getopt) and
 * every default that depends on another flag lives here, so one unit test covers them all.
 */
import { checkBucket } from '../crypto/compact.js';
import type { EngineName } from '../crypto/engine.js';
import type { Framing } from '../crypto/kdf.js';
import { COMPACT_DEFAULT_BUCKET } from '../crypto/sizes.js';
import type { LogLevel } from '../daemon/observe.js';
import {
  type Address,
  AddressError,
  type BindAddress,
  type HostPort,
  parseAddress,
  parseBindAddress,
  parseMetricsAddress,
} from '../pipe/address.js';
import type { TunnelArgs, WorkerSchedule } from './args.js';
import { UsageError } from './errors.js';

/** -r's default: re-resolve the target every this many seconds. */
export const DEFAULT_RTIME_SECONDS = 60;

/** Without --cluster-ports, -e opens node listeners on this many ports after the -s port. */
export const DEFAULT_CLUSTER_PORTS = 64;

const MAX_PORT = 65535;

/** Cluster mode on the -e end: where node listeners bind and what replies advertise. */
export interface ClusterEncryptConfig {
  readonly end: 'encrypt';
  readonly bindHost: string;
  readonly advertiseHost: string;
  /** Ports for node listeners; null = OS-chosen (when -s uses port 0 or is not TCP). */
  readonly ports: { readonly from: number; readonly to: number } | null;
}

/** Cluster mode on the -d end: the seed node and the allow-list refresh. */
export interface ClusterDecryptConfig {
  readonly end: 'decrypt';
  readonly seed: HostPort;
  readonly refreshSeconds: number;
  /** --cluster-auth file, read at start-up. */
  readonly authFile: string | null;
}

/** Everything a tunnel end needs, checked and with every default applied. */
export interface Config {
  readonly mode: 'encrypt' | 'decrypt';
  readonly source: Address;
  readonly target: Address;
  /** -b, or null. */
  readonly bind: BindAddress | null;
  /** -k files in command-line order (one on -e). */
  readonly keyFiles: readonly string[];
  /** --insecure-empty-key: accept an empty key file. */
  readonly allowEmptyKey: boolean;
  readonly noPfs: boolean;
  readonly requirePfs: boolean;
  /** -o in ms. */
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly halfCloseTimeoutMs: number;
  readonly maxLifetimeMs: number;
  /** -n; 0 = no limit. */
  readonly maxConns: number;
  /** Seconds between target re-resolutions; 0 = never (-R). */
  readonly refreshSeconds: number;
  /** -D */
  readonly waitDns: boolean;
  /** SO_KEEPALIVE (off with -j). */
  readonly keepAlive: boolean;
  readonly keepAliveDelayMs: number;
  /** 0 = wait for live connections as long as they last. */
  readonly shutdownTimeoutMs: number;
  readonly pidFile: string | null;
  /** -u user[:group], or null. */
  readonly user: { readonly user: string; readonly group: string | null } | null;
  readonly logLevel: LogLevel;
  /** --log-numeric-levels: pino's numbers instead of level names. */
  readonly numericLevels: boolean;
  readonly engine: EngineName;
  /** --framing (DESIGN.md §9): both ends must agree. */
  readonly framing: Framing;
  /** --frame-bucket: compact framing's padding bucket (COMPACT_DEFAULT_BUCKET by default). */
  readonly bucket: number;
  /** Ephemeral DH pairs made ahead (0 with -f, which makes none). */
  readonly dhPool: number;
  /** --metrics, or null. */
  readonly metrics: HostPort | null;
  readonly readyProbe: boolean;
  readonly cluster: ClusterEncryptConfig | ClusterDecryptConfig | null;
  /** Processes sharing the listener (--workers; `auto` already resolved). */
  readonly workers: number;
  /** --workers-schedule, or null for node's default (NODE_CLUSTER_SCHED_POLICY, else rr). */
  readonly workersSchedule: WorkerSchedule | null;
}

function nonNegative(name: string, v: number, integer: boolean): void {
  if (!Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v)))
    throw new UsageError(
      `${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${v}`,
    );
}

/** `A-B` → {from, to}, or null when malformed. */
export function parsePortRange(text: string): { from: number; to: number } | null {
  const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(text);
  if (!m) return null;
  const from = Number(m[1]);
  const to = Number(m[2]);
  return from >= 1 && from <= to && to <= MAX_PORT ? { from, to } : null;
}

/** Parse an address flag; an AddressError becomes a UsageError (with `flag` for -b/--metrics). */
function address<T>(flag: string | null, text: string, parse: (t: string) => T): T {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
    throw new UsageError(flag === null ? err.message : `${flag} ${text}: expected ${err.expected}`);
  }
}

/** The cross-flag rules yargs cannot express alone. Throws UsageError. */
function check(a: TunnelArgs, keys: readonly string[]): void {
  if (a.e && a.d) throw new UsageError('-e and -d are mutually exclusive');
  if (!a.e && !a.d) throw new UsageError('exactly one of -e (encrypt) or -d (decrypt) is required');
  if (a.f && a.g)
    throw new UsageError(
      '-f (no forward secrecy) and -g (require forward secrecy) are mutually exclusive',
    );
  if (a.R && a.r !== undefined) throw new UsageError('-r and -R are mutually exclusive');
  for (const [flag, name] of [
    ['s', 'source'],
    ['t', 'target'],
    ['k', 'key'],
  ] as const)
    if (a[flag] === undefined || a[flag] === '') throw new UsageError(`missing -${flag} <${name}>`);
  if (a.e && keys.length > 1)
    throw new UsageError(
      '-e takes exactly one -k key file (several keys are for -d, during rotation)',
    );
  for (const flag of ['s', 't', 'b', 'p', 'u'] as const)
    if (Array.isArray(a[flag])) throw new UsageError(`-${flag} given more than once`);
  nonNegative('-n', a.n, true);
  nonNegative('-o', a.o, false);
  if (a.o === 0) throw new UsageError('-o must be greater than 0');
  nonNegative('-r', a.r ?? DEFAULT_RTIME_SECONDS, true);
  if (a.r === 0) throw new UsageError('-r must be at least 1 (use -R to never re-resolve)');
  nonNegative('--shutdown-timeout', a['shutdown-timeout'], false);
  nonNegative('--dh-pool', a['dh-pool'], true);
  if (!a.cluster && (a['cluster-ports'] !== undefined || a['advertise-host'] !== undefined))
    throw new UsageError('--cluster-ports and --advertise-host need --cluster');
  if (a.cluster && a.d && (a['cluster-ports'] !== undefined || a['advertise-host'] !== undefined))
    throw new UsageError('--cluster-ports and --advertise-host are for the -e end');
  if (a['cluster-auth'] !== undefined && !(a.cluster && a.d))
    throw new UsageError('--cluster-auth is for the -d end in --cluster mode');
  if (a['cluster-auth'] === '-')
    throw new UsageError('--cluster-auth needs a file (standard input is for -k -)');
  if (a['cluster-ports'] !== undefined && parsePortRange(a['cluster-ports']) === null)
    throw new UsageError(
      `--cluster-ports ${a['cluster-ports']}: expected A-B with 1 ≤ A ≤ B ≤ ${MAX_PORT}`,
    );
  nonNegative('--cluster-refresh', a['cluster-refresh'], false);
  if (a['frame-bucket'] !== undefined) {
    if (a.framing !== 'compact') throw new UsageError('--frame-bucket needs --framing compact');
    try {
      checkBucket(a['frame-bucket']);
    } catch (err) {
      throw new UsageError(`--frame-bucket: ${(err as Error).message}`);
    }
  }
  if (a['ready-probe'] && a.metrics === undefined)
    throw new UsageError('--ready-probe needs --metrics');
  for (const f of [
    'idle-timeout',
    'half-close-timeout',
    'max-conn-lifetime',
    'keepalive-delay',
  ] as const)
    nonNegative(`--${f}`, a[f], false);
  if (a.syslog)
    throw new UsageError(
      '--syslog is not supported: cloakpipe writes JSON log lines to stdout; under systemd they go to the journal (journalctl -u cloakpipe@NAME), elsewhere pipe them to logger(1)',
    );
}

/**
 * --workers: a positive integer, or `auto` for `cores` (the cores this process may use). Throws
 * UsageError.
 */
export function parseWorkers(text: string, cores: number): number {
  if (text === 'auto') return Math.max(1, cores);
  const n = /^[0-9]+$/.test(text.trim()) ? Number(text) : NaN;
  if (Number.isNaN(n)) throw new UsageError(`--workers ${text}: expected a number or auto`);
  if (n < 1) throw new UsageError('--workers must be at least 1');
  return n;
}

/** -e's node-listener settings: bind where -s binds, advertise a host clients can reach. */
function clusterEncrypt(a: TunnelArgs, source: Address): ClusterEncryptConfig {
  const bindHost = source.kind === 'tcp' ? source.host : '127.0.0.1';
  const advertiseHost =
    a['advertise-host'] ??
    (bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost === '::' ? '::1' : bindHost);
  const ports =
    a['cluster-ports'] !== undefined
      ? parsePortRange(a['cluster-ports'])
      : source.kind === 'tcp' && source.port > 0
        ? {
            from: source.port + 1,
            to: Math.min(MAX_PORT, source.port + DEFAULT_CLUSTER_PORTS),
          }
        : null;
  return { end: 'encrypt', bindHost, advertiseHost, ports };
}

/**
 * Check `a` (as parsed by buildParser) and derive the Config: parse every address, apply the
 * defaults that depend on other flags, convert seconds to ms. `cores` is what `--workers auto`
 * means (main passes os.availableParallelism()). Throws UsageError naming the flag
 * and what is wrong; never touches the file system or the network.
 */
export function buildConfig(a: TunnelArgs, cores = 1): Config {
  const keyFiles = ([] as string[]).concat(a.k ?? []);
  const workers = parseWorkers(String(a.workers), cores);
  check(a, keyFiles);
  const source = address(null, a.s!, (t) => parseAddress(t, true));
  const target = address(null, a.t!, (t) => parseAddress(t));
  const bind = a.b === undefined ? null : address('-b', a.b, parseBindAddress);
  const metrics =
    a.metrics === undefined ? null : address('--metrics', a.metrics, parseMetricsAddress);
  const mode = a.e ? 'encrypt' : 'decrypt';
  let cluster: Config['cluster'] = null;
  if (a.cluster && mode === 'decrypt') {
    if (target.kind !== 'tcp')
      throw new UsageError('--cluster -d needs a TCP seed node as -t (host:port)');
    cluster = {
      end: 'decrypt',
      seed: { host: target.host, port: target.port },
      refreshSeconds: a['cluster-refresh'],
      authFile: a['cluster-auth'] ?? null,
    };
  } else if (a.cluster) cluster = clusterEncrypt(a, source);
  const [user, group] = a.u === undefined ? [] : a.u.split(':');
  if (a.u !== undefined && !user && !group)
    throw new UsageError(`-u "${a.u}": give a user, user:group or :group (names or numeric ids)`);
  return {
    mode,
    source,
    target,
    bind,
    keyFiles,
    allowEmptyKey: a['insecure-empty-key'] === true,
    noPfs: a.f === true,
    requirePfs: a.g === true,
    timeoutMs: a.o * 1000,
    idleTimeoutMs: a['idle-timeout'] * 1000,
    halfCloseTimeoutMs: a['half-close-timeout'] * 1000,
    maxLifetimeMs: a['max-conn-lifetime'] * 1000,
    maxConns: a.n,
    refreshSeconds: a.R ? 0 : (a.r ?? DEFAULT_RTIME_SECONDS),
    waitDns: a.D === true,
    keepAlive: a.j !== true,
    keepAliveDelayMs: a['keepalive-delay'] * 1000,
    shutdownTimeoutMs: a['shutdown-timeout'] * 1000,
    pidFile: a.p ?? null,
    user: user === undefined ? null : { user, group: group || null },
    logLevel: a['log-level'] as LogLevel,
    numericLevels: a['log-numeric-levels'] === true,
    engine: a.crypto as EngineName,
    framing: a.framing as Framing,
    bucket: a['frame-bucket'] ?? COMPACT_DEFAULT_BUCKET,
    dhPool: a.f ? 0 : a['dh-pool'],
    metrics,
    readyProbe: a['ready-probe'] === true,
    cluster,
    workers,
    workersSchedule: (a['workers-schedule'] as WorkerSchedule | undefined) ?? null,
  };
}
