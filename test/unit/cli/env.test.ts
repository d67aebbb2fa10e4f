// Goal: only CLOAKPIPE_* variables are read; one naming no option is reported (to warn about)
// instead of failing; CLOAKPIPE and CLOAKPIPEX are not ours and are neither read nor reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { badNumberFlag, buildParser } from '../../../src/cli/args.js';
import { envName, readEnv } from '../../../src/cli/env.js';
import { UsageError } from '../../../src/cli/errors.js';

test('CLOAKPIPE_<LONG NAME> sets the option; the environment object is left as it was', () => {
  const env = { CLOAKPIPE_MAX_CONNS: '7', CLOAKPIPE_SOURCE: 'h:1', CLOAKPIPE_REQUIRE_PFS: 'true' };
  const copy = { ...env };
  assert.deepEqual(readEnv(env), {
    values: { 'max-conns': 7, source: 'h:1', 'require-pfs': true },
    ignored: [],
  });
  assert.deepEqual(env, copy);
});

test('CLOAKPIPE and CLOAKPIPEX are not read and not reported', () => {
  assert.deepEqual(readEnv({ CLOAKPIPE: 'x', CLOAKPIPEX: 'y', CLOAKPIPE_: 'z' }), {
    values: {},
    ignored: ['CLOAKPIPE_'],
  });
});

test('unknown CLOAKPIPE_* names are reported; an empty CLOAKPIPE_METRICS means off', () => {
  assert.deepEqual(readEnv({ CLOAKPIPE_PORT: 'tcp://10.0.0.1:80', CLOAKPIPE_METRICS: '' }), {
    values: {},
    ignored: ['CLOAKPIPE_PORT'],
  });
});

test('envName: upper case with - as _', () => {
  assert.equal(envName('half-close-timeout'), 'CLOAKPIPE_HALF_CLOSE_TIMEOUT');
});

test('booleans: 1/0, true/false, yes/no, on/off in any case; anything else names the variable', () => {
  for (const [text, value] of [
    ['1', true],
    ['TRUE', true],
    ['Yes', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['NO', false],
    ['Off', false],
  ] as const)
    assert.deepEqual(
      readEnv({ CLOAKPIPE_REQUIRE_PFS: text }).values,
      { 'require-pfs': value },
      text,
    );
  for (const bad of ['', 'maybe', '2', 'y'])
    assert.throws(
      () => readEnv({ CLOAKPIPE_ENCRYPT: bad }),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.equal(
          err.message,
          `CLOAKPIPE_ENCRYPT=${bad}: expected 1/0, true/false, yes/no or on/off`,
        );
        return true;
      },
    );
});

test('numbers are numbers; a non-number echoes the variable and its value', () => {
  assert.deepEqual(readEnv({ CLOAKPIPE_TIMEOUT: '2.5' }).values, { timeout: 2.5 });
  for (const bad of ['lots', '', '12abc'])
    assert.throws(
      () => readEnv({ CLOAKPIPE_MAX_CONNS: bad }),
      (err: unknown) =>
        err instanceof UsageError && err.message === `CLOAKPIPE_MAX_CONNS=${bad}: not a number`,
    );
});

test('badNumberFlag echoes the flag and the text given, however it was spelled', () => {
  for (const argv of [
    ['-e', '-n', 'abc'],
    ['-e', '--max-conns', 'abc'],
    ['-e', '--max-conns=abc'],
  ]) {
    const a = buildParser(argv).exitProcess(false).parseSync() as Record<string, unknown>;
    assert.equal(badNumberFlag(argv, a), '-n abc: not a number', argv.join(' '));
  }
  const argv = ['-d', '--shutdown-timeout', 'soon'];
  const a = buildParser(argv).exitProcess(false).parseSync() as Record<string, unknown>;
  assert.equal(badNumberFlag(argv, a), '--shutdown-timeout soon: not a number');
  const ok = ['-d', '-n', '5'];
  assert.equal(badNumberFlag(ok, buildParser(ok).parseSync() as Record<string, unknown>), null);
});
