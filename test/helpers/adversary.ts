/**
 * An adversarial spiped peer built from cloakpipe's own protocol pieces (kdf.deriveDhMacKeys,
 * HMAC-SHA256, the group-14 prime): it knows the key, speaks the handshake correctly, but sends a
 * Diffie-Hellman value of its choosing (y = p, y > p, 0, p−1, 1, or an honest one). As a client it
 * attacks a cloakpipe -d; as a fake server it answers a cloakpipe -e. It derives its MAC keys under
 * either framing (spiped's by default, or compact's label, DESIGN.md §9.1), to face an end of that
 * framing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { GROUP14_PRIME_HEX, generateEphemeralKey } from '../../src/crypto/dh.js';
import { deriveDhMacKeys, type Framing } from '../../src/crypto/kdf.js';
import { DH_LEN, NONCE_LEN, YH_LEN } from '../../src/crypto/sizes.js';
import { parseHostPort } from '../support/net.js';

/** The group-14 prime p as a number. */
export const P = BigInt(`0x${GROUP14_PRIME_HEX}`);

/** `n` as a DH_LEN-byte big-endian value (n must fit in 2048 bits). */
export function dhValue(n: bigint): Buffer {
  if (n < 0n || n >= 1n << BigInt(8 * DH_LEN)) throw new RangeError('expected 0 ≤ n < 2^2048');
  return Buffer.from(n.toString(16).padStart(2 * DH_LEN, '0'), 'hex');
}

/** An honest public value, 2^(2^258 + x) mod p, as cloakpipe and spiped make them. */
export function honestY(): Buffer {
  const k = generateEphemeralKey();
  const y = Buffer.from(k.publicValue);
  k.destroy();
  return y;
}

/** Values no honest peer sends, each with the detail cloakpipe logs for it. */
export const BAD_Y: readonly { readonly name: string; readonly y: Buffer; readonly why: string }[] =
  [
    { name: 'y = p', y: dhValue(P), why: 'not-below-p' },
    { name: 'y = p + 1', y: dhValue(P + 1n), why: 'not-below-p' },
    { name: 'y = 2^2048 − 1', y: dhValue((1n << 2048n) - 1n), why: 'not-below-p' },
    { name: 'y = 0', y: dhValue(0n), why: 'zero' },
    { name: 'y = p − 1', y: dhValue(P - 1n), why: 'p-minus-one' },
  ];

/** y = 1, what a -f peer sends. */
export const Y_ONE = dhValue(1n);

/** K = SHA-256 of a key file's bytes. */
export function keyOf(path: string): Buffer {
  return createHash('sha256').update(readFileSync(path)).digest();
}

/** How an adversarial client's attempt ended. */
export interface AttackResult {
  /** Everything the server sent after its nonce (its y ‖ h if it accepted ours). */
  readonly reply: Buffer;
  /** True if `reply` holds a y_S ‖ h_S whose MAC verifies under the key used. */
  readonly serverMacOk: boolean;
  /** ms from sending our y ‖ h to the close (or to the server's answer, if it answered). */
  readonly ms: number;
  /** The connection ended with a reset rather than a FIN. */
  readonly reset: boolean;
}

/**
 * Connect to a cloakpipe -d at `address` as a handshake client with key `key` (K, 32 bytes) and
 * send `y` with a correct MAC (or a broken one with `breakMac`). Resolves when the server closes
 * the connection; if it answers with its own y ‖ h instead, we half-close (a clean EOF at a packet
 * boundary) and resolve once it closes. Rejects after `timeoutMs` (default 10 s). The MAC keys
 * are those of `framing` (default 'spiped').
 */
export function attackServer(
  address: string,
  key: Uint8Array,
  y: Uint8Array,
  opts: { breakMac?: boolean; timeoutMs?: number; framing?: Framing } = {},
): Promise<AttackResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const s = address.startsWith('/')
      ? connect({ path: address, allowHalfOpen: true })
      : connect({ ...parseHostPort(address), allowHalfOpen: true });
    const nonceC = randomBytes(NONCE_LEN);
    let got = Buffer.alloc(0);
    let mac: { dhmacC: Uint8Array; dhmacS: Uint8Array } | null = null;
    let sentAt = Date.now();
    let answeredAt = 0;
    let reset = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`adversary: ${address} neither answered nor closed within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(nonceC));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (mac === null && got.length >= NONCE_LEN) {
        // C3, C4: dk1 from both nonces, then y ‖ HMAC(dhmac_C, y).
        mac = deriveDhMacKeys(key, nonceC, got.subarray(0, NONCE_LEN), opts.framing);
        const h = Buffer.from(hmac(sha256, mac.dhmacC, y));
        if (opts.breakMac) h[0]! ^= 1;
        sentAt = Date.now();
        s.write(Buffer.concat([y, h]));
      }
      if (answeredAt === 0 && got.length >= NONCE_LEN + YH_LEN) {
        answeredAt = Date.now();
        s.end();
      }
    });
    s.on('end', () => s.end());
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      else {
        clearTimeout(timer);
        reject(e);
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      const reply = got.subarray(Math.min(NONCE_LEN, got.length));
      let serverMacOk = false;
      if (mac !== null && reply.length >= YH_LEN) {
        const yS = reply.subarray(0, DH_LEN);
        serverMacOk = Buffer.from(hmac(sha256, mac.dhmacS, yS)).equals(
          reply.subarray(DH_LEN, YH_LEN),
        );
      }
      resolve({ reply, serverMacOk, ms: (answeredAt || Date.now()) - sentAt, reset });
    });
  });
}

/** What a fake server saw of one client connection. */
export interface FakeServerConn {
  /** The client's y_C ‖ h_C verified under the key (null until it arrived). */
  clientMacOk: boolean | null;
  /** Bytes the client sent after its handshake (encrypted packets, if it accepted our y). */
  bytesAfterHandshake: number;
  /** ms from sending our y ‖ h to the client's close (null while open). */
  closedAfterMs: number | null;
}

/** A fake -d end: the handshake server side, answering with a chosen y. */
export interface FakeServer {
  readonly address: string;
  readonly conns: readonly FakeServerConn[];
  close(): Promise<void>;
}

const fakes = new Set<{ server: Server; sockets: Set<Socket> }>();

/** Close every fake server still open (after hooks). */
export async function closeAllFakeServers(): Promise<void> {
  await Promise.all(
    [...fakes].map(
      (f) =>
        new Promise<void>((r) => {
          fakes.delete(f);
          for (const s of f.sockets) s.destroy();
          f.server.close(() => r());
        }),
    ),
  );
}

/**
 * Listen on 127.0.0.1 (or `unixPath`) as a handshake server for a cloakpipe -e: send a nonce at
 * once, read the client's nonce and y_C ‖ h_C (recording whether h_C verifies under `key`), then
 * answer with `y` and a correct MAC h_S = HMAC(dhmac_S, y) keyed by `key`, with the MAC keys of
 * `framing`.
 */
export async function fakeServer(
  key: Uint8Array,
  y: Uint8Array,
  unixPath?: string,
  framing: Framing = 'spiped',
): Promise<FakeServer> {
  const conns: FakeServerConn[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    const c: FakeServerConn = { clientMacOk: null, bytesAfterHandshake: 0, closedAfterMs: null };
    conns.push(c);
    const nonceS = randomBytes(NONCE_LEN);
    let got = Buffer.alloc(0);
    let sentAt = 0;
    s.on('error', () => {});
    s.write(nonceS);
    s.on('data', (d: Buffer) => {
      if (c.clientMacOk !== null) {
        c.bytesAfterHandshake += d.length;
        return;
      }
      got = Buffer.concat([got, d]);
      if (got.length < NONCE_LEN + YH_LEN) return;
      const mac = deriveDhMacKeys(key, got.subarray(0, NONCE_LEN), nonceS, framing);
      const yC = got.subarray(NONCE_LEN, NONCE_LEN + DH_LEN);
      const hC = got.subarray(NONCE_LEN + DH_LEN, NONCE_LEN + YH_LEN);
      c.clientMacOk = Buffer.from(hmac(sha256, mac.dhmacC, yC)).equals(hC);
      c.bytesAfterHandshake = got.length - NONCE_LEN - YH_LEN;
      sentAt = Date.now();
      s.write(Buffer.concat([y, hmac(sha256, mac.dhmacS, y)]));
    });
    s.on('end', () => s.end());
    s.on('close', () => {
      sockets.delete(s);
      c.closedAfterMs = Date.now() - (sentAt || Date.now());
    });
  });
  const address = await new Promise<string>((resolve) => {
    if (unixPath) server.listen(unixPath, () => resolve(unixPath));
    else
      server.listen(0, '127.0.0.1', () =>
        resolve(`[127.0.0.1]:${(server.address() as { port: number }).port}`),
      );
  });
  const entry = { server, sockets };
  fakes.add(entry);
  return {
    address,
    conns,
    close: () =>
      new Promise<void>((r) => {
        fakes.delete(entry);
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
