/**
 * CLOAKPIPE_* environment variables: a second source of options, below the command line. Only
 * names that start with `CLOAKPIPE_` are read (a variable called `CLOAKPIPE` or `CLOAKPIPEX` is
 * none of ours); one that names no option is ignored with a warning, because Kubernetes injects
 * CLOAKPIPE_PORT and friends for a Service called cloakpipe.
 */
import { TUNNEL_OPTIONS } from './args.js';

/** The prefix every variable we read starts with. */
export const ENV_PREFIX = 'CLOAKPIPE_';

/** CLOAKPIPE_<NAME> for a long option name: upper case, `-` → `_`. */
export function envName(long: string): string {
  return `${ENV_PREFIX}${long.toUpperCase().replace(/-/g, '_')}`;
}

/** The options the environment may set, by variable name → long option name. */
function envOptions(): Map<string, string> {
  const byVar = new Map<string, string>();
  for (const [flag, spec] of Object.entries(TUNNEL_OPTIONS)) {
    const long = 'alias' in spec ? spec.alias : flag;
    byVar.set(envName(long), long);
  }
  return byVar;
}

/** What the environment sets, and the CLOAKPIPE_* names it ignored. */
export interface EnvOptions {
  /** Option values by long name, for yargs' `.config()` (the command line wins). */
  readonly values: Readonly<Record<string, string>>;
  /** CLOAKPIPE_* variables that name no option (warn about each). */
  readonly ignored: readonly string[];
}

/**
 * Read the CLOAKPIPE_* variables of `env` (not modified). An empty CLOAKPIPE_METRICS means "off"
 * and is skipped. Never throws.
 */
export function readEnv(env: NodeJS.ProcessEnv): EnvOptions {
  const known = envOptions();
  const values: Record<string, string> = {};
  const ignored: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const long = known.get(name);
    if (long === undefined) ignored.push(name);
    else if (!(long === 'metrics' && value === '')) values[long] = value;
  }
  return { values, ignored };
}
