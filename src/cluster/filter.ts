/**
 * The -e end's per-connection cluster filter: it pairs requests with replies and rewrites every
 * node address that reaches the client to the local listener fronting that node (DESIGN.md §4, §5).
 *
 * - Top-level `-MOVED`/`-ASK` are rewritten in every state, paired or not.
 * - CLUSTER SLOTS|SHARDS|NODES|REPLICAS replies, and EXEC replies holding them, are rewritten only
 *   when paired with the request that asked (never by content: a GET whose value looks like a
 *   topology reply passes untouched).
 * - Pairing stops for the connection (logged once; redirects are still rewritten) when it cannot be
 *   sure: pub/sub, MONITOR, CLIENT REPLY OFF|SKIP, a malformed request, or a reply nobody asked for.
 * - Listeners for every node a reply names are open before the reply is forwarded.
 * - Everything else streams through as views of the input; only the replies being rewritten are
 *   held, up to the capture cap. A malformed or oversized reply drops the connection.
 */
import type { Logger } from 'pino';
import type { StreamFilter } from '../pipe/connection.js';
import type { Route } from '../protocol/route.js';
import {
  type AddressMap,
  captureOverflowText,
  classifyCommand,
  DEFAULT_CAPTURE_CAP,
  extractExecNodes,
  extractNodes,
  isErrorFrame,
  type MappedAddress,
  type NodeAddress,
  nodeOfRedirect,
  type Redirect,
  type ReplyEvent,
  ReplyScanner,
  RequestScanner,
  rewriteExec,
  rewriteRedirect,
  rewriteTopology,
  type TopologyKind,
  topologyOf,
} from '../resp/index.js';
import type { NodeMap } from './nodes.js';

/** What a pending request will be answered with, as far as rewriting goes. */
type Expect =
  | { readonly kind: 'plain' }
  | { readonly kind: 'topology'; readonly topology: TopologyKind }
  | { readonly kind: 'exec'; readonly queued: readonly (TopologyKind | null)[] };

const PLAIN: Expect = { kind: 'plain' };

/** Rewrite counters by kind: moved, ask, slots, shards, nodes, replicas, exec. */
export interface RewriteCounter {
  rewrite(kind: string): void;
}

/** Collaborators of one connection's filter. */
export interface ClusterFilterDeps {
  readonly listeners: NodeMap;
  /** The node this connection is routed to (SEED_ROUTE for the -s entry). */
  readonly route: Route;
  readonly log: Logger;
  readonly counter: RewriteCounter;
  /** Largest reply held for rewriting (default 16 MiB). */
  readonly captureCap?: number;
}

/** Thrown (and so logged, counted and the connection dropped) for a reply we must not forward. */
export class ReplyRejected extends Error {}

/** One connection's request tracking and reply rewriting. */
export class ClusterFilter implements StreamFilter {
  readonly #d: ClusterFilterDeps;
  readonly #requests = new RequestScanner();
  readonly #replies: ReplyScanner<Expect>;
  readonly #pending: Expect[] = [];
  /** Largest reply held for rewriting. */
  readonly #captureCap: number;
  #pairing = true;
  /** The address -d dialled for this connection: what `''` and `?` endpoints are relative to. */
  #dialled: Route | null = null;
  #inMulti = false;
  #queued: (TopologyKind | null)[] = [];

  constructor(deps: ClusterFilterDeps) {
    this.#d = deps;
    this.#captureCap = deps.captureCap ?? DEFAULT_CAPTURE_CAP;
    this.#replies = new ReplyScanner<Expect>({
      capture: (frame) => {
        if (frame.role !== 'reply' || !this.#pairing) return null;
        const next = this.#pending.shift();
        if (next === undefined) {
          this.#stopPairing('a reply arrived that no request asked for');
          return null;
        }
        return next.kind === 'plain' ? null : next;
      },
      limits: { captureCap: this.#captureCap },
    });
  }

  /** -d says which address it dialled; `''`/`?` endpoints on this connection mean its host. */
  routed(dialled: Route): void {
    this.#dialled = dialled;
    const own = this.#d.route;
    // The seed entry and any name-keyed route are aliases of the address actually dialled.
    if (own.host !== dialled.host && dialled.host !== '-')
      this.#d.listeners.alias(
        own.host,
        own.port === 0 ? dialled.port : own.port,
        dialled.host,
        dialled.port,
      );
  }

  /** Observe client requests; the bytes are forwarded unchanged. */
  up(chunk: Buffer): Buffer {
    if (!this.#pairing) return chunk;
    for (const ev of this.#requests.push(chunk)) {
      if (ev.kind === 'empty') continue;
      if (ev.kind === 'error') {
        this.#stopPairing(`malformed request (${ev.reason}); Redis will answer it`);
        break;
      }
      this.#expect(classifyCommand(ev));
      if (!this.#pairing) break;
    }
    return chunk;
  }

  #expect(kind: ReturnType<typeof classifyCommand>): void {
    switch (kind) {
      case 'subscribe':
      case 'unsubscribe':
      case 'monitor':
      case 'client-reply-off':
      case 'client-reply-skip':
      case 'client-maint-notifications':
        return this.#stopPairing(`${kind} changes how replies pair with requests`);
      case 'multi':
        this.#inMulti = true;
        this.#queued = [];
        this.#pending.push(PLAIN);
        return;
      case 'discard':
        this.#inMulti = false;
        this.#pending.push(PLAIN);
        return;
      case 'reset':
        this.#inMulti = false;
        this.#pending.push(PLAIN);
        return;
      case 'exec': {
        const queued = this.#queued;
        this.#inMulti = false;
        this.#queued = [];
        this.#pending.push(queued.some((q) => q !== null) ? { kind: 'exec', queued } : PLAIN);
        return;
      }
      default: {
        const topology = topologyOf(kind);
        if (this.#inMulti) {
          this.#queued.push(topology);
          this.#pending.push(PLAIN); // +QUEUED
        } else this.#pending.push(topology === null ? PLAIN : { kind: 'topology', topology });
      }
    }
  }

  #stopPairing(why: string): void {
    if (!this.#pairing) return;
    this.#pairing = false;
    this.#pending.length = 0;
    this.#d.log.info(
      { why },
      'cluster: stopped pairing replies on this connection (redirects are still rewritten)',
    );
  }

  /** Rewrite replies; a Promise while listeners for newly seen nodes are being opened. */
  down(chunk: Buffer): Buffer[] | Promise<Buffer[]> {
    const parts: (Uint8Array | (() => Uint8Array))[] = [];
    const waits: Promise<unknown>[] = [];
    for (const ev of this.#replies.push(chunk)) {
      if (ev.kind === 'pass') parts.push(ev.bytes);
      else if (ev.kind === 'error') {
        throw new ReplyRejected(
          ev.reason === 'capture-cap'
            ? `a reply to be rewritten exceeded the capture cap (capture-cap: ${captureOverflowText(this.#captureCap)}); connection dropped`
            : `malformed reply from the cluster (${ev.reason}: ${ev.detail}); connection dropped`,
        );
      } else if (ev.kind === 'redirect') parts.push(this.#redirect(ev.redirect, ev.bytes, waits));
      else parts.push(this.#captured(ev, waits));
    }
    const finish = (): Buffer[] =>
      parts.map((p) => {
        const b = typeof p === 'function' ? p() : p;
        return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
      });
    return waits.length === 0 ? finish() : Promise.all(waits).then(finish);
  }

  /** The route a reported node address stands for (IP-keyed; '' and '?' relative to this connection). */
  #routeOf(node: NodeAddress): Route {
    const L = this.#d.listeners;
    if (node.ip) {
      if (node.hostname) L.alias(node.hostname, node.port, node.ip, node.port);
      if (node.host !== node.ip && node.host !== '' && node.host !== '?')
        L.alias(node.host, node.port, node.ip, node.port);
      return L.canonical(node.ip, node.port);
    }
    if (node.host === '' || node.host === '?')
      return L.canonical(this.#dialled?.host ?? this.#d.route.host, node.port);
    return L.canonical(node.host, node.port);
  }

  /** Open (or find) the listener for `node`; push the wait if it is not open yet. */
  #need(node: NodeAddress, waits: Promise<unknown>[]): void {
    const route = this.#routeOf(node);
    if (this.#d.listeners.lookup(route) === null) waits.push(this.#d.listeners.ensure(route));
  }

  readonly #map: AddressMap = (_host, _port, node): MappedAddress | null =>
    this.#d.listeners.lookup(this.#routeOf(node));

  #redirect(r: Redirect, bytes: Uint8Array, waits: Promise<unknown>[]): () => Uint8Array {
    this.#need(nodeOfRedirect(r), waits);
    return () => {
      const out = rewriteRedirect(r, this.#map);
      if (out === null) return noPortError(r.host, r.port);
      this.#d.counter.rewrite(r.kind === 'MOVED' ? 'moved' : 'ask');
      return out;
    };
  }

  #captured(
    ev: Extract<ReplyEvent<Expect>, { kind: 'captured' }>,
    waits: Promise<unknown>[],
  ): () => Uint8Array {
    const tag = ev.tag;
    const bytes = ev.bytes;
    // Errors (e.g. -ERR in a subscribed context, -EXECABORT) carry no nodes: forward as they are.
    if (isErrorFrame(bytes)) return () => bytes;
    const found =
      tag.kind === 'exec'
        ? extractExecNodes(tag.queued, bytes)
        : tag.kind === 'topology'
          ? extractNodes(tag.topology, bytes)
          : null;
    if (found === null) return () => bytes;
    if (!found.ok) {
      if (tag.kind === 'exec' && found.reason === 'count-mismatch') return () => bytes;
      throw new ReplyRejected(
        `malformed topology reply (${found.reason}: ${found.detail}); connection dropped`,
      );
    }
    for (const n of found.nodes) this.#need(n, waits);
    return () => {
      const r =
        tag.kind === 'exec'
          ? rewriteExec(tag.queued, bytes, this.#map)
          : rewriteTopology((tag as { topology: TopologyKind }).topology, bytes, this.#map);
      if (!r.ok)
        throw new ReplyRejected(
          `topology reply could not be rewritten (${r.reason}); connection dropped`,
        );
      if (r.rewritten < r.nodes) return noPortError('(some nodes)', 0);
      this.#d.counter.rewrite(
        tag.kind === 'exec' ? 'exec' : (tag as { topology: TopologyKind }).topology,
      );
      return r.bytes;
    };
  }
}

/** The error a client gets when --cluster-ports has no port left for a node. */
function noPortError(host: string, port: number): Uint8Array {
  return Buffer.from(
    `-ERR cloakpipe: no local listener for cluster node ${host}:${port} (see the -e end's log)\r\n`,
    'latin1',
  );
}
