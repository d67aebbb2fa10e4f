/**
 * The plaintext ends of every measurement, all in-process on loopback: an echo server, a sink
 * that SHA-256-hashes each stream it receives (optionally reading no faster than a set rate),
 * a sender that writes one buffer over and over with backpressure, and a 1-byte echo round trip.
 */
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** A listening in-process server. */
export interface Listener {
  readonly port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  /** Destroy open connections and stop listening. */
  close(): Promise<void>;
}

/** What a sink received on one connection. */
export interface Received {
  readonly bytes: number;
  readonly sha256: string;
  /** performance.now() when the stream's EOF arrived. */
  readonly endedAt: number;
}

/** A sink: a Listener that hands out each finished stream in arrival order. */
export interface Sink extends Listener {
  /** The next stream to reach EOF (rejects if the connection fails first). */
  next(): Promise<Received>;
}

async function listen(
  onConn: (s: Socket) => void,
): Promise<{ server: Server; port: number; sockets: Set<Socket>; count: () => number }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createServer({ allowHalfOpen: true }, (s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, port, sockets, count: () => count };
}

function listener(l: Awaited<ReturnType<typeof listen>>): Listener {
  return {
    port: l.port,
    accepted: l.count,
    open: () => l.sockets.size,
    close: () =>
      new Promise((r) => {
        for (const s of l.sockets) s.destroy();
        l.server.close(() => r());
      }),
  };
}

/** An echo server: returns every byte as it arrives and ends when the client ends. */
export async function echoServer(): Promise<Listener> {
  return listener(
    await listen((s) => {
      s.on('error', () => {});
      s.pipe(s);
    }),
  );
}

/**
 * A hashing sink. With `rate` (bytes/s) each connection is read no faster than that, by pausing
 * the socket, so the sender and the tunnel between feel backpressure.
 */
export async function hashSink(rate?: number): Promise<Sink> {
  const done: Promise<Received>[] = [];
  const waiting: ((p: Promise<Received>) => void)[] = [];
  const l = await listen((s) => {
    const h = createHash('sha256');
    let t0 = 0;
    let bytes = 0;
    let settle: { resolve: (r: Received) => void; reject: (e: Error) => void } | null = null;
    s.on('data', (d: Buffer) => {
      if (settle === null) {
        // A stream counts from its first byte: connections that carry nothing (readiness probes
        // that a tunnel forwarded) never appear in next().
        t0 = performance.now();
        const result = new Promise<Received>((resolve, reject) => {
          settle = { resolve, reject };
        });
        result.catch(() => {});
        const w = waiting.shift();
        if (w) w(result);
        else done.push(result);
      }
      h.update(d);
      bytes += d.length;
      if (rate === undefined) return;
      const due = t0 + (bytes / rate) * 1000 - performance.now();
      if (due > 0) {
        s.pause();
        setTimeout(() => s.resume(), due);
      }
    });
    s.on('end', () => {
      settle?.resolve({ bytes, sha256: h.digest('hex'), endedAt: performance.now() });
      s.end();
    });
    s.on('error', (e) => settle?.reject(e));
  });
  return {
    ...listener(l),
    next: () => done.shift() ?? new Promise<Received>((r) => waiting.push(r)),
  };
}

/**
 * Connect to 127.0.0.1:`port`, write `chunk` repeatedly until `total` bytes have gone (the last
 * write cut short), honouring backpressure, then half-close and wait for the peer to close too.
 * Rejects on any socket error, or after `timeoutMs` (a stalled tunnel must not hang the run).
 */
export function sendStream(
  port: number,
  chunk: Buffer,
  total: number,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(`stream of ${total} bytes through port ${port}: no end after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    s.on('connect', pump);
  });
}

/** SHA-256 (hex) of `chunk` repeated up to `total` bytes, as sendStream() sends it. */
export function expectedDigest(chunk: Buffer, total: number): string {
  const h = createHash('sha256');
  for (let sent = 0; sent < total; sent += chunk.length)
    h.update(chunk.subarray(0, Math.min(chunk.length, total - sent)));
  return h.digest('hex');
}

/**
 * One connection's life: connect, send one byte, wait for it to come back, half-close, wait for
 * the close. Resolves with the milliseconds it took; rejects on error, a wrong echo, or after
 * `timeoutMs`.
 */
export function echoOnce(port: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`1-byte echo through port ${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    let got = 0;
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => s.write('x'));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got === 1) s.end();
    });
    s.on('end', () => s.end());
    s.on('close', () => {
      clearTimeout(timer);
      if (got === 1) resolve(performance.now() - t0);
      else reject(new Error(`1-byte echo through port ${port} returned ${got} bytes`));
    });
  });
}

/**
 * Open a connection and prove it reaches the target (1-byte echo), then leave it open. Resolves
 * with the socket.
 */
export function openIdle(port: number, timeoutMs = 30_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`idle connection through port ${port} not set up in ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => s.write('x'));
    s.once('data', () => {
      clearTimeout(timer);
      s.on('error', () => {});
      resolve(s);
    });
  });
}
