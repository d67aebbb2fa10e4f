// Goal: src/resp/ is the bottom of its own layer: it imports only its own files and node builtins.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('src/resp imports nothing from the rest of cloakpipe, and no package', () => {
  const dir = new URL('../../../../src/resp/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)) {
      const spec = m[1]!;
      assert.ok(
        /^\.\/[a-z0-9-]+\.js$/.test(spec) || spec.startsWith('node:'),
        `${f} imports ${spec}`,
      );
    }
  }
});
