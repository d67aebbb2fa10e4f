/**
 * CLOAKPIPE_* environment variables: a second source of options, below the command line. Only
 * names that start with `CLOAKPIPE_` are read (a variable called `CLOAKPIPE` or `CLOAKPIPEX` is
 * none of ours); one that names no option is ignored with a warning, because Kubernetes injects
 * CLOAKPIPE_PORT and friends for a Service called cloakpipe.
 */
import { TUNNEL_OPTIONS } from './args.js';
import { UsageError } from './errors.js';

/** The prefix every variable we read starts with. */
export const ENV_PREFIX = 'CLOAKPIPE_';

/** CLOAKPIPE_<NAME> for a long option name: upper case, `-` → `_`. */
export function envName(long: string): string {
  return `${ENV_PREFIX}${long.toUpperCase().replace(/-/g, '_')}`;
}

/** The options the environment may set, by variable name → long option name and type. */
function envOptions(): Map<string, { long: string; type: 'boolean' | 'number' | 'string' }> {
  const byVar = new Map<string, { long: string; type: 'boolean' | 'number' | 'string' }>();
  for (const [flag, spec] of Object.entries(TUNNEL_OPTIONS)) {
    const long = 'alias' in spec ? spec.alias : flag;
    byVar.set(envName(long), { long, type: spec.type });
  }
  return byVar;
}

const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['0', 'false', 'no', 'off'];

/** A boolean variable's value: 1/0, true/false, yes/no, on/off in any case. Throws UsageError. */
export function envBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(v)) return true;
  if (FALSE_WORDS.includes(v)) return false;
  throw new UsageError(`${name}=${value}: expected 1/0, true/false, yes/no or on/off`);
}

/** A number variable's value (decimal, as on the command line). Throws UsageError. */
export function envNumber(name: string, value: string): number {
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${name}=${value}: not a number`);
  return n;
}

/** What the environment sets, and the CLOAKPIPE_* names it ignored. */
export interface EnvOptions {
  /** Option values by long name, typed, for yargs' `.config()` (the command line wins). */
  readonly values: Readonly<Record<string, string | number | boolean>>;
  /** CLOAKPIPE_* variables that name no option (warn about each). */
  readonly ignored: readonly string[];
}

/**
 * Read the CLOAKPIPE_* variables of `env` (not modified), typed by their option: booleans take
 * envBoolean's words, numbers must be numbers. An empty CLOAKPIPE_METRICS means "off" and is
 * skipped. Throws UsageError naming the variable and its value when a value does not fit.
 */
export function readEnv(env: NodeJS.ProcessEnv): EnvOptions {
  const known = envOptions();
  const values: Record<string, string | number | boolean> = {};
  const ignored: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const option = known.get(name);
    if (option === undefined) ignored.push(name);
    else if (option.long === 'metrics' && value === '') continue;
    else if (option.type === 'boolean') values[option.long] = envBoolean(name, value);
    else if (option.type === 'number') values[option.long] = envNumber(name, value);
    else values[option.long] = value;
  }
  return { values, ignored };
}
