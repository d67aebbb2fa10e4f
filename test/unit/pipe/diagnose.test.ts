// Goal: a failed handshake is named from the peer's first bytes (or their absence) with the
// exact text an operator reads, and is counted under its own reason; anything else keeps the
// generic report (null).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROBE_TEXT, PeerSniff, SILENT_TEXT } from '../../../src/pipe/diagnose.js';
import { SNIFF_LEN } from '../../../src/protocol/sniff.js';

function heard(...chunks: string[]): PeerSniff {
  const s = new PeerSniff();
  for (const c of chunks) s.record(Buffer.from(c, 'latin1'));
  return s;
}

test('no byte then EOF or reset at -d is a probe, logged at debug as EPROBE', () => {
  const probe = { reason: 'EPROBE', level: 'debug', text: PROBE_TEXT };
  assert.deepEqual(heard().diagnose('ETRUNC', 'accepted', true), probe);
  assert.deepEqual(heard().diagnose('ESOCKET', 'accepted', true, 'ECONNRESET'), probe);
  assert.equal(
    PROBE_TEXT,
    'connection closed before sending any byte (a load balancer or TCP health check probe)',
  );
  // Seen from -e, or on a timeout, an empty opening is not a probe.
  assert.equal(heard().diagnose('ETRUNC', 'dialled', true), null);
  assert.equal(heard().diagnose('ETIMEDOUT', 'accepted', true), null);
});

test('-e: -t accepted and stayed silent until -o is ESILENT; a dial timeout is not', () => {
  assert.deepEqual(heard().diagnose('ETIMEDOUT', 'dialled', true), {
    reason: 'ESILENT',
    level: 'warn',
    text:
      'handshake failed: the -t address accepted the connection but sent nothing within the -o ' +
      'timeout; a spiped/cloakpipe -d end sends 32 bytes at once: is -t a plain server such as ' +
      'Redis, which waits for a command? Point -t at the -d end',
  });
  assert.equal(SILENT_TEXT.startsWith('handshake failed: '), true);
  assert.equal(heard().diagnose('ETIMEDOUT', 'dialled', false), null);
});

test('recognised openings are ENOTPEER with the hint, whatever the raw reason', () => {
  const redis = heard('*1\r\n$4\r', '\nPING\r\n').diagnose('ETRUNC', 'accepted', true);
  assert.deepEqual(redis, {
    reason: 'ENOTPEER',
    level: 'warn',
    text:
      'handshake failed: this looks like a Redis client speaking plaintext to the -d end: ' +
      'point the client at the -e end',
  });
  const ssh = heard('SSH-2.0-OpenSSH_9.6\r\n').diagnose('ETIMEDOUT', 'dialled', true);
  assert.equal(
    ssh?.text,
    'handshake failed: the peer speaks SSH, not the spiped protocol: check the port numbers of -s and -t',
  );
  const http = heard('HTTP/1.1 400 Bad Request\r\n').diagnose(
    'ESOCKET',
    'dialled',
    true,
    'ECONNRESET',
  );
  assert.equal(http?.reason, 'ENOTPEER');
  assert.match(http!.text, /answers like an HTTP server/);
});

test('random bytes that match a short pattern by chance are not named', () => {
  // An inline-command look-alike and a TLS look-alike, each with a non-text or impossible byte.
  assert.equal(heard('GETx \x8f\x01\xa2').diagnose('EBADMAC', 'accepted', true), null);
  assert.equal(heard('\x16\x03\x09\x00\x10\x01').diagnose('EBADMAC', 'accepted', true), null);
  assert.equal(heard('\x16\x03\x01\x00\x10\x07').diagnose('EBADMAC', 'accepted', true), null);
  assert.equal(
    heard('\x16\x03\x01\x02\x00\x01\x00\x01').diagnose('EBADMAC', 'accepted', true)?.reason,
    'ENOTPEER',
  );
  assert.equal(
    heard('\x15\x03\x03\x00\x02').diagnose('ETRUNC', 'dialled', true)?.reason,
    'ENOTPEER',
  );
});

test('random bytes (a wrong key) keep the generic report; clear() forgets', () => {
  const s = heard('\x8f\x01\xa2\x33\x00\xfe\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0');
  assert.equal(s.length, SNIFF_LEN);
  assert.equal(s.diagnose('EBADMAC', 'accepted', true), null);
  const r = heard('GET / HTTP/1.1\r\n');
  r.clear();
  assert.equal(r.length, 0);
  assert.equal(r.diagnose('EBADMAC', 'accepted', true), null);
});
