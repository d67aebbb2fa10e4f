// Goal: an unknown long option is named with the nearest known option when one is close, and
// with no guess when none is; other yargs messages pass through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editDistance, nearestOption, withSuggestion } from '../../../src/cli/suggest.js';

test('editDistance counts single-character edits', () => {
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('require-fps', 'require-pfs'), 1);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('same', 'same'), 0);
});

test('nearestOption: typos and prefixes find the option; far names find none', () => {
  assert.equal(nearestOption('clster'), 'cluster');
  assert.equal(nearestOption('shutdown-timout'), 'shutdown-timeout');
  assert.equal(nearestOption('max-con'), 'max-conns');
  assert.equal(nearestOption('encrpyt'), 'encrypt');
  assert.equal(nearestOption('hlep'), 'help');
  assert.equal(nearestOption('bogus'), null);
  assert.equal(nearestOption('zzzzzzzz'), null);
});

test('withSuggestion rewrites only unknown-argument messages', () => {
  const argv = ['-e', '--source', 'a:1', '--clster=1'];
  assert.equal(
    withSuggestion('Unknown argument: clster', argv),
    'unknown option --clster (did you mean --cluster?)',
  );
  assert.equal(withSuggestion('Unknown argument: bogus', ['--bogus']), 'unknown option --bogus');
  assert.equal(withSuggestion('Unknown argument: x', ['-x']), 'Unknown argument: x');
  assert.equal(withSuggestion('Invalid values: x', ['--crypto', 'x']), 'Invalid values: x');
});
