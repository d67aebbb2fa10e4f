// Goal: cross-check the reply scanner's frame boundaries against an independent RESP2 parser
// (redis-parser, the one ioredis uses) on random values, and against the generator itself for
// random RESP3 values; random bytes never make it throw or lose a byte.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import Parser from 'redis-parser';
import { decodeValue, encodeValue, ReplyScanner } from '../../../src/resp/index.js';
import { bytes, refDecode, scanReplies, splitAt, text } from './helpers.js';

/** A line body that redis-parser reads back (it stops at the first CR). */
const lineText = fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, '_'));
const bulkText = fc.string({ unit: 'binary-ascii', maxLength: 40 });

/** Random RESP2 replies, encoded. */
const resp2 = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    lineText.map((s) => `+${s}\r\n`),
    lineText.map((s) => `-ERR ${s}\r\n`),
    fc.integer().map((n) => `:${n}\r\n`),
    bulkText.map((s) => `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`),
    fc.constant('$-1\r\n'),
    fc.constant('*-1\r\n'),
    fc.array(tie('value'), { maxLength: 5 }).map((a) => `*${a.length}\r\n${a.join('')}`),
  ),
})).value;

/** Random RESP3 replies, encoded (the RESP2 ones plus every RESP3 type). */
const resp3 = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    resp2,
    fc.constant('_\r\n'),
    fc.double({ noNaN: true }).map((d) => `,${d}\r\n`),
    fc.boolean().map((b) => `#${b ? 't' : 'f'}\r\n`),
    fc.bigInt().map((b) => `(${b}\r\n`),
    bulkText.map((s) => `!${s.length}\r\n${s}\r\n`),
    bulkText.map((s) => `=${s.length + 4}\r\ntxt:${s}\r\n`),
    fc
      .array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 })
      .map((kv) => `%${kv.length}\r\n${kv.flat().join('')}`),
    fc.array(tie('value'), { maxLength: 4 }).map((a) => `~${a.length}\r\n${a.join('')}`),
    fc
      .tuple(fc.array(fc.tuple(lineText, tie('value')), { maxLength: 2 }), tie('value'))
      .map(
        ([kv, v]) => `*1\r\n|${kv.length}\r\n${kv.map(([k, x]) => `+${k}\r\n${x}`).join('')}${v}`,
      ),
  ),
})).value;

/** Offsets just after each top-level reply, according to redis-parser fed one byte at a time. */
function parserBoundaries(input: Buffer): number[] {
  const ends: number[] = [];
  let at = 0;
  const done = () => ends.push(at + 1);
  const p = new Parser({
    returnReply: done,
    returnError: done,
    returnFatalError: () => ends.push(-1),
  });
  for (at = 0; at < input.length; at++) p.execute(input.subarray(at, at + 1));
  return ends;
}

/** Offsets just after each top-level frame, according to the scanner. */
function scannerBoundaries(chunks: readonly Uint8Array[], total: number): number[] {
  const run = scanReplies(chunks);
  assert.equal(run.failed, false);
  assert.equal(run.atBoundary, true);
  return [...run.frames.slice(1).map((f) => f.offset), total].slice(0, run.frames.length);
}

describe('frame boundaries', () => {
  test('RESP2: the same boundaries as redis-parser, whole and at random splits', () => {
    fc.assert(
      fc.property(
        fc.array(resp2, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (values, cuts) => {
          const input = bytes(values.join(''));
          const oracle = parserBoundaries(input);
          let end = 0;
          assert.deepEqual(
            oracle,
            values.map((v) => (end += Buffer.byteLength(v, 'latin1'))),
          );
          assert.deepEqual(scannerBoundaries([input], input.length), oracle);
          assert.deepEqual(
            scannerBoundaries(
              splitAt(
                input,
                cuts.map((c) => c % (input.length + 1)),
              ),
              input.length,
            ),
            oracle,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('RESP3: the generator’s boundaries; the value decoder round-trips each frame', () => {
    fc.assert(
      fc.property(
        fc.array(resp3, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (values, cuts) => {
          const input = bytes(values.join(''));
          let end = 0;
          const want = values.map((v) => (end += v.length));
          assert.deepEqual(scannerBoundaries([input], input.length), want);
          assert.deepEqual(
            scannerBoundaries(
              splitAt(
                input,
                cuts.map((c) => c % (input.length + 1)),
              ),
              input.length,
            ),
            want,
          );
          for (const v of values) {
            refDecode(v);
            const d = decodeValue(bytes(v));
            assert.ok(d.ok, v);
            assert.equal(text(encodeValue(d.value)), v);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes: never throws, never loses or reorders a byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 6 }),
        (input, cuts) => {
          const s = new ReplyScanner({ capture: (f) => (f.offset % 2 === 0 ? 'c' : null) });
          const out: string[] = [];
          for (const c of splitAt(input, cuts))
            for (const e of s.push(c)) if (e.kind !== 'error') out.push(text(e.bytes));
          if (s.atBoundary || s.failed) assert.equal(out.join(''), text(input));
          else assert.ok(text(input).startsWith(out.join('')));
        },
      ),
      { numRuns: 500 },
    );
  });
});
