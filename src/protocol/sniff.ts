/**
 * Names the usual miswirings from the first bytes a failed handshake saw (DESIGN.md §2.2).
 *
 * A spiped/cloakpipe end sends its 32-byte random nonce at once, so a handshake that fails has
 * usually met something else: a Redis client pointed at -d, an -e whose -t is Redis itself, a
 * browser, a TLS or SSH peer, or a load balancer's connect-and-close probe. Only the *kind* of
 * peer is ever reported, never the bytes (no payload in logs).
 *
 * Pure: no I/O. The caller keeps at most SNIFF_LEN bytes of what arrived and asks only after
 * the handshake failed, so a random nonce that happens to look like text is never misreported
 * on a connection that works.
 */

/** Bytes of the peer's opening kept for diagnosis: enough for "OPTIONS " or "SSH-2.0-". */
export const SNIFF_LEN = 16;

/** Which side of the tunnel is asking: the end that accepted (-d) or the end that dialled (-e). */
export type SniffSide = 'accepted' | 'dialled';

/** What the opening bytes look like. */
export type PeerKind =
  'redis-client' | 'redis-server' | 'http-client' | 'http-server' | 'tls' | 'ssh';

/** A recognised miswiring: the kind of peer and one sentence saying what to fix. */
export interface Sniffed {
  readonly kind: PeerKind;
  readonly hint: string;
}

const HTTP_METHODS = ['GET ', 'POST ', 'PUT ', 'HEAD ', 'DELETE ', 'OPTIONS ', 'PATCH ', 'PRI * '];
/** TLS record types a peer opens with: 0x16 handshake (ClientHello/ServerHello), 0x15 alert. */
const TLS_HANDSHAKE = 0x16;
const TLS_ALERT = 0x15;
/** TLS record-layer major version (SSL 3.0 to TLS 1.3 all use 3). */
const TLS_MAJOR = 0x03;

const HINTS: Record<PeerKind, string> = {
  'redis-client':
    'this looks like a Redis client speaking plaintext to the -d end: point the client at the -e end',
  'redis-server':
    'the -t address answers like a Redis server, not a tunnel end: point -t at the -d end (cloakpipe -d or spiped -d), and -d at Redis',
  'http-client':
    'this looks like an HTTP client (a browser or an HTTP health check) speaking plaintext to the -d end: use a TCP check, or point it at the -e end',
  'http-server':
    'the -t address answers like an HTTP server, not a tunnel end: point -t at the -d end',
  tls: 'the peer speaks TLS; cloakpipe ends speak the spiped protocol: pair cloakpipe with cloakpipe or spiped, not with a TLS proxy or client',
  ssh: 'the peer speaks SSH, not the spiped protocol: check the port numbers of -s and -t',
};

function startsWith(head: Uint8Array, text: string): boolean {
  if (head.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** A RESP request opener: `*<digit>` (an array), or an inline command (3+ letters, then space or CR/LF). */
function looksLikeRedisRequest(head: Uint8Array): boolean {
  if (head[0] === 0x2a /* '*' */) return head.length > 1 && head[1]! >= 0x30 && head[1]! <= 0x39;
  let i = 0;
  while (i < head.length && (head[i]! | 0x20) >= 0x61 && (head[i]! | 0x20) <= 0x7a) i++;
  return i >= 3 && i < head.length && (head[i] === 0x20 || head[i] === 0x0d || head[i] === 0x0a);
}

/** A Redis reply opener: an error (`-ERR`, `-NOAUTH`, `-DENIED`…) or a simple string/RESP3 hello. */
function looksLikeRedisReply(head: Uint8Array): boolean {
  if (head[0] !== 0x2d /* '-' */ && head[0] !== 0x2b /* '+' */) return false;
  let i = 1;
  while (i < head.length && head[i]! >= 0x41 && head[i]! <= 0x5a) i++; // uppercase word
  return i >= 3;
}

/**
 * What `head` (the first bytes the peer sent, at most SNIFF_LEN are looked at) says about the
 * peer, seen from `side`; null when it looks like nothing known (a wrong key, most likely).
 * Never throws.
 */
export function sniffPeer(head: Uint8Array, side: SniffSide): Sniffed | null {
  if (head.length === 0) return null;
  const kind = classify(head.subarray(0, SNIFF_LEN), side);
  return kind === null ? null : { kind, hint: HINTS[kind] };
}

function classify(head: Uint8Array, side: SniffSide): PeerKind | null {
  if ((head[0] === TLS_HANDSHAKE || head[0] === TLS_ALERT) && head[1] === TLS_MAJOR) return 'tls';
  if (startsWith(head, 'SSH-')) return 'ssh';
  if (side === 'dialled') {
    if (startsWith(head, 'HTTP/')) return 'http-server';
    if (looksLikeRedisReply(head)) return 'redis-server';
    return null;
  }
  if (HTTP_METHODS.some((m) => startsWith(head, m))) return 'http-client';
  if (looksLikeRedisRequest(head)) return 'redis-client';
  return null;
}
