// Goal: without -F, cloakpipe is a drop-in for spiped in scripts: the command (run without a
// shell and without &) returns 0 only once the port accepts connections, the pid file names the
// live background process that holds the listening socket, a tunnel through it works, and
// `kill $(cat pidfile)` stops it and removes the pid file. A start-up error in the background
// makes the command exit 1 with that error on stderr. Under systemd (INVOCATION_ID) it stays in
// the foreground, and --log-file receives the background process's JSON log lines.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN, startEnd } from '../support/ends.js';
import { freePort } from '../support/net.js';
import { adopt, stopAll, track, waitUntil } from '../support/procs.js';
import { tempDir } from '../support/system.js';
import { echoServer, sha256hex, transfer } from '../helpers/targets.js';

after(stopAll);
const dir = tempDir();
const key = join(dir, 'k');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

/** The environment with every supervisor marker removed, so that cloakpipe goes to the background. */
function unsupervised(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['INVOCATION_ID', 'NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID'])
    if (!(name in extra)) delete env[name];
  for (const name of Object.keys(env)) if (name.startsWith('CLOAKPIPE_')) delete env[name];
  return env;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Background processes a test started: killed at the end whatever happens. */
const started = new Set<number>();
adopt({
  killNow: () => started.forEach((pid) => alive(pid) && process.kill(pid, 'SIGKILL')),
  stop: async () => started.forEach((pid) => alive(pid) && process.kill(pid, 'SIGKILL')),
});

/**
 * Run cloakpipe as a script would (no shell, no &) and wait until the command has returned and
 * closed its output: a background process that kept stdout or stderr open would hang this.
 */
function runCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv = unsupervised(),
  stdin: Buffer | null = null,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env,
      stdio: [stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== null) child.stdin?.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cloakpipe ${args.join(' ')} did not return within 15 s:\n${stderr}`));
    }, 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The socket inodes listening on TCP `port` (from /proc/net/tcp, state 0A = LISTEN). */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A' && f[9] !== undefined) inodes.add(f[9]);
  }
  return inodes;
}

/** True when process `pid` holds one of `inodes` among its open file descriptors. */
function holdsSocket(pid: number, inodes: Set<string>): boolean {
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1]!);
    } catch {
      return false;
    }
  });
}

/** Connect once to 127.0.0.1:`port`; resolves true when it is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('without -F: returns 0 once listening; the pid file names the listener; kill stops it', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key);
  const dTarget = `[${d.address.replace(/:(\d+)$/, ']:$1')}`;
  const port = await freePort();
  const pidFile = join(dir, 'e.pid');
  const logFile = join(dir, 'e.log');
  const r = await runCommand([
    '-e',
    '-s',
    `[127.0.0.1]:${port}`,
    '-t',
    dTarget,
    '-k',
    key,
    '-p',
    pidFile,
    '--log-file',
    logFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr when it starts');
  assert.equal(r.stdout, '', 'the logs go to --log-file, not to the command');
  // The command has returned: the port must accept at once, with no retry.
  assert.ok(await accepts(port), 'the port accepts connections as soon as the command returns');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  started.add(pid);
  assert.ok(Number.isInteger(pid) && alive(pid), `the pid file names a live process (${pid})`);
  assert.ok(
    holdsSocket(pid, listeningInodes(port)),
    'the process in the pid file holds the listener',
  );

  const payload = randomBytes(128 * 1024);
  const got = await transfer(`127.0.0.1:${port}`, payload);
  assert.equal(got.sha256, sha256hex(payload), 'a tunnel through the background end works');

  const logs = (): { pid: number; msg: string }[] =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { pid: number; msg: string });
  const listening = logs().find((l) => l.msg.startsWith('listening on'));
  assert.equal(listening?.pid, pid, '--log-file has the JSON listening line of that process');
  await waitUntil(
    () => logs().some((l) => l.msg === 'connection closed'),
    '--log-file has the connection log too',
  );

  process.kill(pid, 'SIGTERM'); // kill $(cat pidfile)
  await waitUntil(() => !alive(pid), 'the background process exits on SIGTERM');
  assert.equal(existsSync(pidFile), false, 'it removed its pid file');
  assert.equal(await accepts(port), false, 'the port is closed');
});

test('without -F: a start-up error in the background exits 1 with that error', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const pidFile = join(dir, 'busy.pid');
  try {
    const r = await runCommand([
      '-e',
      '-s',
      `[127.0.0.1]:${port}`,
      '-t',
      '[127.0.0.1]:9',
      '-k',
      key,
      '-p',
      pidFile,
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `cloakpipe: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
    assert.equal(existsSync(pidFile), false, 'no pid file is left behind');
    // With --workers the error happens in a worker; the primary passes it on.
    const w = await runCommand([
      '-e',
      '-s',
      `[127.0.0.1]:${port}`,
      '-t',
      '[127.0.0.1]:9',
      '-k',
      key,
      '-p',
      pidFile,
      '--workers',
      '2',
    ]);
    assert.equal(w.code, 1);
    assert.equal(w.stderr, `cloakpipe: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
    assert.equal(existsSync(pidFile), false, 'the primary removed its pid file');
  } finally {
    busy.close();
  }
  const missing = join(dir, 'no-such.key');
  const r = await runCommand(['-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', missing]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `cloakpipe: cannot read key file ${missing}: no such file (ENOENT)\n`);
});

test('without -F: a key on standard input (-k -) reaches the background process', async () => {
  const target = await echoServer();
  const d = await startEnd('-d', target.address, key);
  const dTarget = `[${d.address.replace(/:(\d+)$/, ']:$1')}`;
  const port = await freePort();
  const pidFile = join(dir, 'stdin.pid');
  const r = await runCommand(
    ['-e', '-s', `[127.0.0.1]:${port}`, '-t', dTarget, '-k', '-', '-p', pidFile],
    unsupervised(),
    readFileSync(key),
  );
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  started.add(pid);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(cmdline.includes('-k') && cmdline[cmdline.indexOf('-k') + 1] === '-', 'argv says -k -');
  const payload = randomBytes(16 * 1024);
  const got = await transfer(`127.0.0.1:${port}`, payload);
  assert.equal(got.sha256, sha256hex(payload), 'the handshake used the key read from stdin');
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !alive(pid), 'the background process exits on SIGTERM');
});

test('under systemd (INVOCATION_ID set) it stays in the foreground without -F', async () => {
  const child = spawn(
    process.execPath,
    [BIN, '-e', '-s', '[127.0.0.1]:0', '-t', '[127.0.0.1]:9', '-k', key],
    { env: unsupervised({ INVOCATION_ID: 'test' }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = track('cloakpipe (systemd)', child, { killAfterMs: 5000 });
  const m = await proc.waitFor(/"msg":"listening on/);
  assert.match(m[0], /listening on/);
  assert.ok(
    proc.logs().every((l) => l.pid === child.pid),
    'the listening process is the one started (no background copy)',
  );
  child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
});
