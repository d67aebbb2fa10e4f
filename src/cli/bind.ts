/** The -b argument: a local IP for outgoing sockets, optionally with a port. */
import { isIP } from 'node:net';
import { UsageError } from './args.js';

/** Parse `IP`, `[IP]`, `[IP]:port` or `IPv4:port`. Throws UsageError. */
export function parseBind(text: string): { address: string; port: number } {
  let host = text;
  let port = 0;
  const m = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(text) ?? /^([0-9.]+):([0-9]{1,5})$/.exec(text);
  if (m) {
    host = m[1]!;
    port = m[2] === undefined ? 0 : Number(m[2]);
  }
  if (isIP(host) === 0)
    throw new UsageError(`-b ${text}: expected an IP address, [IP]:port or IPv4:port`);
  if (port > 65535) throw new UsageError(`-b ${text}: port out of range`);
  return { address: host, port };
}
