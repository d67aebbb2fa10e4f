/**
 * Plaintext targets and clients for tunnel tests: an echo server, a "reply after EOF" server that
 * proves half-close in both directions, and a client that sends bytes and digests what returns.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHostPort } from './procs.js';

/** A listening test server. */
export interface TestServer {
  /** Address in spiped grammar ([127.0.0.1]:port or /path). */
  readonly address: string;
  /** Bytes received over all connections. */
  received(): number;
  /** Connections accepted. */
  connections(): number;
  close(): Promise<void>;
}

const openServers = new Set<TestServer>();

/** Close every test server still open (after hooks), dropping their connections. */
export async function closeAllServers(): Promise<void> {
  await Promise.all([...openServers].map((s) => s.close()));
}

/** A fresh temporary directory (for UNIX sockets and key files). */
export function tempDir(prefix = 'cloakpipe-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function listen(server: Server, unixPath?: string): Promise<string> {
  return new Promise((resolve) => {
    if (unixPath) server.listen(unixPath, () => resolve(unixPath));
    else
      server.listen(0, '127.0.0.1', () => {
        const a = server.address() as { port: number };
        resolve(`[127.0.0.1]:${a.port}`);
      });
  });
}

async function start(
  handler: (s: Socket, count: (n: number) => void) => void,
  unixPath?: string,
): Promise<TestServer> {
  let received = 0;
  let conns = 0;
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    conns++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    handler(s, (n) => {
      received += n;
    });
  });
  const address = await listen(server, unixPath);
  const ts: TestServer = {
    address,
    received: () => received,
    connections: () => conns,
    close: () =>
      new Promise((r) => {
        openServers.delete(ts);
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  openServers.add(ts);
  return ts;
}

/** Echoes every byte as it arrives; ends its side when the client ends. */
export function echoServer(unixPath?: string): Promise<TestServer> {
  return start((s, count) => {
    s.on('data', (d: Buffer) => {
      count(d.length);
      if (!s.write(d)) {
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
    s.on('end', () => s.end());
  }, unixPath);
}

/**
 * Reads until the client half-closes, and only then sends everything back followed by its
 * SHA-256: the reply can only arrive if EOF crossed the tunnel and the return path stayed open.
 */
export function replyAfterEofServer(unixPath?: string): Promise<TestServer> {
  return start((s, count) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      count(d.length);
      parts.push(d);
    });
    s.on('end', () => {
      const all = Buffer.concat(parts);
      s.write(all);
      s.end(createHash('sha256').update(all).digest());
    });
  }, unixPath);
}

/** Result of a transfer. */
export interface Transfer {
  readonly bytes: number;
  readonly sha256: string;
  readonly data: Buffer;
  /** True when the connection ended with a reset rather than a clean EOF. */
  readonly reset: boolean;
  /** ms from the start to the close. */
  readonly ms: number;
}

/**
 * Connect to `address`, send `payload`, half-close, collect everything until EOF. With
 * `allowReset`, a connection reset also ends the transfer (refused handshakes end that way).
 */
export function transfer(
  address: string,
  payload: Buffer,
  timeoutMs = 30_000,
  allowReset = false,
): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const s = address.startsWith('/')
      ? connect({ path: address, allowHalfOpen: true })
      : connect({ ...parseHostPort(address), allowHalfOpen: true });
    const parts: Buffer[] = [];
    const t0 = Date.now();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`transfer through ${address} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (reset: boolean): void => {
      clearTimeout(timer);
      const data = Buffer.concat(parts);
      const sha256 = createHash('sha256').update(data).digest('hex');
      resolve({ bytes: data.length, sha256, data, reset, ms: Date.now() - t0 });
    };
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => {
      s.end();
      finish(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (allowReset && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return finish(true);
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => s.end(payload));
  });
}

/** SHA-256 hex of `b`. */
export function sha256hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A TCP port that was free a moment ago (for binaries like spiped that need a fixed port). */
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

/** A fresh listen address for `transport`: a UNIX path in `dir`, or [127.0.0.1]:free-port. */
export async function freeAddress(
  transport: 'tcp' | 'unix',
  dir: string,
  name: string,
): Promise<string> {
  return transport === 'unix' ? join(dir, `${name}.sock`) : `[127.0.0.1]:${await freePort()}`;
}
