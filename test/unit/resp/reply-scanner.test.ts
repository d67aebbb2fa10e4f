// Goal: the reply scanner frames real Redis 7.0.15 replies (RESP2 and RESP3, every endpoint type)
// exactly, captures and redirects what it should, passes everything else through byte for byte,
// and gives the same result fed whole, one byte at a time, or split at random points.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type ReplyFrame, ReplyScanner } from '../../../src/resp/index.js';
import {
  byteChunks,
  bytes,
  captureFile,
  captures,
  type ReplyRun,
  scanReplies,
  splitAt,
} from './helpers.js';

type Decide = (frame: ReplyFrame, index: number) => unknown;

/** Scan `input` whole, byte by byte and at random splits; all runs must agree. Returns the whole run. */
function scanAllWays(input: string, decide: Decide = () => null, runs = 25): ReplyRun {
  const b = bytes(input);
  const whole = scanReplies([b], decide);
  assert.equal(whole.output, input, 'whole: output bytes differ from input');
  assert.deepEqual(scanReplies(byteChunks(b), decide), whole, 'byte by byte differs from whole');
  fc.assert(
    fc.property(fc.array(fc.nat({ max: b.length }), { maxLength: 12 }), (cuts) => {
      assert.deepEqual(scanReplies(splitAt(b, cuts), decide), whole);
    }),
    { numRuns: runs },
  );
  return whole;
}

const captureAll: Decide = () => 'tag';

describe('golden captures from a live Redis 7.0.15 cluster', () => {
  for (const c of captureFile().captures) {
    const name = `${c.cluster}/${c.variant} RESP${c.resp} ${c.command.slice(0, 60)}`;
    test(name, () => {
      const isMulti = c.queued !== undefined;
      const last = isMulti ? c.queued!.length + 1 : 0;
      const run = scanAllWays(c.reply, (_, i) => (i === last ? 'topology' : null));
      assert.equal(run.atBoundary, true);
      assert.equal(run.failed, false);
      assert.equal(run.frames.length, last + 1, 'one top-level frame per reply');
      const ev = run.events.at(-1)!;
      if (/^-(MOVED|ASK) /.test(c.reply)) {
        assert.equal(ev.kind, 'redirect');
      } else {
        assert.equal(ev.kind, 'captured');
        assert.equal(ev.kind === 'captured' && ev.tag, 'topology');
        assert.equal(ev.bytes, isMulti ? c.exec : c.reply);
      }
      // Streamed (nothing captured), every non-redirect reply is one pass, identical to the input.
      const streamed = scanAllWays(c.reply, () => null, 5);
      if (!/^-(MOVED|ASK) /.test(c.reply))
        assert.deepEqual(streamed.events, [{ kind: 'pass', bytes: c.reply }]);
    });
  }

  test('all captures back to back, every frame captured, framed like one by one', () => {
    const all = captureFile().captures.map((c) => c.reply);
    const run = scanAllWays(all.join(''), captureAll, 10);
    const frames = captureFile().captures.reduce((n, c) => n + (c.queued?.length ?? -1) + 2, 0);
    assert.equal(run.frames.length, frames);
    assert.equal(
      run.events.every((e) => e.kind === 'captured' || e.kind === 'redirect'),
      true,
    );
  });

  test('a GET whose value looks like CLUSTER SLOTS is one bulk frame passed unchanged', () => {
    for (const c of captures('GET somekey', 'ip').filter((x) => x.reply.startsWith('$'))) {
      const run = scanAllWays(c.reply);
      assert.deepEqual(run.events, [{ kind: 'pass', bytes: c.reply }]);
      assert.equal(run.frames.length, 1);
      assert.equal(run.frames[0]!.type, '$');
    }
  });

  test("EVAL returning cluster('slots') is SLOTS-shaped: only pairing may decide to rewrite it", () => {
    const [evalSlots] = captures('EVAL return redis.call');
    const [slots] = captures('CLUSTER SLOTS', 'ip');
    assert.equal(evalSlots!.reply, slots!.reply);
    assert.deepEqual(scanAllWays(evalSlots!.reply).events, [{ kind: 'pass', bytes: slots!.reply }]);
  });
});

describe('RESP3 superset', () => {
  const parts: [string, ReplyFrame['type'], ReplyFrame['role']][] = [
    ['+OK\r\n', '+', 'reply'],
    ['-ERR x\r\n', '-', 'reply'],
    [':-5\r\n', ':', 'reply'],
    ['$3\r\nfoo\r\n', '$', 'reply'],
    ['$0\r\n\r\n', '$', 'reply'],
    ['$-1\r\n', '$', 'reply'],
    ['*-1\r\n', '*', 'reply'],
    ['*0\r\n', '*', 'reply'],
    ['*2\r\n$1\r\na\r\n*1\r\n:1\r\n', '*', 'reply'],
    ['_\r\n', '_', 'reply'],
    [',3.14\r\n', ',', 'reply'],
    [',-inf\r\n', ',', 'reply'],
    ['#t\r\n', '#', 'reply'],
    ['(3492890328409238509324850943850943825024385\r\n', '(', 'reply'],
    ['!21\r\nSYNTAX invalid syntax\r\n', '!', 'reply'],
    ['=15\r\ntxt:Some string\r\n', '=', 'reply'],
    ['%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n', '%', 'reply'],
    ['~2\r\n+a\r\n+b\r\n', '~', 'reply'],
    ['>3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n_\r\n', '>', 'push'],
    ['|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n', '|', 'attribute'],
    ['*2\r\n:1\r\n:2\r\n', '*', 'reply'],
    ['*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n', '*', 'reply'], // nested attribute not counted
    ['|0\r\n', '|', 'attribute'],
    ['$?\r\n;4\r\nHell\r\n;2\r\no!\r\n;0\r\n', '$', 'reply'],
    ['*?\r\n:1\r\n*?\r\n+a\r\n.\r\n:3\r\n.\r\n', '*', 'reply'],
    ['%?\r\n+a\r\n:1\r\n.\r\n', '%', 'reply'],
    ['+a\rb\r\n', '+', 'reply'], // a lone CR is content in a simple string
  ];
  const input = parts.map((p) => p[0]).join('');

  test('every type is framed: types, roles and offsets of the top-level frames', () => {
    const run = scanAllWays(input, () => null, 100);
    assert.equal(run.atBoundary, true);
    let offset = 0;
    const want = parts.map(([s, type, role]) => {
      const f = { type, role, offset };
      offset += s.length;
      return f;
    });
    assert.deepEqual(run.frames, want);
    assert.deepEqual(run.events, [{ kind: 'pass', bytes: input }]);
  });

  test('each frame captured whole, pushes and attributes included', () => {
    const run = scanAllWays(input, captureAll, 50);
    assert.deepEqual(
      run.events.map((e) => (e.kind === 'captured' ? e.bytes : e.kind)),
      parts.map((p) => p[0]),
    );
  });

  test('a stream that stops mid-frame is not at a boundary', () => {
    for (const partial of [
      '*2\r\n:1\r\n',
      '$3\r\nfo',
      '+OK\r',
      '*?\r\n:1\r\n',
      '$?\r\n;1\r\na\r\n',
    ]) {
      const run = scanReplies([bytes(partial)]);
      assert.equal(run.atBoundary, false, partial);
      assert.equal(run.failed, false, partial);
    }
  });
});

describe('redirects', () => {
  const cases: [string, unknown][] = [
    [
      '-MOVED 12182 127.0.0.1:7102\r\n',
      { kind: 'MOVED', slot: 12182, host: '127.0.0.1', port: 7102 },
    ],
    [
      '-MOVED 12182 node-7102.internal:7102\r\n',
      { kind: 'MOVED', slot: 12182, host: 'node-7102.internal', port: 7102 },
    ],
    ['-MOVED 12182 ?:7102\r\n', { kind: 'MOVED', slot: 12182, host: '?', port: 7102 }],
    ['-MOVED 12182 :7102\r\n', { kind: 'MOVED', slot: 12182, host: '', port: 7102 }],
    ['-ASK 12182 127.0.0.1:7101\r\n', { kind: 'ASK', slot: 12182, host: '127.0.0.1', port: 7101 }],
    ['-MOVED 12182 ::1:7202\r\n', { kind: 'MOVED', slot: 12182, host: '::1', port: 7202 }],
    ['-MOVED 0 a:0\r\n', { kind: 'MOVED', slot: 0, host: 'a', port: 0 }],
  ];
  for (const [line, redirect] of cases)
    test(`${JSON.stringify(line)} is a redirect, with or without a capture tag`, () => {
      const frame = { type: '-', role: 'reply', offset: 0 };
      assert.deepEqual(scanAllWays(line).events, [
        { kind: 'redirect', frame, tag: null, redirect, bytes: line },
      ]);
      assert.deepEqual(scanAllWays(line, captureAll).events, [
        { kind: 'redirect', frame, tag: 'tag', redirect, bytes: line },
      ]);
    });

  test('errors that are not redirects pass through (or are captured when asked)', () => {
    for (const line of [
      '-ERR unknown command\r\n',
      '-MOVED 16384 127.0.0.1:7000\r\n',
      '-MOVED 1 127.0.0.1:65536\r\n',
      '-MOVED 1  127.0.0.1:7000\r\n',
      '-MOVED 1 127.0.0.1:7000 x\r\n',
      '-MOVED 01 127.0.0.1:7000\r\n',
      '-MOVED 1 127.0.0.1\r\n',
      '-moved 1 127.0.0.1:7000\r\n',
      '-ASKING\r\n',
      '-TRYAGAIN Multiple keys request during rehashing of slot\r\n',
      '-CLUSTERDOWN Hash slot not served\r\n',
      '-EXECABORT Transaction discarded because of previous errors.\r\n',
    ]) {
      assert.deepEqual(scanAllWays(line).events, [{ kind: 'pass', bytes: line }], line);
      assert.equal(scanAllWays(line, captureAll).events[0]!.kind, 'captured', line);
    }
  });

  test('a MOVED nested in an array, or a bulk error, is not a redirect', () => {
    for (const s of [
      '*1\r\n-MOVED 1 127.0.0.1:7000\r\n',
      '!26\r\nMOVED 1 127.0.0.1:7000\r\n\r\n',
      '+MOVED 1 a:1\r\n',
    ])
      assert.deepEqual(scanAllWays(s).events, [{ kind: 'pass', bytes: s }]);
  });

  test('redirects are found between streamed frames and across chunk boundaries', () => {
    const s = `$5\r\nhello\r\n-MOVED 1 10.0.0.1:6379\r\n>2\r\n+x\r\n+y\r\n-ASK 2 h:1\r\n:1\r\n`;
    const run = scanAllWays(s, () => null, 100);
    assert.deepEqual(
      run.events.map((e) => [e.kind, 'bytes' in e ? e.bytes : '']),
      [
        ['pass', '$5\r\nhello\r\n'],
        ['redirect', '-MOVED 1 10.0.0.1:6379\r\n'],
        ['pass', '>2\r\n+x\r\n+y\r\n'],
        ['redirect', '-ASK 2 h:1\r\n'],
        ['pass', ':1\r\n'],
      ],
    );
  });

  test('a top-level error longer than maxLineLength is streamed, not held', () => {
    const long = `-MOVED 1 ${'h'.repeat(100)}:1\r\n`;
    for (const chunks of [[bytes(long)], byteChunks(bytes(long))]) {
      const run = scanReplies(chunks, () => null, { maxLineLength: 32 });
      assert.deepEqual(run.events, [{ kind: 'pass', bytes: long }]);
    }
    const s = new ReplyScanner({ limits: { maxLineLength: 32 } });
    for (const c of byteChunks(bytes(long))) {
      s.push(c);
      assert.ok(s.heldBytes <= 32 + 3);
    }
  });
});

describe('capture cap', () => {
  test('a captured frame over the cap is passed unchanged after a non-fatal capture-cap error', () => {
    const big = `$200\r\n${'x'.repeat(200)}\r\n`;
    const next = '*1\r\n:1\r\n';
    const input = big + next;
    for (const chunks of [
      [bytes(input)],
      byteChunks(bytes(input)),
      splitAt(bytes(input), [50, 120]),
    ]) {
      const run = scanReplies(chunks, () => 'cap', { captureCap: 100 });
      assert.deepEqual(run.events, [
        { kind: 'error', reason: 'capture-cap', offset: 0, fatal: false },
        { kind: 'pass', bytes: big },
        {
          kind: 'captured',
          frame: { type: '*', role: 'reply', offset: big.length },
          tag: 'cap',
          bytes: next,
        },
      ]);
      assert.equal(run.failed, false);
    }
  });

  test('a frame exactly at the cap is captured', () => {
    const f = `$10\r\n${'y'.repeat(10)}\r\n`;
    const run = scanReplies(byteChunks(bytes(f)), () => 1, { captureCap: f.length });
    assert.equal(run.events[0]!.kind, 'captured');
  });
});
