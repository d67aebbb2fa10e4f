// Goal: sniffPeer names the usual miswirings (a Redis client at -d, Redis itself behind -e's -t, HTTP,
// TLS, SSH) from the opening bytes, from the right side only, and names nothing for random bytes
// such as a spiped nonce.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SNIFF_LEN, sniffPeer } from '../../../src/protocol/sniff.js';

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('sniffPeer', () => {
  const accepted: [string, Buffer, string | null][] = [
    ['RESP array (redis-cli PING)', text('*1\r\n$4\r\nPING\r\n'), 'redis-client'],
    ['inline command', text('PING\r\n'), 'redis-client'],
    ['inline with argument', text('get foo\r\n'), 'redis-client'],
    ['HTTP GET', text('GET /healthz HTTP/1.1\r\n'), 'http-client'],
    ['HTTP/2 preface', text('PRI * HTTP/2.0\r\n'), 'http-client'],
    ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'tls'],
    ['SSH banner', text('SSH-2.0-OpenSSH_9.2\r\n'), 'ssh'],
    ['a Redis reply is not a client', text('-ERR unknown command\r\n'), null],
    ['a star without a count', text('*x'), null],
    ['two letters', text('ab\r\n'), null],
  ];
  for (const [name, head, kind] of accepted)
    test(`accepted side: ${name} → ${kind ?? 'nothing'}`, () => {
      assert.equal(sniffPeer(head, 'accepted')?.kind ?? null, kind);
    });

  const dialled: [string, Buffer, string | null][] = [
    ['Redis error reply', text('-ERR unknown command `\x8f`\r\n'), 'redis-server'],
    ['Redis NOAUTH', text('-NOAUTH Authentication required.\r\n'), 'redis-server'],
    ['HTTP response', text('HTTP/1.1 400 Bad Request\r\n'), 'http-server'],
    ['TLS alert', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]), 'tls'],
    ['SSH banner', text('SSH-2.0-OpenSSH_9.2\r\n'), 'ssh'],
    ['a request is not a server', text('*1\r\n$4\r\nPING\r\n'), null],
    ['lower-case after the dash', text('-err\r\n'), null],
  ];
  for (const [name, head, kind] of dialled)
    test(`dialled side: ${name} → ${kind ?? 'nothing'}`, () => {
      assert.equal(sniffPeer(head, 'dialled')?.kind ?? null, kind);
    });

  test('the hints say what to fix, in words an operator can act on', () => {
    assert.equal(
      sniffPeer(text('*1\r\n$4\r\nPING\r\n'), 'accepted')?.hint,
      'this looks like a Redis client speaking plaintext to the -d end: point the client at the -e end',
    );
    assert.match(sniffPeer(text('-ERR x\r\n'), 'dialled')!.hint, /point -t at the -d end/);
  });

  test('only the first SNIFF_LEN bytes count, and nothing is read past the input', () => {
    assert.equal(SNIFF_LEN, 16);
    const longWord = text(`${'A'.repeat(SNIFF_LEN)} x\r\n`); // the terminator lies past the window
    assert.equal(sniffPeer(longWord, 'accepted'), null);
    assert.equal(sniffPeer(new Uint8Array(0), 'accepted'), null);
    assert.equal(sniffPeer(text('S'), 'dialled'), null);
  });

  test('random nonces are almost never named (fewer than 1 in 1000)', () => {
    let named = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = randomBytes(32);
      if (sniffPeer(n, 'accepted') || sniffPeer(n, 'dialled')) named++;
    }
    assert.ok(named < 20, `${named} of 20000 random nonces were named`);
  });

  test('never throws, whatever the bytes and side', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (b, acc) => {
        const r = sniffPeer(b, acc ? 'accepted' : 'dialled');
        assert.ok(r === null || (typeof r.hint === 'string' && r.hint.length > 20));
      }),
    );
  });
});
