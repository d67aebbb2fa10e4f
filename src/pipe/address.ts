/**
 * spiped's address grammar (spiped main.c, lib/util/sock.c):
 *   /absolute/unix/path    a UNIX-domain socket
 *   host:port              a host name (or IPv4 literal) resolved with DNS
 *   [IPv4]:port            a literal IPv4 address, no DNS
 *   [IPv6]:port            a literal IPv6 address, no DNS
 * cloakpipe adds `fd:N` (an inherited listening socket, for systemd socket activation) on -s only.
 */
import { isIP } from 'node:net';

/** A parsed address. */
export type Address =
  | { readonly kind: 'unix'; readonly path: string }
  | {
      readonly kind: 'tcp';
      readonly host: string;
      readonly port: number;
      readonly literal: boolean;
    }
  | { readonly kind: 'fd'; readonly fd: number };

/** A malformed address (configuration error: exit 1 with usage). */
export class AddressError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(
      `bad address '${input}': ${reason} ` +
        '(expected /absolute/unix/path, host:port, [IPv4]:port or [IPv6]:port)',
    );
    this.name = 'AddressError';
  }
}

function parsePort(input: string, text: string, listen: boolean): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new AddressError(input, `port '${text}' is not a number`);
  const port = Number(text);
  // Port 0 (any free port, logged once listening) only makes sense for a listener.
  if (port < (listen ? 0 : 1) || port > 65535)
    throw new AddressError(input, `port ${port} is out of range 1-65535`);
  return port;
}

/**
 * Parse `input` in spiped's grammar. `listen` (for -s) also accepts `fd:N` and port 0.
 * Throws AddressError with a message naming the input and what is wrong.
 */
export function parseAddress(input: string, listen = false): Address {
  if (input.length === 0) throw new AddressError(input, 'empty');
  if (input.startsWith('/')) return { kind: 'unix', path: input };
  const fdm = /^fd:([0-9]+)$/.exec(input);
  if (fdm) {
    if (!listen) throw new AddressError(input, 'fd:N is only accepted as a source (-s)');
    return { kind: 'fd', fd: Number(fdm[1]) };
  }
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) throw new AddressError(input, "missing ']'");
    const host = input.slice(1, close);
    if (input[close + 1] !== ':') throw new AddressError(input, "expected ':port' after ']'");
    if (isIP(host) === 0) throw new AddressError(input, `'${host}' is not an IPv4 or IPv6 literal`);
    return {
      kind: 'tcp',
      host,
      port: parsePort(input, input.slice(close + 2), listen),
      literal: true,
    };
  }
  const colon = input.lastIndexOf(':');
  if (colon < 0) throw new AddressError(input, 'no port (and not an absolute path)');
  const host = input.slice(0, colon);
  if (host.includes(':'))
    throw new AddressError(input, 'an IPv6 address must be written in brackets, [::1]:port');
  if (host.length === 0) throw new AddressError(input, 'empty host');
  if (!/^[A-Za-z0-9._-]+$/.test(host))
    throw new AddressError(input, `'${host}' is not a valid host name`);
  return {
    kind: 'tcp',
    host,
    port: parsePort(input, input.slice(colon + 1), listen),
    literal: isIP(host) !== 0,
  };
}

/** Format an address back in spiped's grammar (IPv6 in brackets). */
export function formatAddress(a: Address): string {
  if (a.kind === 'unix') return a.path;
  if (a.kind === 'fd') return `fd:${a.fd}`;
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
