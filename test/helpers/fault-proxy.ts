/**
 * A man-in-the-middle for the encrypted hop: listens where cloakpipe -e is told the -d end is,
 * forwards to the real -d, and damages the stream on the way (delay, drop, bit flip, truncate,
 * reorder, replay, reflect, stall). Works over TCP and UNIX sockets.
 *
 * Offsets count the bytes of one direction of one connection from its first byte. The handshake
 * is HANDSHAKE_LEN bytes per direction (DESIGN.md §2.2); under spiped framing packet n of a
 * direction starts at packetStart(n). With any fault set, each direction is forwarded in whole
 * protocol units (the nonce, y ‖ h, then packets or compact frames: ./wire-units.ts), which is how
 * both ends write them; a partial unit is forwarded when its sender ends. With no fault the proxy
 * is a plain byte pipe. Compact frames vary in length, so faults on them name the frame (`packet`)
 * and an offset inside it, and the proxy needs the key (see faultProxy()).
 */
import { connect, createServer, type Socket } from 'node:net';
import { PACKET_LEN } from '../../src/crypto/sizes.js';
import { parseHostPort } from '../support/net.js';
import {
  cuttersFor,
  type Direction,
  HANDSHAKE_LEN,
  type UnitCutter,
  type WireFraming,
} from './wire-units.js';

export { type Direction, HANDSHAKE_LEN, type WireFraming } from './wire-units.js';

/** Offset of spiped-framing data packet `n` (from 0) in either direction's stream. */
export function packetStart(n: number): number {
  return HANDSHAKE_LEN + n * PACKET_LEN;
}

/**
 * One way to damage a connection. Offsets are in `dir`'s stream; packets (spiped packets or
 * compact frames) count from 0. Where a fault takes an optional `packet`, its offsets count from
 * the start of that packet instead (a negative flip offset from its end), and it fires only there.
 */
export type Fault =
  /** Hold every unit (of `dir`, or of both directions) for `ms` before forwarding it. */
  | { readonly kind: 'delay'; readonly ms: number; readonly dir?: Direction }
  /** Do not forward the bytes at offsets [from, to). */
  | {
      readonly kind: 'drop';
      readonly dir: Direction;
      readonly from: number;
      readonly to: number;
      readonly packet?: number;
    }
  /** Flip bit `bit` (0–7, default 0) of the byte at `offset`. */
  | {
      readonly kind: 'flip';
      readonly dir: Direction;
      readonly offset: number;
      readonly bit?: number;
      readonly packet?: number;
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
      readonly packet?: number;
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
  /**
   * The whole data units (packets or frames) of each direction as sent, in order: bytes on the
   * wire, and (compact frames only, from the header) data bytes carried.
   */
  readonly units: Record<Direction, { readonly wire: number; readonly data: number | null }[]>;
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

/**
 * Where fault `f` applies in the unit [start, end) (data unit `n`, null for a handshake or partial
 * unit): its offsets made absolute, or null if it names another packet.
 */
function placed<F extends Fault>(f: F, start: number, end: number, n: number | null): F | null {
  if (!('packet' in f) || f.packet === undefined) return f;
  if (f.packet !== n) return null;
  if (f.kind === 'flip') return { ...f, offset: (f.offset < 0 ? end : start) + f.offset };
  if (f.kind === 'drop') return { ...f, from: start + f.from, to: start + f.to };
  if (f.kind === 'truncate') return { ...f, after: start + f.after };
  return f;
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
  /** A plain byte pipe: no faults, or unit boundaries unknown. */
  #raw: boolean;
  /** Data units (packets or frames) seen whole so far. */
  #units = 0;
  readonly #queue: { due: number; run: () => void }[] = []; // delayed writes and ends, in order
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly dir: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    readonly faults: readonly Fault[],
    readonly stats: LinkStats,
    raw: boolean,
    readonly cutter: UnitCutter,
  ) {
    this.#raw = raw;
  }

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
    if (this.#raw) {
      this.#pos += d.length;
      return this.emit(d);
    }
    let off = 0;
    while (off < d.length && !this.#cut && !this.#stalled) {
      const len = this.#unitLength();
      if (len === null) {
        // Boundaries unknown from here on: forward the rest as it comes.
        this.#note(`unit boundaries unknown ${this.dir}@${this.#pos}; forwarding raw`);
        this.#raw = true;
        const held = Buffer.concat([...this.#unit, d.subarray(off)]);
        this.#unit = [];
        this.#unitHave = 0;
        this.#pos += held.length;
        return this.emit(held);
      }
      const take = Math.min(len - this.#unitHave, d.length - off);
      this.#unit.push(d.subarray(off, off + take));
      this.#unitHave += take;
      off += take;
      if (this.#unitHave === len && this.#unitLength() === len) this.#flushUnit(true);
    }
  }

  /** Length of the unit being read (a lower bound until its header is in), or null if unknown. */
  #unitLength(): number | null {
    return this.cutter.length(this.#pos, this.#unitHave, () => Buffer.concat(this.#unit));
  }

  #onEnd(): void {
    if (!this.#raw && this.#unitHave > 0 && !this.#cut && !this.#stalled) this.#flushUnit(false);
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
    let n: number | null = null;
    if (whole) this.cutter.passed(start, buf);
    if (whole && start >= HANDSHAKE_LEN) {
      n = this.#units++;
      this.stats.units[this.dir].push({ wire: buf.length, data: this.cutter.dataOf(start) });
    }
    // Byte faults, in list order.
    for (const listed of this.faults) {
      if (!('dir' in listed) || listed.dir !== this.dir) continue;
      const f = placed(listed, start, end, n);
      if (f === null) continue;
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
    for (const listed of this.faults) {
      if (!('dir' in listed) || listed.dir !== this.dir) continue;
      const f = placed(listed, start, end, n);
      if (f === null) continue;
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
 * `upstream` (spiped grammar), damaging each new connection with `faults`. `wire` says how to
 * find the units of the encrypted stream: spiped framing by default; for compact framing it
 * carries K, and one end must run -f (./wire-units.ts), or the proxy forwards the data phase
 * whole and undamaged (noting it in the link's `applied`).
 */
export async function faultProxy(
  upstream: string,
  faults: readonly Fault[] = [],
  listenPath?: string,
  wire?: WireFraming,
): Promise<FaultProxy> {
  let current = [...faults];
  const links: LinkStats[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const stats: LinkStats = {
      read: { c2s: 0, s2c: 0 },
      applied: [],
      units: { c2s: [], s2c: [] },
      closed: false,
    };
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
    const cut = cuttersFor(wire);
    const c2s = new Lane('c2s', client, up, current, stats, raw, cut.c2s);
    const s2c = new Lane('s2c', up, client, current, stats, raw, cut.s2c);
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
