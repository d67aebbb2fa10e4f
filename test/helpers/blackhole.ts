/**
 * An address that never answers, on loopback, with no firewall rule and no root: a listener in a
 * child process whose event loop is blocked, so it never accepts, and whose accept queue the
 * helper fills. Once the queue is full the kernel drops every further SYN (a full queue drops; it
 * does not refuse), so a connect to the address hangs until the caller gives up, like a host
 * behind a firewall that drops packets.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { onStopAll } from '../support/procs.js';

/** A black-holed address; close() kills the listener and drops the queued connections. */
export interface BlackHole {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** listen() backlog of the child: the queue then holds backlog + 1 connections (Linux). */
const BACKLOG = 1;
/** A connect still pending after this long is taken as dropped: the queue is full. */
const DROPPED_AFTER_MS = 300;
/** Give up filling after this many connections (the backlog was not honoured). */
const MAX_FILL = BACKLOG + 8;

/** Listens on argv host/port, prints the port, then blocks its event loop for good. */
const CHILD = String.raw`
const net = require('node:net');
const fs = require('node:fs');
const s = net.createServer();
s.listen({ host: process.argv[1], port: Number(process.argv[2]), backlog: ${BACKLOG} }, () => {
  fs.writeSync(1, s.address().port + '\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

const open = new Set<() => Promise<void>>();
onStopAll(async () => {
  await Promise.all([...open].map((close) => close()));
});

/** Resolves true once `s` connects, false if it is still pending after `ms` (or fails). */
function connectsWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/**
 * Black-hole `host:port` (port 0: any free port). Resolves once a connect to it is seen to hang;
 * rejects if the listener cannot start or its queue does not fill.
 */
export async function blackHole(host: string, port = 0): Promise<BlackHole> {
  const child = spawn(process.execPath, ['-e', CHILD, host, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const fillers: Socket[] = [];
  const close = async (): Promise<void> => {
    open.delete(close);
    for (const f of fillers) f.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  };
  open.add(close);
  const bound = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`black hole on ${host}: exit ${code}: ${out}`)));
  });
  const result: BlackHole = { host, port: bound, close };
  for (let n = 0; n < MAX_FILL; n++) {
    const s = connect({ host, port: bound });
    s.on('error', () => {});
    if (await connectsWithin(s, DROPPED_AFTER_MS)) {
      fillers.push(s);
      continue;
    }
    s.destroy();
    return result;
  }
  await close();
  throw new Error(`black hole on ${host}:${bound}: the accept queue never filled`);
}
