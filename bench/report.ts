/**
 * Results: one table per part, each row a measurement with its per-round values for direct TCP,
 * spiped and cloakpipe; rendered as markdown (median, and min–max over the rounds) with the
 * cloakpipe/spiped ratio of medians in its own column, and written as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Summary, summarize } from './stats.js';
import { type Column, type RatioSpec, VARIANTS } from './variants.js';

/** The columns a row can fill, unless its table names its own (Table.columns): one per variant. */
export const COLUMNS: readonly Column[] = [
  'direct',
  'node-relay',
  'spiped',
  ...VARIANTS.map((v) => v.column),
];
export type { Column, RatioSpec } from './variants.js';

/** The default ratio column: cloakpipe/spiped. */
export const DEFAULT_RATIO: RatioSpec = {
  num: 'cloakpipe',
  den: 'spiped',
  label: 'cloakpipe/spiped',
};

/** One measured quantity. */
export interface Row {
  /** What was measured, e.g. "sequential, no -f". */
  readonly label: string;
  /** Unit of the values, e.g. "MB/s", "ms". */
  readonly unit: string;
  /** Whether a larger value is better (throughput) or worse (latency, memory). */
  readonly better: 'higher' | 'lower';
  /** Per-round values of each column that was measured. */
  readonly values: Partial<Record<Column, number[]>>;
  /** No ratio for this row (besides count rows, which never have one). */
  readonly noRatio?: true;
  /** A diagnostic count (failures, overflows): printed as integers, no ratio. */
  readonly count?: true;
  /** Columns that could not run for this row only, with what their cells show instead. */
  readonly unavailable?: Readonly<Record<Column, string>>;
}

/** One part's results. */
export interface Table {
  readonly part: string;
  readonly title: string;
  readonly rows: Row[];
  /** Lines printed under the table (settings, caveats). */
  readonly notes: string[];
  /** Columns in order (default COLUMNS). */
  readonly columns?: readonly Column[];
  /** The ratio column (default cloakpipe/spiped). */
  readonly ratio?: RatioSpec;
  /** Further ratio columns after it (e.g. one per other cloakpipe variant). */
  readonly moreRatios?: readonly RatioSpec[];
  /** Columns that could not run, with what their cells show instead (e.g. "n/a (not built)"). */
  readonly unavailable?: Readonly<Record<Column, string>>;
}

/** A row as written to JSON: its summaries and the ratio. */
interface RowJson {
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  summaries: Partial<Record<Column, Summary>>;
  ratio: number | null;
  /** The table's moreRatios, by label. */
  moreRatios?: Record<string, number | null>;
  /** Columns that could not run for this row. */
  unavailable?: Readonly<Record<Column, string>>;
}

/** Append `v` to `values[column]`, creating the list if needed. */
export function addValue(values: Row['values'], column: Column, v: number): void {
  const list = values[column] ?? [];
  list.push(v);
  values[column] = list;
}

/**
 * `spec.num` median / `spec.den` median (default cloakpipe / spiped), or null for a count or
 * noRatio row or when either is missing or the denominator's is 0.
 */
export function ratio(row: Row, spec: RatioSpec = DEFAULT_RATIO): number | null {
  if (row.count || row.noRatio) return null;
  const c = row.values[spec.num];
  const s = row.values[spec.den];
  if (!c?.length || !s?.length) return null;
  const sm = summarize(s).median;
  return sm === 0 ? null : summarize(c).median / sm;
}

/** A number with precision suited to its size. */
export function fmt(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function cell(values: number[] | undefined): string {
  if (!values?.length) return '—';
  const s = summarize(values);
  return values.length === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

/** `table` as a markdown section: heading, table, notes. */
export function markdown(table: Table): string {
  const spec = table.ratio ?? DEFAULT_RATIO;
  const cols = (table.columns ?? COLUMNS).filter(
    (c) =>
      table.unavailable?.[c] !== undefined ||
      table.rows.some((r) => r.values[c]?.length || r.unavailable?.[c] !== undefined),
  );
  const specs = [spec, ...(table.moreRatios ?? [])];
  const head = ['measurement', 'unit', ...cols, ...specs.map((x) => x.label)];
  const lines = [
    `### ${table.title}`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of table.rows) {
    const ratios = specs.map((x) => {
      const q = ratio(r, x);
      if (q !== null) return `${q >= 100 ? q.toFixed(0) : q.toFixed(2)}×`;
      const na = r.unavailable?.[x.num] ?? table.unavailable?.[x.num];
      return (r.count || r.noRatio ? undefined : na) ?? '—';
    });
    const unit = `${r.unit} ${r.better === 'higher' ? '↑' : '↓'}`;
    const cells = cols.map(
      (c) => r.unavailable?.[c] ?? table.unavailable?.[c] ?? cell(r.values[c]),
    );
    lines.push(`| ${[r.label, unit, ...cells, ...ratios].join(' | ')} |`);
  }
  if (table.notes.length > 0) lines.push('', ...table.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

function rowJson(r: Row, t: Table): RowJson {
  const summaries: Partial<Record<Column, Summary>> = {};
  for (const c of t.columns ?? COLUMNS) {
    const v = r.values[c];
    if (v?.length) summaries[c] = summarize(v);
  }
  const more = t.moreRatios?.length
    ? { moreRatios: Object.fromEntries(t.moreRatios.map((x) => [x.label, ratio(r, x)])) }
    : {};
  return {
    label: r.label,
    unit: r.unit,
    better: r.better,
    summaries,
    ratio: ratio(r, t.ratio),
    ...more,
    ...(r.unavailable ? { unavailable: r.unavailable } : {}),
  };
}

/**
 * Write `{...meta, tables}` to `dir`/<timestamp>.json (creating `dir`); returns the file path.
 */
export function writeJson(dir: string, meta: Record<string, unknown>, tables: Table[]): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `${stamp}.json`);
  const body = {
    ...meta,
    tables: tables.map((t) => ({
      ...t,
      ratio: t.ratio ?? DEFAULT_RATIO,
      rows: t.rows.map((r) => rowJson(r, t)),
    })),
  };
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}
