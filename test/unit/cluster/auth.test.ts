// Goal: a --cluster-auth file is read exactly as documented (password, or username and password;
// one trailing newline per line dropped, spaces kept), unusable contents are named without
// echoing them, and AUTH goes out as a RESP array any byte can travel in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeAuth, parseClusterAuth } from '../../../src/cluster/auth.js';
import { RequestScanner } from '../../../src/resp/index.js';

test('one line is the default user password; two lines are username and password', () => {
  assert.deepEqual(parseClusterAuth('s3cret\n'), { username: null, password: 's3cret' });
  assert.deepEqual(parseClusterAuth('s3cret'), { username: null, password: 's3cret' });
  assert.deepEqual(parseClusterAuth('pass with spaces \r\n'), {
    username: null,
    password: 'pass with spaces ',
  });
  assert.deepEqual(parseClusterAuth('poller\ns3 cret\n'), {
    username: 'poller',
    password: 's3 cret',
  });
  assert.deepEqual(parseClusterAuth('poller\r\ns3cret\r\n'), {
    username: 'poller',
    password: 's3cret',
  });
});

test('empty or over-long files are refused with a reason that does not contain the secret', () => {
  for (const [text, reason] of [
    ['', /empty/],
    ['\n', /empty/],
    ['\nsecretpw\n', /username line is empty/],
    ['user\n\n', /password line is empty/],
    ['a\nb\nsecretpw\n', /found 3/],
  ] as const) {
    const r = parseClusterAuth(text);
    assert.equal(typeof r, 'string', JSON.stringify(text));
    assert.match(r as string, reason);
    assert.doesNotMatch(r as string, /secretpw/);
  }
});

test('AUTH is a RESP array: a request scanner reads back the exact arguments', () => {
  for (const auth of [
    { username: null, password: 'p\r\n *2 $3' },
    { username: 'ü-user', password: 'x y' },
  ]) {
    const bytes = encodeAuth(auth);
    const expected = ['AUTH', ...(auth.username === null ? [] : [auth.username]), auth.password];
    const events = new RequestScanner().push(bytes);
    assert.equal(events.length, 1);
    const cmd = events[0]!;
    assert.equal(cmd.kind, 'command');
    if (cmd.kind !== 'command') return;
    assert.equal(cmd.format, 'multibulk');
    assert.equal(cmd.argc, expected.length);
    assert.deepEqual(
      cmd.args,
      expected.map((a) => Buffer.from(a, 'utf8').toString('latin1')),
    );
    assert.equal(cmd.end, bytes.length, 'the whole buffer is one request');
  }
});

test('any file contents: parsing never throws, and what it accepts holds no line break (fast-check)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const r = parseClusterAuth(text);
      if (typeof r === 'string') return;
      assert.ok(r.password.length > 0);
      for (const v of [r.password, r.username ?? ''])
        assert.ok(!v.includes('\n'), JSON.stringify(text));
    }),
    { numRuns: 2000 },
  );
});
