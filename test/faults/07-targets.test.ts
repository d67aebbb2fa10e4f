// Goal: failing targets cost the client little and leak nothing — a refused target closes the client
// in under a second with a 'target connect failed' line; a target (or encrypted peer) that accepts
// but never answers the handshake is dropped at about -o; a target slow to accept still gets the
// request and its EOF; a target flapping up and down every second while clients retry gets back
// only exact prefixes of what each client sent, and leaves both ends back at their baseline fd
// count and RSS; TCP and UNIX.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { closeAllProxies, faultProxy } from '../helpers/fault-proxy.js';
import { startCloakpipe } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { fdCount, MiB, mib, rssBytes, tempDir } from '../support/system.js';
import { echoServer, freeAddress, sha256hex, silentServer, transfer } from '../helpers/targets.js';

after(async () => {
  await closeAllProxies();
  await stopAll();
});

const dir = tempDir();
const key = join(dir, 'key');
writeFileSync(key, randomBytes(32), { mode: 0o600 });

/** Start one end with `-s` on a fresh address of `transport`. */
async function end(
  mode: '-e' | '-d',
  transport: 'tcp' | 'unix',
  target: string,
  extra: string[] = [],
): Promise<{ proc: Proc; address: string }> {
  const src =
    transport === 'unix'
      ? join(dir, `${mode}-${randomBytes(4).toString('hex')}.sock`)
      : '[127.0.0.1]:0';
  return startCloakpipe([mode, '-s', src, '-t', target, '-k', key, ...extra]);
}

/** Wait for `proc` to log a line whose msg matches `re`; returns it. */
async function waitForLine(proc: Proc, re: RegExp): Promise<Record<string, unknown>> {
  await waitUntil(
    () => logLines(proc, re).length > 0,
    `a log line matching ${re}`,
    10_000,
    () => proc.output(),
  );
  return logLines(proc, re)[0]!;
}

for (const transport of ['tcp', 'unix'] as const) {
  describe(`failing targets over ${transport}`, () => {
    test('a refused target (nothing listens) behind -e: the client is closed in under 1 s, -e logs target connect failed', async () => {
      const nowhere = await freeAddress(
        transport,
        dir,
        `nowhere-${randomBytes(4).toString('hex')}`,
      );
      const e = await end('-e', transport, nowhere);
      const got = await transfer(e.address, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.ok(got.ms < 1000, `closed in ${got.ms} ms`);
      const line = await waitForLine(e.proc, /^target connect failed/);
      assert.equal(line.code, transport === 'unix' ? 'ENOENT' : 'ECONNREFUSED');
    });

    test('a refused target behind -d: the client of the pair is closed in under 1 s, -d logs target connect failed', async () => {
      const nowhere = await freeAddress(
        transport,
        dir,
        `nowhere-${randomBytes(4).toString('hex')}`,
      );
      const d = await end('-d', transport, nowhere);
      const e = await end('-e', transport, d.address);
      const got = await transfer(e.address, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.ok(got.ms < 1000, `closed in ${got.ms} ms`);
      await waitForLine(d.proc, /^target connect failed/);
    });

    test('an encrypted peer that accepts and stays silent: the client is closed at about -o, -e logs ESILENT', async () => {
      const silent = await silentServer(
        transport === 'unix'
          ? join(dir, `silent-${randomBytes(4).toString('hex')}.sock`)
          : undefined,
      );
      const e = await end('-e', transport, silent.address, ['-o', '2']);
      const got = await transfer(e.address, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.ok(got.ms >= 1800 && got.ms < 4500, `closed after ${got.ms} ms (-o 2)`);
      const line = await waitForLine(e.proc, /^handshake failed/);
      // Not a bare ETIMEDOUT: the peer accepted and said nothing, which names the miswiring.
      assert.equal(line.reason, 'ESILENT');
      assert.equal(silent.received(), 32, 'it got our nonce and nothing else');
    });

    test('an encrypted hop that goes dead after the nonces: both ends drop at about -o with ETIMEDOUT', async () => {
      const target = await echoServer();
      const d = await end('-d', transport, target.address, ['-o', '2']);
      const proxy = await faultProxy(
        d.address,
        [
          { kind: 'stall', dir: 'c2s', after: 32 },
          { kind: 'stall', dir: 's2c', after: 32 },
        ],
        transport === 'unix'
          ? join(dir, `proxy-${randomBytes(4).toString('hex')}.sock`)
          : undefined,
      );
      const e = await end('-e', transport, proxy.address, ['-o', '2']);
      const got = await transfer(e.address, Buffer.from('hello'), 10_000, true);
      assert.equal(got.bytes, 0);
      assert.ok(got.ms >= 1800 && got.ms < 4500, `client closed after ${got.ms} ms (-o 2)`);
      assert.deepEqual(proxy.links()[0]?.applied.toSorted(), ['stall c2s@32', 'stall s2c@32']);
      assert.equal((await waitForLine(e.proc, /^handshake failed/)).reason, 'ETIMEDOUT');
      assert.equal((await waitForLine(d.proc, /^handshake failed/)).reason, 'ETIMEDOUT');
      assert.equal(target.received(), 0);
    });
  });
}

/**
 * A target in a child process whose accept queue (backlog 1) can be jammed: block(ms) busy-waits
 * its event loop, and while it is blocked extra connections fill the queue, so a new connect's SYN
 * is dropped and retried by the kernel a second or more later. After the client's EOF it answers
 * `got <n> bytes`.
 */
async function jammableTarget(): Promise<{
  address: string;
  block(ms: number): Promise<void>;
  kill(): void;
}> {
  const script = `
    const s = require('net').createServer({ allowHalfOpen: true }, (c) => {
      let n = 0;
      c.on('error', () => {});
      c.on('data', (d) => { n += d.length; });
      c.on('end', () => c.end('got ' + n + ' bytes'));
    });
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log('port', s.address().port));
    process.stdin.on('data', (d) => {
      console.log('blocking');
      const t = Date.now();
      while (Date.now() - t < Number(d)) {}
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await waitUntil(() => /port \d+/.test(out), 'the jammable target listens');
  const port = Number(/port (\d+)/.exec(out)![1]);
  const address = `[127.0.0.1]:${port}`;
  const jam: Socket[] = [];
  return {
    address,
    async block(ms) {
      const seen = out.length;
      child.stdin!.write(`${ms}\n`);
      await waitUntil(() => out.slice(seen).includes('blocking'), 'the target is blocked');
      for (let i = 0; i < 4; i++) jam.push(connect(port, '127.0.0.1').on('error', () => {}));
      await new Promise((r) => setTimeout(r, 200));
    },
    kill() {
      for (const s of jam) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

test('a target slow to accept (the -d end dials for seconds after the handshake): the request, its EOF and the reply all get through', async (t) => {
  const target = await jammableTarget();
  t.after(() => target.kill());
  const d = await end('-d', 'tcp', target.address, ['-o', '10']);
  const e = await end('-e', 'tcp', d.address, ['-o', '10']);
  const quick = await transfer(e.address, Buffer.from('hello'), 10_000);
  assert.equal(quick.data.toString(), 'got 5 bytes', 'works when the target accepts at once');
  await target.block(2500);
  // A client that sends a request and one that sends nothing, both half-closing at once.
  const [withData, empty] = await Promise.allSettled([
    transfer(e.address, Buffer.from('hello'), 8000),
    transfer(e.address, Buffer.alloc(0), 8000),
  ]);
  const setups = logLines(d.proc, /^connection established$/).map((l) => Number(l.setup_ms));
  t.diagnostic(`-d setup times ${setups.join(', ')} ms`);
  assert.ok(
    setups.length === 3 && setups.slice(1).every((ms) => ms >= 900),
    `the dial really was slow (the scenario happened): ${setups.join(', ')} ms`,
  );
  const lost =
    'the EOF that reached -d while it was still dialling the target never reached the target';
  assert.equal(withData.status, 'fulfilled', lost);
  assert.equal(empty.status, 'fulfilled', lost);
  if (withData.status === 'fulfilled') assert.equal(withData.value.data.toString(), 'got 5 bytes');
  if (empty.status === 'fulfilled') assert.equal(empty.value.data.toString(), 'got 0 bytes');
});

/** An echo target at a fixed address that can be taken down and brought back. */
function flappingEcho(address: string): { up(): Promise<void>; down(): Promise<void> } {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  return {
    up: () =>
      new Promise((resolve, reject) => {
        const s = createServer({ allowHalfOpen: true }, (c) => {
          sockets.add(c);
          c.on('close', () => sockets.delete(c));
          c.on('error', () => {});
          c.on('data', (d: Buffer) => c.write(d));
          c.on('end', () => c.end());
        });
        s.once('error', reject);
        if (address.startsWith('/')) s.listen(address, () => resolve());
        else s.listen(parseHostPort(address).port, '127.0.0.1', () => resolve());
        server = s;
      }),
    down: () =>
      new Promise((resolve) => {
        const s = server;
        server = null;
        if (!s) return resolve();
        for (const c of sockets) c.destroy();
        s.close(() => resolve());
      }),
  };
}

test('a target flapping every second for 10 s while clients retry: only exact prefixes come back; both ends return to baseline fds and RSS', async (t) => {
  const targetAddr = await freeAddress('tcp', dir, 'flap');
  const target = flappingEcho(targetAddr);
  t.after(() => target.down());
  await target.up();
  // A 1 MiB young generation keeps RSS readings steady enough to see a per-connection leak.
  const env = { NODE_OPTIONS: '--max-semi-space-size=1' };
  const d = await startCloakpipe(
    ['-d', '-s', '[127.0.0.1]:0', '-t', targetAddr, '-k', key, '-o', '2'],
    { env },
  );
  const e = await startCloakpipe(
    ['-e', '-s', '[127.0.0.1]:0', '-t', d.address, '-k', key, '-o', '2'],
    { env },
  );
  const pids = { e: e.proc.child.pid!, d: d.proc.child.pid! };
  const payload = randomBytes(64 * 1024);
  const digest = sha256hex(payload);
  assert.equal((await transfer(e.address, payload)).sha256, digest);
  const fds = { e: fdCount(pids.e), d: fdCount(pids.d) };

  /**
   * Flap the target every second for `ms` while 3 clients loop; the target ends up. A transfer is
   * whole, cut (an exact prefix of the echo, possibly empty: the target went down mid-way or
   * refused) or corrupt (anything else, which no flapping may ever cause).
   */
  const churn = async (ms: number): Promise<{ ok: number; failed: number; corrupt: string[] }> => {
    const stopAt = Date.now() + ms;
    let ok = 0;
    let failed = 0;
    const corrupt: string[] = [];
    const flapper = async (): Promise<void> => {
      let upNow = true;
      while (Date.now() < stopAt) {
        await new Promise((r) => setTimeout(r, 1000));
        if (upNow) await target.down();
        else await target.up();
        upNow = !upNow;
      }
      if (!upNow) await target.up();
    };
    const client = async (): Promise<void> => {
      while (Date.now() < stopAt) {
        try {
          const r = await transfer(e.address, payload, 10_000, true);
          if (r.sha256 === digest) ok++;
          else if (r.bytes <= payload.length && payload.subarray(0, r.bytes).equals(r.data))
            failed++;
          else corrupt.push(`${r.bytes} bytes, not a prefix of the ${payload.length} sent`);
        } catch {
          failed++;
        }
      }
    };
    await Promise.all([flapper(), client(), client(), client()]);
    return { ok, failed, corrupt };
  };
  const settled = async (): Promise<void> => {
    for (const k of ['e', 'd'] as const)
      await waitUntil(
        () => fdCount(pids[k]) <= fds[k] + 2,
        `-${k} is back to about ${fds[k]} fds`,
        10_000,
        () => `now ${fdCount(pids[k])}`,
      );
  };

  // warm-up: both paths have run and the heap has reached its working size
  const warm = await churn(4000);
  assert.deepEqual(warm.corrupt, [], 'a flapping target delivered bytes that were never sent');
  await settled();
  const rss = { e: rssBytes(pids.e), d: rssBytes(pids.d) };
  const res = await churn(10_000);
  t.diagnostic(`${res.ok} transfers whole, ${res.failed} cut or refused while the target flapped`);
  assert.ok(res.ok >= 3, 'transfers succeed while the target is up');
  assert.ok(res.failed >= 3, 'transfers fail while the target is down');
  assert.deepEqual(res.corrupt, [], 'a flapping target delivered bytes that were never sent');
  assert.ok(logLines(d.proc, /^target connect failed/).length >= 1, '-d saw the target refuse');
  assert.equal((await transfer(e.address, payload)).sha256, digest, 'works once the target is up');
  await settled();
  for (const k of ['e', 'd'] as const) {
    const growth = rssBytes(pids[k]) - rss[k];
    t.diagnostic(`-${k}: RSS ${growth >= 0 ? '+' : ''}${mib(growth)} over the baseline`);
    assert.ok(growth < 25 * MiB, `-${k} RSS is back near its baseline (+${mib(growth)})`);
  }
});
