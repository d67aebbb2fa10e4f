// Goal: buildConfig turns parsed arguments into a Config with every default applied, and refuses
// every flag conflict with a UsageError whose message names the flags, without touching the system.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildParser, type TunnelArgs } from '../../../src/cli/args.js';
import { buildConfig, parsePortRange } from '../../../src/cli/config.js';
import { UsageError } from '../../../src/cli/errors.js';

const BASE = ['-s', '[127.0.0.1]:7000', '-t', 'redis.internal:6379', '-k', '/etc/k'];

/** Parse argv exactly as main() does (no environment), then build. */
function build(argv: string[]): ReturnType<typeof buildConfig> {
  const a = buildParser(argv).env(false).exitProcess(false).parseSync() as unknown as TunnelArgs;
  return buildConfig(a);
}

function refuses(argv: string[], message: string | RegExp): void {
  assert.throws(
    () => build(argv),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('buildConfig defaults', () => {
  test('-e with only -s, -t and -k: spiped defaults and cloakpipe defaults', () => {
    const c = build(['-e', ...BASE]);
    assert.equal(c.mode, 'encrypt');
    assert.deepEqual(c.source, { kind: 'tcp', host: '127.0.0.1', port: 7000, literal: true });
    assert.deepEqual(c.target, { kind: 'tcp', host: 'redis.internal', port: 6379, literal: false });
    assert.deepEqual(c.keyFiles, ['/etc/k']);
    assert.equal(c.allowEmptyKey, false);
    assert.equal(c.bind, null);
    assert.equal(c.noPfs, false);
    assert.equal(c.requirePfs, false);
    assert.equal(c.timeoutMs, 5000);
    assert.equal(c.maxConns, 100);
    assert.equal(c.refreshSeconds, 60);
    assert.equal(c.waitDns, false);
    assert.equal(c.keepAlive, true);
    assert.equal(c.keepAliveDelayMs, 0);
    assert.equal(c.idleTimeoutMs, 0);
    assert.equal(c.halfCloseTimeoutMs, 0);
    assert.equal(c.maxLifetimeMs, 0);
    assert.equal(c.shutdownTimeoutMs, 300_000, '--shutdown-timeout: 5 minutes');
    assert.equal(c.pidFile, null);
    assert.equal(c.user, null);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.numericLevels, false);
    assert.equal(c.engine, 'node');
    assert.equal(c.framing, 'spiped', '--framing: spiped by default');
    assert.equal(c.bucket, 64);
    assert.equal(c.dhPool, 4);
    assert.equal(c.metrics, null);
    assert.equal(c.readyProbe, false);
    assert.equal(c.cluster, null);
    assert.equal(c.workers, 1);
    assert.equal(c.workersSchedule, null);
  });

  test('--workers with --metrics, -k - and a schedule; auto is the cores given', () => {
    const c = build([
      '-d',
      '-s',
      'h:1',
      '-t',
      'h:2',
      '-k',
      '-',
      '--workers',
      '3',
      '--metrics',
      '9100',
      '--workers-schedule',
      'kernel',
    ]);
    assert.deepEqual([c.workers, c.workersSchedule, c.keyFiles], [3, 'kernel', ['-']]);
    assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 9100 });
    const a = buildParser(['-e', ...BASE, '--workers', 'auto'])
      .env(false)
      .exitProcess(false)
      .parseSync();
    assert.equal(buildConfig(a as unknown as TunnelArgs, 6).workers, 6);
  });

  test('--framing compact with and without --frame-bucket', () => {
    assert.deepEqual(
      [build(['-e', ...BASE, '--framing', 'compact'])].map((c) => [c.framing, c.bucket]),
      [['compact', 64]],
    );
    const c = build(['-d', ...BASE, '--framing', 'compact', '--frame-bucket', '1024']);
    assert.equal(c.framing, 'compact');
    assert.equal(c.bucket, 1024);
  });

  test('seconds become ms; -R means never re-resolve; -j turns keepalive off', () => {
    const c = build(['-d', ...BASE, '-o', '2.5', '-R', '-j', '--keepalive-delay', '30']);
    assert.equal(c.mode, 'decrypt');
    assert.equal(c.timeoutMs, 2500);
    assert.equal(c.refreshSeconds, 0);
    assert.equal(c.keepAlive, false);
    assert.equal(c.keepAliveDelayMs, 30_000);
    assert.equal(build(['-d', ...BASE, '-r', '5']).refreshSeconds, 5);
  });

  test('--shutdown-timeout 0 waits forever (0 ms = no limit)', () => {
    assert.equal(build(['-e', ...BASE, '--shutdown-timeout', '0']).shutdownTimeoutMs, 0);
  });

  test('--insecure-empty-key is kept', () => {
    assert.equal(build(['-e', ...BASE, '--insecure-empty-key']).allowEmptyKey, true);
  });

  test('-f makes no DH pool; -g is kept', () => {
    assert.equal(build(['-e', ...BASE, '-f']).dhPool, 0);
    const g = build(['-e', ...BASE, '-g', '--dh-pool', '9']);
    assert.equal(g.requirePfs, true);
    assert.equal(g.dhPool, 9);
  });

  test('-d keeps every -k in order; -b, -u and --metrics are parsed', () => {
    const c = build(['-d', ...BASE, '-k', '/etc/k2', '-b', '[::1]:4000', '-u', 'nobody:nogroup']);
    assert.deepEqual(c.keyFiles, ['/etc/k', '/etc/k2']);
    assert.deepEqual(c.bind, { address: '::1', port: 4000 });
    assert.deepEqual(c.user, { user: 'nobody', group: 'nogroup' });
    assert.deepEqual(build(['-d', ...BASE, '-u', 'nobody']).user, { user: 'nobody', group: null });
    assert.deepEqual(build(['-d', ...BASE, '--metrics', '9100']).metrics, {
      host: '127.0.0.1',
      port: 9100,
    });
  });

  test('--workers 2 with --cluster, on both ends', () => {
    for (const end of ['-e', '-d']) {
      const c = build([end, '--cluster', ...BASE, '--workers', '2']);
      assert.equal(c.workers, 2);
      assert.equal(c.cluster?.end, end === '-e' ? 'encrypt' : 'decrypt');
    }
  });

  test('--cluster -e: node ports follow the -s port; the advertised host follows -s', () => {
    const c = build(['-e', '--cluster', ...BASE]);
    assert.deepEqual(c.cluster, {
      end: 'encrypt',
      bindHost: '127.0.0.1',
      advertiseHost: '127.0.0.1',
      ports: { from: 7001, to: 7064 },
    });
    const any = build(['-e', '--cluster', '-s', '0.0.0.0:65500', '-t', 'h:1', '-k', 'k']);
    assert.deepEqual(any.cluster, {
      end: 'encrypt',
      bindHost: '0.0.0.0',
      advertiseHost: '127.0.0.1',
      ports: { from: 65501, to: 65535 },
    });
    const v6 = build(['-e', '--cluster', '-s', '[::]:0', '-t', 'h:1', '-k', 'k']);
    assert.deepEqual(v6.cluster, {
      end: 'encrypt',
      bindHost: '::',
      advertiseHost: '::1',
      ports: null,
    });
    const set = build([
      '-e',
      '--cluster',
      ...BASE,
      '--cluster-ports',
      '8000-8010',
      '--advertise-host',
      'proxy.example',
    ]);
    assert.deepEqual(set.cluster, {
      end: 'encrypt',
      bindHost: '127.0.0.1',
      advertiseHost: 'proxy.example',
      ports: { from: 8000, to: 8010 },
    });
  });

  test('--cluster -d: the target is the seed; --cluster-auth and --cluster-refresh are kept', () => {
    const c = build([
      '-d',
      '--cluster',
      ...BASE,
      '--cluster-auth',
      '/etc/a',
      '--cluster-refresh',
      '3',
    ]);
    assert.deepEqual(c.cluster, {
      end: 'decrypt',
      seed: { host: 'redis.internal', port: 6379 },
      refreshSeconds: 3,
      authFile: '/etc/a',
    });
  });
});

describe('buildConfig refuses conflicts with a UsageError', () => {
  const cases: [string, string[], string | RegExp][] = [
    ['-e with -d', ['-e', '-d', ...BASE], '-e and -d are mutually exclusive'],
    ['neither', [...BASE], 'exactly one of -e (encrypt) or -d (decrypt) is required'],
    [
      '-f with -g',
      ['-e', '-f', '-g', ...BASE],
      '-f (no forward secrecy) and -g (require forward secrecy) are mutually exclusive',
    ],
    ['-r with -R', ['-e', ...BASE, '-r', '5', '-R'], '-r and -R are mutually exclusive'],
    ['no -s', ['-e', '-t', 'h:1', '-k', 'k'], 'missing -s <source>'],
    ['no -t', ['-e', '-s', 'h:1', '-k', 'k'], 'missing -t <target>'],
    ['no -k', ['-e', '-s', 'h:1', '-t', 'h:2'], 'missing -k <key>'],
    ['empty -k', ['-e', '-s', 'h:1', '-t', 'h:2', '-k', ''], 'missing -k <key>'],
    [
      'two -k on -e',
      ['-e', ...BASE, '-k', 'k2'],
      '-e takes exactly one -k key file (several keys are for -d, during rotation)',
    ],
    ['-s twice', ['-e', ...BASE, '-s', 'h:9'], '-s given more than once'],
    ['-t twice', ['-e', ...BASE, '-t', 'h:9'], '-t given more than once'],
    ['-p twice', ['-e', ...BASE, '-p', 'a', '-p', 'b'], '-p given more than once'],
    ['negative -n', ['-e', ...BASE, '-n', '-1'], '-n must be a non-negative integer, got -1'],
    ['fractional -n', ['-e', ...BASE, '-n', '1.5'], '-n must be a non-negative integer, got 1.5'],
    ['zero -o', ['-e', ...BASE, '-o', '0'], '-o must be greater than 0'],
    ['negative -o', ['-e', ...BASE, '-o', '-2'], '-o must be a non-negative number, got -2'],
    ['zero -r', ['-e', ...BASE, '-r', '0'], '-r must be at least 1 (use -R to never re-resolve)'],
    [
      'negative --shutdown-timeout',
      ['-e', ...BASE, '--shutdown-timeout', '-1'],
      '--shutdown-timeout must be a non-negative number, got -1',
    ],
    [
      'fractional --dh-pool',
      ['-e', ...BASE, '--dh-pool', '0.5'],
      '--dh-pool must be a non-negative integer, got 0.5',
    ],
    [
      '--cluster-ports without --cluster',
      ['-e', ...BASE, '--cluster-ports', '1-2'],
      '--cluster-ports and --advertise-host need --cluster',
    ],
    [
      '--advertise-host on -d',
      ['-d', '--cluster', ...BASE, '--advertise-host', 'x'],
      '--cluster-ports and --advertise-host are for the -e end',
    ],
    [
      '--cluster-auth on -e',
      ['-e', '--cluster', ...BASE, '--cluster-auth', 'a'],
      '--cluster-auth is for the -d end in --cluster mode',
    ],
    [
      '--cluster-auth from stdin',
      ['-d', '--cluster', ...BASE, '--cluster-auth=-'],
      '--cluster-auth needs a file (standard input is for -k -)',
    ],
    [
      'bad --cluster-ports',
      ['-e', '--cluster', ...BASE, '--cluster-ports', '9-3'],
      '--cluster-ports 9-3: expected A-B with 1 ≤ A ≤ B ≤ 65535',
    ],
    ['zero --workers', ['-e', ...BASE, '--workers', '0'], '--workers must be at least 1'],
    [
      '--workers not a number',
      ['-e', ...BASE, '--workers', 'many'],
      '--workers many: expected a number or auto',
    ],
    [
      'fractional --workers',
      ['-e', ...BASE, '--workers', '1.5'],
      '--workers 1.5: expected a number or auto',
    ],

    ['--ready-probe alone', ['-e', ...BASE, '--ready-probe'], '--ready-probe needs --metrics'],
    [
      'negative --idle-timeout',
      ['-e', ...BASE, '--idle-timeout', '-3'],
      '--idle-timeout must be a non-negative number, got -3',
    ],
    ['--syslog', ['-e', ...BASE, '--syslog'], /^--syslog is not supported: .*journal/],
    [
      '--frame-bucket without --framing compact',
      ['-e', ...BASE, '--frame-bucket', '128'],
      '--frame-bucket needs --framing compact',
    ],
    [
      '--frame-bucket below the range',
      ['-e', ...BASE, '--framing', 'compact', '--frame-bucket', '8'],
      '--frame-bucket: padding bucket must be an integer in 16..16384, got 8',
    ],
    [
      'fractional --frame-bucket',
      ['-d', ...BASE, '--framing', 'compact', '--frame-bucket', '100.5'],
      '--frame-bucket: padding bucket must be an integer in 16..16384, got 100.5',
    ],
    [
      '--frame-bucket above the range',
      ['-d', ...BASE, '--framing', 'compact', '--frame-bucket', '16385'],
      '--frame-bucket: padding bucket must be an integer in 16..16384, got 16385',
    ],
    [
      'bad -s',
      ['-e', '-s', 'nonsense', '-t', 'h:1', '-k', 'k'],
      "bad address 'nonsense': no port (and not an absolute path) (expected /absolute/unix/path, host:port, [IPv4]:port or [IPv6]:port)",
    ],
    [
      'fd: as -t',
      ['-e', '-s', 'h:1', '-t', 'fd:3', '-k', 'k'],
      /^bad address 'fd:3': fd:N is only accepted as a source/,
    ],
    [
      'host name as -b',
      ['-e', ...BASE, '-b', 'not-an-ip'],
      '-b not-an-ip: expected an IP address, [IP]:port or IPv4:port',
    ],
    [
      'bad --metrics',
      ['-e', ...BASE, '--metrics', 'x:y'],
      '--metrics x:y: expected port, host:port or [IPv6]:port',
    ],
    [
      '--cluster -d with a UNIX target',
      ['-d', '--cluster', '-s', 'h:1', '-t', '/run/redis.sock', '-k', 'k'],
      '--cluster -d needs a TCP seed node as -t (host:port)',
    ],
  ];
  for (const [name, argv, message] of cases) test(name, () => refuses(argv, message));
});

test('parsePortRange: A-B within 1..65535 and A ≤ B, else null', () => {
  assert.deepEqual(parsePortRange('1-65535'), { from: 1, to: 65535 });
  assert.deepEqual(parsePortRange('7000-7000'), { from: 7000, to: 7000 });
  for (const bad of ['0-10', '10-9', '1-65536', '5', 'a-b', '1-2-3', ''])
    assert.equal(parsePortRange(bad), null, bad);
});
