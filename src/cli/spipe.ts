/**
 * `cloakpipe spipe`: the stdio client (spiped's spipe). Joins standard input and output to a
 * `-d` end, so it works as an SSH ProxyCommand:
 *     ssh -o ProxyCommand='cloakpipe spipe -t %h:8022 -k ~/.ssh/spiped.key' host
 * EOF on stdin becomes a half-close. Logs go to stderr (stdout carries the data).
 * Exit status: 0 when the session ended cleanly, 1 on a usage, key, connect or handshake error.
 */
import { Duplex } from 'node:stream';
import yargs from 'yargs';
import { checkBucket } from '../crypto/compact.js';
import { getEngine } from '../crypto/engines.js';
import { type Framing, FRAMINGS } from '../crypto/kdf.js';
import { COMPACT_DEFAULT_BUCKET } from '../crypto/sizes.js';
import { loadKeyFile } from '../crypto/keyfile.js';
import { zeroize } from '../crypto/bytes.js';
import { generateEphemeralKey } from '../crypto/dh.js';
import { createLogger, type LogLevel, LOG_LEVELS } from '../daemon/observe.js';
import {
  type Address,
  AddressError,
  type BindAddress,
  parseAddress,
  parseBindAddress,
} from '../pipe/address.js';
import { Tunnel } from '../pipe/connection.js';
import { dial } from '../pipe/dial.js';
import { nilMetrics } from '../pipe/metrics.js';
import { resolveAddress } from '../pipe/resolver.js';
import { StartError, UsageError } from './errors.js';

interface SpipeArgs {
  t?: string;
  k?: string;
  f?: boolean;
  g?: boolean;
  j?: boolean;
  o: number;
  b?: string;
  'insecure-empty-key'?: boolean;
  'log-level': string;
  framing: string;
  'frame-bucket'?: number;
}

/** The spipe synopsis (its usage errors and --help). */
export const SPIPE_SYNOPSIS =
  'cloakpipe spipe -t <target> -k <key file> [-f | -g] [-j] [-o <timeout s>] [-b <bind addr>] [--framing compact]';

function usage(message: string): UsageError {
  return new UsageError(message, 'spipe');
}

/**
 * Run the stdio client with `argv` (after the word `spipe`); resolves with the exit code (0 when
 * the session ended cleanly, 1 when it did not). Throws UsageError, StartError (the target does
 * not resolve) or KeyFileError before connecting.
 */
export async function spipe(argv: string[]): Promise<number> {
  let failed: string | null = null;
  const parser = yargs(argv)
    .scriptName('cloakpipe spipe')
    .usage(
      `${SPIPE_SYNOPSIS}\n\nConnect standard input and output to a cloakpipe/spiped -d end (like spiped's spipe).`,
    )
    .parserConfiguration({ 'boolean-negation': false })
    .options({
      t: {
        alias: 'target',
        type: 'string',
        describe: 'Address of the -d end: host:port, [IP]:port or /unix/path',
      },
      k: {
        alias: 'key',
        type: 'string',
        describe: 'Key file (- for stdin is not possible here: stdin carries data)',
      },
      f: { alias: 'fast', type: 'boolean', describe: 'No forward secrecy (y = 1)' },
      g: { alias: 'require-pfs', type: 'boolean', describe: 'Refuse a -d end that runs -f' },
      j: { alias: 'no-keepalive', type: 'boolean', describe: 'Disable SO_KEEPALIVE' },
      o: {
        alias: 'timeout',
        type: 'number',
        default: 5,
        describe: 'Seconds for connect + handshake',
      },
      b: { alias: 'bind', type: 'string', describe: 'Local address for the outgoing connection' },
      'insecure-empty-key': {
        type: 'boolean',
        describe: 'Accept an empty key file (anyone can compute its key). For tests only',
      },
      framing: {
        type: 'string',
        choices: FRAMINGS,
        default: 'spiped',
        describe: 'Data framing, as the -d end runs it: spiped or compact (cloakpipe only)',
      },
      'frame-bucket': {
        type: 'number',
        describe: `--framing compact: pad frames to a multiple of this many bytes (default ${COMPACT_DEFAULT_BUCKET})`,
      },
      'log-level': {
        type: 'string',
        choices: LOG_LEVELS,
        default: 'warn',
        describe: 'Log level (logs go to stderr)',
      },
    })
    .version(false)
    .help('help')
    .strict()
    .exitProcess(false)
    .fail((msg: string | null, err: Error | null) => {
      failed = msg ?? err?.message ?? 'invalid arguments';
    });
  const a = (await parser.parseAsync()) as unknown as SpipeArgs & { help?: boolean };
  if (failed !== null) throw usage((failed as string).replace(/\s*\n\s*/g, ' '));
  if (a.help) return 0;
  if (!a.t) throw usage('missing -t <target>');
  if (!a.k) throw usage('missing -k <key file>');
  if (a.k === '-') throw usage('-k - is not possible: standard input carries the data');
  if (a.f && a.g) throw usage('-f and -g are mutually exclusive');
  const framing = a.framing as Framing;
  if (a['frame-bucket'] !== undefined && framing !== 'compact')
    throw usage('--frame-bucket needs --framing compact');
  let bucket = COMPACT_DEFAULT_BUCKET;
  try {
    if (a['frame-bucket'] !== undefined) bucket = checkBucket(a['frame-bucket']);
  } catch (err) {
    throw usage(`--frame-bucket: ${(err as Error).message}`);
  }
  let bind: BindAddress | null;
  let target: Address;
  try {
    bind = a.b === undefined ? null : parseBindAddress(a.b);
    target = parseAddress(a.t);
  } catch (err) {
    if (err instanceof AddressError) throw usage(err.message);
    throw err;
  }
  const endpoints = await resolveAddress(target).catch((err: Error) => {
    throw new StartError(`cannot resolve ${a.t}: ${err.message}`);
  });
  const log = createLogger(a['log-level'] as LogLevel, 2);
  const loaded = loadKeyFile(a.k, { allowEmpty: a['insecure-empty-key'] === true });
  for (const w of loaded.warnings) log.warn({ keyFile: a.k }, `WARNING: ${w}`);
  const key = loaded.key;
  const stdio = Duplex.from({ readable: process.stdin, writable: process.stdout });
  const tunnel = new Tunnel(
    stdio,
    1,
    'stdio',
    {
      mode: 'encrypt',
      noPfs: a.f === true,
      requirePfs: a.g === true,
      timeoutMs: a.o * 1000,
      framing,
      bucket,
    },
    {
      engine: getEngine('node'),
      keys: () => [key],
      ephemeral: generateEphemeralKey,
      dial: (signal) =>
        dial(
          endpoints,
          {
            keepAlive: !a.j,
            localAddress: bind?.address,
            localPort: bind?.port,
            timeoutMs: a.o * 1000,
          },
          signal,
        ),
      metrics: nilMetrics,
      log: log.child({ mode: 'spipe' }),
    },
  );
  tunnel.start();
  await tunnel.done;
  zeroize(key);
  return tunnel.error === null && tunnel.established ? 0 : 1;
}
