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

/** What -s and -t accept, as AddressError names it. */
export const ADDRESS_FORMS = '/absolute/unix/path, host:port, [IPv4]:port or [IPv6]:port';

/** A malformed address (configuration error: exit 1 with usage). */
export class AddressError extends Error {
  /**
   * `input` is the text given, `reason` what is wrong with it, `expected` the forms the caller
   * accepts (named at the end of the message).
   */
  constructor(
    readonly input: string,
    readonly reason: string,
    readonly expected: string = ADDRESS_FORMS,
  ) {
    super(`bad address '${input}': ${reason} (expected ${expected})`);
    this.name = 'AddressError';
  }
}

/** `scheme://` at the start: someone wrote a URL (redis://, tcp://, unix://). */
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The reason for a URL given as an address, with the address it most likely meant. */
function notAUrl(input: string): string {
  let meant = 'host:port';
  try {
    const u = new URL(input);
    if (u.host === '' && u.pathname.startsWith('/')) meant = u.pathname;
    else if (u.hostname !== '' && u.port !== '') meant = `${u.hostname}:${u.port}`;
  } catch {
    // not even a valid URL: keep the generic form
  }
  return `addresses are host:port, not URLs (write ${meant})`;
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
  // A URL may carry a password (redis://user:secret@host): never echo it.
  if (URL_SCHEME.test(input))
    throw new AddressError(input.replace(/\/\/[^/@]*@/, '//***@'), notAUrl(input));
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

/** A local address for outgoing sockets (-b): an IP literal and a port (0 = any). */
export interface BindAddress {
  readonly address: string;
  readonly port: number;
}

/** What -b accepts, as AddressError names it. */
export const BIND_FORMS = 'an IP address, [IP]:port or IPv4:port';

/**
 * Parse -b: `IP`, `[IP]`, `[IP]:port` or `IPv4:port` (no host names: nothing is resolved for a
 * local bind). Throws AddressError naming BIND_FORMS.
 */
export function parseBindAddress(input: string): BindAddress {
  if (isIP(input) !== 0) return { address: input, port: 0 };
  const bracketed = /^\[([^\]]*)\]$/.exec(input);
  if (bracketed && isIP(bracketed[1]!) !== 0) return { address: bracketed[1]!, port: 0 };
  let a: Address;
  try {
    a = parseAddress(input, true);
  } catch (err) {
    if (err instanceof AddressError) throw new AddressError(input, err.reason, BIND_FORMS);
    throw err;
  }
  if (a.kind !== 'tcp' || !a.literal)
    throw new AddressError(input, 'not an IP address', BIND_FORMS);
  return { address: a.host, port: a.port };
}

/** What --metrics accepts, as AddressError names it. */
export const METRICS_FORMS = 'port, host:port or [IPv6]:port';

/** Where an HTTP endpoint listens: a host (name or IP literal) and a port (0 = any). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parse --metrics: a bare `port` (meaning 127.0.0.1:port), `host:port`, `[IPv4]:port` or
 * `[IPv6]:port`. Throws AddressError naming METRICS_FORMS.
 */
export function parseMetricsAddress(input: string): HostPort {
  let a: Address;
  try {
    a = parseAddress(/^[0-9]+$/.test(input) ? `127.0.0.1:${input}` : input, true);
  } catch (err) {
    if (err instanceof AddressError) throw new AddressError(input, err.reason, METRICS_FORMS);
    throw err;
  }
  if (a.kind !== 'tcp') throw new AddressError(input, 'not a TCP address', METRICS_FORMS);
  return { host: a.host, port: a.port };
}
