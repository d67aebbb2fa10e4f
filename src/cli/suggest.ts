/** "Did you mean …?" for a mistyped long option. */
import { TUNNEL_OPTIONS } from './args.js';

/** Long names buildParser knows besides the option table. */
const BUILT_IN = ['help', 'version'];

/** Every long option name: the table's long keys and the aliases of its one-letter flags. */
function longNames(): string[] {
  const names = [...BUILT_IN];
  for (const [flag, spec] of Object.entries(TUNNEL_OPTIONS))
    names.push('alias' in spec ? spec.alias : flag);
  return names;
}

/**
 * Edit distance between `a` and `b`: inserts, deletes, substitutions and swaps of two adjacent
 * characters cost 1 each (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The known long option nearest to `name` (without dashes), or null when none is close: within
 * a third of the name's length in edits (at least 1), or one that `name` is a prefix of.
 */
export function nearestOption(name: string): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const known of longNames()) {
    const d = known.startsWith(name) ? known.length - name.length : editDistance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  const close =
    best !== null &&
    (best.startsWith(name) || bestDistance <= Math.max(1, Math.floor(name.length / 3)));
  return close ? best : null;
}

/**
 * Replace yargs' "Unknown argument(s)" message for `argv` by one naming the first unknown long
 * option and, when one is close, the known option meant:
 * `unknown option --max-con (did you mean --max-conns?)`. Other messages, and unknown arguments
 * that are not long options, come back unchanged.
 */
export function withSuggestion(message: string, argv: readonly string[]): string {
  if (!/^Unknown arguments?:/.test(message)) return message;
  const known = new Set(longNames());
  for (const token of argv) {
    if (token === '--') break;
    const m = /^--([^=]+)/.exec(token);
    if (m === null || known.has(m[1]!)) continue;
    const near = nearestOption(m[1]!);
    return `unknown option --${m[1]}` + (near === null ? '' : ` (did you mean --${near}?)`);
  }
  return message;
}
