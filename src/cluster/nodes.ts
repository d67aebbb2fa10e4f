/**
 * The -e end's node listeners in cluster mode: one local TCP listener per cluster node, opened on
 * first sight (before the reply that names the node is forwarded), kept for the life of the
 * process, its port never reused for another node. Every reply type rewrites a node to the same
 * canonical `advertiseHost:port` string (node-redis matches ASK targets by exact string).
 * With --workers the primary owns this table and the workers hold replicas of it (NodeMap).
 * DESIGN.md §7, §7.1.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Route } from '../protocol/route.js';

/** A local address clients are told to use. */
export interface LocalAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * What a connection's filter needs of the node table: NodeListeners itself, or a worker's replica
 * of the primary's table (DESIGN.md §7.1). `canonical` and `lookup` are synchronous; `ensure`
 * resolves only once the node's listener accepts connections.
 */
export interface NodeMap {
  /** Record that `name:namePort` is the node `ip:port` (see NodeListeners.alias). */
  alias(name: string, namePort: number, ip: string, port: number): void;
  /** The route a name stands for (its IP-keyed route once aliased). */
  canonical(host: string, port: number): Route;
  /** The local address of a node whose listener is open, or null. */
  lookup(route: Route): LocalAddress | null;
  /** The local address of `route`, its listener open; null when no port is left. Never rejects. */
  ensure(route: Route): Promise<LocalAddress | null>;
}

/** The whole table as plain data: what a worker's replica is sent (DESIGN.md §7.1). */
export interface NodeMapSnapshot {
  /** `host:port` → local address, for every node whose listener is open. */
  readonly nodes: readonly (readonly [string, LocalAddress])[];
  /** `name:port` → the route it stands for. */
  readonly aliases: readonly (readonly [string, Route])[];
}

/** Settings for the listener table. */
export interface NodeListenerOptions {
  /** Address the listeners bind to (the -s host). */
  readonly bindHost: string;
  /** Host written into rewritten replies (--advertise-host). */
  readonly advertiseHost: string;
  /** Inclusive port range, or null to let the OS pick a free port per node. */
  readonly ports: { readonly from: number; readonly to: number } | null;
  readonly log: Logger;
  /** Gauge updates. */
  readonly onCount?: (nodes: number, listeners: number) => void;
  /** Called after every change a snapshot() would show (a listener opened, an alias learned). */
  readonly onChange?: () => void;
  /** Run a tunnel for a connection accepted on the listener of `route`. */
  readonly accept: (socket: Socket, route: Route) => void;
}

interface Entry {
  readonly route: Route;
  local: LocalAddress | null;
  opening: Promise<LocalAddress | null> | null;
  server: Server | null;
}

/** Map of cluster node (as reported: host, port) → local listener. */
export class NodeListeners implements NodeMap {
  readonly #o: NodeListenerOptions;
  readonly #nodes = new Map<string, Entry>();
  readonly #usedPorts = new Set<number>();
  /** `name:port` → the IP a topology reply gave for it (hostnames are aliases of their IP). */
  readonly #aliases = new Map<string, Route>();
  #nextPort: number;
  #exhaustedLogged = false;
  readonly #openFailuresLogged = new Set<string>();

  constructor(options: NodeListenerOptions) {
    this.#o = options;
    this.#nextPort = options.ports?.from ?? 0;
  }

  /**
   * Record that `name:namePort` (a hostname, or the seed route) is the node `ip:port`. One node
   * keeps one listener: if the name already has one and the IP has none, the IP adopts it (and
   * vice versa), so every reply type names the same local address.
   */
  alias(name: string, namePort: number, ip: string, port: number): void {
    if (!name || name === '?' || (name === ip && namePort === port)) return;
    const nameKey = `${name}:${namePort}`;
    const ipKey = `${ip}:${port}`;
    const known = this.#aliases.get(nameKey);
    const changed = known?.host !== ip || known.port !== port;
    this.#aliases.set(nameKey, { host: ip, port });
    const byName = this.#nodes.get(nameKey);
    const byIp = this.#nodes.get(ipKey);
    if (byName && !byIp) this.#nodes.set(ipKey, byName);
    else if (byIp && !byName) this.#nodes.set(nameKey, byIp);
    else if (!changed) return;
    this.#o.onChange?.();
  }

  /** Every open listener and every alias, as plain data (for a worker's replica). */
  snapshot(): NodeMapSnapshot {
    const nodes: (readonly [string, LocalAddress])[] = [];
    for (const [k, e] of this.#nodes) if (e.local) nodes.push([k, e.local]);
    return { nodes, aliases: [...this.#aliases] };
  }

  /** Nodes known and listeners open (the cluster gauges). */
  counts(): { nodes: number; listeners: number } {
    return { nodes: this.#nodes.size, listeners: this.#listenerCount() };
  }

  /** The route a name stands for: the IP-keyed route if a topology reply aliased it, else itself. */
  canonical(host: string, port: number): Route {
    return this.#aliases.get(`${host}:${port}`) ?? { host, port };
  }

  /** The canonical local address of a node already opened, if any (synchronous). */
  lookup(route: Route): LocalAddress | null {
    return this.#nodes.get(key(route))?.local ?? null;
  }

  /**
   * The local address for `route`, opening its listener on first sight. Resolves null when no
   * port is left in --cluster-ports or the listener cannot open (each reason logged once); never
   * rejects.
   */
  ensure(route: Route): Promise<LocalAddress | null> {
    const k = key(route);
    let e = this.#nodes.get(k);
    if (e?.local) return Promise.resolve(e.local);
    if (e?.opening) return e.opening;
    if (!e) {
      e = { route, local: null, opening: null, server: null };
      this.#nodes.set(k, e);
    }
    const entry = e;
    entry.opening = this.#open(entry).finally(() => {
      entry.opening = null;
    });
    return entry.opening;
  }

  async #open(e: Entry): Promise<LocalAddress | null> {
    for (;;) {
      const port = this.#takePort();
      if (port === null) {
        if (!this.#exhaustedLogged)
          this.#o.log.error(
            { range: this.#o.ports, node: key(e.route) },
            'no free port left in --cluster-ports for a new cluster node; clients get an error for it (widen the range)',
          );
        this.#exhaustedLogged = true;
        return null;
      }
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
        this.#o.accept(s, e.route),
      );
      const bound = await new Promise<number | NodeJS.ErrnoException>((resolve) => {
        server.once('error', resolve);
        server.listen({ host: this.#o.bindHost, port }, () =>
          resolve((server.address() as { port: number }).port),
        );
      });
      if (typeof bound !== 'number') {
        // A port of the range someone else holds: try the next one. Anything else (EACCES below
        // 1024 after -u, EMFILE, EADDRNOTAVAIL) would fail for every port: give up on this node
        // for now (a later reply naming it tries again) and say why, once per reason.
        if (bound.code === 'EADDRINUSE' && this.#o.ports !== null) continue;
        this.#logOpenFailure(e.route, port, bound);
        return null;
      }
      server.on('error', (err) =>
        this.#o.log.warn({ err: err.message, node: key(e.route) }, 'node listener error'),
      );
      this.#usedPorts.add(bound);
      e.server = server;
      e.local = { host: this.#o.advertiseHost, port: bound };
      this.#o.log.info(
        { node: key(e.route), local: `${e.local.host}:${e.local.port}` },
        'cluster node listener opened',
      );
      this.#o.onCount?.(this.#nodes.size, this.#listenerCount());
      this.#o.onChange?.();
      return e.local;
    }
  }

  /** Log why a node listener could not open, once per reason (clients retry on every reply). */
  #logOpenFailure(route: Route, port: number, err: NodeJS.ErrnoException): void {
    const code = err.code ?? err.message;
    if (this.#openFailuresLogged.has(code)) return;
    this.#openFailuresLogged.add(code);
    const hint =
      code === 'EACCES'
        ? ': ports below 1024 need root, which -u gives up before node listeners open; use a --cluster-ports range above 1023'
        : code === 'EMFILE' || code === 'ENFILE'
          ? ': out of file descriptors (raise LimitNOFILE / ulimit -n)'
          : '';
    this.#o.log.error(
      { node: key(route), port, bindHost: this.#o.bindHost, code },
      `cannot open a listener for cluster node ${key(route)} (${code})${hint}; clients get an error for it`,
    );
  }

  #takePort(): number | null {
    const r = this.#o.ports;
    if (r === null) return 0;
    while (this.#nextPort <= r.to) {
      const p = this.#nextPort++;
      if (!this.#usedPorts.has(p)) return p;
    }
    return null;
  }

  #listenerCount(): number {
    let n = 0;
    for (const e of new Set(this.#nodes.values())) if (e.server) n++;
    return n;
  }

  /** Stop accepting on every node listener (shutdown). Live tunnels are unaffected. */
  close(): void {
    for (const e of this.#nodes.values()) e.server?.close();
  }
}

function key(r: Route): string {
  return `${r.host}:${r.port}`;
}
