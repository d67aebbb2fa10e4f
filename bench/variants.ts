/**
 * The cloakpipe variants compared against spiped, one column each. Adding a variant is one line
 * in VARIANTS; a variant whose flag the built CLI does not know yet (its `--help` does not
 * mention it) is shown as "n/a (not built)" instead of being run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A column name: one of report.ts's COLUMNS, or one a table declares in Table.columns. */
export type Column = string;

/** The ratio column of a table: median of `num` / median of `den`, headed `label`. */
export interface RatioSpec {
  readonly num: Column;
  readonly den: Column;
  readonly label: string;
}

const CLOAKPIPE_BIN = fileURLToPath(new URL('../../bin/cloakpipe.js', import.meta.url));

/** One cloakpipe column: extra arguments for both ends, and the flag they need. */
export interface Variant {
  readonly column: Column;
  readonly args: readonly string[];
  /** A flag the built CLI must list in its --help for this variant to run. */
  readonly needs?: string;
}

/** Every cloakpipe variant, in column order. */
export const VARIANTS: readonly Variant[] = [
  { column: 'cloakpipe', args: [] },
  { column: 'cloakpipe compact', args: ['--framing', 'compact'], needs: '--framing' },
];

/** What a variant that cannot run shows in its cells. */
export const NOT_BUILT = 'n/a (not built)';

let helpText: string | undefined;

/** Whether the built CLI's --help mentions `flag` (as a whole word). */
function cliAccepts(flag: string): boolean {
  if (helpText === undefined) {
    const r = spawnSync(process.execPath, [CLOAKPIPE_BIN, '--help'], { encoding: 'utf8' });
    helpText = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  }
  return new RegExp(`(^|\\s)${flag}(\\s|=|,|$)`, 'm').test(helpText);
}

/** The variants the built CLI can run, and for the others the text their cells show. */
export function variants(): { run: Variant[]; unavailable: Record<Column, string> } {
  const run: Variant[] = [];
  const unavailable: Record<Column, string> = {};
  for (const v of VARIANTS)
    if (v.needs === undefined || cliAccepts(v.needs)) run.push(v);
    else unavailable[v.column] = NOT_BUILT;
  return { run, unavailable };
}

/** A ratio column to spiped for every variant after the first (which is the table's own ratio). */
export function variantRatios(): RatioSpec[] {
  return VARIANTS.slice(1).map((v) => ({
    num: v.column,
    den: 'spiped',
    label: `${v.column}/spiped`,
  }));
}
