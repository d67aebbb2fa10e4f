/**
 * Loopback addresses for tests, the benchmark and the scripts: a free port, the spiped address
 * grammar's host and port, and waiting until something listens.
 */
import { connect, createServer } from 'node:net';
import type { Proc } from './procs.js';

/** How often waitForListen() retries. */
const LISTEN_POLL_MS = 25;

/** A loopback TCP port that was free a moment ago (for binaries like spiped that need one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `[h]:p` or `h:p` → {host, port}. */
export function parseHostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

/**
 * Poll until `address` (spiped grammar: `/unix/path`, `[host]:port`, `host:port`) accepts a
 * connection. Rejects after `ms`, or as soon as `proc` (the server being waited for) exits.
 */
export async function waitForListen(address: string, ms = 5000, proc?: Proc): Promise<void> {
  const deadline = Date.now() + ms;
  let dead = false;
  void proc?.exited.then(() => {
    dead = true;
  });
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = address.startsWith('/')
        ? connect({ path: address })
        : connect(parseHostPort(address));
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (dead)
      throw new Error(
        `${proc!.name} exited before listening on ${address}; output:\n${proc!.output()}`,
      );
    if (Date.now() > deadline)
      throw new Error(
        `nothing listens on ${address}${proc ? `; ${proc.name} output:\n${proc.output()}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, LISTEN_POLL_MS));
  }
}
