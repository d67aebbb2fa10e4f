/**
 * Entry point: parse → check → build → run (spiped's main.c: getopt, sanity checks, then hand
 * off). Exit codes: 0 clean shutdown; 1 usage or start-up error or connections cut at shutdown.
 * Every start-up error is one line on stderr, `cloakpipe: <error>`; a usage error adds the
 * synopsis and a pointer to --help. Errors are thrown below and turned into output and an
 * exit code in exactly one place, exitCode().
 */
import { availableParallelism } from 'node:os';
import { KeyFileError } from '../crypto/keyfile.js';
import { startupErrorLine } from '../daemon/journal.js';
import {
  badNumberFlag,
  buildParser,
  KEYGEN_SYNOPSIS,
  TUNNEL_SYNOPSIS,
  type TunnelArgs,
  VERSION,
} from './args.js';
import { launch, reportStartError, supervisor } from './background.js';
import { buildConfig, type Config } from './config.js';
import { readEnv } from './env.js';
import { StartError, UsageError } from './errors.js';
import { keygen } from './keygen.js';
import { run } from './run.js';
import { withSuggestion } from './suggest.js';
import { SPIPE_SYNOPSIS, spipe } from './spipe.js';

/** The synopsis and the help command a usage error points to, by command. */
const USAGE = {
  tunnel: { synopsis: TUNNEL_SYNOPSIS, help: 'cloakpipe --help' },
  keygen: { synopsis: KEYGEN_SYNOPSIS, help: 'cloakpipe keygen --help' },
  spipe: { synopsis: SPIPE_SYNOPSIS, help: 'cloakpipe spipe --help' },
} as const;

/** What the command line asked for: a tunnel, or --help / -v (already answered). */
type Parsed = { readonly args: TunnelArgs } | { readonly exit: number };

/** Parse `argv` with yargs (CLOAKPIPE_* as a second source). Throws UsageError. */
async function parse(argv: string[]): Promise<Parsed> {
  const env = readEnv(process.env);
  for (const name of env.ignored)
    process.stderr.write(`cloakpipe: ignoring environment variable ${name}: it names no option\n`);
  let failed: string | null = null;
  const parser = buildParser(argv, env.values)
    .exitProcess(false)
    .fail((msg: string | null, err: Error | null) => {
      failed = msg ?? err?.message ?? 'invalid arguments';
    });
  let a: TunnelArgs & { v?: boolean; help?: boolean };
  try {
    a = (await parser.parseAsync()) as unknown as TunnelArgs & { v?: boolean; help?: boolean };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // yargs writes some messages over several lines; an error here is one line.
  if (failed !== null)
    throw new UsageError(withSuggestion((failed as string).replace(/\s*\n\s*/g, ' '), argv));
  const badNumber = badNumberFlag(argv, a);
  if (badNumber !== null) throw new UsageError(badNumber);
  if (a.help) return { exit: 0 };
  if (a.v) {
    process.stdout.write(`cloakpipe ${VERSION}\n`);
    return { exit: 0 };
  }
  // systemd socket activation: with no -s, take the first inherited socket (fd 3).
  if (a.s === undefined && process.env.LISTEN_FDS && Number(process.env.LISTEN_PID) === process.pid)
    return { args: { ...a, s: 'fd:3' } };
  return { args: a };
}

/** Turn an error thrown below main() into its output and exit code; rethrow anything else. */
function exitCode(err: unknown): number {
  if (err instanceof UsageError) {
    const { synopsis, help } = USAGE[err.command];
    process.stderr.write(
      `${startupErrorLine(err.message)}usage: ${synopsis}\nTry '${help}' for more.\n`,
    );
    return 1;
  }
  if (err instanceof StartError || err instanceof KeyFileError) {
    process.stderr.write(startupErrorLine(err.message));
    // In the background process, stderr is the log: the launcher prints the error too.
    reportStartError(`cloakpipe: ${err.message}`);
    return 1;
  }
  throw err;
}

/**
 * Without -F and with no supervisor, start the checked command line in the background and
 * return once it listens (a secret on standard input is read here and handed over); otherwise
 * run it here.
 */
async function runOrLaunch(argv: string[], a: TunnelArgs, c: Config): Promise<number> {
  const logFile = a['log-file'] ?? null;
  const why = supervisor();
  if (a.F || why !== null) {
    if (logFile !== null && why !== 'launcher')
      process.stderr.write(
        `cloakpipe: ignoring --log-file ${logFile}: it applies only in the background (logs go to stdout)\n`,
      );
    return run(c);
  }
  return launch(argv, logFile, c.keyFiles.includes('-') || a['cluster-auth'] === '-');
}

/** Run the program with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'keygen') return keygen(argv.slice(1));
    if (argv[0] === 'spipe') return await spipe(argv.slice(1));
    const parsed = await parse(argv);
    if ('exit' in parsed) return parsed.exit;
    return await runOrLaunch(argv, parsed.args, buildConfig(parsed.args, availableParallelism()));
  } catch (err) {
    return exitCode(err);
  }
}
