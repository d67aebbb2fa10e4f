/**
 * Plaintext targets and clients for tunnel tests: an echo server, a "reply after EOF" server that
 * proves half-close in both directions, and a client that sends bytes and digests what returns.
 */
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, parseHostPort } from '../support/net.js';
import { onStopAll } from '../support/procs.js';

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
onStopAll(closeAllServers);

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

/** A fresh listen address for `transport`: a UNIX path in `dir`, or [127.0.0.1]:free-port. */
export async function freeAddress(
  transport: 'tcp' | 'unix',
  dir: string,
  name: string,
): Promise<string> {
  return transport === 'unix' ? join(dir, `${name}.sock`) : `[127.0.0.1]:${await freePort()}`;
}

/** A test server that keeps what each connection sent. */
export interface CollectServer extends TestServer {
  /** Per connection, in accept order: the bytes received and whether it has closed. */
  conns(): readonly { readonly data: Buffer; readonly ended: boolean; readonly closed: boolean }[];
}

/** Records every byte of every connection; sends nothing; ends its side when the client ends. */
export async function collectServer(unixPath?: string): Promise<CollectServer> {
  const conns: { parts: Buffer[]; ended: boolean; closed: boolean }[] = [];
  const ts = await start((s, count) => {
    const c = { parts: [] as Buffer[], ended: false, closed: false };
    conns.push(c);
    s.on('data', (d: Buffer) => {
      count(d.length);
      c.parts.push(d);
    });
    s.on('end', () => {
      c.ended = true;
      s.end();
    });
    s.on('close', () => {
      c.closed = true;
    });
  }, unixPath);
  return {
    ...ts,
    conns: () =>
      conns.map((c) => ({ data: Buffer.concat(c.parts), ended: c.ended, closed: c.closed })),
  };
}

/** Accepts connections, reads and discards, and never sends or closes anything. */
export function silentServer(unixPath?: string): Promise<TestServer> {
  return start((s, count) => {
    s.on('data', (d: Buffer) => count(d.length));
  }, unixPath);
}

/** Pause reading `s` while its own pacing or a blocked writer asks for it (counted holds). */
class ReadGate {
  #holds = 0;
  constructor(readonly s: Socket) {}
  hold(): void {
    if (this.#holds++ === 0) this.s.pause();
  }
  release(): void {
    if (--this.#holds === 0 && !this.s.destroyed) this.s.resume();
  }
}

/** Pace reads of `s` to about `bytesPerSecond` (the kernel buffers fill and the sender slows). */
function paceReads(s: Socket, gate: ReadGate, bytesPerSecond: number): void {
  const t0 = Date.now();
  let got = 0;
  s.on('data', (d: Buffer) => {
    got += d.length;
    const wait = t0 + (got / bytesPerSecond) * 1000 - Date.now();
    if (wait > 1) {
      gate.hold();
      setTimeout(() => gate.release(), wait);
    }
  });
}

/** Write `block` `count` times to `s` with backpressure, then end (or not, with `end` false). */
function writeRepeated(s: Socket, block: Buffer, count: number, end = true): void {
  let left = count;
  const more = (): void => {
    while (left > 0) {
      left--;
      if (!s.write(block)) {
        s.once('drain', more);
        return;
      }
    }
    if (end) s.end();
  };
  more();
}

/**
 * A target that reads at about `bytesPerSecond` per connection. 'echo' writes every byte back
 * (its writes are paced too, through backpressure); 'digest' answers only after the client's EOF,
 * with the SHA-256 of everything received (32 bytes), then ends.
 */
export function throttledServer(
  bytesPerSecond: number,
  reply: 'echo' | 'digest',
  unixPath?: string,
): Promise<TestServer> {
  return start((s, count) => {
    const gate = new ReadGate(s);
    const hash = createHash('sha256');
    paceReads(s, gate, bytesPerSecond);
    s.on('data', (d: Buffer) => {
      count(d.length);
      if (reply === 'digest') hash.update(d);
      else if (!s.write(d)) {
        gate.hold();
        s.once('drain', () => gate.release());
      }
    });
    s.on('end', () => (reply === 'digest' ? s.end(hash.digest()) : s.end()));
  }, unixPath);
}

/**
 * A target that sends `block` × `count` to each connection as fast as it is read, then ends;
 * `count` may be a function of the connection's number (0, 1, …).
 */
export function sourceServer(
  block: Buffer,
  count: number | ((conn: number) => number),
  unixPath?: string,
): Promise<TestServer> {
  let conns = 0;
  return start((s, countIn) => {
    s.on('data', (d: Buffer) => countIn(d.length));
    s.on('end', () => {});
    writeRepeated(s, block, typeof count === 'number' ? count : count(conns++));
  }, unixPath);
}

/** Result of a streamed transfer. */
export interface StreamResult {
  /** SHA-256 hex of what was sent (block × count). */
  readonly sentSha256: string;
  /** Bytes received back, their SHA-256 hex, and the first 64 of them. */
  readonly bytes: number;
  readonly sha256: string;
  readonly head: Buffer;
  readonly reset: boolean;
  readonly ms: number;
}

/**
 * Connect to `address`, send `block` × `count` with backpressure, half-close, and read the reply
 * until EOF (paced to `readBytesPerSecond` if given), digesting both ways without keeping the
 * data. With `allowReset`, a reset ends the transfer instead of failing it.
 */
export function streamTransfer(
  address: string,
  block: Buffer,
  count: number,
  opts: { readBytesPerSecond?: number; timeoutMs?: number; allowReset?: boolean } = {},
): Promise<StreamResult> {
  const sent = createHash('sha256');
  for (let i = 0; i < count; i++) sent.update(block);
  const sentSha256 = sent.digest('hex');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const s = address.startsWith('/')
      ? connect({ path: address, allowHalfOpen: true })
      : connect({ ...parseHostPort(address), allowHalfOpen: true });
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const t0 = Date.now();
    const timer = setTimeout(() => {
      done = true;
      s.destroy();
      reject(
        new Error(`stream through ${address} timed out after ${timeoutMs} ms (${bytes} B back)`),
      );
    }, timeoutMs);
    const finish = (reset: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const h = Buffer.concat(head).subarray(0, 64);
      resolve({
        sentSha256,
        bytes,
        sha256: hash.digest('hex'),
        head: h,
        reset,
        ms: Date.now() - t0,
      });
    };
    if (opts.readBytesPerSecond) paceReads(s, new ReadGate(s), opts.readBytesPerSecond);
    s.on('data', (d: Buffer) => {
      if (bytes < 64) head.push(d.subarray(0, 64));
      bytes += d.length;
      hash.update(d);
    });
    s.on('end', () => {
      s.end();
      finish(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (opts.allowReset && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return finish(true);
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => writeRepeated(s, block, count));
  });
}
