/**
 * A tuned plain TCP relay, the benchmark's "node-relay" pair: `node relay.js <listen port>
 * <target port>` accepts on 127.0.0.1 and relays each connection to the target with the socket
 * options a cloakpipe end uses (allowHalfOpen, TCP_NODELAY), but no handshake and no crypto. Two
 * of them chained like a tunnel pair (-e, -d) measure what Node's own networking costs on this
 * machine when used as well as it can be: the floor under any tunnel written in Node.
 *
 * It differs from a plain `pipe()` relay in three ways, each worth a few µs per request:
 * - the dialled leg is read with `onread` into one static buffer (no per-read allocation, no
 *   stream machinery), and each read is copied synchronously before the buffer is reused;
 * - `noDelay` is set in the connect options rather than by a call after;
 * - the data/drain/end/error handlers are module-level functions shared by every connection
 *   (the peer is found through a symbol on the socket), not closures made per connection.
 */
import { connect, createServer, type Socket } from 'node:net';

/** Size of the one buffer every dialled socket reads into (Node's default read size). */
const READ_BUFFER_BYTES = 64 * 1024;
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

const PEER = Symbol('peer');
type Linked = Socket & { [PEER]: Socket };
const peer = (s: Socket): Socket => (s as Linked)[PEER];

/** Dialled leg: one read of `n` bytes in the static buffer, copied to the accepted leg. */
function onDialledRead(this: Socket, n: number, buf: Buffer): boolean {
  // write() may keep the chunk queued, so it must not be a view of the reused buffer.
  // Returning false pauses this socket until the accepted leg drains.
  return peer(this).write(Buffer.from(buf.subarray(0, n)));
}
/** Accepted leg: a chunk from the client, written to the dialled leg. */
function onAcceptedData(this: Socket, chunk: Buffer): void {
  if (!peer(this).write(chunk)) this.pause();
}
function onDrain(this: Socket): void {
  peer(this).resume();
}
function onEnd(this: Socket): void {
  peer(this).end();
}
function onCloseOrError(this: Socket): void {
  peer(this).destroy();
}

function link(a: Socket, b: Socket): void {
  (a as Linked)[PEER] = b;
  a.on('drain', onDrain);
  a.on('end', onEnd);
  a.on('error', onCloseOrError);
  a.on('close', onCloseOrError);
}

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort)) {
  process.stderr.write('usage: node relay.js <listen port> <target port>\n');
  process.exit(1);
}
createServer({ allowHalfOpen: true, noDelay: true }, (accepted) => {
  const dialled = connect({
    host: '127.0.0.1',
    port: targetPort!,
    allowHalfOpen: true,
    noDelay: true,
    onread: { buffer: readBuffer, callback: onDialledRead },
  });
  link(accepted, dialled);
  link(dialled, accepted);
  accepted.on('data', onAcceptedData);
}).listen({ host: '127.0.0.1', port: listenPort, backlog: 511 });
process.on('SIGTERM', () => process.exit(0));
