// Goal: a hostile or broken Redis behind a `--cluster` pair cannot take the -e end down: malformed or
// oversized replies drop only their own connection (with a logged reason), huge non-topology bulks
// stream through without being buffered, and malformed or absurdly nested requests reach the server
// byte for byte without crashing or stalling the tunnel.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCloakpipe } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, type Proc, stopAll, waitUntil } from '../support/procs.js';
import { MiB, mib, sampleRss, tempDir } from '../support/system.js';
import { MEMBERSHIP_CLIENT_NAME } from '../../src/cluster/nodes-query.js';

// ---------------------------------------------------------------------------------------------
// A fake Redis node

/** One connection accepted by the fake node. */
interface FakeConn {
  readonly sock: Socket;
  /** Every byte received, in order. */
  all: Buffer;
  /** Bytes not yet consumed by the PING handler or the script. */
  pending: Buffer;
}

/**
 * Handles what the built-in PING handler does not: look at `c.pending`, consume what it answers
 * (return the number of bytes consumed; 0 = wait for more).
 */
type Script = (c: FakeConn) => number;

/** RESP2 multibulk request. */
function cmd(...args: string[]): Buffer {
  return Buffer.from(
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
  );
}

const PING = cmd('PING');
const CLUSTER_NODES_MULTI = cmd('CLUSTER', 'NODES');
/** What the -d end sends on its own membership connections (src/cluster/members.ts). */
const MEMBERSHIP_QUERY = Buffer.concat([
  cmd('CLIENT', 'SETNAME', MEMBERSHIP_CLIENT_NAME),
  CLUSTER_NODES_MULTI,
]);
const isMembership = (b: Buffer): boolean =>
  b.subarray(0, MEMBERSHIP_QUERY.length).equals(MEMBERSHIP_QUERY);

const conns: FakeConn[] = [];
let script: Script = () => 0;
let fakeServer: Server;
let fakePort = 0;
let membershipQueries = 0;

function nodesLine(port: number): string {
  return `${'a'.repeat(40)} 127.0.0.1:${port}@${port + 10000} myself,master - 0 0 1 connected 0-16383\n`;
}

function bulk(s: string): Buffer {
  return Buffer.from(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
}

function onFakeData(c: FakeConn, d: Buffer): void {
  c.all = Buffer.concat([c.all, d]);
  c.pending = Buffer.concat([c.pending, d]);
  for (;;) {
    if (c.all.length === c.pending.length && isMembership(c.pending)) {
      // The -d end's own membership query (named, on a connection of its own).
      membershipQueries++;
      c.pending = c.pending.subarray(MEMBERSHIP_QUERY.length);
      c.sock.write(Buffer.concat([Buffer.from('+OK\r\n'), bulk(nodesLine(fakePort))]));
      continue;
    }
    if (c.pending.length >= PING.length && c.pending.subarray(0, PING.length).equals(PING)) {
      c.pending = c.pending.subarray(PING.length);
      c.sock.write('+PONG\r\n');
      continue;
    }
    if (c.pending.length === 0) return;
    const used = script(c);
    if (used <= 0) return;
    c.pending = c.pending.subarray(used);
  }
}

function startFake(): Promise<void> {
  fakeServer = createServer((sock) => {
    const c: FakeConn = { sock, all: Buffer.alloc(0), pending: Buffer.alloc(0) };
    conns.push(c);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => onFakeData(c, d));
  });
  return new Promise((resolve) =>
    fakeServer.listen(0, '127.0.0.1', () => {
      fakePort = (fakeServer.address() as { port: number }).port;
      resolve();
    }),
  );
}

/** Write `total` bytes of filler to `sock` in 1 MiB chunks, honouring backpressure. */
async function stream(sock: Socket, total: number): Promise<number> {
  const chunk = Buffer.alloc(MiB, 0x78);
  let sent = 0;
  while (sent < total && !sock.destroyed) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
      await new Promise<void>((r) => {
        const done = (): void => {
          sock.off('drain', done);
          sock.off('close', done);
          r();
        };
        sock.once('drain', done);
        sock.once('close', done);
      });
  }
  return sent;
}

// ---------------------------------------------------------------------------------------------
// Raw clients of the -e end

interface Client {
  readonly sock: Socket;
  received(): Buffer;
  bytes(): number;
  closed(): boolean;
  /** Wait until the received bytes end with `s` (after `from`); rejects after `ms`. */
  waitFor(s: string, ms?: number, from?: number): Promise<void>;
  /** Wait until the socket has closed; rejects after `ms`. */
  waitClosed(ms?: number): Promise<void>;
}

function client(address: string, keep = true): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = connect(parseHostPort(address));
    const parts: Buffer[] = [];
    let n = 0;
    let closed = false;
    sock.on('data', (d: Buffer) => {
      n += d.length;
      if (keep) parts.push(d);
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
    });
    sock.once('error', reject);
    sock.once('connect', () => {
      const received = (): Buffer => Buffer.concat(parts);
      resolve({
        sock,
        received,
        bytes: () => n,
        closed: () => closed,
        waitFor: (s, ms = 5000, from = 0) =>
          waitUntil(
            () => received().subarray(from).toString('latin1').includes(s),
            `the client received ${JSON.stringify(s)}`,
            ms,
            () =>
              `got: ${JSON.stringify(
                received()
                  .subarray(from, from + 200)
                  .toString('latin1'),
              )}`,
          ),
        waitClosed: (ms = 5000) => waitUntil(() => closed, 'the client connection closed', ms),
      });
    });
  });
}

/** PING on `c` and wait for +PONG within `ms`. */
async function ping(c: Client, ms = 2000): Promise<void> {
  const from = c.received().length;
  c.sock.write(PING);
  await c.waitFor('+PONG\r\n', ms, from);
}

// ---------------------------------------------------------------------------------------------
// The rig: fake node ← cloakpipe -d --cluster ← UNIX socket ← cloakpipe -e --cluster ← clients

let e: Proc;
let d: Proc;
let entry: string;

after(async () => {
  await stopAll();
  for (const c of conns) c.sock.destroy();
  await new Promise((r) => fakeServer?.close(r));
});

before(async () => {
  await startFake();
  const dir = tempDir();
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const sock = join(dir, 'd.sock');
  ({ proc: d } = await startCloakpipe([
    '-d',
    '--cluster',
    '-s',
    sock,
    '-t',
    `127.0.0.1:${fakePort}`,
    '-k',
    key,
  ]));
  ({ proc: e, address: entry } = await startCloakpipe([
    '-e',
    '--cluster',
    '-s',
    '[127.0.0.1]:0',
    '-t',
    sock,
    '-k',
    key,
  ]));
  await waitUntil(
    () => membershipQueries > 0,
    '-d queried CLUSTER NODES',
    5000,
    () => d.output(),
  );
  // Sanity: the rig answers PING.
  const c = await client(entry);
  await ping(c, 5000);
  c.sock.destroy();
});

function alive(p: Proc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

const DROP_LOG = /malformed|capture|dropping connection/;

/**
 * Open a bystander connection (PING works), then an abuse connection sending `request`, answered by
 * the fake with `abuse`; assert the abuse connection closes within `ms`, the -e end logs why, and
 * the bystander still gets +PONG.
 */
async function abuseReply(
  request: Buffer,
  abuse: (sock: Socket) => void,
  reason: RegExp,
  ms = 5000,
): Promise<number> {
  const bystander = await client(entry);
  await ping(bystander);
  const logsBefore = logLines(e, DROP_LOG).length;
  script = (c) => {
    if (c.pending.length < request.length) return 0;
    if (!c.pending.subarray(0, request.length).equals(request)) return c.pending.length;
    abuse(c.sock);
    return request.length;
  };
  try {
    const victim = await client(entry, false);
    const t0 = Date.now();
    victim.sock.write(request);
    await victim.waitClosed(ms);
    const took = Date.now() - t0;
    await waitUntil(
      () => logLines(e, DROP_LOG).length > logsBefore,
      `-e logged a line matching ${DROP_LOG}`,
      3000,
      () => e.output(),
    );
    const lines = logLines(e, DROP_LOG).slice(logsBefore);
    assert.ok(
      lines.some((l) => reason.test(JSON.stringify(l))),
      `a drop log line names ${reason}; got ${JSON.stringify(lines)}`,
    );
    assert.ok(alive(e), '-e is still running');
    await ping(bystander);
    assert.ok(!bystander.closed(), 'the bystander connection is still open');
    bystander.sock.destroy();
    return took;
  } finally {
    script = () => 0;
  }
}

describe('malformed replies drop only their own connection', () => {
  const GET = cmd('GET', 'abuse');

  test('a reply starting with a bad type byte drops the connection with a logged reason', async () => {
    await abuseReply(GET, (s) => s.write('?x\r\n'), /bad-type/);
  });

  test('a bulk length with a non-digit drops the connection with a logged reason', async () => {
    await abuseReply(GET, (s) => s.write('$12a\r\n'), /bad-length/);
  });

  test('a negative bulk length other than -1 drops the connection with a logged reason', async () => {
    await abuseReply(GET, (s) => s.write('$-5\r\n'), /bad-length/);
  });

  test('a bulk payload not followed by CRLF drops the connection with a logged reason', async () => {
    await abuseReply(GET, (s) => s.write('$3\r\nfooXX'), /missing-crlf/);
  });

  test('a reply nested a million arrays deep is refused in bounded time and the process survives', async () => {
    const deep = Buffer.from('*1\r\n'.repeat(1_000_000));
    const took = await abuseReply(GET, (s) => s.write(deep), /too-deep/);
    assert.ok(took < 5000, `dropped after ${took} ms`);
  });

  test('a CLUSTER NODES reply larger than the 16 MiB capture cap drops the connection', async () => {
    const total = 100 * 1024 * 1024;
    await abuseReply(
      CLUSTER_NODES_MULTI,
      (s) => {
        s.write(`$${total}\r\n`);
        void stream(s, total);
      },
      /capture/,
      10_000,
    );
  });
});

test('a 512 MB bulk reply to a GET streams through without being held in memory', async () => {
  const HEADER = '$536870912\r\n';
  const SEND = 64 * MiB;
  const c = await client(entry, false);
  let fakeSock: Socket | undefined;
  let sent = 0;
  script = (fc) => {
    const req = cmd('GET', 'big');
    if (fc.pending.length < req.length) return 0;
    fakeSock = fc.sock;
    fc.sock.write(HEADER);
    void stream(fc.sock, SEND).then((n) => {
      sent = n;
    });
    return req.length;
  };
  const rss = sampleRss(e.child.pid!, 25);
  try {
    c.sock.write(cmd('GET', 'big'));
    // The fake keeps its socket open until the client has the bytes: a tunnel that held the
    // bulk until it was whole would never deliver them.
    await waitUntil(
      () => c.bytes() >= 60 * MiB,
      'the client received 60 MiB of the bulk',
      20_000,
      () => `client has ${mib(c.bytes())}, fake sent ${mib(sent)}\n${e.output()}`,
    );
  } finally {
    script = () => 0;
  }
  const growth = rss.stop();
  fakeSock?.destroy();
  assert.ok(c.bytes() >= 60 * MiB, `client received ${mib(c.bytes())}`);
  assert.ok(growth < 64 * MiB, `-e RSS grew by ${mib(growth)} (from ${mib(rss.baseline)})`);
  await c.waitClosed(5000);
  assert.ok(alive(e), '-e is still running');
});

describe('malformed requests reach the server unchanged', () => {
  const ERR = '-ERR Protocol error: invalid bulk length\r\n';

  async function passThrough(request: Buffer): Promise<void> {
    const before = conns.length;
    script = (fc) => {
      if (fc.all.length < request.length) return 0;
      fc.sock.write(ERR);
      return fc.pending.length;
    };
    try {
      const c = await client(entry);
      c.sock.write(request);
      await c.waitFor(ERR);
      const fake = conns.slice(before).find((fc) => fc.all.length > 0 && !isMembership(fc.all));
      assert.ok(fake, 'the fake node saw the connection');
      // Let anything extra arrive before comparing.
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(fake.all, request, 'the fake received exactly the client bytes');
      assert.equal(c.received().toString('latin1'), ERR, 'the client got exactly the error');
      assert.ok(!c.closed(), 'the connection stays open');
      await ping(c);
      c.sock.destroy();
    } finally {
      script = () => 0;
    }
  }

  test('a multibulk request with a non-numeric bulk length is forwarded byte for byte', async () => {
    await passThrough(Buffer.from('*1\r\n$abc\r\n'));
  });

  test('an inline request with an unbalanced quote is forwarded byte for byte', async () => {
    await passThrough(Buffer.from('SET "a b\r\n'));
  });
});

test('a request nested a million deep neither crashes nor stalls the tunnel', async () => {
  const deep = Buffer.from('*1\r\n'.repeat(1_000_000));
  const before = conns.length;
  script = (fc) => fc.pending.length; // swallow silently, like a server still waiting for more
  try {
    const bystander = await client(entry);
    await ping(bystander);
    const abuser = await client(entry);
    abuser.sock.write(deep);
    await ping(bystander, 2000);
    await waitUntil(
      () => conns.slice(before).some((fc) => fc.all.length >= deep.length),
      'the fake received the whole nested request',
      10_000,
      () => e.output(),
    );
    const fake = conns.slice(before).find((fc) => fc.all.length >= deep.length)!;
    assert.deepEqual(fake.all, deep, 'the nested request arrived unchanged');
    await ping(bystander, 2000);
    assert.ok(alive(e), '-e is still running');
    assert.ok(alive(d), '-d is still running');
    bystander.sock.destroy();
    abuser.sock.destroy();
  } finally {
    script = () => 0;
  }
});
