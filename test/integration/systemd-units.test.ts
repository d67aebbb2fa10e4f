// Goal: contrib/systemd/cloakpipe@.service, instantiated as cloakpipe@redis-e and cloakpipe@redis-d,
// passes `systemd-analyze verify` without a single warning (its Documentation= finding the generated
// man page), keeps the hardening contract (credentials, DynamicUser, no capabilities, and no
// MemoryDenyWriteExecute, which V8's JIT cannot run under) with a low `systemd-analyze security`
// exposure, and its example env files, run exactly as its ExecStart= line runs cloakpipe, make a
// working tunnel pair that moves bytes intact and exits 0 on SIGTERM (systemd's stop).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseAddress } from '../../src/pipe/address.js';
import { requireBinary } from '../support/bins.js';
import { BIN, ROOT, startCloakpipe } from '../support/ends.js';
import { stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';

/** Temp directories this file made (copies of the host's units, about 1 MB each). */
const made: string[] = [];
after(async () => {
  await stopAll();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

const CONTRIB = join(ROOT, 'contrib', 'systemd');
const TEMPLATE = join(CONTRIB, 'cloakpipe@.service');
const INSTANCES = ['redis-e', 'redis-d'] as const;
/** systemd-analyze verify --root= and security --offline= arrived in systemd 250. */
const MIN_SYSTEMD = 250;
/** systemd substitutes this in ExecStart= with the service's private credentials directory. */
const CREDENTIALS_DIRECTORY = `\${CREDENTIALS_DIRECTORY}`;
/** `systemd-analyze security` exposure (0 = locked down, 10 = unprotected) we accept. */
const MAX_EXPOSURE = 2.5;

/** A unit file as section → key → values, in file order (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    assert.ok(!line.endsWith('\\'), `line ${n + 1}: no continuation lines, please`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `line ${n + 1} is neither a section nor Key=value: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

/** The single value of `key` in [Service] (asserting there is exactly one). */
function serviceValue(unit: Map<string, Map<string, string[]>>, key: string): string {
  const values = unit.get('Service')?.get(key) ?? [];
  assert.equal(values.length, 1, `[Service] ${key}= appears exactly once`);
  return values[0]!;
}

/**
 * An env file as NAME → value. Only plain `NAME=value` lines (no quotes, no `export`), so systemd's
 * EnvironmentFile= and a shell's `set -a; . file` read the same thing.
 */
function parseEnvFile(path: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const [n, raw] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const m = /^([A-Z][A-Z0-9_]*)=([^'"\s\\]*)$/.exec(raw);
    assert.ok(m, `${path}:${n + 1}: expected NAME=value without quotes or spaces, got: ${raw}`);
    assert.ok(m[1]!.startsWith('CLOAKPIPE_'), `${path}:${n + 1}: only CLOAKPIPE_* variables`);
    assert.ok(!vars.has(m[1]!), `${path}:${n + 1}: ${m[1]} set twice`);
    vars.set(m[1]!, m[2]!);
  }
  return vars;
}

/** systemd-analyze's path, failing with the install command if it is missing or too old. */
function systemdAnalyze(): string {
  const bin = requireBinary('systemd-analyze');
  const version = Number(
    /systemd (\d+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1],
  );
  assert.ok(
    version >= MIN_SYSTEMD,
    `systemd-analyze ${version} is too old: verify --root and security --offline need systemd >= ${MIN_SYSTEMD} (Debian 12, Ubuntu 24.04)`,
  );
  return bin;
}

/** The host's packaged units, which the instances depend on (sysinit.target, network-online.target …). */
function systemUnitDir(): string {
  for (const dir of ['/usr/lib/systemd/system', '/lib/systemd/system'])
    try {
      readFileSync(join(dir, 'sysinit.target'));
      return dir;
    } catch {
      // try the next
    }
  throw new Error(
    'no sysinit.target under /usr/lib/systemd/system: install systemd (sudo apt-get install -y systemd)',
  );
}

/**
 * A root directory for `systemd-analyze --root`: the host's packaged units, the template installed
 * as each instance (from `unitText`), and an executable `cloakpipe` in /usr/bin (a wrapper around
 * this checkout) for the bare ExecStart= name to resolve to.
 */
function makeRoot(unitText: string): string {
  const root = tempDir('cloakpipe-systemd-');
  made.push(root);
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  execFileSync('cp', ['-a', systemUnitDir(), join(root, 'usr/lib/systemd/system')]);
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  for (const name of INSTANCES)
    writeFileSync(join(root, 'etc/systemd/system', `cloakpipe@${name}.service`), unitText);
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/cloakpipe'), `#!/bin/sh\nexec node ${BIN} "$@"\n`, {
    mode: 0o755,
  });
  return root;
}

/** Run `systemd-analyze verify` on the instances under `root`; Documentation= checked via MANPATH. */
function verify(root: string): { status: number | null; output: string; manChecked: boolean } {
  const manDir = tempDir('cloakpipe-man-');
  made.push(manDir);
  mkdirSync(join(manDir, 'man1'));
  copyFileSync(join(ROOT, 'contrib', 'cloakpipe.1'), join(manDir, 'man1', 'cloakpipe.1'));
  const manChecked = spawnSync('sh', ['-c', 'command -v man']).status === 0;
  const r = spawnSync(
    systemdAnalyze(),
    [
      'verify',
      ...(manChecked ? [] : ['--man=no']),
      '--recursive-errors=no',
      `--root=${root}`,
      ...INSTANCES.map((name) => `/etc/systemd/system/cloakpipe@${name}.service`),
    ],
    { encoding: 'utf8', env: { ...process.env, MANPATH: manDir } },
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}`, manChecked };
}

/** Output lines about our units (a host's own packaged units may have warnings of their own). */
function aboutUs(output: string): string[] {
  return output.split('\n').filter((l) => l.includes('cloakpipe'));
}

describe('systemd-analyze', () => {
  test('verify: both instances load with no warning, and Documentation= finds cloakpipe(1)', (t) => {
    const { status, output, manChecked } = verify(makeRoot(readFileSync(TEMPLATE, 'utf8')));
    if (!manChecked)
      t.diagnostic('man is not installed: ran with --man=no (Documentation= not checked)');
    if (output.trim() !== '') t.diagnostic(`systemd-analyze output:\n${output}`);
    assert.deepEqual(aboutUs(output), [], 'no warnings about the cloakpipe units');
    assert.equal(status, 0, `systemd-analyze verify exited ${status}:\n${output}`);
  });

  test('verify is not vacuous: an unknown key and a bad value in the unit are reported', () => {
    const broken = readFileSync(TEMPLATE, 'utf8').replace(
      'LockPersonality=yes',
      'LockPersonality=yes\nProtectFoo=yes\nRestrictRealtime=maybe',
    );
    const lines = aboutUs(verify(makeRoot(broken)).output);
    assert.ok(
      lines.some((l) => /Unknown key.*ProtectFoo/i.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /Failed to parse boolean value.*maybe/i.test(l)),
      lines.join('\n'),
    );
  });

  test(`security --offline: exposure at most ${MAX_EXPOSURE}`, (t) => {
    const root = makeRoot(readFileSync(TEMPLATE, 'utf8'));
    const r = spawnSync(
      systemdAnalyze(),
      [
        'security',
        '--offline=true',
        // --threshold is in tenths: 0 … 100 for exposure 0.0 … 10.0.
        `--threshold=${MAX_EXPOSURE * 10}`,
        `--root=${root}`,
        '/etc/systemd/system/cloakpipe@redis-d.service',
      ],
      { encoding: 'utf8' },
    );
    const level = /Overall exposure level for \S+: ([0-9.]+)/.exec(r.stdout)?.[1];
    t.diagnostic(`exposure level: ${level ?? 'not found'}`);
    assert.ok(level !== undefined, `no exposure level in:\n${r.stdout}${r.stderr}`);
    assert.ok(Number(level) <= MAX_EXPOSURE, `exposure ${level} > ${MAX_EXPOSURE}:\n${r.stdout}`);
    assert.equal(r.status, 0, `systemd-analyze security exited ${r.status}:\n${r.stderr}`);
  });
});

describe('the unit and env files keep their contract', () => {
  const unit = parseUnit(readFileSync(TEMPLATE, 'utf8'));

  test('key from a credential, settings from /etc/cloakpipe/%i.env, no privileges, V8-safe', () => {
    assert.equal(serviceValue(unit, 'EnvironmentFile'), '/etc/cloakpipe/%i.env');
    assert.equal(serviceValue(unit, 'LoadCredential'), 'key:/etc/cloakpipe/%i.key');
    assert.equal(serviceValue(unit, 'ExecStart'), `cloakpipe -F -k ${CREDENTIALS_DIRECTORY}/key`);
    assert.equal(serviceValue(unit, 'DynamicUser'), 'yes');
    assert.equal(serviceValue(unit, 'CapabilityBoundingSet'), '');
    assert.equal(serviceValue(unit, 'AmbientCapabilities'), '');
    assert.equal(serviceValue(unit, 'RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
    assert.equal(serviceValue(unit, 'Restart'), 'on-failure');
    assert.equal(serviceValue(unit, 'KillSignal'), 'SIGTERM');
    assert.ok(
      !unit.get('Service')?.has('MemoryDenyWriteExecute'),
      'MemoryDenyWriteExecute= would stop V8 from making JIT code executable',
    );
    assert.ok(
      !unit.get('Service')?.has('ExecReload'),
      'SIGHUP would only re-read the credential copy',
    );
  });

  for (const name of INSTANCES)
    test(`${name}.env: valid addresses, one mode, drain shorter than TimeoutStopSec`, () => {
      const vars = parseEnvFile(join(CONTRIB, `${name}.env`));
      const encrypt = vars.get('CLOAKPIPE_ENCRYPT') === 'true';
      const decrypt = vars.get('CLOAKPIPE_DECRYPT') === 'true';
      assert.ok(
        encrypt !== decrypt,
        'exactly one of CLOAKPIPE_ENCRYPT / CLOAKPIPE_DECRYPT is true',
      );
      assert.equal(
        encrypt,
        name.endsWith('-e'),
        `${name} is the ${name.endsWith('-e') ? '-e' : '-d'} end`,
      );
      assert.ok(!vars.has('CLOAKPIPE_KEY'), 'the key comes from the credential on ExecStart=');
      parseAddress(vars.get('CLOAKPIPE_SOURCE') ?? '', true);
      parseAddress(vars.get('CLOAKPIPE_TARGET') ?? '');
      const drain = Number(vars.get('CLOAKPIPE_SHUTDOWN_TIMEOUT') ?? 0);
      const stop = Number(/^(\d+)s?$/.exec(serviceValue(unit, 'TimeoutStopSec'))?.[1]);
      assert.ok(drain > 0 && drain < stop, `--shutdown-timeout ${drain} < TimeoutStopSec ${stop}`);
    });

  test('the env files, run as ExecStart= runs them, make a working pair that stops with exit 0', async () => {
    const credentials = tempDir('cloakpipe-credentials-');
    made.push(credentials);
    writeFileSync(join(credentials, 'key'), randomBytes(32), { mode: 0o600 });
    chmodSync(credentials, 0o700);
    const [command, ...args] = serviceValue(unit, 'ExecStart')
      .split(/\s+/)
      .map((w) => w.replaceAll(CREDENTIALS_DIRECTORY, credentials));
    assert.equal(command, 'cloakpipe');
    const envOf = (name: string, source: string, target: string): NodeJS.ProcessEnv => ({
      ...Object.fromEntries(parseEnvFile(join(CONTRIB, `${name}.env`))),
      // The real addresses are for real hosts; the test points them at loopback.
      CLOAKPIPE_SOURCE: source,
      CLOAKPIPE_TARGET: target,
      CREDENTIALS_DIRECTORY: credentials,
    });

    const target = await echoServer();
    const d = await startCloakpipe(args, {
      env: envOf('redis-d', '[127.0.0.1]:0', target.address),
    });
    // The listening log prints 127.0.0.1:PORT; spiped's grammar wants [127.0.0.1]:PORT.
    const dTarget = `[${d.address.replace(/:(\d+)$/, ']:$1')}`;
    const e = await startCloakpipe(args, { env: envOf('redis-e', '[127.0.0.1]:0', dTarget) });
    for (const [end, name, mode] of [
      [d, 'redis-d', 'decrypt'],
      [e, 'redis-e', 'encrypt'],
    ] as const) {
      const listening = end.proc.logs().find((l) => /^listening on/.test(String(l.msg)));
      assert.equal(listening?.mode, mode, `${name} runs in ${mode} mode`);
      assert.equal(
        listening?.max_conns,
        Number(parseEnvFile(join(CONTRIB, `${name}.env`)).get('CLOAKPIPE_MAX_CONNS')),
        `${name}: CLOAKPIPE_MAX_CONNS took effect`,
      );
    }

    const payload = randomBytes(256 * 1024);
    const got = await transfer(e.address, payload);
    assert.equal(got.bytes, payload.length);
    assert.equal(got.sha256, sha256hex(payload), 'the bytes came back intact');

    assert.equal(await e.proc.stop('SIGTERM'), 0, 'redis-e exits 0 on SIGTERM');
    assert.equal(await d.proc.stop('SIGTERM'), 0, 'redis-d exits 0 on SIGTERM');
  });
});
