/**
 * Command line of the benchmark: presets (full, --quick, --smoke) and the options that override
 * them. Everything is checked here, before any process starts.
 */
import { parseArgs } from 'node:util';

/** The parts, in the order they run. */
export const PARTS = [
  'bulk',
  'handshakes',
  'redis',
  'memory',
  'cluster',
  'workers',
  'engine',
] as const;
export type Part = (typeof PARTS)[number];

/** One MiB. */
export const MiB = 1024 * 1024;

/** Everything a run needs to know. */
export interface Settings {
  readonly preset: 'full' | 'quick' | 'smoke';
  readonly parts: readonly Part[];
  readonly rounds: number;
  /** Run a short unmeasured warm-up through each pair first (not in --smoke). */
  readonly warmup: boolean;
  /** bulk: stream size through node-engine pairs and direct TCP. */
  readonly sizeMiB: number;
  /** bulk: stream size through cloakpipe --crypto noble. */
  readonly nobleMiB: number;
  /** handshakes: connections run one after another, and in total by PARALLEL workers. */
  readonly sequential: number;
  readonly parallel: number;
  /** redis and cluster: redis-benchmark -n. */
  readonly redisRequests: number;
  /** memory: idle connections held open through each pair. */
  readonly idleConns: number;
  /** memory: size of the slow transfer and the reader's rate (MiB/s). */
  readonly slowMiB: number;
  readonly slowRateMiB: number;
  /** Extra arguments for both cloakpipe ends. */
  readonly cloakpipeArgs: readonly string[];
}

/** Concurrent workers in the parallel handshake run, and redis-benchmark clients. */
export const PARALLEL_WORKERS = 16;
export const REDIS_CLIENTS = 50;
/** redis-benchmark -P values. */
export const REDIS_PIPELINES = [1, 16] as const;

/** Explains the "overflows" rows of the handshake and Redis tables. */
export const OVERFLOW_NOTE =
  "overflows: rise of the kernel's system-wide ListenOverflows counter during the run (connections " +
  'that found an accept queue full and waited for a SYN-ACK retransmission, about 1 s). spiped ' +
  'listens with a backlog of 10, so a burst of more than 10 connects can overflow it.';

type Preset = Omit<Settings, 'parts' | 'cloakpipeArgs'>;

const PRESETS: Record<Settings['preset'], Preset> = {
  full: {
    preset: 'full',
    rounds: 3,
    warmup: true,
    sizeMiB: 512,
    nobleMiB: 64,
    sequential: 500,
    parallel: 2000,
    redisRequests: 200_000,
    idleConns: 1000,
    slowMiB: 1024,
    slowRateMiB: 16,
  },
  quick: {
    preset: 'quick',
    rounds: 1,
    warmup: true,
    sizeMiB: 64,
    nobleMiB: 8,
    sequential: 100,
    parallel: 400,
    redisRequests: 20_000,
    idleConns: 1000,
    slowMiB: 64,
    slowRateMiB: 16,
  },
  smoke: {
    preset: 'smoke',
    rounds: 1,
    warmup: false,
    sizeMiB: 4,
    nobleMiB: 1,
    sequential: 8,
    parallel: 16,
    redisRequests: 2000,
    idleConns: 20,
    slowMiB: 4,
    slowRateMiB: 16,
  },
};

export const USAGE = `Usage: node dist/bench/bench.js [options]   (or: npm run bench -- [options])

Compares spiped, cloakpipe, a tuned Node relay and direct TCP on loopback, interleaved
round by round; ends with a summary of the targets. How long each preset takes: bench/README.md.

  --quick               small sizes, 1 round
  --smoke               a few MiB and a handful of connections, 1 round; checks the harness only
  --only LIST           comma-separated parts: ${PARTS.join(',')} (default: all)
  --rounds N            rounds per measurement (default 3; 1 with --quick/--smoke)
  --size-mib N          bulk stream size (default 512); cloakpipe --crypto noble gets N/8
  --slow-mib N          memory: size of the backpressured transfer (default 1024)
  --slow-rate-mib N     memory: the slow reader's rate in MiB/s (default 16)
  --cloakpipe-args STR  extra arguments for both cloakpipe ends, e.g. "--log-level warn"
  -h, --help            this text
`;

/** Thrown for a bad command line; the caller prints it with USAGE and exits 1. */
export class UsageError extends Error {}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name}: expected a positive integer, got "${v}"`);
  return n;
}

/**
 * Parse `argv` into Settings, or null for --help. Throws UsageError on an unknown option, a bad
 * number, an unknown part, or --quick with --smoke.
 */
export function parseSettings(argv: string[]): Settings | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        smoke: { type: 'boolean' },
        only: { type: 'string' },
        rounds: { type: 'string' },
        'size-mib': { type: 'string' },
        'slow-mib': { type: 'string' },
        'slow-rate-mib': { type: 'string' },
        'cloakpipe-args': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  if (values.quick && values.smoke) throw new UsageError('--quick and --smoke exclude each other');
  const base = PRESETS[values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'];
  const only =
    typeof values.only === 'string' ? values.only.split(',').filter(Boolean) : [...PARTS];
  for (const p of only)
    if (!(PARTS as readonly string[]).includes(p))
      throw new UsageError(`--only: unknown part "${p}" (expected ${PARTS.join(', ')})`);
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const sizeMiB = positiveInt('size-mib', str('size-mib'));
  return {
    ...base,
    parts: PARTS.filter((p) => only.includes(p)),
    rounds: positiveInt('rounds', str('rounds')) ?? base.rounds,
    sizeMiB: sizeMiB ?? base.sizeMiB,
    nobleMiB: sizeMiB ? Math.max(1, Math.round(sizeMiB / 8)) : base.nobleMiB,
    slowMiB: positiveInt('slow-mib', str('slow-mib')) ?? base.slowMiB,
    slowRateMiB: positiveInt('slow-rate-mib', str('slow-rate-mib')) ?? base.slowRateMiB,
    cloakpipeArgs: (str('cloakpipe-args') ?? '').split(/\s+/).filter(Boolean),
  };
}

/** The note under every table with a node-relay column. */
export const RELAY_NOTE =
  'node-relay: two tuned Node.js TCP relays chained like a pair (bench/relay.ts: allowHalfOpen, ' +
  'noDelay in the options, the dialled leg read with onread into one static buffer, handlers ' +
  'shared by all connections; no handshake, no crypto). It is the floor under any tunnel written ' +
  'in Node on this machine: what Node networking alone costs, next to spiped.';
