// Goal: hostile or broken reply streams fail fast with a reason and never crash, stall, recurse or
// buffer: bad type bytes, bad lengths, missing CRLFs, 1,000,000 nested arrays, a 512 MB bulk, and
// a failed stream keeps passing every byte through unchanged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReplyScanner } from '../../../src/resp/index.js';
import { byteChunks, bytes, scanReplies, splitAt, text } from './helpers.js';

/** Scan `input` whole and byte by byte; both must fail identically with `reason`, passing all bytes. */
function expectFailure(input: string, reason: string, limits = {}): number {
  const b = bytes(input);
  const runs = [[b], byteChunks(b), splitAt(b, [1, 3, 7])].map((c) =>
    scanReplies(c, () => 't', limits),
  );
  for (const run of runs) {
    assert.equal(run.failed, true, `${JSON.stringify(input)} did not fail`);
    assert.equal(run.output, input, 'a failed stream must still pass every byte');
    const errors = run.events.filter((e) => e.kind === 'error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.kind === 'error' && errors[0]!.reason, reason, JSON.stringify(input));
    assert.deepEqual(run, runs[0]);
  }
  const e = runs[0]!.events.find((x) => x.kind === 'error');
  return e?.kind === 'error' ? e.offset : -1;
}

describe('malformed replies', () => {
  const cases: [string, string][] = [
    ['?foo\r\n', 'bad-type'],
    ['\r\n', 'bad-type'],
    ['*1\r\nXYZ\r\n', 'bad-type'],
    ['.\r\n', 'bad-type'],
    ['*1\r\n.\r\n', 'bad-type'],
    ['$abc\r\nfoo\r\n', 'bad-length'],
    ['$-2\r\n', 'bad-length'],
    ['$01\r\na\r\n', 'bad-length'],
    ['$+1\r\na\r\n', 'bad-length'],
    ['$\r\n', 'bad-length'],
    ['$ 1\r\na\r\n', 'bad-length'],
    ['=?\r\n', 'bad-length'],
    ['$99999999999999999999\r\n', 'bad-length'],
    ['*x\r\n', 'bad-count'],
    ['*-2\r\n', 'bad-count'],
    ['*1.0\r\n', 'bad-count'],
    ['%-0\r\n', 'bad-count'],
    ['$3\r\nfooXX', 'missing-crlf'],
    ['$3\r\nfoo\rX', 'missing-crlf'],
    [':1\rX\n', 'missing-crlf'],
    ['*1\nX\r\n', 'bad-count'],
    [':1.5\r\n', 'bad-scalar'],
    [':\r\n', 'bad-scalar'],
    [':9223372036854775808\r\n', 'bad-scalar'],
    ['#x\r\n', 'bad-scalar'],
    ['#\r\n', 'bad-scalar'],
    ['_x\r\n', 'bad-scalar'],
    ['(12a\r\n', 'bad-scalar'],
    ['(-\r\n', 'bad-scalar'],
    [',\r\n', 'bad-scalar'],
    ['$?\r\nX', 'bad-stream'],
    ['$?\r\n;-1\r\n', 'bad-stream'],
    ['*?\r\n.x\r\n', 'bad-stream'],
  ];
  for (const [input, reason] of cases)
    test(`${JSON.stringify(input)} → ${reason}`, () => {
      expectFailure(input, reason);
    });

  test('valid integer edge cases are accepted', () => {
    for (const s of [
      ':0\r\n',
      ':-9223372036854775808\r\n',
      ':9223372036854775807\r\n',
      '#F\r\n',
      '(-1\r\n',
    ])
      assert.equal(scanReplies([bytes(s)]).failed, false, s);
  });

  test('frames before the fault pass, then the error, then every remaining byte', () => {
    const input = '+OK\r\n:1\r\n$3\r\nabc\r\n*2\r\n:1\r\n!oops\r\nmore bytes';
    const off = expectFailure(input, 'bad-length');
    assert.equal(off, input.indexOf('\r\nmore') + 1);
    const run = scanReplies([bytes(input)]);
    assert.deepEqual(run.events, [
      { kind: 'pass', bytes: input.slice(0, off) },
      { kind: 'error', reason: 'bad-length', offset: off, fatal: true },
      { kind: 'pass', bytes: input.slice(off) },
    ]);
  });

  test('after a failure, push() passes each chunk as it is (the same view)', () => {
    const s = new ReplyScanner();
    s.push(bytes('?'));
    assert.equal(s.failed, true);
    const chunk = bytes('*1\r\n-MOVED 1 a:1\r\n');
    const ev = s.push(chunk);
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.kind === 'pass' && ev[0]!.bytes, chunk);
  });

  test('a fault inside a captured frame releases the held bytes as pass-through', () => {
    const input = '*3\r\n:1\r\n:2\r\n:x\r\n';
    for (const chunks of [[bytes(input)], byteChunks(bytes(input))]) {
      const run = scanReplies(chunks, () => 'cap');
      assert.equal(run.output, input);
      assert.deepEqual(run.events[0], {
        kind: 'error',
        reason: 'bad-scalar',
        offset: 15,
        fatal: true,
      });
    }
  });
});

describe('limits', () => {
  test('1,000,000 nested `*1` fail fast at depth 128, whole and in 64 KiB chunks, no recursion', () => {
    const input = Buffer.from('*1\r\n'.repeat(1_000_000), 'latin1');
    for (const chunks of [
      [input],
      splitAt(
        input,
        Array.from({ length: 64 }, (_, k) => k * 65536),
      ),
    ]) {
      const t0 = performance.now();
      const s = new ReplyScanner();
      let events = 0;
      for (const c of chunks) events += s.push(c).length;
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `took ${ms} ms`);
      assert.equal(s.failed, true);
      assert.ok(events >= 2);
    }
    const run = scanReplies([input.subarray(0, 4 * 200)]);
    assert.deepEqual(run.events[1], {
      kind: 'error',
      reason: 'too-deep',
      offset: 4 * 129 - 1,
      fatal: true,
    });
  });

  test('exactly maxDepth levels are fine; one more is not', () => {
    const ok = `${'*1\r\n'.repeat(128)}:1\r\n`;
    assert.equal(scanReplies([bytes(ok)]).atBoundary, true);
    expectFailure(`${'*1\r\n'.repeat(129)}:1\r\n`, 'too-deep');
    expectFailure(`${'*1\r\n'.repeat(4)}:1\r\n`, 'too-deep', { maxDepth: 3 });
    // Attributes and maps count as levels too.
    expectFailure(`${'|1\r\n+a\r\n'.repeat(4)}:1\r\n`, 'too-deep', { maxDepth: 3 });
  });

  test('element count, bulk length and line length caps', () => {
    expectFailure('*5\r\n', 'too-many-elements', { maxElements: 4 });
    expectFailure('%3\r\n', 'too-many-elements', { maxElements: 2 });
    assert.equal(scanReplies([bytes('*4294967295\r\n')]).failed, false);
    expectFailure('*4294967296\r\n', 'too-many-elements');
    expectFailure('$11\r\nhello world\r\n', 'length-too-large', { maxBulkLength: 10 });
    expectFailure(`:${'1'.repeat(70_000)}\r\n`, 'line-too-long');
    expectFailure(`,${'1'.repeat(33)}\r\n`, 'line-too-long', { maxLineLength: 32 });
    // Simple strings are streamed, so they have no line cap (MONITOR lines can be huge).
    const big = `+${'m'.repeat(200_000)}\r\n`;
    assert.deepEqual(scanReplies([bytes(big)]).events, [{ kind: 'pass', bytes: big }]);
  });

  test('a 512 MB bulk streams through as views of each chunk, holding nothing (64 MiB scanned)', () => {
    const s = new ReplyScanner();
    const head = bytes('$536870912\r\n');
    assert.deepEqual(
      s.push(head).map((e) => e.kind),
      ['pass'],
    );
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    for (let k = 0; k < 1024; k++) {
      const ev = s.push(chunk);
      assert.equal(ev.length, 1);
      const e = ev[0]!;
      assert.ok(
        e.kind === 'pass' && e.bytes.buffer === chunk.buffer && e.bytes.length === chunk.length,
      );
      assert.equal(s.heldBytes, 0);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 8 * 1024 * 1024, `arrayBuffers grew by ${grown}`);
    assert.equal(s.atBoundary, false);
    assert.equal(s.offset, head.length + 64 * 1024 * 1024);
  });

  test('capturing a huge bulk holds at most the cap, then streams it', () => {
    const s = new ReplyScanner({ capture: () => 'x', limits: { captureCap: 1024 * 1024 } });
    const kinds: string[] = [];
    for (const e of s.push(bytes('$536870912\r\n'))) kinds.push(e.kind);
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let k = 0; k < 64; k++) {
      for (const e of s.push(chunk)) kinds.push(e.kind === 'error' ? e.reason : e.kind);
      assert.ok(s.heldBytes <= 1024 * 1024);
    }
    assert.equal(s.heldBytes, 0);
    assert.equal(kinds.filter((k) => k === 'capture-cap').length, 1);
    assert.equal(kinds.filter((k) => k === 'captured').length, 0);
  });

  test('pass events are views into the chunk, never copies', () => {
    const chunk = bytes('+OK\r\n:1\r\n$3\r\nabc\r\n');
    const ev = new ReplyScanner().push(chunk);
    assert.equal(ev.length, 1);
    assert.ok(ev[0]!.kind === 'pass' && ev[0]!.bytes.buffer === chunk.buffer);
    assert.equal(text(ev[0]!.kind === 'pass' ? ev[0]!.bytes : new Uint8Array()), text(chunk));
  });
});
