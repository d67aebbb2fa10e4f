// Goal: pino-pretty is loaded only when the log fd is a terminal: a daemon writing JSON lines to a
// pipe, a file or the journal never loads it (its memory counts against a container's request).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { createLogger } from '../../../src/daemon/observe.js';

const cache = createRequire(import.meta.url).cache;

function prettyLoaded(): boolean {
  return Object.keys(cache).some((path) => /[\\/]node_modules[\\/]pino-pretty[\\/]/.test(path));
}

test('JSON logging does not load pino-pretty; the first terminal logger does', () => {
  assert.equal(prettyLoaded(), false, 'importing observe.ts leaves pino-pretty unloaded');
  createLogger('silent', 1, { tty: false });
  createLogger('silent', 2, { tty: false });
  assert.equal(prettyLoaded(), false, 'a JSON logger leaves pino-pretty unloaded');
  createLogger('silent', 2, { tty: true });
  assert.equal(prettyLoaded(), true, 'a terminal logger loads it');
});
