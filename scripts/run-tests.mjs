#!/usr/bin/env node
// Runs the compiled test files (dist/test/**/*.test.js) with a per-test time limit that fits each
// file, so a regression that hangs fails within a minute or a few instead of ten. Files sharing a
// limit run in one `node --test` run; the runs go one after another and a closing line sums them.
// Usage: node scripts/run-tests.mjs [substring filter...]   (TEST_CONCURRENCY: files run at once)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SECOND = 1000;
/**
 * The time limit of one test (hooks included) by path under dist/test/, first match wins: unit
 * tests are fast; scenario tests start real processes; cluster tests form a cluster in their
 * before hook and run workloads through failovers and reshards. Each limit is several times the
 * slowest test of its files on a loaded 2-core machine.
 */
const LIMITS = [
  { prefix: 'unit/', ms: 60 * SECOND },
  { prefix: 'integration/', ms: 120 * SECOND },
  { prefix: 'interop/', ms: 120 * SECOND },
  { prefix: 'faults/', ms: 180 * SECOND },
  { prefix: 'cluster/', ms: 300 * SECOND },
];
/** For a file under no prefix above. */
const DEFAULT_LIMIT = 120 * SECOND;

const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filters = process.argv.slice(2);
const chosen = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (chosen.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

/** The files of `chosen` grouped by their limit, shortest limit first. */
const groups = new Map();
for (const f of chosen) {
  const rel = relative(root, f);
  const ms = LIMITS.find((l) => rel.startsWith(l.prefix))?.ms ?? DEFAULT_LIMIT;
  groups.set(ms, [...(groups.get(ms) ?? []), f]);
}

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
/** Summary counts of every run (the reporters' closing `# pass 3` / `ℹ pass 3` lines). */
const totals = {};
let status = 0;
for (const [ms, group] of [...groups].sort((a, b) => a[0] - b[0])) {
  const code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--test',
        `--test-reporter=${reporter}`,
        `--test-concurrency=${concurrency}`,
        `--test-timeout=${ms}`,
        ...group,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let tail = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-4096);
    });
    child.on('close', (c, sig) => {
      for (const m of tail.matchAll(/^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm))
        totals[m[1]] = (totals[m[1]] ?? 0) + Number(m[2]);
      resolve(c ?? (sig ? 1 : 0));
    });
  });
  if (code !== 0) status = code;
}
if (groups.size > 1)
  console.log(
    `run-tests: ${chosen.length} files in ${groups.size} runs; ` +
      Object.entries(totals)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
  );
process.exit(status);
