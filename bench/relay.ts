/**
 * A plain TCP relay, the benchmark's "node relay" pair: `node relay.js <listen port> <target
 * port>` accepts on 127.0.0.1 and pipes each connection to the target with the socket options a
 * cloakpipe end uses (allowHalfOpen, TCP_NODELAY), but no handshake and no crypto. Two of them
 * chained like a tunnel pair measure what Node's own networking costs on this machine: the
 * floor under any tunnel written in Node, next to spiped's figures.
 */
import { connect, createServer } from 'node:net';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort)) {
  process.stderr.write('usage: node relay.js <listen port> <target port>\n');
  process.exit(1);
}
createServer({ allowHalfOpen: true }, (client) => {
  client.setNoDelay(true);
  const target = connect({ host: '127.0.0.1', port: targetPort!, allowHalfOpen: true });
  target.setNoDelay(true);
  client.pipe(target);
  target.pipe(client);
  client.on('error', () => target.destroy());
  target.on('error', () => client.destroy());
  client.on('close', () => target.destroy());
  target.on('close', () => client.destroy());
}).listen({ host: '127.0.0.1', port: listenPort, backlog: 511 });
process.on('SIGTERM', () => process.exit(0));
