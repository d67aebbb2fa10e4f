/**
 * The summary: one row per target of the performance issue (rps at -P 1 and -P 16, CPU per
 * request per end, wire bytes per small request, bulk, PFS handshakes, -f connections/s,
 * cluster/plain), each the median over the rounds taken from the parts' tables, with its
 * same-run ratio to spiped for the relay and every cloakpipe variant, beside the target ratios.
 * Then the scaling rows (workers part: same-run ratios workers2/workers1) and the model of what N
 * cores would give, built from the measured CPU per request (scaling-model.ts). A row whose part
 * did not run is left out.
 */
import { type Column, fmt, type Row, type Table } from './report.js';
import { SCALING_DEN, scalingMarkdown, scalingRows } from './scaling-model.js';
import { summarize } from './stats.js';
import { VARIANTS } from './variants.js';

/** One summary row as printed and written to JSON. */
export interface SummaryRow {
  readonly measure: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Median by column; a string where the column could not run. */
  readonly medians: Record<Column, number | string>;
  /** Median of the column / median of `den`, by column (null where either is missing). */
  readonly ratios: Record<Column, number | null>;
  /** The ratios' denominator column (spiped; cloakpipe plain for cluster/plain; workers 1). */
  readonly den: Column;
  /** Target ratio for spiped framing (cloakpipe) and for compact framing, as the issue states them. */
  readonly targets: readonly [string, string];
}

/** The columns of the summary, and those given a ratio. */
const COLUMNS: readonly Column[] = ['spiped', 'node-relay', ...VARIANTS.map((v) => v.column)];
const RATIOS: readonly Column[] = COLUMNS.filter((c) => c !== 'spiped');
const COMPACT: Column = 'cloakpipe compact';

/** Where each summary row comes from: a part's row (label, unit) and the issue's targets. */
interface Source {
  readonly measure: string;
  readonly part: string;
  readonly label: (t: Table) => string;
  readonly unit: string;
  readonly targets: readonly [string, string];
  /** The row node-relay's value comes from, when not the same one (it has no -f variant). */
  readonly relayLabel?: string;
}

const bulkLabel = (t: Table): string => t.rows[0]?.label ?? '';
const SOURCES: readonly Source[] = [
  {
    measure: '-P 1 rps (GET)',
    part: 'redis',
    label: () => 'GET -P 1',
    unit: 'req/s',
    targets: ['≥ 0.80×', '≥ 1.0×'],
  },
  {
    measure: '-P 16 rps (GET)',
    part: 'redis',
    label: () => 'GET -P 16',
    unit: 'req/s',
    targets: ['≥ 1.0×', '≥ 1.5×'],
  },
  ...(['-e', '-d'] as const).map((end) => ({
    measure: `CPU per request, ${end} end (-P 1)`,
    part: 'redis',
    label: () => `all tests -P 1, CPU of the ${end} end`,
    unit: 'µs user+kernel/req',
    targets: ['≤ 1.3×', '≤ 1.2×'] as const,
  })),
  {
    measure: 'wire bytes per GET, -e→-d (-P 1)',
    part: 'redis',
    label: () => 'GET -P 1, wire bytes',
    unit: 'B/req -e→-d',
    targets: ['1060 B', '≤ 128 B'],
  },
  {
    measure: 'wire bytes per GET, -d→-e (-P 1)',
    part: 'redis',
    label: () => 'GET -P 1, wire bytes',
    unit: 'B/req -d→-e',
    targets: ['1060 B', '≤ 128 B'],
  },
  { measure: 'bulk', part: 'bulk', label: bulkLabel, unit: 'MB/s', targets: ['≥ 1.1×', '≥ 2.0×'] },
  ...(['-e', '-d'] as const).map((end) => ({
    measure: `bulk CPU per MB, ${end} end`,
    part: 'bulk',
    label: (t: Table) => `${bulkLabel(t)}, CPU of the ${end} end`,
    unit: 'ms user+kernel/MB',
    targets: ['–', '–'] as const,
  })),
  {
    measure: 'sequential PFS handshakes',
    part: 'handshakes',
    label: () => 'sequential, no -f',
    unit: 'conn/s',
    targets: ['≥ 1.2×', '–'],
  },
  {
    measure: '16 parallel PFS handshakes',
    part: 'handshakes',
    label: () => '16 parallel, no -f',
    unit: 'conn/s',
    targets: ['≥ 1.5×', '–'],
  },
  {
    measure: '-f connections/s (sequential)',
    part: 'handshakes',
    label: () => 'sequential, both ends -f',
    unit: 'conn/s',
    targets: ['≥ 0.6×', '–'],
    relayLabel: 'sequential, no -f',
  },
  {
    measure: 'cluster/plain (GET -P 1)',
    part: 'cluster',
    label: () => 'GET -P 1',
    unit: 'req/s',
    targets: ['≥ 0.9×', '–'],
  },
];

/** node-relay's values for `s`: from `row`, or from the row `s.relayLabel` names. */
function relayRow(t: Table, s: Source, row: Row): number[] | undefined {
  if (s.relayLabel === undefined) return row.values['node-relay'];
  return t.rows.find((r) => r.label === s.relayLabel && r.unit === s.unit)?.values['node-relay'];
}

const median = (v: readonly number[] | undefined): number | undefined =>
  v?.length ? summarize(v).median : undefined;

/** The summary rows for `tables` (the parts that ran). */
export function summaryRows(tables: readonly Table[]): SummaryRow[] {
  const out: SummaryRow[] = [];
  for (const s of SOURCES) {
    const t = tables.find((x) => x.part === s.part);
    const row: Row | undefined = t?.rows.find((r) => r.label === s.label(t) && r.unit === s.unit);
    if (!t || !row) continue;
    const cluster = s.part === 'cluster';
    // cluster/plain: the cluster-mode pair against the plain one; spiped has no cluster mode.
    const values: Record<Column, readonly number[] | undefined> = cluster
      ? { cloakpipe: row.values['cloakpipe --cluster'] }
      : { ...row.values, 'node-relay': relayRow(t, s, row) };
    const medians: Record<Column, number | string> = {};
    for (const c of COLUMNS) {
      const m = median(values[c]);
      const na = t.unavailable?.[c];
      if (m !== undefined) medians[c] = m;
      else if (na !== undefined) medians[c] = na;
    }
    const den = median(cluster ? row.values['cloakpipe plain'] : values.spiped);
    const ratios: Record<Column, number | null> = {};
    for (const c of RATIOS) {
      const m = medians[c];
      ratios[c] = typeof m === 'number' && den ? m / den : null;
    }
    out.push({
      measure: s.measure,
      unit: s.unit,
      better: row.better,
      medians,
      ratios,
      den: cluster ? 'cloakpipe plain' : 'spiped',
      targets: s.targets,
    });
  }
  return [...withCryptoFloor(out, tables), ...scalingRows(tables)];
}

/**
 * After each CPU-per-request row, the floor a Node end doing cloakpipe's crypto cannot go below:
 * node-relay's CPU per request (Node networking, no crypto) plus the engine part's crypto alone
 * (one seal and one open per request per end), for each framing, as a ratio to spiped. Where it is
 * above a CPU target, that target cannot be met by a Node tunnel end on this machine, whatever
 * the framing glue costs. Needs the redis and engine parts; otherwise `rows` is returned as is.
 */
function withCryptoFloor(rows: readonly SummaryRow[], tables: readonly Table[]): SummaryRow[] {
  const engine = tables.find((t) => t.part === 'engine')?.rows[0];
  if (engine === undefined) return [...rows];
  const out: SummaryRow[] = [];
  for (const r of rows) {
    out.push(r);
    const relay = r.medians['node-relay'];
    const spiped = r.medians.spiped;
    if (!r.measure.startsWith('CPU per request') || typeof relay !== 'number') continue;
    const medians: Record<Column, number | string> = {
      ...(spiped === undefined ? {} : { spiped }),
      'node-relay': relay,
    };
    const ratios: Record<Column, number | null> = {};
    for (const c of ['cloakpipe', COMPACT] as const) {
      const crypto = median(engine.values[c]);
      if (crypto === undefined) continue;
      medians[c] = relay + crypto;
      ratios[c] = typeof spiped === 'number' && spiped > 0 ? (relay + crypto) / spiped : null;
    }
    out.push({
      ...r,
      measure: `${r.measure.replace('CPU per request', 'floor: node-relay CPU + crypto alone')}`,
      medians,
      ratios,
    });
  }
  return out;
}

/** `rows` as a markdown section headed with the number of rounds. */
export function summaryMarkdown(rows: readonly SummaryRow[], rounds: number): string {
  const head = [
    'measure',
    'unit',
    ...COLUMNS,
    ...RATIOS.map((c) => `${c}/spiped`),
    'target (spiped framing)',
    'target (compact)',
  ];
  const lines = [
    `### summary: medians of ${rounds} round${rounds > 1 ? 's' : ''}, same-run ratios to spiped`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of rows) {
    if (r.den === SCALING_DEN) continue; // in the scaling section below
    const cells = COLUMNS.map((c) => {
      const m = r.medians[c];
      return m === undefined ? '—' : typeof m === 'string' ? m : fmt(m);
    });
    const ratios = RATIOS.map((c) => {
      const q = r.ratios[c];
      if (q === null || q === undefined)
        return c === COMPACT && typeof r.medians[c] === 'string' ? String(r.medians[c]) : '—';
      return `${q.toFixed(2)}×`;
    });
    const unit = `${r.unit} ${r.better === 'higher' ? '↑' : '↓'}`;
    lines.push(`| ${[r.measure, unit, ...cells, ...ratios, ...r.targets].join(' | ')} |`);
  }
  lines.push(
    '',
    "- Each cell is the median of its part's rounds; each ratio is median / spiped's median from the same run (for ↓ rows, above 1.00× is worse).",
    "- cluster/plain: the cloakpipe cell is cloakpipe --cluster, and its ratio is to cloakpipe plain (the redis part's GET -P 1), not to spiped, which has no cluster mode.",
    "- node-relay has no handshake, so its -f connections/s is its one sequential figure (the handshakes table's no -f row).",
    '- Wire bytes come from one separate counted run per column (see the redis table), not from the rounds.',
  );
  const scaling = scalingMarkdown(rows, rounds);
  return `${lines.join('\n')}\n${scaling ? `\n${scaling}` : ''}`;
}
