/**
 * A --workers worker's copies of what the primary owns in cluster mode (DESIGN.md §6.1, §7.1):
 * on -e the node table (NodeReplica, a NodeMap whose `ensure` asks the primary to open the
 * listener), on -d the allow-list (MemberReplica, a MemberSource that asks the primary about any
 * route its copy does not hold). Both start from the whole state the primary sends on `hello` and
 * take every later change it broadcasts; neither ever decides alone what the primary did not.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  type Member,
  memberKey,
  type MembersSnapshot,
  type MemberSource,
  routeTarget,
} from '../cluster/members.js';
import type { LocalAddress, NodeMap, NodeMapSnapshot } from '../cluster/nodes.js';
import type { Route } from '../protocol/route.js';
import type { DecryptIpc, EncryptIpc } from './ipc-messages.js';
import type { IpcPeer } from './ipc.js';

function key(r: Route): string {
  return `${r.host}:${r.port}`;
}

/** -e: a worker's replica of the primary's node table. */
export class NodeReplica implements NodeMap {
  readonly #peer: IpcPeer<EncryptIpc>;
  readonly #log: Logger;
  readonly #nodes = new Map<string, LocalAddress>();
  readonly #aliases = new Map<string, Route>();
  readonly #asking = new Map<string, Promise<LocalAddress | null>>();

  /**
   * Replicate over `peer`; connections the primary hands over go to `adopt`. Call start() before
   * serving connections.
   */
  constructor(peer: IpcPeer<EncryptIpc>, log: Logger, adopt: (s: Socket, route: Route) => void) {
    this.#peer = peer;
    this.#log = log;
    peer.onNote('map', (m) => this.#apply(m));
    peer.onNote('adopt', (route, socket) => {
      if (socket) adopt(socket, route);
    });
  }

  /** Join: get the whole table. Rejects (IpcError) when the primary does not answer. */
  async start(): Promise<void> {
    this.#apply(await this.#peer.request('hello', null));
  }

  /** Local first (so canonical() is right at once), then the primary, which shares the listener. */
  alias(name: string, namePort: number, ip: string, port: number): void {
    if (!name || name === '?' || (name === ip && namePort === port)) return;
    this.#aliases.set(`${name}:${namePort}`, { host: ip, port });
    this.#peer.notify('alias', { name, namePort, ip, port });
  }

  canonical(host: string, port: number): Route {
    return this.#aliases.get(`${host}:${port}`) ?? { host, port };
  }

  lookup(route: Route): LocalAddress | null {
    return this.#nodes.get(key(route)) ?? null;
  }

  /** One request per node at a time; resolves after the primary's listener listens. */
  ensure(route: Route): Promise<LocalAddress | null> {
    const k = key(route);
    const known = this.#nodes.get(k);
    if (known) return Promise.resolve(known);
    const asking = this.#asking.get(k);
    if (asking) return asking;
    const p = this.#peer
      .request('ensure', { host: route.host, port: route.port })
      .then(
        (local) => {
          if (local) this.#nodes.set(k, local);
          return local;
        },
        (err: Error) => {
          this.#log.error(
            { node: k, err: err.message },
            'the primary did not open a node listener; the reply naming it gets an error',
          );
          return null;
        },
      )
      .finally(() => this.#asking.delete(k));
    this.#asking.set(k, p);
    return p;
  }

  /** Tell the primary this worker takes no more connections. */
  close(): void {
    this.#peer.notify('draining', null);
  }

  /** Entries are never taken back (a node keeps its address), so applying only adds. */
  #apply(s: NodeMapSnapshot): void {
    for (const [k, local] of s.nodes) this.#nodes.set(k, local);
    for (const [k, r] of s.aliases) this.#aliases.set(k, r);
  }
}

/** -d: a worker's replica of the primary's allow-list. */
export class MemberReplica implements MemberSource {
  readonly seed: Member;
  readonly #peer: IpcPeer<DecryptIpc>;
  readonly #refused: (reason: string) => void;
  #members = new Map<string, Member>();
  #candidates: Member[];

  /** Replicate the list for `seed` over `peer`; `refused` counts a refusal. Call start() first. */
  constructor(seed: Member, peer: IpcPeer<DecryptIpc>, refused: (reason: string) => void) {
    this.seed = seed;
    this.#peer = peer;
    this.#refused = refused;
    this.#members.set(memberKey(seed), seed);
    this.#candidates = [seed];
    peer.onNote('members', (s) => this.#apply(s));
  }

  /** Join: get the whole list. Rejects (IpcError) when the primary does not answer. */
  async start(): Promise<void> {
    this.#apply(await this.#peer.request('hello', null));
  }

  seedCandidates(): Member[] {
    return [...this.#candidates];
  }

  /** A member of the copy, else the primary's verdict; refused when the primary cannot be asked. */
  async resolve(route: Route): Promise<Member | string> {
    const target = routeTarget(this.seed, route);
    const known = this.#members.get(memberKey(target));
    if (known) return known;
    let verdict: Member | string;
    try {
      verdict = await this.#peer.request('resolve', { host: route.host, port: route.port });
    } catch (err) {
      verdict = `${memberKey(target)} could not be checked (${(err as Error).message})`;
    }
    if (typeof verdict === 'string') this.#refused('not-a-member');
    return verdict;
  }

  close(): void {}

  #apply(s: MembersSnapshot): void {
    this.#members = new Map([[memberKey(this.seed), this.seed]]);
    for (const [k, m] of s.members) this.#members.set(k, m);
    this.#candidates = s.candidates.length > 0 ? [...s.candidates] : [this.seed];
  }
}
