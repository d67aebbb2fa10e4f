// Goal: only CLOAKPIPE_* variables are read; one naming no option is reported (to warn about)
// instead of failing; CLOAKPIPE and CLOAKPIPEX are not ours and are neither read nor reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envName, readEnv } from '../../../src/cli/env.js';

test('CLOAKPIPE_<LONG NAME> sets the option; the environment object is left as it was', () => {
  const env = { CLOAKPIPE_MAX_CONNS: '7', CLOAKPIPE_SOURCE: 'h:1', CLOAKPIPE_REQUIRE_PFS: 'true' };
  const copy = { ...env };
  assert.deepEqual(readEnv(env), {
    values: { 'max-conns': '7', source: 'h:1', 'require-pfs': 'true' },
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
