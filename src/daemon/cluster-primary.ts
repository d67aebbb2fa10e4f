/**
 * The --workers primary's part in cluster mode (DESIGN.md §6.1, §7.1). It owns what must be one
 * per end: on -e the node listeners and their port map (EncryptHub: it accepts on every node
 * listener and hands each connection to a worker, round robin), on -d the CLUSTER NODES poller
 * and allow-list (DecryptHub). Workers hold replicas (cluster-worker.ts) kept whole by a broadcast
 * after every change and by the whole state on `hello`, so a restarted worker gets it back.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClusterAuth } from '../cluster/auth.js';
import { type Member, Membership } from '../cluster/members.js';
import type { NodeListeners } from '../cluster/nodes.js';
import { encryptListeners } from './cluster.js';
import type { Route } from '../protocol/route.js';
import { CLUSTER_IPC_NS, type DecryptIpc, type EncryptIpc } from './ipc-messages.js';
import { type IpcEndpoint, IpcPeer, type IpcProtocol, workerEndpoint } from './ipc.js';
import type { ClusterMetrics } from './prom.js';

/** A worker as the hub sees it. */
export interface WorkerLink {
  /** Unique among the workers of this primary (node:cluster's worker id). */
  readonly id: number;
  readonly endpoint: IpcEndpoint;
}

/** The primary-side numbers of cluster mode (the gauges the workers do not set). */
export interface ClusterPrimaryStats {
  /** Nodes known: -e table entries, or -d allow-list members. */
  readonly nodesKnown: number;
  /** -e node listeners open (0 on -d). */
  readonly listenersOpen: number;
}

/** What both hubs offer the primary. */
export interface ClusterHub {
  /** Serve a worker (call when it is forked). */
  attach(link: WorkerLink): void;
  /** Forget a worker (call when it exits). */
  detach(id: number): void;
  stats(): ClusterPrimaryStats;
  /** Close the listeners (-e) or stop polling (-d), and every link. */
  close(): void;
}

interface Link<P extends IpcProtocol> {
  readonly peer: IpcPeer<P>;
  /** Said hello: holds the state and may be sent connections. */
  joined: boolean;
  draining: boolean;
}

/** Links and the whole-state broadcast, shared by both hubs. */
class Links<P extends IpcProtocol> {
  readonly map = new Map<number, Link<P>>();
  #scheduled = false;

  add(link: WorkerLink): Link<P> {
    const l: Link<P> = {
      peer: new IpcPeer<P>(link.endpoint, CLUSTER_IPC_NS),
      joined: false,
      draining: false,
    };
    this.map.set(link.id, l);
    return l;
  }

  remove(id: number): void {
    this.map.get(id)?.peer.close('worker exited');
    this.map.delete(id);
  }

  /** Send `send` to every joined worker once, after the current burst of changes. */
  broadcast(send: (l: Link<P>) => void): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const l of this.map.values()) if (l.joined) send(l);
    });
  }

  closeAll(): void {
    for (const id of [...this.map.keys()]) this.remove(id);
  }
}

/** -e primary settings. */
export interface EncryptHubOptions {
  readonly bindHost: string;
  readonly advertiseHost: string;
  readonly ports: { readonly from: number; readonly to: number } | null;
  readonly log: Logger;
  readonly metrics: Pick<ClusterMetrics, 'nodesKnown' | 'listenersOpen'>;
}

/** -e: the node listeners, their map, and the hand-off of their connections to workers. */
export class EncryptHub implements ClusterHub {
  readonly listeners: NodeListeners;
  readonly #links = new Links<EncryptIpc>();
  readonly #log: Logger;
  #next = 0;
  #closed = false;

  constructor(o: EncryptHubOptions) {
    this.#log = o.log;
    this.listeners = encryptListeners(
      o,
      (s, route) => this.#handOff(s, route),
      () => this.#links.broadcast((l) => l.peer.notify('map', this.listeners.snapshot())),
    );
  }

  attach(link: WorkerLink): void {
    const l = this.#links.add(link);
    l.peer.onRequest('hello', () => {
      l.joined = true;
      return this.listeners.snapshot();
    });
    l.peer.onRequest('ensure', (route) => this.listeners.ensure(route));
    l.peer.onNote('alias', (a) => this.listeners.alias(a.name, a.namePort, a.ip, a.port));
    l.peer.onNote('draining', () => {
      l.draining = true;
      this.#closeIfAllDraining();
    });
  }

  detach(id: number): void {
    this.#links.remove(id);
    this.#closeIfAllDraining();
  }

  stats(): ClusterPrimaryStats {
    const c = this.listeners.counts();
    return { nodesKnown: c.nodes, listenersOpen: c.listeners };
  }

  close(): void {
    this.#closed = true;
    this.listeners.close();
    this.#links.closeAll();
  }

  /** Once every worker drains (SIGTERM), stop accepting, as one process closes on drain. */
  #closeIfAllDraining(): void {
    const links = [...this.#links.map.values()];
    if (!this.#closed && links.length > 0 && links.every((l) => l.draining)) {
      this.#closed = true;
      this.listeners.close();
    }
  }

  /** The next worker that serves connections, round robin; null if none. */
  #pick(): Link<EncryptIpc> | null {
    const live = [...this.#links.map.values()].filter((l) => l.joined && !l.draining);
    if (live.length === 0) return null;
    return live[this.#next++ % live.length]!;
  }

  #handOff(s: Socket, route: Route): void {
    const l = this.#pick();
    const node = `${route.host}:${route.port}`;
    if (l === null) {
      this.#log.warn({ node }, 'no worker serves connections now; node listener connection closed');
      s.destroy();
      return;
    }
    l.peer.notify('adopt', { host: route.host, port: route.port }, s, (err) => {
      if (!err) return;
      this.#log.warn(
        { node, err: err.message },
        'could not hand a node listener connection to a worker; closed',
      );
      s.destroy();
    });
  }
}

/** -d primary settings. */
export interface DecryptHubOptions {
  readonly seed: Member;
  /** Seconds between CLUSTER NODES refreshes. */
  readonly refreshSeconds: number;
  readonly auth: ClusterAuth | null;
  readonly log: Logger;
  readonly metrics: Pick<ClusterMetrics, 'nodesKnown'>;
}

/** -d: the one CLUSTER NODES poller of the end and its allow-list. */
export class DecryptHub implements ClusterHub {
  readonly membership: Membership;
  readonly #links = new Links<DecryptIpc>();
  #last = '';

  constructor(o: DecryptHubOptions) {
    // Refusals are counted by the worker that refuses (it serves the connection).
    this.membership = new Membership(
      o.seed,
      o.log,
      { nodesKnown: (n) => o.metrics.nodesKnown(n), routeRefused: () => {} },
      o.refreshSeconds,
      o.auth,
    );
    this.membership.onChange(() => {
      const text = JSON.stringify(this.membership.snapshot());
      if (text === this.#last) return;
      this.#last = text;
      this.#links.broadcast((l) => l.peer.notify('members', this.membership.snapshot()));
    });
    void this.membership.refresh();
  }

  attach(link: WorkerLink): void {
    const l = this.#links.add(link);
    l.peer.onRequest('hello', () => {
      l.joined = true;
      return this.membership.snapshot();
    });
    l.peer.onRequest('resolve', (route) => this.membership.resolve(route));
  }

  detach(id: number): void {
    this.#links.remove(id);
  }

  stats(): ClusterPrimaryStats {
    return { nodesKnown: this.membership.size, listenersOpen: 0 };
  }

  close(): void {
    this.membership.close();
    this.#links.closeAll();
  }
}

/**
 * Attach every worker node:cluster forks from now on to `hub`, and detach it when it exits.
 * Call before the first fork. Returns the function that stops doing so.
 */
export function serveWorkers(hub: ClusterHub): () => void {
  const onFork = (w: Worker): void => hub.attach({ id: w.id, endpoint: workerEndpoint(w) });
  const onExit = (w: Worker): void => hub.detach(w.id);
  cluster.on('fork', onFork);
  cluster.on('exit', onExit);
  return () => {
    cluster.off('fork', onFork);
    cluster.off('exit', onExit);
  };
}
