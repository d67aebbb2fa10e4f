// Goal: the command line behaves like spiped's: conflicting or missing flags exit 1 with usage on
// stderr before anything listens; --help and -v work; key-file problems are named clearly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { VERSION } from '../../src/cli/args.js';
import { BIN, ROOT, runCloakpipe, startCloakpipe, startEnd } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

after(stopAll);

const dir = tempDir();
const key = join(dir, 'key');
writeFileSync(key, randomBytes(32), { mode: 0o600 });
const base = ['-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', key];

describe('usage errors exit 1 with the usage text', () => {
  const cases: [string, string[], RegExp][] = [
    ['-e with -d', ['-e', '-d', ...base], /-e and -d are mutually exclusive/],
    ['neither -e nor -d', [...base], /exactly one of -e .* or -d/],
    ['-f with -g', ['-e', '-f', '-g', ...base], /-f .* and -g .* are mutually exclusive/],
    ['-r with -R', ['-e', '-r', '10', '-R', ...base], /-r and -R are mutually exclusive/],
    ['missing -s', ['-e', '-t', '[127.0.0.1]:9', '-k', key], /missing -s/],
    ['missing -t', ['-e', '-s', '[127.0.0.1]:0', '-k', key], /missing -t/],
    ['missing -k', ['-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9'], /missing -k/],
    ['two keys on -e', ['-e', ...base, '-k', key], /-e takes exactly one -k/],
    ['negative -n', ['-e', ...base, '-n', '-1'], /-n must be a non-negative integer/],
    ['zero -o', ['-e', ...base, '-o', '0'], /-o must be greater than 0/],
    ['unknown flag', ['-e', ...base, '--bogus'], /^cloakpipe: unknown option --bogus\n/],
    [
      'mistyped flag',
      ['-e', ...base, '--shutdown-timout', '5'],
      /^cloakpipe: unknown option --shutdown-timout \(did you mean --shutdown-timeout\?\)\n/,
    ],
    [
      'bad source address',
      ['-e', '-s', 'nonsense', '-t', '[127.0.0.1]:9', '-k', key],
      /bad address 'nonsense'/,
    ],
    [
      'unbracketed IPv6',
      ['-e', '-s', '::1:80', '-t', '[127.0.0.1]:9', '-k', key],
      /must be written in brackets/,
    ],
    [
      'a redis:// URL as -t',
      ['-e', '-s', '[127.0.0.1]:0', '-t', 'redis://10.0.0.5:6379', '-k', key],
      /^cloakpipe: bad address 'redis:\/\/10\.0\.0\.5:6379': addresses are host:port, not URLs \(write 10\.0\.0\.5:6379\)/,
    ],
    [
      'port out of range',
      ['-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:70000', '-k', key],
      /out of range/,
    ],
    ['bad crypto engine', ['-e', ...base, '--crypto', 'rot13'], /Invalid values/],
    ['--syslog', ['-e', ...base, '--syslog'], /--syslog is not supported.*journal/],
    ['bad -b', ['-e', ...base, '-b', 'not-an-ip'], /-b not-an-ip: expected an IP address/],
    [
      '--cluster-auth without --cluster',
      ['-d', ...base, '--cluster-auth', key],
      /--cluster-auth is for the -d end in --cluster mode/,
    ],
    [
      '--cluster-auth on -e',
      ['-e', '--cluster', ...base, '--cluster-auth', key],
      /--cluster-auth is for the -d end in --cluster mode/,
    ],
    [
      '--cluster-auth from standard input',
      ['-d', '--cluster', ...base, '--cluster-auth=-'],
      /--cluster-auth needs a file/,
    ],
  ];
  for (const [name, args, re] of cases) {
    test(`${name}: exit 1, the error, the synopsis and a pointer to --help on stderr`, async () => {
      const r = await runCloakpipe(args);
      assert.equal(r.code, 1, r.output);
      const lines = r.stderr.split('\n');
      assert.equal(lines.length, 4, r.stderr);
      assert.match(lines[0]!, /^cloakpipe: /);
      assert.match(`${lines[0]}\n`, re);
      assert.deepEqual(lines.slice(1), [
        'usage: cloakpipe {-e | -d} -s <source> -t <target> -k <key file> [options]',
        "Try 'cloakpipe --help' for more.",
        '',
      ]);
      assert.equal(r.stdout, '');
    });
  }
});

test('--help lists every spiped flag and the long aliases, exit 0', async () => {
  const r = await runCloakpipe(['--help']);
  assert.equal(r.code, 0);
  for (const flag of [
    '-e',
    '-d',
    '-s',
    '-t',
    '-k',
    '-b',
    '-D',
    '-F',
    '-f',
    '-g',
    '-j',
    '-n',
    '-o',
    '-p',
    '-r',
    '-R',
    '-u',
  ])
    assert.match(r.stdout, new RegExp(`\\s${flag},`), `${flag} in --help`);
  for (const long of [
    '--encrypt',
    '--source',
    '--target',
    '--key',
    '--max-conns',
    '--timeout',
    '--log-level',
  ])
    assert.ok(r.stdout.includes(long), `${long} in --help`);
  assert.match(
    r.stdout,
    /--shutdown-timeout .*\(0 = wait forever\)\s+\[number\] \[default: 300\]/s,
  );
});

test('-v prints the version, which matches package.json', async () => {
  const r = await runCloakpipe(['-v']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `cloakpipe ${VERSION}`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(pkg.version, VERSION);
});

test('a missing key file exits 1 with one line naming the file and the OS reason', async () => {
  const missing = join(dir, 'no-such-key');
  const r = await runCloakpipe(['-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', missing]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `cloakpipe: cannot read key file ${missing}: no such file (ENOENT)\n`);
  assert.equal(r.stdout, '');
});

test('an unreadable key file exits 1 naming our uid and the file owner and mode', () => {
  // As root, read as uid 65534 a root-owned 0600 file; as anyone else, read a 0000 file of our own.
  const open = tempDir();
  chmodSync(open, 0o755);
  const locked = join(open, 'locked.key');
  writeFileSync(locked, randomBytes(32), { mode: 0o600 });
  const root = process.getuid!() === 0;
  if (!root) chmodSync(locked, 0o000);
  const uid = root ? 65534 : process.getuid!();
  const gid = root ? 65534 : process.getgid!();
  const r = spawnSync(
    process.execPath,
    [BIN, '-F', '-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', locked],
    { encoding: 'utf8', timeout: 10_000, ...(root ? { uid, gid } : {}) },
  );
  assert.equal(r.status, 1, r.stderr);
  const st = statSync(locked);
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  assert.equal(
    r.stderr,
    `cloakpipe: cannot read key file ${locked}: permission denied (EACCES): this process runs as ` +
      `uid ${uid} (gid ${gid}); the file is owned by uid ${st.uid} (gid ${st.gid}) with mode ` +
      `${mode}; fix with: chown ${uid} ${locked} (or run as its owner)\n`,
  );
});

test('a group-readable key file draws a loud warning naming the file and chmod 600', async () => {
  const loose = join(dir, 'loose.key');
  writeFileSync(loose, randomBytes(32));
  chmodSync(loose, 0o640);
  const { proc } = await startEnd('-e', '[127.0.0.1]:9', loose);
  await proc.waitFor(/WARNING: key file .*loose\.key is readable by its group.*chmod 600/);
  await proc.stop();
});

test('--cluster-auth: a missing file exits 1 naming it; an empty one exits 1 with the reason; a group-readable one is warned about', async () => {
  const args = ['-d', '--cluster', '-s', '[127.0.0.1]:0', '-t', '127.0.0.1:9', '-k', key];
  const missing = join(dir, 'no-such-auth');
  let r = await runCloakpipe([...args, '--cluster-auth', missing]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read cluster auth file .*no-such-auth: no such file \(ENOENT\)/);
  const empty = join(dir, 'empty-auth');
  writeFileSync(empty, '\n', { mode: 0o600 });
  r = await runCloakpipe([...args, '--cluster-auth', empty]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--cluster-auth .*empty-auth: the file is empty/);
  const loose = join(dir, 'loose-auth');
  writeFileSync(loose, 'hunter2\n');
  chmodSync(loose, 0o644);
  const { proc } = await startCloakpipe([...args, '--cluster-auth', loose]);
  await proc.waitFor(/WARNING: cluster auth file .*loose-auth is readable by others.*chmod 600/);
  assert.ok(!proc.output().includes('hunter2'), 'the password never reaches the log');
  await proc.stop();
});

test('a short key file draws a warning', async () => {
  const short = join(dir, 'short.key');
  writeFileSync(short, 'tooshort', { mode: 0o600 });
  const { proc } = await startEnd('-e', '[127.0.0.1]:9', short);
  await proc.waitFor(/holds only 8 bytes/);
  await proc.stop();
});

test('an empty key file exits 1 naming cloakpipe keygen; --insecure-empty-key accepts it with a warning', async () => {
  const empty = join(dir, 'empty.key');
  writeFileSync(empty, '', { mode: 0o600 });
  const r = await runCloakpipe(['-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', empty]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `cloakpipe: cannot use key file ${empty}: the file is empty, and an empty key is no secret; ` +
      'make a key with: cloakpipe keygen FILE (or pass --insecure-empty-key to accept it anyway)\n',
  );
  assert.equal(r.stdout, '');
  const { proc } = await startEnd('-e', '[127.0.0.1]:9', empty, ['--insecure-empty-key']);
  await proc.waitFor(/holds only 0 bytes/);
  await proc.stop();
});

test('keygen writes 32 random bytes with mode 0600 and refuses to overwrite', async () => {
  const out = join(dir, 'new.key');
  const r1 = await runCloakpipe(['keygen', out]);
  assert.equal(r1.code, 0, r1.output);
  assert.equal(statSync(out).size, 32);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const first = readFileSync(out);
  const r2 = await runCloakpipe(['keygen', out]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /refusing to overwrite/);
  assert.deepEqual(readFileSync(out), first);
});

test('keygen --help prints its usage on stdout and exits 0; a bad keygen line names keygen', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await runCloakpipe(['keygen', flag]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^usage: cloakpipe keygen <file>\n\nWrite 32 random bytes to <file>/);
    assert.equal(r.stderr, '');
  }
  const r = await runCloakpipe(['keygen']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "cloakpipe: keygen needs the file to write\nusage: cloakpipe keygen <file>\nTry 'cloakpipe keygen --help' for more.\n",
  );
});

test('spipe usage errors have the same shape, with the spipe synopsis', async () => {
  const r = await runCloakpipe(['spipe', '-k', key]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'cloakpipe: missing -t <target>\n' +
      'usage: cloakpipe spipe -t <target> -k <key file> [-f | -g] [-j] [-o <timeout s>] [-b <bind addr>] [--framing compact]\n' +
      "Try 'cloakpipe spipe --help' for more.\n",
  );
});

test('environment variables are a second source (CLOAKPIPE_*), the command line wins', async () => {
  const env = {
    CLOAKPIPE_ENCRYPT: 'true',
    CLOAKPIPE_SOURCE: '[127.0.0.1]:0',
    CLOAKPIPE_TARGET: '[127.0.0.1]:9',
    CLOAKPIPE_KEY: key,
    CLOAKPIPE_MAX_CONNS: '7',
  };
  const { proc, address } = await startCloakpipe([], { env });
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  await proc.waitFor(/"max_conns":7/);
  await proc.stop();
  const r = await startCloakpipe(['-n', '9'], { env });
  await r.proc.waitFor(/"max_conns":9/);
  await r.proc.stop();
});

test('variables named CLOAKPIPE or CLOAKPIPEX (no underscore) are not read', async () => {
  const { proc } = await startCloakpipe(['-e', ...base], {
    env: { CLOAKPIPE: 'x', CLOAKPIPEX: 'y' },
  });
  await proc.stop();
  assert.ok(!/CLOAKPIPEX?\b|Unknown argument/.test(proc.output()), proc.output());
});

test('boolean variables take 1/yes/on: CLOAKPIPE_ENCRYPT=1 and CLOAKPIPE_REQUIRE_PFS=on turn -e and -g on', async () => {
  const { proc } = await startCloakpipe(base, {
    env: { CLOAKPIPE_ENCRYPT: '1', CLOAKPIPE_REQUIRE_PFS: 'on' },
  });
  await proc.waitFor(/"mode":"encrypt".*"pfs":"required"/);
  await proc.stop();
});

describe('a value that does not fit its option is a usage error naming where it came from', () => {
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    [
      'a boolean variable',
      base,
      { CLOAKPIPE_ENCRYPT: 'maybe' },
      'CLOAKPIPE_ENCRYPT=maybe: expected 1/0, true/false, yes/no or on/off',
    ],
    [
      'a number variable',
      ['-e', ...base],
      { CLOAKPIPE_MAX_CONNS: 'lots' },
      'CLOAKPIPE_MAX_CONNS=lots: not a number',
    ],
    ['a number flag', ['-e', ...base, '-n', 'abc'], {}, '-n abc: not a number'],
  ];
  for (const [name, args, env, message] of cases)
    test(name, async () => {
      const r = await runCloakpipe(args, { env });
      assert.equal(r.code, 1, r.output);
      assert.equal(r.stderr.split('\n')[0], `cloakpipe: ${message}`);
    });
});

test('listening on an address in use exits 1 with the reason', async () => {
  const { proc, address } = await startCloakpipe(['-e', ...base]);
  const r = await runCloakpipe([
    '-e',
    '-s',
    `[${address.replace(/:(\d+)$/, ']:$1')}`,
    '-t',
    '[127.0.0.1]:9',
    '-k',
    key,
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `cloakpipe: cannot listen on ${address}: EADDRINUSE\n`);
  await proc.stop();
});

test('SIGTERM with no connections exits 0 at once', async () => {
  const { proc } = await startCloakpipe(['-d', ...base]);
  assert.equal(await proc.stop('SIGTERM'), 0);
});
