/**
 * The summary's scaling section: the workers part's headline rows as same-run ratios
 * workers2/workers1 (both scheduling policies), and a model of what N cores would give, built
 * from the CPU per request measured in the same run.
 *
 * The model: a request costs e µs of CPU in the -e end, d in the -d end (all their processes,
 * the node:cluster primary included), g in the load generator and r in the redis-servers. On
 * this machine all four share its C cores, so rps ≈ C·10^6 / (e + d + g + r). With each end on
 * cores of its own (N cores, --workers N), the busier end bounds the pair at
 * rps ≈ N·10^6 / max(e, d), as long as the clients and the cluster keep up. This assumes the
 * CPU per request stays as measured when workers are added (each connection lives in one
 * worker; nothing on the request path is shared between workers).
 */
import { cpus } from 'node:os';
import { fmt, type Row, type Table } from './report.js';
import { CPU_UNIT, modeLabel, SETTINGS } from './scaling.js';
import { summarize } from './stats.js';
import type { SummaryRow } from './summary.js';

/** The ratios' denominator of every scaling row (marks a SummaryRow as one of them). */
export const SCALING_DEN = SETTINGS[0]!.column;
const COLS = ['direct', ...SETTINGS.map((s) => s.column)];
const RATIO_COLS = SETTINGS.slice(1).map((s) => s.column);
/** Cores per end in the model's second half. */
const MODEL_CORES = [1, 2, 4, 8] as const;
/** The goal for cluster mode, workers2/workers1 with spare cores. */
const GOAL = '≥ 1.5× (spare cores)';

type Mode = 'plain' | 'cluster';

/** Where a scaling row comes from in the workers table. */
interface Source {
  readonly measure: string;
  readonly match: (label: string) => boolean;
  readonly unit: string;
  readonly goal: string;
}

const is = (label: string) => (l: string) => l === label;
const MODES: readonly Mode[] = ['cluster', 'plain'];
/** The measures of each mode, by key, as the model reads them. */
const KEYS = ['GET', 'SET', '-e', '-d', 'gen', 'redis'] as const;
type Key = (typeof KEYS)[number];

function modeSources(mode: Mode): Record<Key, Source> {
  const p = modeLabel(mode);
  const goal = mode === 'cluster' ? GOAL : '–';
  const cpu = (measure: string, match: (l: string) => boolean): Source => ({
    measure: `${mode}: CPU per request, ${measure}`,
    match,
    unit: CPU_UNIT,
    goal: '–',
  });
  return {
    GET: { measure: `${mode}: GET, -c 50`, match: is(`${p} GET`), unit: 'req/s', goal },
    SET: { measure: `${mode}: SET, -c 50`, match: is(`${p} SET`), unit: 'req/s', goal },
    '-e': cpu('-e end', is(`${p}, CPU of the -e end, all processes`)),
    '-d': cpu('-d end', is(`${p}, CPU of the -d end, all processes`)),
    gen: cpu('redis-benchmark', is(`${p}, CPU of redis-benchmark`)),
    redis: cpu(
      'redis-server(s)',
      (l) => l.startsWith(`${p}, CPU of `) && /redis-servers?$/.test(l),
    ),
  };
}

const OTHER: readonly Source[] = [
  {
    measure: '16 parallel handshakes',
    match: is('16 parallel handshakes'),
    unit: 'conn/s',
    goal: '–',
  },
  {
    measure: 'bulk, 4 streams',
    match: (l) => l.startsWith('4 parallel streams'),
    unit: 'MB/s',
    goal: '–',
  },
];

const median = (v: readonly number[] | undefined): number | undefined =>
  v?.length ? summarize(v).median : undefined;

function toSummary(t: Table, s: Source): SummaryRow | null {
  const row: Row | undefined = t.rows.find((r) => s.match(r.label) && r.unit === s.unit);
  if (!row) return null;
  const medians: Record<string, number | string> = {};
  for (const c of COLS) {
    const m = median(row.values[c]);
    const na = row.unavailable?.[c] ?? t.unavailable?.[c];
    if (m !== undefined) medians[c] = m;
    else if (na !== undefined) medians[c] = na;
  }
  const den = medians[SCALING_DEN];
  const ratios: Record<string, number | null> = {};
  for (const c of RATIO_COLS) {
    const m = medians[c];
    ratios[c] = typeof m === 'number' && typeof den === 'number' && den ? m / den : null;
  }
  return {
    measure: s.measure,
    unit: s.unit,
    better: row.better,
    medians,
    ratios,
    den: SCALING_DEN,
    targets: [s.goal, '–'],
  };
}

/** The scaling rows from the workers table, if that part ran. */
export function scalingRows(tables: readonly Table[]): SummaryRow[] {
  const t = tables.find((x) => x.part === 'workers');
  if (!t) return [];
  const sources = [...MODES.flatMap((m) => KEYS.map((k) => modeSources(m)[k])), ...OTHER];
  return sources.map((s) => toSummary(t, s)).filter((r): r is SummaryRow => r !== null);
}

const cellOf = (m: number | string | undefined): string =>
  m === undefined ? '—' : typeof m === 'string' ? m : fmt(m);

/** The model's figures for one mode and column, or null if any is missing. */
function modelInputs(
  rows: readonly SummaryRow[],
  mode: Mode,
  col: string,
): Record<Key, number> | null {
  const src = modeSources(mode);
  const out: Partial<Record<Key, number>> = {};
  for (const k of KEYS) {
    const m = rows.find((r) => r.measure === src[k].measure)?.medians[col];
    if (typeof m !== 'number' || !(m > 0)) return null;
    out[k] = m;
  }
  return out as Record<Key, number>;
}

/** The scaling section (ratios table, then the model), or '' if the workers part did not run. */
export function scalingMarkdown(all: readonly SummaryRow[], rounds: number): string {
  const rows = all.filter((r) => r.den === SCALING_DEN);
  if (rows.length === 0) return '';
  const head = [
    'measure',
    'unit',
    ...COLS,
    ...RATIO_COLS.map((c) => `${c}/${SCALING_DEN}`),
    'goal',
  ];
  const lines = [
    `### scaling: medians of ${rounds} round${rounds > 1 ? 's' : ''}, same-run ratios to --workers 1`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of rows) {
    const ratios = RATIO_COLS.map((c) => {
      const q = r.ratios[c];
      if (q !== null && q !== undefined) return `${q.toFixed(2)}×`;
      return typeof r.medians[c] === 'string' ? String(r.medians[c]) : '—';
    });
    const unit = `${r.unit} ${r.better === 'higher' ? '↑' : '↓'}`;
    lines.push(
      `| ${[r.measure, unit, ...COLS.map((c) => cellOf(r.medians[c])), ...ratios, r.targets[0]].join(' | ')} |`,
    );
  }
  const cores = cpus().length;
  const modelHead = [
    'mode',
    'setting',
    'µs/req -e',
    '-d',
    'redis-benchmark',
    'redis',
    `predicted rps here (${cores} cores for all)`,
    'measured rps here',
    'cores used here',
    ...MODEL_CORES.map((n) => `${n} core${n > 1 ? 's' : ''}/end`),
  ];
  const model: string[] = [];
  for (const mode of MODES)
    for (const col of SETTINGS.map((s) => s.column)) {
      const x = modelInputs(all, mode, col);
      if (!x) continue;
      const sum = x['-e'] + x['-d'] + x.gen + x.redis;
      const here = (cores * 1e6) / sum;
      const measured = 2 / (1 / x.GET + 1 / x.SET);
      const used = (sum * measured) / 1e6;
      const perEnd = MODEL_CORES.map((n) => fmt((n * 1e6) / Math.max(x['-e'], x['-d'])));
      model.push(
        `| ${[mode, col, fmt(x['-e']), fmt(x['-d']), fmt(x.gen), fmt(x.redis), fmt(here), fmt(measured), used.toFixed(2), ...perEnd].join(' | ')} |`,
      );
    }
  // The goal, by the model: --workers 2 against --workers 1, each end with 2 cores to spare.
  const spare: string[] = [];
  for (const mode of MODES) {
    const one = modelInputs(all, mode, SCALING_DEN);
    for (const col of RATIO_COLS) {
      const two = modelInputs(all, mode, col);
      if (!one || !two) continue;
      const q = (2 * Math.max(one['-e'], one['-d'])) / Math.max(two['-e'], two['-d']);
      spare.push(
        `- model, ${mode} mode, ${col}/${SCALING_DEN} with 2 spare cores per end: ${q.toFixed(2)}× (goal for cluster mode: ${GOAL}).`,
      );
    }
  }
  if (model.length > 0) {
    lines.push(
      '',
      `#### model: what N cores would give, from the CPU per request measured above`,
      '',
      `| ${modelHead.join(' | ')} |`,
      `|${modelHead.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
      ...model,
      '',
      `- µs/req: user+kernel CPU per request (SET and GET together) of each end (all its processes), of redis-benchmark and of the redis-server(s), medians over the rounds.`,
      `- predicted here: ${cores}·10^6 / (sum of the four): this machine's ${cores} cores carry both ends, the load generator and Redis; measured: the harmonic mean of the SET and GET rps. The load generator's and Redis's share of the cores is (redis-benchmark + redis) / sum. cores used: sum × measured rps / 10^6, the cores these processes actually got; below ${cores}, other work on the machine took the rest (see the load average), and predicted here is then reached only on an idle machine.`,
      `- N cores/end: N·10^6 / max(-e, -d), each end on N cores of its own with --workers N and the clients and the cluster elsewhere (they must then keep up). It assumes the CPU per request stays as measured when workers are added: each connection lives in one worker, and nothing on the request path is shared between them. workers2/workers1 with spare cores ≈ 2 × max(-e, -d) at workers 1 / max(-e, -d) at workers 2.`,
      ...spare,
    );
  }
  return `${lines.join('\n')}\n`;
}
