/**
 * The command line, as one yargs spec: spiped's flags (same letters, meanings and defaults) plus
 * long aliases, cloakpipe's own options, and CLOAKPIPE_* environment variables as a second
 * source. `--help` and the man page are generated from this spec.
 */
import yargs, { type Argv } from 'yargs';
import { ENGINE_NAMES } from '../crypto/engine.js';
import { LOG_LEVELS } from '../daemon/observe.js';

/** The program's version (kept equal to package.json by a test). */
export const VERSION = '0.1.0';

/** Options of the tunnel command, in --help order: [flag, yargs option]. */
export const TUNNEL_OPTIONS = {
  e: {
    alias: 'encrypt',
    type: 'boolean',
    group: 'Mode (exactly one):',
    describe: 'Encrypt: accept plaintext on -s, send encrypted to -t (handshake client)',
  },
  d: {
    alias: 'decrypt',
    type: 'boolean',
    group: 'Mode (exactly one):',
    describe: 'Decrypt: accept encrypted on -s, send plaintext to -t (handshake server)',
  },
  s: {
    alias: 'source',
    type: 'string',
    group: 'Addresses:',
    describe:
      'Listen address: /unix/path, host:port, [IPv4]:port, [IPv6]:port, or fd:N (socket activation)',
  },
  t: {
    alias: 'target',
    type: 'string',
    group: 'Addresses:',
    describe: 'Target address (same grammar, no fd:); a host name is re-resolved every -r seconds',
  },
  k: {
    alias: 'key',
    type: 'string',
    group: 'Keys:',
    describe:
      'Key file (K = SHA-256 of the file; - reads stdin). Repeat on -d to accept several keys (rotation)',
  },
  b: {
    alias: 'bind',
    type: 'string',
    group: 'Addresses:',
    describe: 'Local address for outgoing connections: IP, [IP]:port or IP:port',
  },
  D: {
    alias: 'wait-dns',
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'At start, wait for the target to resolve instead of exiting',
  },
  F: {
    alias: 'foreground',
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'Accepted for spiped compatibility: cloakpipe always runs in the foreground',
  },
  f: {
    alias: 'fast',
    type: 'boolean',
    group: 'Forward secrecy:',
    describe: 'No forward secrecy: skip Diffie-Hellman (send y = 1). Faster handshakes, weaker',
  },
  g: {
    alias: 'require-pfs',
    type: 'boolean',
    group: 'Forward secrecy:',
    describe: 'Require forward secrecy: refuse a peer that runs -f',
  },
  j: {
    alias: 'no-keepalive',
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'Disable SO_KEEPALIVE (on by default)',
  },
  n: {
    alias: 'max-conns',
    type: 'number',
    default: 100,
    group: 'Limits:',
    describe: 'Most simultaneous connections (0 = no limit); further ones wait, with a warning',
  },
  o: {
    alias: 'timeout',
    type: 'number',
    default: 5,
    group: 'Limits:',
    describe: 'Seconds allowed for connect + handshake',
  },
  p: {
    alias: 'pidfile',
    type: 'string',
    group: 'Behaviour:',
    describe: 'Write the process ID to this file (removed on exit)',
  },
  r: {
    alias: 'rtime',
    type: 'number',
    defaultDescription: '60',
    group: 'Addresses:',
    describe: 'Re-resolve the target every this many seconds',
  },
  R: {
    alias: 'never-resolve',
    type: 'boolean',
    group: 'Addresses:',
    describe: 'Never re-resolve the target after start-up',
  },
  u: {
    alias: 'user',
    type: 'string',
    group: 'Behaviour:',
    describe: 'After listening, switch to user[:group] (needs root)',
  },
  syslog: {
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'Not supported: logs go to stdout as JSON lines (journald collects them)',
  },
  'log-level': {
    type: 'string',
    choices: LOG_LEVELS,
    default: 'info',
    group: 'Behaviour:',
    describe: 'Log level',
  },
  'log-numeric-levels': {
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'Write log levels as pino numbers ("level":30) instead of names ("level":"info")',
  },
  crypto: {
    type: 'string',
    choices: ENGINE_NAMES,
    default: 'node',
    group: 'Behaviour:',
    describe: 'Packet crypto engine: node (OpenSSL, AES-NI) or noble (pure JS, slow)',
  },
  'shutdown-timeout': {
    type: 'number',
    default: 0,
    group: 'Limits:',
    describe:
      'On SIGTERM/SIGINT, seconds to wait for live connections before cutting them and exiting 1 (0 = wait)',
  },
  'idle-timeout': {
    type: 'number',
    default: 0,
    group: 'Limits:',
    describe: 'Close a tunnel after this many seconds with no traffic either way (0 = never)',
  },
  'half-close-timeout': {
    type: 'number',
    default: 0,
    group: 'Limits:',
    describe:
      'After one direction ends, close if the other has not ended within this many seconds (0 = never)',
  },
  'max-conn-lifetime': {
    type: 'number',
    default: 0,
    group: 'Limits:',
    describe: 'Close a tunnel this many seconds after it opened (0 = never)',
  },
  'keepalive-delay': {
    type: 'number',
    default: 0,
    group: 'Behaviour:',
    describe: 'Seconds of idleness before the first TCP keepalive probe (0 = the OS default)',
  },
  metrics: {
    type: 'string',
    group: 'Operations:',
    describe:
      'Serve /metrics (Prometheus), /healthz and /readyz on host:port (a bare port means 127.0.0.1)',
  },
  'ready-probe': {
    type: 'boolean',
    group: 'Operations:',
    describe: '/readyz also checks that the target accepts a TCP connection',
  },
  cluster: {
    type: 'boolean',
    group: 'Redis Cluster:',
    describe: 'Cluster-aware mode (both ends): one tunnel pair fronts a whole Redis Cluster',
  },
  'cluster-ports': {
    type: 'string',
    group: 'Redis Cluster:',
    describe:
      '-e: local ports for node listeners, A-B (default: the 64 ports after the -s port; OS-chosen if -s uses port 0)',
  },
  'advertise-host': {
    type: 'string',
    group: 'Redis Cluster:',
    describe:
      '-e: host written into rewritten replies (default: the -s host; 0.0.0.0 → 127.0.0.1, :: → ::1)',
  },
  'cluster-auth': {
    type: 'string',
    group: 'Redis Cluster:',
    describe:
      "-d: file with the cluster's password (1 line) or username and password (2 lines), for -d's own CLUSTER NODES queries",
  },
  'cluster-refresh': {
    type: 'number',
    default: 10,
    group: 'Redis Cluster:',
    describe: '-d: seconds between CLUSTER NODES queries that refresh the member allow-list',
  },
  workers: {
    type: 'number',
    default: 1,
    group: 'Behaviour:',
    describe:
      'Processes sharing the listener, to use several cores for many connections (not with --cluster, --metrics or -k -)',
  },
  'dh-pool': {
    type: 'number',
    default: 4,
    group: 'Behaviour:',
    describe: 'Ephemeral DH key pairs made ahead of time (each used once; 0 = make on demand)',
  },
} as const;

/** Parsed tunnel arguments (before validation into a DaemonConfig). */
export interface TunnelArgs {
  e?: boolean;
  d?: boolean;
  s?: string;
  t?: string;
  k?: string | string[];
  b?: string;
  D?: boolean;
  F?: boolean;
  f?: boolean;
  g?: boolean;
  j?: boolean;
  n: number;
  o: number;
  p?: string;
  r?: number;
  R?: boolean;
  u?: string;
  syslog?: boolean;
  'log-level': string;
  'log-numeric-levels'?: boolean;
  crypto: string;
  'shutdown-timeout': number;
  'dh-pool': number;
  'idle-timeout': number;
  'half-close-timeout': number;
  'max-conn-lifetime': number;
  'keepalive-delay': number;
  metrics?: string;
  'ready-probe'?: boolean;
  cluster?: boolean;
  'cluster-ports'?: string;
  'advertise-host'?: string;
  'cluster-refresh': number;
  'cluster-auth'?: string;
  workers: number;
}

/** The long option names that CLOAKPIPE_* environment variables may set. */
export function envOptionNames(): string[] {
  const names: string[] = ['version'];
  for (const [flag, spec] of Object.entries(TUNNEL_OPTIONS))
    names.push('alias' in spec ? (spec as { alias: string }).alias : flag);
  return names;
}

/**
 * Remove CLOAKPIPE_* variables that name no option from `env` (Kubernetes injects
 * CLOAKPIPE_PORT and friends for a Service called cloakpipe) and return their names, so the
 * caller can warn instead of failing. An empty CLOAKPIPE_METRICS means "off" and is removed too.
 */
export function dropUnknownEnv(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(
    envOptionNames().map((n) => `CLOAKPIPE_${n.toUpperCase().replace(/-/g, '_')}`),
  );
  const dropped: string[] = [];
  for (const k of Object.keys(env)) {
    if (!k.startsWith('CLOAKPIPE_')) continue;
    if (k === 'CLOAKPIPE_METRICS' && env[k] === '') delete env[k];
    else if (!known.has(k)) {
      dropped.push(k);
      delete env[k];
    }
  }
  return dropped;
}

/** A usage error: print it with the usage text on stderr and exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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
  return from >= 1 && from <= to && to <= 65535 ? { from, to } : null;
}

/** Cross-flag rules yargs cannot express alone (spiped main.c's sanity checks). */
export function checkTunnelArgs(a: TunnelArgs): true {
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
  const keys = ([] as string[]).concat(a.k ?? []);
  if (a.e && keys.length > 1)
    throw new UsageError(
      '-e takes exactly one -k key file (several keys are for -d, during rotation)',
    );
  for (const flag of ['s', 't', 'b', 'p', 'u'] as const)
    if (Array.isArray(a[flag])) throw new UsageError(`-${flag} given more than once`);
  nonNegative('-n', a.n, true);
  nonNegative('-o', a.o, false);
  if (a.o === 0) throw new UsageError('-o must be greater than 0');
  nonNegative('-r', a.r ?? 60, true);
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
      `--cluster-ports ${a['cluster-ports']}: expected A-B with 1 ≤ A ≤ B ≤ 65535`,
    );
  nonNegative('--workers', a.workers, true);
  if (a.workers < 1) throw new UsageError('--workers must be at least 1');
  if (a.workers > 1 && (a.cluster || a.metrics !== undefined || keys.includes('-')))
    throw new UsageError(
      '--workers above 1 cannot be combined with --cluster, --metrics or -k - (each worker would keep its own node ports, metrics and stdin)',
    );
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
  return true;
}

/** The yargs parser for `argv` (without node and script), exit and output left to the caller. */
export function buildParser(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('cloakpipe')
    .usage(
      'cloakpipe: a spiped-compatible encrypted tunnel\n\n' +
        'Usage:\n' +
        '  cloakpipe {-e | -d} -s <source> -t <target> -k <key file> [options]\n' +
        '  cloakpipe keygen <file>\n' +
        '  cloakpipe spipe -t <target> -k <key file> [-f | -g] [-o <timeout s>]   (stdio client)\n' +
        '  cloakpipe -v',
    )
    .parserConfiguration({ 'boolean-negation': false, 'strip-aliased': false })
    .env('CLOAKPIPE')
    .options(TUNNEL_OPTIONS)
    .version(false)
    .option('v', { type: 'boolean', alias: 'version', describe: 'Print the version and exit' })
    .help('help')
    .alias('help', 'h')
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue(
      'Environment: every long option may also be set as CLOAKPIPE_<NAME> (e.g. CLOAKPIPE_MAX_CONNS=200);\n' +
        'the command line wins. Exit status: 0 on a clean shutdown, 1 on a usage or start-up error or when\n' +
        '--shutdown-timeout cut connections. See cloakpipe(1) and the README.',
    );
}
