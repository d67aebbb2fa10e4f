#!/usr/bin/env node
// Goal: record the bytes the REAL spiped (Debian 1.6.x, /usr/bin/spiped) puts on the wire, so the
// unit tests can check cloakpipe's handshake and packet code byte for byte against it.
//
// One-off, run by hand:   node test/vectors/capture-spiped.mjs [path/to/spiped]
// Writes test/vectors/spiped-capture.json (overwriting it). See test/vectors/README.md.
//
//   client ──plain──▶ [P2] spiped -e -f ──enc──▶ [P3] recording relay ──enc──▶ [P1] spiped -d -f ──plain──▶ echo
//
// Both ends run -f (no forward secrecy), so y_C = y_S = 1 and y_SC = 1: the session keys follow
// from K and the two nonces on the wire alone, which is what makes the capture checkable.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SPIPED = process.argv[2] ?? '/usr/bin/spiped';
const OUT = fileURLToPath(new URL('./spiped-capture.json', import.meta.url));
const HOST = '127.0.0.1';
const PLAIN_LEN = 3000;

// A known 32-byte key file: bytes 0x00..0x1f.
const keyFile = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
// A deterministic plaintext: byte i = (i * 7 + 3) mod 251 (251 is prime, so no 256-byte period).
const plaintext = Buffer.from(Array.from({ length: PLAIN_LEN }, (_, i) => (i * 7 + 3) % 251));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on HOST (tiny race between closing and spiped binding it; fine for a one-off). */
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, HOST, r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Connect, retrying while the listener is not up yet. */
async function connectRetry(port, tries = 100) {
  for (let i = 0; ; i++) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect({ host: HOST, port, allowHalfOpen: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (err) {
      if (err.code !== 'ECONNREFUSED' || i >= tries) throw err;
      await sleep(50);
    }
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'cloakpipe-capture-'));
  const keyPath = join(dir, 'key');
  writeFileSync(keyPath, keyFile, { mode: 0o600 });
  // spiped -v prints its version on standard error.
  const v = spawnSync(SPIPED, ['-v'], { encoding: 'utf8' });
  const version = `${v.stdout}${v.stderr}`.trim();

  // Plaintext echo server behind spiped -d.
  const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise((r) => echo.listen(0, HOST, r));
  const echoPort = echo.address().port;

  // Recording relay between spiped -e (client) and spiped -d (server).
  const p1 = await freePort();
  const c2s = [];
  const s2c = [];
  let relayDone;
  const relayClosed = new Promise((r) => {
    relayDone = r;
  });
  let relayed = 0;
  const relay = net.createServer({ allowHalfOpen: true }, async (fromClient) => {
    relayed++;
    fromClient.pause();
    const toServer = await connectRetry(p1);
    let open = 2;
    const closed = () => {
      if (--open === 0) relayDone();
    };
    fromClient.on('data', (d) => {
      c2s.push(Buffer.from(d));
      toServer.write(d);
    });
    fromClient.on('end', () => toServer.end());
    toServer.on('data', (d) => {
      s2c.push(Buffer.from(d));
      fromClient.write(d);
    });
    toServer.on('end', () => fromClient.end());
    fromClient.on('close', closed);
    toServer.on('close', closed);
    fromClient.resume();
  });
  await new Promise((r) => relay.listen(0, HOST, r));
  const p3 = relay.address().port;
  const p2 = await freePort();

  const dArgs = [
    '-d',
    '-f',
    '-F',
    '-s',
    `[${HOST}]:${p1}`,
    '-t',
    `[${HOST}]:${echoPort}`,
    '-k',
    keyPath,
  ];
  const eArgs = ['-e', '-f', '-F', '-s', `[${HOST}]:${p2}`, '-t', `[${HOST}]:${p3}`, '-k', keyPath];
  const procs = [
    spawn(SPIPED, dArgs, { stdio: 'inherit' }),
    spawn(SPIPED, eArgs, { stdio: 'inherit' }),
  ];

  try {
    // Plaintext client: send everything, half-close, read the echo to EOF.
    const client = await connectRetry(p2);
    const echoed = [];
    const gotEnd = new Promise((resolve, reject) => {
      client.on('data', (d) => echoed.push(d));
      client.on('end', resolve);
      client.on('error', reject);
    });
    client.end(plaintext);
    await Promise.race([
      gotEnd,
      sleep(10_000).then(() => {
        throw new Error('timed out waiting for the echo');
      }),
    ]);
    client.destroy();
    if (!Buffer.concat(echoed).equals(plaintext))
      throw new Error('echo differs from the plaintext');
    await Promise.race([relayClosed, sleep(3000)]);
    if (relayed !== 1) throw new Error(`expected one relayed connection, saw ${relayed}`);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    echo.close();
    relay.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const names = new Map([
    [String(p1), 'P1'],
    [String(p2), 'P2'],
    [String(p3), 'P3'],
    [String(echoPort), 'ECHO'],
  ]);
  const symbolic = (args) =>
    args
      .join(' ')
      .replace(keyPath, 'KEYFILE')
      .replace(/\]:(\d+)/g, (_, port) => `]:${names.get(port) ?? port}`);
  const record = {
    source:
      `captured from the real spiped (${SPIPED}, "${version}") by test/vectors/capture-spiped.mjs ` +
      `on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`,
    how: [
      'key file: the 32 bytes 0x00..0x1f; K = SHA-256(key file)',
      `server: spiped ${symbolic(dArgs)} (ECHO: a Node TCP echo server)`,
      `client: spiped ${symbolic(eArgs)}`,
      'P1, P2: free ports; P3: a Node TCP relay between the client and the server that recorded each direction of the one connection',
      `plaintext: ${PLAIN_LEN} bytes, byte i = (i*7 + 3) mod 251, written in one write then half-closed; the echo came back intact`,
      'both ends ran -f, so y_C = y_S = 1 and y_SC = 1',
    ],
    spipedVersion: version,
    keyFileHex: keyFile.toString('hex'),
    keyHex: createHash('sha256').update(keyFile).digest('hex'),
    plaintextHex: plaintext.toString('hex'),
    clientToServerHex: Buffer.concat(c2s).toString('hex'),
    serverToClientHex: Buffer.concat(s2c).toString('hex'),
  };
  writeFileSync(OUT, `${JSON.stringify(record, null, 2)}\n`);
  console.log(
    `wrote ${OUT}: c->s ${Buffer.concat(c2s).length} bytes, s->c ${Buffer.concat(s2c).length} bytes`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
