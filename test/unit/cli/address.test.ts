// Goal: the one address parser (src/pipe/address.ts) accepts spiped's grammar for -s/-t, the -b
// forms and the --metrics forms, and names the input, the reason and the accepted forms when not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AddressError,
  formatAddress,
  parseAddress,
  parseBindAddress,
  parseMetricsAddress,
} from '../../../src/pipe/address.js';

function fails(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AddressError, String(err));
    assert.equal(err.message, message);
    return true;
  });
}

const FORMS = '(expected /absolute/unix/path, host:port, [IPv4]:port or [IPv6]:port)';

describe('parseAddress (-s, -t)', () => {
  test('the four spiped forms, and fd:N on -s', () => {
    assert.deepEqual(parseAddress('/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseAddress('redis:6379'), {
      kind: 'tcp',
      host: 'redis',
      port: 6379,
      literal: false,
    });
    assert.deepEqual(parseAddress('10.0.0.1:1'), {
      kind: 'tcp',
      host: '10.0.0.1',
      port: 1,
      literal: true,
    });
    assert.deepEqual(parseAddress('[10.0.0.1]:2'), {
      kind: 'tcp',
      host: '10.0.0.1',
      port: 2,
      literal: true,
    });
    assert.deepEqual(parseAddress('[::1]:3'), { kind: 'tcp', host: '::1', port: 3, literal: true });
    assert.deepEqual(parseAddress('fd:3', true), { kind: 'fd', fd: 3 });
    assert.equal(parseAddress('h:0', true).kind, 'tcp');
  });

  test('malformed input names the input, the reason and the forms', () => {
    fails(() => parseAddress(''), `bad address '': empty ${FORMS}`);
    fails(() => parseAddress('h'), `bad address 'h': no port (and not an absolute path) ${FORMS}`);
    fails(() => parseAddress('h:0'), `bad address 'h:0': port 0 is out of range 1-65535 ${FORMS}`);
    fails(
      () => parseAddress('h:70000'),
      `bad address 'h:70000': port 70000 is out of range 1-65535 ${FORMS}`,
    );
    fails(() => parseAddress('h:x'), `bad address 'h:x': port 'x' is not a number ${FORMS}`);
    fails(
      () => parseAddress('::1:80'),
      `bad address '::1:80': an IPv6 address must be written in brackets, [::1]:port ${FORMS}`,
    );
    fails(() => parseAddress('[::1'), `bad address '[::1': missing ']' ${FORMS}`);
    fails(
      () => parseAddress('[redis]:1'),
      `bad address '[redis]:1': 'redis' is not an IPv4 or IPv6 literal ${FORMS}`,
    );
    fails(
      () => parseAddress('fd:3'),
      `bad address 'fd:3': fd:N is only accepted as a source (-s) ${FORMS}`,
    );
  });

  test('formatAddress writes IPv6 in brackets and round-trips', () => {
    for (const t of ['/run/x.sock', 'redis:6379', '10.0.0.1:1', '[::1]:3'])
      assert.equal(formatAddress(parseAddress(t)), t.replace(/^\[(10\.0\.0\.1)\]/, '$1'));
    assert.equal(formatAddress(parseAddress('fd:4', true)), 'fd:4');
  });
});

describe('parseBindAddress (-b)', () => {
  test('IP, [IP], [IP]:port and IPv4:port', () => {
    assert.deepEqual(parseBindAddress('10.1.2.3'), { address: '10.1.2.3', port: 0 });
    assert.deepEqual(parseBindAddress('::1'), { address: '::1', port: 0 });
    assert.deepEqual(parseBindAddress('[::1]'), { address: '::1', port: 0 });
    assert.deepEqual(parseBindAddress('[fe80::1]:4000'), { address: 'fe80::1', port: 4000 });
    assert.deepEqual(parseBindAddress('10.1.2.3:5'), { address: '10.1.2.3', port: 5 });
  });

  test('host names, UNIX paths and bad ports are refused with the -b forms', () => {
    const forms = '(expected an IP address, [IP]:port or IPv4:port)';
    fails(
      () => parseBindAddress('not-an-ip'),
      `bad address 'not-an-ip': no port (and not an absolute path) ${forms}`,
    );
    fails(() => parseBindAddress('host:5'), `bad address 'host:5': not an IP address ${forms}`);
    fails(() => parseBindAddress('/tmp/s'), `bad address '/tmp/s': not an IP address ${forms}`);
    fails(
      () => parseBindAddress('1.2.3.4:70000'),
      `bad address '1.2.3.4:70000': port 70000 is out of range 1-65535 ${forms}`,
    );
  });
});

describe('parseMetricsAddress (--metrics)', () => {
  test('a bare port means 127.0.0.1; host:port and [IPv6]:port', () => {
    assert.deepEqual(parseMetricsAddress('9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsAddress('0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseMetricsAddress('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseMetricsAddress('localhost:9100'), { host: 'localhost', port: 9100 });
    assert.deepEqual(parseMetricsAddress('[::]:9100'), { host: '::', port: 9100 });
  });

  test('anything else is refused with the --metrics forms', () => {
    const forms = '(expected port, host:port or [IPv6]:port)';
    fails(
      () => parseMetricsAddress('70000'),
      `bad address '70000': port 70000 is out of range 1-65535 ${forms}`,
    );
    fails(() => parseMetricsAddress('x:y'), `bad address 'x:y': port 'y' is not a number ${forms}`);
    fails(() => parseMetricsAddress('/tmp/m'), `bad address '/tmp/m': not a TCP address ${forms}`);
    fails(() => parseMetricsAddress('fd:3'), `bad address 'fd:3': not a TCP address ${forms}`);
  });
});

describe('a URL given as an address', () => {
  test('says addresses are host:port and shows the address meant', () => {
    for (const [url, meant] of [
      ['redis://10.0.0.5:6379', '10.0.0.5:6379'],
      ['tcp://redis.internal:6380/0', 'redis.internal:6380'],
      ['redis://[::1]:6379', '[::1]:6379'],
      ['unix:///run/redis.sock', '/run/redis.sock'],
      ['redis://redis.internal', 'host:port'],
    ] as const)
      fails(
        () => parseAddress(url),
        `bad address '${url}': addresses are host:port, not URLs (write ${meant}) ${FORMS}`,
      );
  });

  test('never echoes a password written in the URL', () => {
    fails(
      () => parseAddress('rediss://app:hunter2@redis.internal:6380'),
      `bad address 'rediss://***@redis.internal:6380': addresses are host:port, not URLs (write redis.internal:6380) ${FORMS}`,
    );
  });
});
