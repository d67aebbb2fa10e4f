// Goal: the request scanner agrees with the real Redis 7.0.15 parser on where each request ends
// (multibulk and inline, quotes, NUL, unchecked CRLFs, ≤ 0 counts, protocol errors), records only
// the small leading arguments, streams large ones in constant memory, and classifies commands.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  classifyCommand,
  helloVersion,
  type RequestEvent,
  RequestScanner,
  topologyOf,
} from '../../../src/resp/index.js';
import { byteChunks, bytes, captureFile, scanReplies, scanRequests, splitAt } from './helpers.js';

const mb = (...args: string[]): string =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`;

/** Scan whole, byte by byte and at random splits; all must agree. */
function scanAllWays(input: string): RequestEvent[] {
  const b = bytes(input);
  const whole = scanRequests([b]);
  assert.deepEqual(scanRequests(byteChunks(b)), whole);
  fc.assert(
    fc.property(fc.array(fc.nat({ max: b.length }), { maxLength: 10 }), (cuts) => {
      assert.deepEqual(scanRequests(splitAt(b, cuts)), whole);
    }),
    { numRuns: 30 },
  );
  return whole;
}

type Command = Extract<RequestEvent, { kind: 'command' }>;
const commands = (ev: RequestEvent[]): Command[] =>
  ev.filter((e): e is Command => e.kind === 'command');

describe('against the real server (request streams captured from redis-server 7.0.15)', () => {
  for (const s of captureFile().requests)
    test(s.name, () => {
      const ev = scanAllWays(s.input);
      const replies = scanReplies([bytes(s.reply)]).frames.length;
      const protocolError = s.reply.includes('Protocol error');
      assert.equal(
        ev.some((e) => e.kind === 'error'),
        protocolError,
        'reports an error iff Redis did',
      );
      assert.equal(commands(ev).length + (protocolError ? 1 : 0), replies, 'one command per reply');
    });

  test('details: unchecked CRLFs, ≤ 0 counts, quotes, NUL, lone CR', () => {
    const byName = (n: string) =>
      scanAllWays(captureFile().requests.find((r) => r.name === n)!.input);
    assert.deepEqual(
      commands(byName('payload CRLF unchecked')).map((c) => c.args),
      [['PING'], ['PING']],
    );
    assert.deepEqual(
      byName('negative and zero counts').map((e) => e.kind),
      ['empty', 'empty', 'empty', 'command'],
    );
    assert.deepEqual(
      byName('empty inline lines').map((e) => e.kind),
      ['empty', 'empty', 'empty', 'command'],
    );
    assert.deepEqual(
      commands(byName('inline quotes')).map((c) => c.args),
      [
        ['ECHO', 'a bA\n"'],
        ['ECHO', "c'd"],
      ],
    );
    assert.deepEqual(commands(byName('inline bad hex is plain'))[0]!.args, ['ECHO', 'x4g']);
    assert.deepEqual(byName('inline NUL ends the line'), []);
    assert.deepEqual(commands(byName('inline lone CR'))[0]!.args, ['ECHO', 'a', 'b']);
    assert.deepEqual(byName('count at INT_MAX then data'), []);
  });
});

describe('multibulk', () => {
  test('name and leading args, offsets, argc', () => {
    const a = mb('CLUSTER', 'SLOTS');
    const b = mb('CLIENT', 'REPLY', 'OFF');
    const c = mb('SET', 'k', 'x'.repeat(100), 'EX', '10');
    const ev = scanAllWays(a + b + c);
    assert.deepEqual(ev, [
      {
        kind: 'command',
        format: 'multibulk',
        argc: 2,
        args: ['CLUSTER', 'SLOTS'],
        truncated: false,
        offset: 0,
        end: a.length,
      },
      {
        kind: 'command',
        format: 'multibulk',
        argc: 3,
        args: ['CLIENT', 'REPLY', 'OFF'],
        truncated: false,
        offset: a.length,
        end: a.length + b.length,
      },
      {
        kind: 'command',
        format: 'multibulk',
        argc: 5,
        args: ['SET', 'k', 'x'.repeat(64)],
        truncated: true,
        offset: a.length + b.length,
        end: a.length + b.length + c.length,
      },
    ]);
  });

  test('a 512 MiB argument is skipped in constant memory; the command completes after it', () => {
    const s = new RequestScanner();
    assert.deepEqual(
      s.push(bytes(`*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$${512 * 1024 * 1024}\r\n`)),
      [],
    );
    const chunk = Buffer.alloc(1024 * 1024, 0x7a);
    const before = process.memoryUsage().arrayBuffers;
    for (let k = 0; k < 512; k++) assert.deepEqual(s.push(chunk), []);
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024);
    const [ev] = s.push(bytes('\r\n'));
    assert.equal(ev?.kind, 'command');
    assert.deepEqual(ev?.kind === 'command' && ev.args, ['SET', 'key', 'z'.repeat(64)]);
    assert.equal(s.atBoundary, true);
  });

  test('protocol errors, each reported once at the right place', () => {
    const cases: [string, string][] = [
      ['*1\r\n*1\r\n', 'expected-dollar'],
      ['*2147483648\r\n', 'bad-count'],
      ['*1x\r\n', 'bad-count'],
      ['*+1\r\n', 'bad-count'],
      ['*\r\n', 'bad-count'],
      ['*1\r\n$-1\r\n', 'bad-bulk-length'],
      ['*1\r\n$abc\r\n', 'bad-bulk-length'],
      ['*1\r\n$536870913\r\n', 'bad-bulk-length'],
      [`*${'1'.repeat(70_000)}`, 'too-big-count'],
      [`*1\r\n$${'1'.repeat(70_000)}`, 'too-big-bulk-count'],
      [`*1\0\r\n${'x'.repeat(70_000)}`, 'too-big-count'],
      ['a'.repeat(70_000), 'too-big-inline'],
      [`a\0\n${'\n'.repeat(70_000)}`, 'too-big-inline'],
      ['GET "abc\r\n', 'unbalanced-quotes'],
      ["GET 'abc\r\n", 'unbalanced-quotes'],
      ['GET "a"b\r\n', 'unbalanced-quotes'],
      ["GET 'a'b\r\n", 'unbalanced-quotes'],
      ['GET "a\\"\r\n', 'unbalanced-quotes'],
    ];
    for (const [input, reason] of cases) {
      const whole = scanRequests([bytes(input)]);
      const split = scanRequests(splitAt(bytes(input), [1, 2, 5, 1000, 65536]));
      assert.equal(whole.length, 1, JSON.stringify(input.slice(0, 20)));
      assert.equal(
        whole[0]!.kind === 'error' && whole[0]!.reason,
        reason,
        JSON.stringify(input.slice(0, 20)),
      );
      assert.deepEqual(split, whole);
    }
  });

  test('after an error nothing more is reported', () => {
    const s = new RequestScanner();
    assert.equal(s.push(bytes('*1\r\n*1\r\n'))[0]!.kind, 'error');
    assert.deepEqual(s.push(bytes(mb('PING'))), []);
    assert.equal(s.failed, true);
  });

  test('`*1` a million times fails at once; absurd counts hold nothing', () => {
    const t0 = performance.now();
    const ev = scanRequests([Buffer.from('*1\r\n'.repeat(1_000_000), 'latin1')]);
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(
      ev.map((e) => e.kind === 'error' && e.reason),
      ['expected-dollar'],
    );
    const s = new RequestScanner();
    s.push(bytes('*2147483647\r\n'));
    for (let k = 0; k < 10_000; k++) s.push(bytes('$1\r\na\r\n'));
    assert.equal(s.atBoundary, false);
    assert.equal(s.failed, false);
  });

  test('exactly PROTO_INLINE_MAX_SIZE is still a line', () => {
    assert.equal(scanRequests([bytes(`${'a'.repeat(65536)}\n`)])[0]!.kind, 'command');
    assert.equal(scanRequests([bytes(`${'a'.repeat(65537)}\n`)])[0]!.kind, 'error');
  });
});

describe('inline commands (sdssplitargs)', () => {
  const cases: [string, string[], number?][] = [
    ['cluster slots\r\n', ['cluster', 'slots']],
    ['  CLUSTER   nodes  \n', ['CLUSTER', 'nodes']],
    ['set "a b" \'c d\'\r\n', ['set', 'a b', 'c d']],
    ['echo "\\x41\\x4a\\x4g\\n\\r\\t\\b\\a\\z\\\\"\r\n', ['echo', 'AJx4g\n\r\t\b\x07z\\']],
    ["echo 'a\\'b\\n'\r\n", ['echo', "a'b\\n"]],
    ['echo a"b c"d"" e\r\n', ['echo'], 1],
    ['echo ab"c d" e\r\n', ['echo', 'abc d', 'e']],
    ['echo ""\r\n', ['echo', '']],
    ['a\tb\vc\fd\r\n', ['a', 'b\vc\fd']],
    ['a\rb\r\n', ['a', 'b']],
    ['"a\rb"\r\n', ['a\rb']],
    ['ping', []],
  ];
  for (const [line, args, failAt] of cases)
    test(JSON.stringify(line), () => {
      const ev = scanAllWays(line);
      if (failAt !== undefined) assert.equal(ev[0]!.kind, 'error');
      else if (args.length === 0) assert.deepEqual(ev, []);
      else
        assert.deepEqual(
          ev.map((e) => e.kind === 'command' && e.args),
          [args.slice(0, 3)],
        );
    });

  test('long inline args are cut to 64 bytes, argc counts them all', () => {
    const line = `set ${'k'.repeat(80)} v w x y\r\n`;
    const [ev] = scanAllWays(line);
    assert.deepEqual(ev, {
      kind: 'command',
      format: 'inline',
      argc: 6,
      args: ['set', 'k'.repeat(64), 'v'],
      truncated: true,
      offset: 0,
      end: line.length,
    });
  });
});

describe('random request streams (fast-check)', () => {
  const arg = fc
    .string({ unit: 'binary', maxLength: 80 })
    .map((s) => Buffer.from(s, 'utf8').toString('latin1'));
  const word = fc.stringMatching(/^[a-zA-Z0-9_.-]{1,70}$/);
  const request = fc.oneof(
    fc
      .array(arg, { minLength: 1, maxLength: 6 })
      .map((a) => ({ raw: mb(...a), args: a, inline: false })),
    fc
      .array(word, { minLength: 1, maxLength: 5 })
      .map((a) => ({ raw: `${a.join(' ')}\r\n`, args: a, inline: true })),
    fc
      .constantFrom('*0\r\n', '*-1\r\n', '\r\n', '\n')
      .map((raw) => ({ raw, args: [] as string[], inline: raw[0] !== '*' })),
  );

  test('events match the generated requests at any split', () => {
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (reqs, cuts) => {
          const input = bytes(reqs.map((r) => r.raw).join(''));
          let offset = 0;
          const want = reqs.map((r) => {
            const format = r.inline ? 'inline' : 'multibulk';
            const end = offset + Buffer.byteLength(r.raw, 'latin1');
            const e: RequestEvent =
              r.args.length === 0
                ? { kind: 'empty', format, offset, end }
                : {
                    kind: 'command',
                    format,
                    argc: r.args.length,
                    args: r.args.slice(0, 3).map((a) => a.slice(0, 64)),
                    truncated: r.args.slice(0, 3).some((a) => a.length > 64),
                    offset,
                    end,
                  };
            offset = end;
            return e;
          });
          assert.deepEqual(
            scanRequests(
              splitAt(
                input,
                cuts.map((c) => c % (input.length + 1)),
              ),
            ),
            want,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes never throw', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat({ max: 300 }), { maxLength: 5 }),
        (b, cuts) => {
          const whole = scanRequests([b]);
          assert.deepEqual(scanRequests(splitAt(b, cuts)), whole);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('classifyCommand', () => {
  const cmd = (...args: string[]): Command => {
    const [e] = scanRequests([bytes(mb(...args))]);
    assert.equal(e?.kind, 'command');
    return e as Command;
  };
  const table: [string[], string][] = [
    [['CLUSTER', 'SLOTS'], 'cluster-slots'],
    [['cluster', 'shards'], 'cluster-shards'],
    [['Cluster', 'Nodes'], 'cluster-nodes'],
    [['CLUSTER', 'REPLICAS', 'abc'], 'cluster-replicas'],
    [['CLUSTER', 'SLAVES', 'abc'], 'cluster-replicas'],
    [['CLUSTER', 'MEET', '10.0.0.1', '7000'], 'cluster-meet'],
    [['CLUSTER', 'INFO'], 'other'],
    [['CLUSTER'], 'other'],
    [['HELLO', '3'], 'hello'],
    [['MULTI'], 'multi'],
    [['exec'], 'exec'],
    [['DISCARD'], 'discard'],
    [['SUBSCRIBE', 'a', 'b'], 'subscribe'],
    [['psubscribe', 'a*'], 'subscribe'],
    [['SSUBSCRIBE', 'a'], 'subscribe'],
    [['UNSUBSCRIBE'], 'unsubscribe'],
    [['SUNSUBSCRIBE', 'a'], 'unsubscribe'],
    [['MONITOR'], 'monitor'],
    [['CLIENT', 'REPLY', 'OFF'], 'client-reply-off'],
    [['client', 'reply', 'on'], 'client-reply-on'],
    [['CLIENT', 'REPLY', 'SKIP'], 'client-reply-skip'],
    [['CLIENT', 'REPLY', 'SKIP', 'x'], 'other'],
    [['CLIENT', 'MAINT_NOTIFICATIONS', 'ON'], 'client-maint-notifications'],
    [['CLIENT', 'LIST'], 'other'],
    [['RESET'], 'reset'],
    [['ASKING'], 'asking'],
    [['READONLY'], 'readonly'],
    [['READWRITE'], 'readwrite'],
    [['MIGRATE', 'h', '1', 'k', '0', '5'], 'migrate'],
    [['REPLICAOF', 'h', '1'], 'replicaof'],
    [['SLAVEOF', 'NO', 'ONE'], 'replicaof'],
    [['GET', 'cluster'], 'other'],
    [['constructor'], 'other'],
    [['__proto__'], 'other'],
  ];
  for (const [args, kind] of table)
    test(`${args.join(' ')} → ${kind}`, () => assert.equal(classifyCommand(cmd(...args)), kind));

  test('inline commands classify the same way', () => {
    const [e] = scanRequests([bytes('cluster   SLOTS\r\n')]);
    assert.equal(classifyCommand(e as Command), 'cluster-slots');
  });

  test('topologyOf and helloVersion', () => {
    assert.equal(topologyOf('cluster-slots'), 'slots');
    assert.equal(topologyOf('cluster-shards'), 'shards');
    assert.equal(topologyOf('cluster-nodes'), 'nodes');
    assert.equal(topologyOf('cluster-replicas'), 'replicas');
    assert.equal(topologyOf('hello'), null);
    assert.equal(helloVersion(cmd('HELLO', '3')), 3);
    assert.equal(helloVersion(cmd('HELLO', '2', 'AUTH', 'u', 'p')), 2);
    assert.equal(helloVersion(cmd('HELLO')), null);
    assert.equal(helloVersion(cmd('HELLO', 'x')), null);
  });
});
