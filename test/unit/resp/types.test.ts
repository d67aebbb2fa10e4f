// Goal: the named RESP type bytes are the bytes they name, and isErrorFrame tells error replies
// (`-` simple, `!` bulk) from every other frame by their first byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isErrorFrame } from '../../../src/resp/index.js';
import * as types from '../../../src/resp/types.js';

test('each named byte is the character it names', () => {
  const named = {
    MINUS: '-',
    BANG: '!',
    DOLLAR: '$',
    STAR: '*',
    PERCENT: '%',
    PIPE: '|',
    GT: '>',
    QMARK: '?',
    SEMI: ';',
  } as const;
  for (const [name, char] of Object.entries(named))
    assert.equal(types[name as keyof typeof named], char.charCodeAt(0), name);
  assert.equal(types.TYPE_KIND[types.PERCENT], types.T.AGG);
  assert.equal(types.TYPE_KIND[types.DOLLAR], types.T.BULK);
});

test('isErrorFrame: - and ! frames are errors; every other type byte and an empty frame are not', () => {
  const b = (s: string): Uint8Array => Buffer.from(s, 'latin1');
  assert.ok(isErrorFrame(b('-ERR x\r\n')));
  assert.ok(isErrorFrame(b('!3\r\nERR\r\n')));
  for (const s of ['+OK\r\n', ':1\r\n', '$1\r\n-\r\n', '*1\r\n-E\r\n', '_\r\n', '%0\r\n', '>0\r\n'])
    assert.ok(!isErrorFrame(b(s)), s);
  assert.ok(!isErrorFrame(new Uint8Array(0)));
});
