/**
 * `npm run demo`: a real tunnel pair on loopback in front of a real redis-server.
 *
 *   ioredis ──plaintext──▶ cloakpipe -e ══encrypted══▶ cloakpipe -d ──plaintext──▶ redis-server
 *
 * Starts everything on free ports in a temp dir, runs a few commands through the pair, prints what
 * happened (including a look at the encrypted hop), and cleans up. Exit 0 on success.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect as netConnect } from 'node:net';
import { Redis } from 'ioredis';
import { freePort, waitForListen } from '../test/support/net.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'cloakpipe.js');
const children: ChildProcess[] = [];
/** How long each server has to start listening. */
const LISTEN_MS = 10_000;
const say = (s: string): void => void process.stdout.write(`${s}\n`);

function need(bin: string, pkg: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
  } catch {
    process.stderr.write(
      `demo: ${bin} is not installed. Install it with:\n  sudo apt-get install -y ${pkg}\n`,
    );
    process.exit(1);
  }
}

function start(name: string, cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.on('exit', (code) => {
    if (code && code !== 0) process.stderr.write(`demo: ${name} exited with ${code}:\n${out}\n`);
  });
  (c as ChildProcess & { log: () => string }).log = () => out;
  children.push(c);
  return c;
}

function cleanup(dir: string): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const redisServer = need('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-demo-'));
  process.on('SIGINT', () => {
    cleanup(dir);
    process.exit(130);
  });
  try {
    const key = join(dir, 'demo.key');
    execFileSync(process.execPath, [BIN, 'keygen', key], { stdio: 'ignore' });
    const [redisPort, dPort, ePort] = [await freePort(), await freePort(), await freePort()];
    say('cloakpipe demo: a real tunnel pair in front of a real redis-server, all on loopback\n');
    start('redis-server', redisServer, [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await waitForListen(`127.0.0.1:${redisPort}`, LISTEN_MS);
    say(`  redis-server         listening on 127.0.0.1:${redisPort}`);
    const d = start('cloakpipe -d', process.execPath, [
      BIN,
      '-F',
      '-d',
      '-s',
      `[127.0.0.1]:${dPort}`,
      '-t',
      `[127.0.0.1]:${redisPort}`,
      '-k',
      key,
      '--log-level',
      'warn',
    ]);
    const e = start('cloakpipe -e', process.execPath, [
      BIN,
      '-F',
      '-e',
      '-s',
      `[127.0.0.1]:${ePort}`,
      '-t',
      `[127.0.0.1]:${dPort}`,
      '-k',
      key,
      '--log-level',
      'warn',
    ]);
    await waitForListen(`127.0.0.1:${dPort}`, LISTEN_MS);
    await waitForListen(`127.0.0.1:${ePort}`, LISTEN_MS);
    say(
      `  cloakpipe -d         listening on 127.0.0.1:${dPort} (encrypted in) → redis 127.0.0.1:${redisPort}`,
    );
    say(
      `  cloakpipe -e         listening on 127.0.0.1:${ePort} (plaintext in) → 127.0.0.1:${dPort} encrypted`,
    );
    say(`  key                  ${key} (32 random bytes, made by: cloakpipe keygen)\n`);

    const client = new Redis({
      host: '127.0.0.1',
      port: ePort,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    await client.connect();
    const show = async (label: string, p: Promise<unknown>): Promise<unknown> => {
      const v = await p;
      say(`  ${label.padEnd(44)} → ${JSON.stringify(v)}`);
      return v;
    };
    say('Commands sent by ioredis to cloakpipe -e:');
    await show('PING', client.ping());
    await show(
      "SET greeting 'hello through the tunnel'",
      client.set('greeting', 'hello through the tunnel'),
    );
    const got = await show('GET greeting', client.get('greeting'));
    const big = 'x'.repeat(1_000_000);
    await client.set('big', big);
    const back = await client.get('big');
    say(`  ${'SET/GET a 1 MB value'.padEnd(44)} → ${back === big ? 'identical' : 'MISMATCH'}`);
    await show(
      'INCR counter ×3',
      Promise.all([client.incr('counter'), client.incr('counter'), client.incr('counter')]),
    );
    await client.quit();

    // What an eavesdropper on the encrypted hop would see.
    const peek = await new Promise<Buffer>((resolve) => {
      const s = netConnect(dPort, '127.0.0.1');
      const parts: Buffer[] = [];
      s.on('data', (b: Buffer) => {
        parts.push(b);
        s.destroy();
        resolve(Buffer.concat(parts));
      });
    });
    say(
      `\nFirst bytes a raw connection to cloakpipe -d receives (its handshake nonce): ${peek.subarray(0, 16).toString('hex')}…`,
    );
    const ok = got === 'hello through the tunnel' && back === big;
    say(
      ok
        ? '\nOK: every reply came back intact through the encrypted tunnel.'
        : '\nFAILED: a reply did not match.',
    );
    for (const [name, c] of [
      ['-e', e],
      ['-d', d],
    ] as const) {
      const log = (c as ChildProcess & { log: () => string }).log();
      if (log.trim())
        say(
          `\ncloakpipe ${name} logged (the raw peek above is no tunnel peer, so it was refused):\n${log}`,
        );
    }
    cleanup(dir);
    process.exitCode = ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    cleanup(dir);
    process.exitCode = 1;
  }
}

void main();
