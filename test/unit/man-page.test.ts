// Goal: contrib/cloakpipe.1 is exactly what scripts/gen-man.ts generates from the yargs spec (so the
// man page and --help never drift apart), it documents every option and its CLOAKPIPE_* variable,
// and groff and man render it without a single warning (a missing groff or man fails the test with
// the command that installs them).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TUNNEL_OPTIONS } from '../../src/cli/args.js';
import { envName, longName, roffEscape } from '../../scripts/gen-man.js';
import { requireBinary } from '../support/bins.js';
import { ROOT } from '../support/ends.js';

const PAGE = join(ROOT, 'contrib', 'cloakpipe.1');
const GENERATOR = join(ROOT, 'dist', 'scripts', 'gen-man.js');
const REGENERATE = 'npm run build && node dist/scripts/gen-man.js > contrib/cloakpipe.1';

test('contrib/cloakpipe.1 is identical to a fresh run of the generator', () => {
  const r = spawnSync(process.execPath, [GENERATOR], { encoding: 'utf8' });
  assert.equal(r.status, 0, `gen-man failed: ${r.stderr}`);
  assert.equal(r.stderr, '', 'gen-man writes nothing to stderr');
  const committed = readFileSync(PAGE, 'utf8');
  if (r.stdout !== committed) {
    const fresh = r.stdout.split('\n');
    const old = committed.split('\n');
    const i = fresh.findIndex((line, n) => line !== old[n]);
    assert.fail(
      `contrib/cloakpipe.1 is out of date (first difference at line ${i + 1}:\n` +
        `  committed: ${JSON.stringify(old[i])}\n  generated: ${JSON.stringify(fresh[i])})\n` +
        `regenerate it with: ${REGENERATE}`,
    );
  }
});

test('the page is plain ASCII roff and names every option and its CLOAKPIPE_* variable', () => {
  const page = readFileSync(PAGE, 'utf8');
  assert.match(page, /^[\x20-\x7e\n]*$/, 'only printable ASCII (non-ASCII goes in as \\[uXXXX])');
  for (const [key, spec] of Object.entries(TUNNEL_OPTIONS)) {
    const long = longName(key, spec).replace(/-/g, '\\-');
    assert.ok(page.includes(`\\fB\\-\\-${long}\\fR`), `--${longName(key, spec)} is documented`);
    if (key.length === 1) assert.ok(page.includes(`\\fB\\-${key}\\fR, `), `-${key} is documented`);
    const env = envName(longName(key, spec));
    assert.ok(page.includes(`.B ${env}\n`), `${env} is listed`);
  }
});

test('roffEscape: word-initial hyphens become minus signs, requests and backslashes are defused', () => {
  assert.equal(
    roffEscape('use -r or --rtime; - reads stdin'),
    'use \\-r or \\-\\-rtime; \\- reads stdin',
  );
  assert.equal(roffEscape('SHA-256 and Diffie-Hellman'), 'SHA-256 and Diffie-Hellman');
  assert.equal(roffEscape('.starts with a dot'), '\\&.starts with a dot');
  assert.equal(roffEscape("'quote"), "\\&'quote");
  assert.equal(roffEscape('a\\b'), 'a\\eb');
  assert.equal(roffEscape('x \u2192 y \u2014 z'), 'x \\[u2192] y \\[u2014] z');
});

test('groff renders the page without warnings', () => {
  const groff = requireBinary('groff');
  const r = spawnSync(groff, ['-man', '-Tutf8', '-ww', '-z', PAGE], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
  assert.equal(r.status, 0, `groff exited ${r.status}: ${r.stderr}`);
  assert.equal(r.stderr, '', 'groff -ww printed warnings');
});

test('man -l renders the page without warnings', () => {
  const man = requireBinary('man');
  const r = spawnSync(man, ['--warnings=all', '-P', 'cat', '-l', PAGE], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C', MANWIDTH: '80' },
  });
  assert.equal(r.status, 0, `man exited ${r.status}: ${r.stderr}`);
  assert.equal(r.stderr, '', 'man --warnings printed warnings');
  assert.match(r.stdout, /CLOAKPIPE\(1\)/);
  assert.match(r.stdout, /--max-conns n/);
});
