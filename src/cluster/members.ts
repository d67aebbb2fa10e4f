/**
 * The -d end's allow-list in cluster mode (DESIGN.md §6): it dials only its seed (-t) and the nodes
 * the cluster itself reports. It learns them with its own `CLUSTER NODES` query (to the seed, or to
 * any member it already knows when the seed is down), at start, every refresh interval, and on
 * demand when a route names a node it has not seen (rate-limited). A route request is never trusted
 * just because it is authenticated: a key holder must not gain a path to arbitrary hosts behind -d.
 * This file holds the timer-driven list and its decisions; the query is in nodes-query.ts and
 * reading its reply in nodes-reply.ts. With --workers only the primary runs a Membership; the
 * workers hold replicas of its list (MemberSource, DESIGN.md §6.1).
 */
import type { Logger } from 'pino';
import type { Route } from '../protocol/route.js';
import { SEED_HOST } from '../protocol/route.js';
import type { ClusterAuth } from './auth.js';
import { queryClusterNodes } from './nodes-query.js';
import { type Member, membersOf } from './nodes-reply.js';

export type { Member } from './nodes-reply.js';

function keyOf(m: Member): string {
  return `${m.host}:${m.port}`;
}

/**
 * What -d's routing needs of the allow-list: a Membership, or a worker's replica of the primary's
 * (DESIGN.md §6.1). Either admits only nodes the cluster itself reported.
 */
export interface MemberSource {
  /** The -t seed node. */
  readonly seed: Member;
  /** Where the seed route may be dialled, best first (see Membership.seedCandidates). */
  seedCandidates(): Member[];
  /** Where to dial for `route`, or the reason it is refused. Never rejects. */
  resolve(route: Route): Promise<Member | string>;
  /** Stop refreshing (or asking). */
  close(): void;
}

/** The allow-list as plain data: what a worker's replica is sent (DESIGN.md §6.1). */
export interface MembersSnapshot {
  /** Every member: its key (as the cluster reports it) and the address it is dialled at. */
  readonly members: readonly (readonly [string, Member])[];
  /** seedCandidates() at the time of the snapshot. */
  readonly candidates: readonly Member[];
}

/**
 * The address a route asks for: `-` (SEED_HOST) means the seed's host, port 0 the seed itself,
 * any other port a node on the seed's host (the `:port` redirects of unknown-endpoint clusters).
 */
export function routeTarget(seed: Member, route: Route): Member {
  if (route.host !== SEED_HOST) return { host: route.host, port: route.port };
  return route.port === 0 ? seed : { host: seed.host, port: route.port };
}

/** `host:port` of a member: its key in the allow-list. */
export function memberKey(m: Member): string {
  return keyOf(m);
}

/** What the allow-list reports (for metrics). */
export interface MembershipEvents {
  nodesKnown(n: number): void;
  routeRefused(reason: string): void;
}

/** The set of nodes -d may dial. */
export class Membership implements MemberSource {
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
  #onChange: (() => void) | null = null;

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

  /** Call `fn` after every refresh (the list or the seed's state may have changed). */
  onChange(fn: () => void): void {
    this.#onChange = fn;
  }

  /** The members and the seed candidates, as plain data. */
  snapshot(): MembersSnapshot {
    return { members: [...this.#members], candidates: this.seedCandidates() };
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
      this.#onChange?.();
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
   * Where to dial for `route` (see routeTarget), or a refusal reason. Unknown nodes trigger one
   * on-demand refresh (at most once a second).
   */
  async resolve(route: Route): Promise<Member | string> {
    const target = routeTarget(this.#seed, route);
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
