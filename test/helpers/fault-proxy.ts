/**
 * A man-in-the-middle for the encrypted hop: listens where cloakpipe -e is told the -d end is,
 * forwards to the real -d, and damages the stream on the way (delay, drop, bit flip, truncate,
 * reorder, replay, reflect, stall). Works over TCP and UNIX sockets.
 *
 * Offsets count the bytes of one direction of one connection from its first byte. The handshake
 * is NONCE_LEN + YH_LEN = 320 bytes per direction (DESIGN.md §2.2), so packet n of a direction starts
 * at packetStart(n) = 320 + 1060·n. With any fault set, each direction is forwarded in whole
 * protocol units (the 32-byte nonce, the 288-byte y ‖ h, then 1060-byte packets), which is how
 * both ends write them; a partial unit is forwarded when its sender ends. With no fault the proxy
 * is a plain byte pipe.
 */
import { connect, createServer, type Socket } from 'node:net';
import { NONCE_LEN, PACKET_LEN, YH_LEN } from '../../src/crypto/sizes.js';
import { parseHostPort } from '../support/net.js';

/** Bytes of the handshake in each direction: nonce, then y ‖ HMAC(y). */
export const HANDSHAKE_LEN = NONCE_LEN + YH_LEN;

/** Offset of data packet `n` (from 0) in either direction's stream. */
export function packetStart(n: number): number {
  return HANDSHAKE_LEN + n * PACKET_LEN;
}

/** c2s: from the -e end (handshake client) to the -d end; s2c: the reverse. */
export type Direction = 'c2s' | 's2c';

/** One way to damage a connection. Offsets are in `dir`'s stream; packets count from 0. */
export type Fault =
  /** Hold every unit (of `dir`, or of both directions) for `ms` before forwarding it. */
  | { readonly kind: 'delay'; readonly ms: number; readonly dir?: Direction }
  /** Do not forward the bytes at offsets [from, to). */
  | { readonly kind: 'drop'; readonly dir: Direction; readonly from: number; readonly to: number }
  /** Flip bit `bit` (0–7, default 0) of the byte at `offset`. */
  | {
      readonly kind: 'flip';
      readonly dir: Direction;
      readonly offset: number;
      readonly bit?: number;
    }
  /**
   * Forward the first `after` bytes, then cut: 'end' half-closes towards the receiver (a FIN, the
   * default), 'reset' destroys both sockets. Later bytes of `dir` are read and discarded.
   */
  | {
      readonly kind: 'truncate';
      readonly dir: Direction;
      readonly after: number;
      readonly how?: 'end' | 'reset';
    }
  /** Swap packets `packet` and `packet + 1`. */
  | { readonly kind: 'reorder'; readonly dir: Direction; readonly packet: number }
  /** Forward packet `packet`, then the same bytes once more. */
  | { readonly kind: 'replay'; readonly dir: Direction; readonly packet: number }
  /** Send packet `packet` back to its sender instead of forwarding it. */
  | { readonly kind: 'reflect'; readonly dir: Direction; readonly packet: number }
  /** Forward the first `after` bytes, then stop reading `dir` (the connection stays open). */
  | { readonly kind: 'stall'; readonly dir: Direction; readonly after: number };

/** What one proxied connection saw. */
export interface LinkStats {
  /** Bytes read from the sender, per direction. */
  readonly read: Record<Direction, number>;
  /** Faults that fired, in order, described (e.g. 'flip c2s@3500 bit 2'). */
  readonly applied: string[];
  /** Both sockets are closed. */
  closed: boolean;
}

/** A running proxy. */
export interface FaultProxy {
  /** Where to point cloakpipe -e's -t ([127.0.0.1]:port or /path). */
  readonly address: string;
  /** Faults for connections accepted from now on (each connection gets its own copy). */
  setFaults(faults: readonly Fault[]): void;
  /** One entry per connection accepted, in order. */
  links(): readonly LinkStats[];
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

const proxies = new Set<FaultProxy>();

/** Close every proxy still open (after hooks). */
export async function closeAllProxies(): Promise<void> {
  await Promise.all([...proxies].map((p) => p.close()));
}

function dialAddress(address: string): Socket {
  return address.startsWith('/')
    ? connect({ path: address, allowHalfOpen: true })
    : connect({ ...parseHostPort(address), allowHalfOpen: true });
}

/** Length of the protocol unit that starts at `offset`: nonce, y ‖ h, or a packet. */
function unitLength(offset: number): number {
  if (offset < NONCE_LEN) return NONCE_LEN - offset;
  if (offset < HANDSHAKE_LEN) return HANDSHAKE_LEN - offset;
  return PACKET_LEN - ((offset - HANDSHAKE_LEN) % PACKET_LEN);
}

/** Packet number of a unit starting at `offset`, or null for a handshake unit. */
function packetAt(offset: number): number | null {
  return offset < HANDSHAKE_LEN ? null : Math.floor((offset - HANDSHAKE_LEN) / PACKET_LEN);
}

/** One direction of one connection: reads `src`, applies the faults, writes `dst`. */
class Lane {
  other!: Lane;
  #pos = 0; // offset of the next byte read
  #unit: Buffer[] = [];
  #unitHave = 0;
  #held: Buffer | null = null; // reorder
  #cut = false; // truncated: discard the rest
  #stalled = false;
  #writeBlocked = false;
  readonly #queue: { due: number; run: () => void }[] = []; // delayed writes and ends, in order
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly dir: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    readonly faults: readonly Fault[],
    readonly stats: LinkStats,
    readonly raw: boolean,
  ) {}

  start(): void {
    this.src.on('data', (d: Buffer) => this.#onData(d));
    this.src.on('end', () => this.#onEnd());
  }

  #note(text: string): void {
    this.stats.applied.push(text);
  }

  #onData(d: Buffer): void {
    this.stats.read[this.dir] += d.length;
    if (this.#cut) return;
    if (this.raw) {
      this.#pos += d.length;
      return this.emit(d);
    }
    let off = 0;
    while (off < d.length && !this.#cut && !this.#stalled) {
      const need = unitLength(this.#pos + this.#unitHave);
      const take = Math.min(need, d.length - off);
      this.#unit.push(d.subarray(off, off + take));
      this.#unitHave += take;
      off += take;
      if (take === need) this.#flushUnit(true);
    }
  }

  #onEnd(): void {
    if (!this.raw && this.#unitHave > 0 && !this.#cut && !this.#stalled) this.#flushUnit(false);
    if (this.#held) this.emit(this.#held);
    this.#held = null;
    if (this.#cut || this.#stalled) return;
    this.#end();
  }

  /** A whole unit (or, at EOF, the partial last one) has arrived: damage it and pass it on. */
  #flushUnit(whole: boolean): void {
    const start = this.#pos;
    let buf = Buffer.concat(this.#unit);
    this.#unit = [];
    this.#unitHave = 0;
    this.#pos += buf.length;
    const end = start + buf.length;
    const n = whole ? packetAt(start) : null;
    // Byte faults, in list order.
    for (const f of this.faults) {
      if (!('dir' in f) || f.dir !== this.dir) continue;
      if (f.kind === 'flip' && f.offset >= start && f.offset < end) {
        buf = Buffer.from(buf);
        const bit = f.bit ?? 0;
        buf[f.offset - start]! ^= 1 << bit;
        this.#note(`flip ${this.dir}@${f.offset} bit ${bit}`);
      } else if (f.kind === 'drop' && f.from < end && f.to > start) {
        const a = Math.max(f.from, start) - start;
        const b = Math.min(f.to, end) - start;
        buf = Buffer.concat([buf.subarray(0, a), buf.subarray(b)]);
        this.#note(`drop ${this.dir}[${start + a},${start + b})`);
      }
    }
    for (const f of this.faults) {
      if (!('dir' in f) || f.dir !== this.dir) continue;
      if ((f.kind === 'truncate' || f.kind === 'stall') && f.after <= end) {
        const keep = Math.max(0, f.after - start);
        if (keep > 0) this.emit(buf.subarray(0, keep));
        if (f.kind === 'stall') {
          this.#note(`stall ${this.dir}@${f.after}`);
          this.#stalled = true;
          this.src.pause();
          return;
        }
        this.#note(`truncate ${this.dir}@${f.after} (${f.how ?? 'end'})`);
        this.#cut = true;
        if (f.how === 'reset') {
          this.src.destroy();
          this.dst.destroy();
        } else this.#end();
        return;
      }
    }
    // Packet faults.
    if (n !== null) {
      for (const f of this.faults) {
        if (!('dir' in f) || f.dir !== this.dir) continue;
        if (f.kind === 'reorder' && f.packet === n) {
          this.#held = buf;
          this.#note(`reorder ${this.dir} #${n} <-> #${n + 1}`);
          return;
        }
        if (f.kind === 'replay' && f.packet === n) {
          this.emit(buf);
          this.#note(`replay ${this.dir} #${n}`);
          this.emit(buf);
          return;
        }
        if (f.kind === 'reflect' && f.packet === n) {
          this.#note(`reflect ${this.dir} #${n}`);
          this.other.emit(buf);
          return;
        }
      }
    }
    this.emit(buf);
    if (this.#held) {
      this.emit(this.#held);
      this.#held = null;
    }
  }

  #delayMs(): number {
    for (const f of this.faults)
      if (f.kind === 'delay' && (f.dir === undefined || f.dir === this.dir)) return f.ms;
    return 0;
  }

  /** Run `fn` after the lane's delay, strictly after everything scheduled before it. */
  #schedule(fn: () => void): void {
    const ms = this.#delayMs();
    if (ms === 0 && this.#queue.length === 0) return fn();
    this.#queue.push({ due: Date.now() + ms, run: fn });
    this.#pump();
  }

  #pump(): void {
    const head = this.#queue[0];
    if (this.#timer !== null || head === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        while (this.#queue.length > 0 && this.#queue[0]!.due <= Date.now())
          this.#queue.shift()!.run();
        this.#pump();
      },
      Math.max(0, head.due - Date.now()),
    );
  }

  /** Half-close towards this lane's receiver, after every byte emitted before. */
  #end(): void {
    this.#schedule(() => this.dst.end());
  }

  /** Write `buf` towards this lane's receiver, with backpressure on the sender. */
  emit(buf: Buffer): void {
    if (buf.length > 0) this.#schedule(() => this.#write(buf));
  }

  #write(buf: Buffer): void {
    if (this.dst.destroyed || this.dst.writableEnded) return;
    if (this.dst.write(buf) || this.#writeBlocked) return;
    this.#writeBlocked = true;
    this.src.pause();
    this.dst.once('drain', () => {
      this.#writeBlocked = false;
      if (!this.#stalled) this.src.resume();
    });
  }
}

/**
 * Start a proxy that listens on 127.0.0.1 (or the UNIX path `listenPath`) and forwards to
 * `upstream` (spiped grammar), damaging each new connection with `faults`.
 */
export async function faultProxy(
  upstream: string,
  faults: readonly Fault[] = [],
  listenPath?: string,
): Promise<FaultProxy> {
  let current = [...faults];
  const links: LinkStats[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const stats: LinkStats = { read: { c2s: 0, s2c: 0 }, applied: [], closed: false };
    links.push(stats);
    const up = dialAddress(upstream);
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    let closed = 0;
    const onClose = (other: Socket) => (hadError: boolean) => {
      // A reset travels on as a reset; a clean close already ended the other side.
      if (hadError) other.destroy();
      if (++closed === 2) stats.closed = true;
    };
    client.on('close', onClose(up));
    up.on('close', (hadError: boolean) => {
      sockets.delete(up);
      onClose(client)(hadError);
    });
    client.on('close', () => sockets.delete(client));
    const raw = current.length === 0;
    const c2s = new Lane('c2s', client, up, current, stats, raw);
    const s2c = new Lane('s2c', up, client, current, stats, raw);
    c2s.other = s2c;
    s2c.other = c2s;
    up.once('connect', () => {
      c2s.start();
      s2c.start();
      client.resume();
    });
  });
  const address = await new Promise<string>((resolve) => {
    if (listenPath) server.listen(listenPath, () => resolve(listenPath));
    else
      server.listen(0, '127.0.0.1', () =>
        resolve(`[127.0.0.1]:${(server.address() as { port: number }).port}`),
      );
  });
  const proxy: FaultProxy = {
    address,
    setFaults(f) {
      current = [...f];
    },
    links: () => links,
    close: () =>
      new Promise((resolve) => {
        proxies.delete(proxy);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  proxies.add(proxy);
  return proxy;
}
