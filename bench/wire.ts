/**
 * Wire bytes: an in-process TCP forwarder put between a pair's -e and -d ends that counts the
 * bytes going each way. It costs the harness CPU, so it is only used in separate short runs,
 * never in the ones whose throughput is reported.
 */
import { connect, createServer, type Socket } from 'node:net';

/** A running counter: the port to dial instead of the target, and the bytes seen so far. */
export interface ByteCounter {
  readonly port: number;
  /** Bytes from the dialling side to the target (-e → -d), and back. */
  readonly up: () => number;
  readonly down: () => number;
  close(): Promise<void>;
}

/** Relay `from` to `to` with backpressure and half-close, adding each chunk's size to `count`. */
function forward(from: Socket, to: Socket, count: (n: number) => void): void {
  from.on('data', (d: Buffer) => {
    count(d.length);
    if (!to.write(d)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

/** Start a counting forwarder on a free loopback port to 127.0.0.1:`target`. */
export function byteCounter(target: number): Promise<ByteCounter> {
  let up = 0;
  let down = 0;
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (a) => {
    const b = connect({ host: '127.0.0.1', port: target, allowHalfOpen: true, noDelay: true });
    for (const s of [a, b]) {
      open.add(s);
      s.on('close', () => open.delete(s));
    }
    forward(a, b, (n) => (up += n));
    forward(b, a, (n) => (down += n));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, () => {
      resolve({
        port: (server.address() as { port: number }).port,
        up: () => up,
        down: () => down,
        close: () =>
          new Promise<void>((done) => {
            for (const s of open) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
