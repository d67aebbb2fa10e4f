// Goal: the source keeps its one-way layering — crypto → protocol → pipe → resp/cluster → daemon →
// cli — so a module imports only from its own layer or layers to its left, and resp/ from nothing of ours.
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
