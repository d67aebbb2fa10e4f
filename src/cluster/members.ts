/**
 * The -d end's allow-list in cluster mode: it dials only its seed (-t) and the nodes the cluster
 * itself reports. It learns them with its own `CLUSTER NODES` query (to the seed, or to any member
 * it already knows when the seed is down), at start, every refresh interval, and on demand when a
 * route names a node it has not seen (rate-limited). A route request is never trusted just because
 * it is authenticated: a key holder must not gain a path to arbitrary hosts behind -d.
 */
import { connect } from 'node:net';
import type { Logger } from 'pino';
import type { Route } from '../protocol/route.js';
import { SEED_HOST } from '../protocol/route.js';
import { encodeCommand, extractNodes, ReplyScanner } from '../resp/index.js';
import { type ClusterAuth, encodeAuth } from './auth.js';

/** A node address as the cluster reports it. */
export interface Member {
  readonly host: string;
  readonly port: number;
  /** For an announced hostname: the node's IP, which -d dials (no DNS needed). */
  readonly ip?: string;
}

/** Longest CLUSTER NODES reply read (a large cluster is a few hundred KB). */
const MAX_NODES_REPLY = 16 * 1024 * 1024;

/**
 * Members named by a whole CLUSTER NODES reply (RESP2 bulk or RESP3 verbatim), read with the
 * same RESP layer the -e end rewrites with. An empty ip (a lone node) means the host the query
 * went to (`self`); an announced hostname is a member too, dialled by its IP. Never throws; a
 * reply that is not a NODES reply yields no members.
 */
export function membersOf(reply: Uint8Array, self: string): Member[] {
  const found = extractNodes('nodes', reply);
  if (!found.ok) return [];
  const out: Member[] = [];
  for (const n of found.nodes) {
    const ip = n.host || self;
    out.push({ host: ip, port: n.port });
    if (n.hostname) out.push({ host: n.hostname, port: n.port, ip });
  }
  return out;
}

/** membersOf() for the text of a CLUSTER NODES reply. */
export function parseClusterNodes(text: string, self: string): Member[] {
  const body = Buffer.from(text, 'utf8');
  return membersOf(
    Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]),
    self,
  );
}

/** The name -d's polling connections carry, so CLIENT LIST, MONITOR and logs can tell them apart. */
export const MEMBERSHIP_CLIENT_NAME = 'cloakpipe-members';

/** What -d sends after any AUTH: its client name (an error reply is ignored), then the query. */
const MEMBERSHIP_QUERY = Buffer.concat([
  encodeCommand(['CLIENT', 'SETNAME', MEMBERSHIP_CLIENT_NAME]),
  encodeCommand(['CLUSTER', 'NODES']),
]);

/**
 * Ask `host:port` for CLUSTER NODES, after AUTH when `auth` is given and CLIENT SETNAME
 * MEMBERSHIP_CLIENT_NAME (all sent at once).
 * Resolves the whole NODES reply, framed by the RESP reply scanner (capped at MAX_NODES_REPLY);
 * rejects on an error reply (an AUTH error says so, without the password), a malformed or
 * oversized one, a socket error or the timeout.
 */
export function queryClusterNodes(
  host: string,
  port: number,
  timeoutMs: number,
  auth: ClusterAuth | null = null,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const scanner = new ReplyScanner<true>({
      capture: () => true,
      limits: { captureCap: MAX_NODES_REPLY },
    });
    const timer = setTimeout(
      () => done(new Error(`CLUSTER NODES to ${host}:${port} timed out`)),
      timeoutMs,
    );
    function done(err: Error | null, reply?: Uint8Array): void {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(reply!);
    }
    // The replies before the NODES one, in order.
    const before: ('auth' | 'setname')[] = auth ? ['auth', 'setname'] : ['setname'];
    s.on('error', (e) => done(e));
    s.on('connect', () =>
      s.write(auth ? Buffer.concat([encodeAuth(auth), MEMBERSHIP_QUERY]) : MEMBERSHIP_QUERY),
    );
    s.on('data', (b: Buffer) => {
      for (const ev of scanner.push(b)) {
        if (ev.kind === 'error') return done(new Error(`bad CLUSTER NODES reply (${ev.reason})`));
        if (ev.kind !== 'captured') continue;
        const failed = ev.bytes[0] === 0x2d || ev.bytes[0] === 0x21;
        const text = failed ? Buffer.from(ev.bytes).toString('latin1').slice(1).trim() : '';
        const reply = before.shift();
        if (reply === 'auth' && failed) return done(new Error(`AUTH failed: ${text}`));
        // A server or ACL that refuses CLIENT SETNAME still answers NODES.
        if (reply !== undefined) continue;
        if (failed)
          return done(
            new Error(
              text.startsWith('NOAUTH')
                ? `${text} (give -d the cluster's password with --cluster-auth FILE)`
                : text,
            ),
          );
        return done(null, ev.bytes);
      }
    });
  });
}

function keyOf(m: Member): string {
  return `${m.host}:${m.port}`;
}

/** What the allow-list reports (for metrics). */
export interface MembershipEvents {
  nodesKnown(n: number): void;
  routeRefused(reason: string): void;
}

/** The set of nodes -d may dial. */
export class Membership {
  readonly #seed: Member;
  readonly #log: Logger;
  readonly #events: MembershipEvents;
  readonly #members = new Map<string, Member>();
  #lastRefresh = 0;
  /** Whether the seed answered the last CLUSTER NODES query (it is tried first each time). */
  #seedAnswered = true;
  /** The member that answered the last query, tried first when the seed is down. */
  #lastAnswered: Member | null = null;
  #refreshing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  readonly #auth: ClusterAuth | null;

  constructor(
    seed: Member,
    log: Logger,
    events: MembershipEvents,
    refreshSeconds = 10,
    auth: ClusterAuth | null = null,
  ) {
    this.#seed = seed;
    this.#auth = auth;
    this.#log = log;
    this.#events = events;
    this.#add(seed);
    if (refreshSeconds > 0) {
      this.#timer = setInterval(() => void this.refresh(), refreshSeconds * 1000);
      this.#timer.unref();
    }
  }

  /** The -t seed node. */
  get seed(): Member {
    return this.#seed;
  }

  /** Number of known members. */
  get size(): number {
    return this.#members.size;
  }

  /** Add a member; a hostname entry dials its IP. True if it was new. */
  #add(m: Member): boolean {
    const k = keyOf(m);
    if (this.#members.has(k)) return false;
    this.#members.set(k, { host: m.ip ?? m.host, port: m.port });
    return true;
  }

  /** Query the cluster for its members (seed first, then known members). Never rejects. */
  refresh(): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    this.#lastRefresh = Date.now();
    this.#refreshing = (async () => {
      const candidates = [
        this.#seed,
        ...[...this.#members.values()].filter((m) => keyOf(m) !== keyOf(this.#seed)),
      ];
      let last = '';
      for (const c of candidates) {
        try {
          const reply = await queryClusterNodes(c.host, c.port, 2000, this.#auth);
          this.#noteAnswer(c);
          let added = 0;
          for (const m of membersOf(reply, c.host)) if (this.#add(m)) added++;
          if (added > 0)
            this.#log.info({ members: this.#members.size, added }, 'cluster members learned');
          this.#events.nodesKnown(this.#members.size);
          return;
        } catch (err) {
          if (c === this.#seed) this.#noteSeedDown();
          last = `${keyOf(c)}: ${(err as Error).message}`;
          this.#log.debug(
            { node: keyOf(c), err: (err as Error).message },
            'CLUSTER NODES query failed',
          );
        }
      }
      this.#log.warn(
        { err: last },
        `could not query CLUSTER NODES from any known node (last: ${last}); keeping the member list`,
      );
    })().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  #noteAnswer(c: Member): void {
    this.#lastAnswered = c;
    if (c === this.#seed && !this.#seedAnswered) {
      this.#seedAnswered = true;
      this.#log.info({ seed: keyOf(c) }, 'seed node answers again');
    }
  }

  #noteSeedDown(): void {
    if (!this.#seedAnswered) return;
    this.#seedAnswered = false;
    this.#log.warn(
      { seed: keyOf(this.#seed) },
      'seed node did not answer CLUSTER NODES; connections to the main listener go to other members while it is down',
    );
  }

  /**
   * Where the seed route (a connection to the -e end's main listener) may be dialled, best
   * first: the seed, then every other known member (the one that last answered first). When
   * the seed missed the last refresh it goes last, so a blackholed seed does not eat the
   * connect timeout. Any member serves a client's bootstrap (CLUSTER SLOTS) and redirects the
   * rest, so a dead seed node does not take the main listener down with it.
   */
  seedCandidates(): Member[] {
    const seen = new Set<string>();
    const others: Member[] = [];
    const last = this.#lastAnswered;
    seen.add(keyOf(this.#seed));
    for (const m of [...(last ? [last] : []), ...this.#members.values()]) {
      const k = keyOf(m);
      if (seen.has(k)) continue;
      seen.add(k);
      others.push(m);
    }
    return this.#seedAnswered ? [this.#seed, ...others] : [...others, this.#seed];
  }

  /**
   * Where to dial for `route`, or a refusal reason. `-` (SEED_HOST) means the seed's host: port 0
   * is the seed itself, any other port a node on the seed's host (the `:port` redirects of
   * unknown-endpoint clusters). Unknown nodes trigger one on-demand refresh (at most once a second).
   */
  async resolve(route: Route): Promise<Member | string> {
    const target: Member =
      route.host === SEED_HOST
        ? route.port === 0
          ? this.#seed
          : { host: this.#seed.host, port: route.port }
        : { host: route.host, port: route.port };
    const key = keyOf(target);
    const known = this.#members.get(key);
    if (known) return known;
    if (Date.now() - this.#lastRefresh > 1000 || this.#refreshing) await this.refresh();
    const learned = this.#members.get(key);
    if (learned) return learned;
    this.#events.routeRefused('not-a-member');
    return `${key} is not a member of the cluster`;
  }

  /** Stop refreshing. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
