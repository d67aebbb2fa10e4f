// Goal: an -e end whose -t names several -d hosts (one name, several addresses) fails over to the
// next address when a host refuses or never answers, and a black-holed host costs its share of
// -o, not the whole of it; after -r re-resolves the name, the new address list is used. The -e
// end runs in a private mount namespace (unshare --mount) with its own /etc/hosts bind-mounted,
// so the name resolves to 127.0.0.2 and 127.0.0.3 there and the machine's /etc/hosts is
// untouched. Each failover is logged (a warning naming the address and why). The black hole is a loopback listener with a full accept queue (SYNs dropped).
// Needs root and unshare(1).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { blackHole } from '../helpers/blackhole.js';
import { transfer } from '../helpers/targets.js';
import { requireBinary } from '../support/bins.js';
import { startCloakpipeUnder, startEnd } from '../support/ends.js';
import { parseHostPort } from '../support/net.js';
import { logLines, type Proc, sleep, stopAll } from '../support/procs.js';
import { tempDir } from '../support/system.js';

const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  await stopAll();
});

/** The name the -e end dials; it exists only in the private /etc/hosts. */
const NAME = 'cloakpipe-failover.test';
/** -o of the -e end, in seconds: with two addresses each gets half (dial.ts addressShareMs). */
const TIMEOUT_S = 4;
const SHARE_MS = (TIMEOUT_S * 1000) / 2;

const dir = tempDir();
const key = join(dir, 'k.key');
writeFileSync(key, randomBytes(32), { mode: 0o600 });
const hosts = join(dir, 'hosts');

/** Write the private /etc/hosts: NAME → `addrs`, in that order (written in place: same inode). */
function nameResolvesTo(...addrs: string[]): void {
  writeFileSync(hosts, `127.0.0.1 localhost\n${addrs.map((a) => `${a} ${NAME}\n`).join('')}`);
}

/** A target that answers every connection with `tag` and closes: it says which -d served. */
async function tagged(tag: string): Promise<string> {
  const s = createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {});
    c.end(tag);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `[127.0.0.1]:${(s.address() as { port: number }).port}`;
}

/** A -d end on `host:port` (port 0: any) in front of a target tagged `tag`. */
async function decryptEnd(
  tag: string,
  host: string,
  port: number,
): Promise<{ proc: Proc; port: number }> {
  const { proc, address } = await startEnd('-d', await tagged(tag), key, [], {
    source: `[${host}]:${port}`,
  });
  return { proc, port: parseHostPort(address).port };
}

/** Which -d served a connection through `eAddress` (its tag), and how long it took. */
async function whoServes(eAddress: string): Promise<{ tag: string; ms: number }> {
  const t = await transfer(eAddress, Buffer.alloc(0), 20_000);
  return { tag: t.data.toString(), ms: t.ms };
}

/** Run the -e end under unshare with the private /etc/hosts (the wrapper execs: same pid). */
const PRIVATE_HOSTS = [
  'unshare',
  '--mount',
  '--propagation',
  'private',
  'sh',
  '-c',
  'mount --bind "$0" /etc/hosts && exec "$@"',
  hosts,
];

test('-e fails over between -d hosts behind one name: refused, black-holed, re-resolved', async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root (README: Test prerequisites)');
  requireBinary('unshare');
  // B first, on any port; A, C and the black hole then take B's port on their own addresses.
  const b = await decryptEnd('B', '127.0.0.3', 0);
  const port = b.port;
  const a = await decryptEnd('A', '127.0.0.2', port);
  nameResolvesTo('127.0.0.2', '127.0.0.3');
  const e = await startCloakpipeUnder(PRIVATE_HOSTS, [
    '-e',
    '-s',
    '[127.0.0.1]:0',
    '-t',
    `${NAME}:${port}`,
    '-k',
    key,
    '-o',
    String(TIMEOUT_S),
    '-r',
    '1',
  ]);

  // Both up: the first address serves.
  assert.equal((await whoServes(e.address)).tag, 'A');

  // A down (its address refuses): B serves at once.
  await a.proc.stop();
  const refused = await whoServes(e.address);
  assert.equal(refused.tag, 'B');
  assert.ok(refused.ms < SHARE_MS / 2, `failover after a refusal took ${refused.ms} ms`);
  const failovers = (): Record<string, unknown>[] =>
    logLines(e.proc, /^target address failed; trying the next one$/, {
      address: `127.0.0.2:${port}`,
      next: `127.0.0.3:${port}`,
    });
  assert.deepEqual(
    failovers().map((l) => l.err),
    ['ECONNREFUSED'],
    e.proc.output(),
  );

  // A's address black-holed (SYNs dropped): B serves after A's share of -o, well before -o.
  const hole = await blackHole('127.0.0.2', port);
  const silent = await whoServes(e.address);
  assert.equal(silent.tag, 'B');
  assert.ok(
    silent.ms >= SHARE_MS - 50 && silent.ms < TIMEOUT_S * 1000 - 500,
    `failover after a black hole took ${silent.ms} ms (share ${SHARE_MS} ms, -o ${TIMEOUT_S} s)`,
  );
  assert.match(String(failovers()[1]?.err), /^no answer in \d+ ms$/, e.proc.output());
  await hole.close();

  // The name moves to C's address only: once -r (1 s) re-resolves it, C serves. The connection
  // that notices the stale answer may still use the old list (re-resolution never waits).
  const c = await decryptEnd('C', '127.0.0.4', port);
  nameResolvesTo('127.0.0.4');
  await sleep(1100);
  const tags: string[] = [];
  for (let i = 0; i < 20 && tags.at(-1) !== 'C'; i++) {
    tags.push((await whoServes(e.address)).tag);
    if (tags.at(-1) !== 'C') await sleep(200);
  }
  assert.equal(tags.at(-1), 'C', `served by ${tags.join(', ')}`);
  assert.ok(tags.length <= 2, `the new list was used only after ${tags.length} connections`);
  assert.equal(
    logLines(e.proc, /target re-resolved to new addresses/, { addresses: `127.0.0.4:${port}` })
      .length,
    1,
    e.proc.output(),
  );
  await c.proc.stop();
  await b.proc.stop();
});
