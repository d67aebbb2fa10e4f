/**
 * The command line, as one yargs spec: spiped's flags (same letters, meanings and defaults) plus
 * long aliases, cloakpipe's own options, and CLOAKPIPE_* environment variables as a second
 * source. `--help` and the man page are generated from this spec.
 */
import yargs, { type Argv, type InferredOptionTypes } from 'yargs';
import { Parser } from 'yargs/helpers';
import { ENGINE_NAMES } from '../crypto/engine.js';
import { FRAMINGS } from '../crypto/kdf.js';
import { COMPACT_DEFAULT_BUCKET, COMPACT_MAX_BUCKET, COMPACT_MIN_BUCKET } from '../crypto/sizes.js';
import { LOG_LEVELS } from '../daemon/observe.js';

/** The program's version (kept equal to package.json by a test). */
export const VERSION = '0.1.0';

/** --workers-schedule: node:cluster's round-robin through the primary, or the kernel's. */
export const WORKER_SCHEDULES = ['rr', 'kernel'] as const;
export type WorkerSchedule = (typeof WORKER_SCHEDULES)[number];

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
  'insecure-empty-key': {
    type: 'boolean',
    group: 'Keys:',
    describe:
      'Accept an empty key file (K = SHA-256 of nothing, which anyone can compute). For tests only',
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
    describe:
      'Stay in the foreground. Without it, cloakpipe returns once the tunnel listens and runs on in the background (not under systemd, as PID 1, with LISTEN_FDS)',
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
    describe:
      'Most simultaneous connections for the end (0 = no limit); further ones wait, with a warning. ' +
      'With --workers N each worker takes ceil(n/N)',
  },
  o: {
    alias: 'timeout',
    type: 'number',
    default: 5,
    group: 'Limits:',
    describe:
      'Seconds allowed for connect + handshake. When -t resolves to several addresses, a silent ' +
      'one (no answer) costs only its share: what is left of -o divided among the addresses not ' +
      'yet tried; a refusing one costs nothing',
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
    describe:
      'After listening, switch to user[:group] or :group, by name or numeric id (needs root). With --workers the primary switches ' +
      'once every worker listens. Listeners opened later (--cluster node listeners on -e) open as ' +
      'that user, so a --cluster-ports range below 1024 fails',
  },
  syslog: {
    type: 'boolean',
    group: 'Behaviour:',
    describe: 'Not supported: logs go to stdout as JSON lines (journald collects them)',
  },
  'log-file': {
    type: 'string',
    group: 'Behaviour:',
    describe: 'In the background (no -F), append logs to this file; without it they are discarded',
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
  framing: {
    type: 'string',
    choices: FRAMINGS,
    default: 'spiped',
    group: 'Behaviour:',
    describe:
      'Data framing, the same on both ends: spiped (1060-byte packets, works with spiped) or compact (cloakpipe only; reveals message lengths to --frame-bucket)',
  },
  'frame-bucket': {
    type: 'number',
    defaultDescription: String(COMPACT_DEFAULT_BUCKET),
    group: 'Behaviour:',
    describe: `--framing compact: pad each frame's data to a multiple of this many bytes (${COMPACT_MIN_BUCKET}..${COMPACT_MAX_BUCKET})`,
  },
  'shutdown-timeout': {
    type: 'number',
    default: 300,
    group: 'Limits:',
    describe:
      'On SIGTERM/SIGINT, seconds to wait for live connections before cutting them and exiting 1 (0 = wait forever)',
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
    type: 'string',
    default: '1',
    group: 'Behaviour:',
    describe:
      'Processes sharing the listener, to use several cores for many connections; auto = the cores available',
  },
  'workers-schedule': {
    type: 'string',
    choices: WORKER_SCHEDULES,
    group: 'Behaviour:',
    defaultDescription: 'rr, or NODE_CLUSTER_SCHED_POLICY',
    describe:
      'How --workers share new connections: rr = the primary accepts and deals them out in turn (even spread), kernel = each worker accepts (no hop; uneven spread)',
  },
  'dh-pool': {
    type: 'number',
    default: 4,
    group: 'Behaviour:',
    describe: 'Ephemeral DH key pairs made ahead of time (each used once; 0 = make on demand)',
  },
} as const;

/**
 * Parsed tunnel arguments, as yargs infers them from TUNNEL_OPTIONS (before buildConfig checks
 * them). Only -k is widened: it may be repeated on -d.
 */
export type TunnelArgs = Omit<InferredOptionTypes<typeof TUNNEL_OPTIONS>, 'k'> & {
  k?: string | string[];
};

/** The tunnel command's one-line synopsis (--help, and the usage line after an error). */
export const TUNNEL_SYNOPSIS =
  'cloakpipe {-e | -d} -s <source> -t <target> -k <key file> [options]';

/** keygen's one-line synopsis. */
export const KEYGEN_SYNOPSIS = 'cloakpipe keygen <file>';

/** PARSER_CONFIG: how buildParser reads the command line (shared with badNumberFlag). */
const PARSER_CONFIG = { 'boolean-negation': false, 'strip-aliased': false } as const;

/**
 * The first number option given on the command line as something that is not a number, as
 * `-n abc: not a number` (yargs itself only reports NaN), or null. `a` is the parsed result.
 */
export function badNumberFlag(argv: string[], a: Readonly<Record<string, unknown>>): string | null {
  const entries = Object.entries(TUNNEL_OPTIONS);
  const bad = entries.filter(([k, spec]) => spec.type === 'number' && Number.isNaN(a[k]));
  if (bad.length === 0) return null;
  const raw = Parser(argv, {
    string: bad.map(([k]) => k),
    boolean: entries.filter(([, spec]) => spec.type === 'boolean').map(([k]) => k),
    alias: Object.fromEntries(
      entries.flatMap(([k, spec]) => ('alias' in spec ? [[k, spec.alias]] : [])),
    ),
    configuration: PARSER_CONFIG,
  });
  const [key] = bad[0]!;
  const given: unknown = raw[key];
  const text: unknown = Array.isArray(given) ? given.at(-1) : given;
  return `${key.length === 1 ? '-' : '--'}${key} ${String(text)}: not a number`;
}

/**
 * The yargs parser for `argv` (without node and script), with `env` (option values by long name,
 * from readEnv) below the command line; exit and output are left to the caller.
 */
export function buildParser(argv: string[], env: Readonly<Record<string, unknown>> = {}): Argv {
  return yargs(argv)
    .scriptName('cloakpipe')
    .usage(
      'cloakpipe: a spiped-compatible encrypted tunnel\n\n' +
        'Usage:\n' +
        `  ${TUNNEL_SYNOPSIS}\n` +
        `  ${KEYGEN_SYNOPSIS}\n` +
        '  cloakpipe spipe -t <target> -k <key file> [-f | -g] [-o <timeout s>]   (stdio client)\n' +
        '  cloakpipe -v',
    )
    .parserConfiguration(PARSER_CONFIG)
    .config(env)
    .options(TUNNEL_OPTIONS)
    .version(false)
    .option('v', { type: 'boolean', alias: 'version', describe: 'Print the version and exit' })
    .help('help')
    .alias('help', 'h')
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue(
      'Environment: every long option may also be set as CLOAKPIPE_<NAME> (e.g. CLOAKPIPE_MAX_CONNS=200;\n' +
        'booleans take 1/0, true/false, yes/no or on/off); the command line wins. Exit status: 0 on a clean shutdown, 1 on a usage or start-up error or when\n' +
        '--shutdown-timeout cut connections. See cloakpipe(1) and the README.',
    );
}
