// Goal: the source keeps its one-way layering — crypto → protocol → pipe → resp/cluster → daemon →
// cli — so a module imports only from its own layer or layers to its left, and resp/ from nothing of ours;
// and around it, src/ imports no support code, test/support/ (shared by the tests, the benchmark and
// the scripts) imports only src/ and itself, and bench/ and scripts/ import no test helper.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/ends.js';

const ORDER = ['crypto', 'protocol', 'pipe', 'resp', 'cluster', 'daemon', 'cli'];
const SRC = join(ROOT, 'src');

function layerOf(path: string): string {
  const rel = path.slice(SRC.length + 1);
  return rel.includes('/') ? rel.split('/')[0]! : 'root';
}

/** May a module in layer `from` import from layer `to`? */
function allowed(from: string, to: string): boolean {
  if (from === 'resp') return to === 'resp';
  const f = ORDER.indexOf(from);
  const t = ORDER.indexOf(to);
  return to === from || (f >= 0 && t >= 0 && t < f);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? sources(join(dir, d.name))
      : d.name.endsWith('.ts')
        ? [join(dir, d.name)]
        : [],
  );
}

test('every src import points left (or within its layer); resp imports nothing of ours', () => {
  const violations: string[] = [];
  const files = sources(SRC);
  assert.ok(files.length > 10, 'found the sources');
  for (const file of files) {
    const from = layerOf(file);
    if (from === 'root') continue; // src/index.ts re-exports the library surface
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*from\s+'(\.{1,2}\/[^']+)'/gm)) {
      const target = join(file, '..', m[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = layerOf(target);
      if (!allowed(from, to))
        violations.push(`${file.slice(SRC.length + 1)} imports ${m[1]} (${from} → ${to})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the rule itself: left is allowed, right and resp→ours are not', () => {
  assert.ok(allowed('protocol', 'crypto'));
  assert.ok(allowed('cli', 'resp'));
  assert.ok(allowed('cluster', 'resp'));
  assert.ok(!allowed('protocol', 'daemon'));
  assert.ok(!allowed('pipe', 'cluster'));
  assert.ok(!allowed('resp', 'crypto'));
  assert.ok(!allowed('crypto', 'cli'));
});

/** The areas of the repository outside src/'s layers, most specific first. */
const AREAS = ['src', 'test/support', 'test/helpers', 'test', 'bench', 'scripts'] as const;
type Area = (typeof AREAS)[number];

/** What each area may import (besides packages and node: modules). */
const MAY_IMPORT: Record<Area, readonly Area[]> = {
  src: ['src'],
  'test/support': ['src', 'test/support'],
  'test/helpers': ['src', 'test/support', 'test/helpers'],
  // Tests may import any test code, and a script they check (the man-page generator).
  test: ['src', 'test/support', 'test/helpers', 'test', 'scripts'],
  bench: ['src', 'test/support', 'bench'],
  scripts: ['src', 'test/support', 'scripts'],
};

/** The area of an absolute path, or null outside them all. */
function areaOf(path: string): Area | null {
  const rel = path.slice(ROOT.length);
  return AREAS.find((a) => rel === a || rel.startsWith(`${a}/`)) ?? null;
}

test('src imports no support code; test/support only src and itself; bench and scripts no test helper', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const top of ['src', 'test', 'bench', 'scripts']) {
    for (const file of sources(join(ROOT, top))) {
      const from = areaOf(file)!;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^\s*(?:import|export)\b[^'"]*from\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/gm,
      )) {
        const spec = m[1] ?? m[2]!;
        const to = areaOf(join(file, '..', spec));
        checked++;
        if (to === null || !MAY_IMPORT[from].includes(to))
          violations.push(
            `${file.slice(ROOT.length)} imports ${spec} (${from} → ${to ?? 'outside'})`,
          );
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} imports`);
  assert.deepEqual(violations, []);
});

test('the area rule itself: the library is shared, the test helpers are not', () => {
  assert.equal(areaOf(join(ROOT, 'test/support/procs.ts')), 'test/support');
  assert.equal(areaOf(join(ROOT, 'test/helpers/targets.ts')), 'test/helpers');
  assert.equal(areaOf(join(ROOT, 'test/cluster/00-harness.test.ts')), 'test');
  assert.ok(MAY_IMPORT.bench.includes('test/support'));
  assert.ok(!MAY_IMPORT.bench.includes('test/helpers'));
  assert.ok(!MAY_IMPORT.scripts.includes('test/helpers'));
  assert.ok(!MAY_IMPORT['test/support'].includes('test/helpers'));
  assert.ok(!MAY_IMPORT.src.includes('test/support'));
});
