/**
 * The messages between a cluster-mode --workers primary and its workers (DESIGN.md §6.1, §7.1).
 * Requests go worker → primary; `map` and `members` go primary → worker after every change;
 * `adopt` carries a connection a node listener accepted; `draining` tells the primary a worker
 * takes no more connections.
 */
import type { Member, MembersSnapshot } from '../cluster/members.js';
import type { LocalAddress, NodeMapSnapshot } from '../cluster/nodes.js';
import type { Route } from '../protocol/route.js';

/** The namespace of these messages on the IPC channel. */
export const CLUSTER_IPC_NS = 'cluster';

/** -e: worker ↔ primary. */
export interface EncryptIpc {
  readonly requests: {
    /** A (re)started worker joins: it is sent the whole table and receives connections. */
    readonly hello: { readonly req: null; readonly res: NodeMapSnapshot };
    /** Open `route`'s listener if it is not open; answers once it listens (null: no port left). */
    readonly ensure: { readonly req: Route; readonly res: LocalAddress | null };
  };
  readonly notes: {
    /** Worker → primary: NodeMap.alias. */
    readonly alias: {
      readonly name: string;
      readonly namePort: number;
      readonly ip: string;
      readonly port: number;
    };
    /** Primary → worker: the table changed (the whole table). */
    readonly map: NodeMapSnapshot;
    /** Primary → worker: serve this connection (the socket is the handle). */
    readonly adopt: Route;
    /** Worker → primary: draining; send no more connections. */
    readonly draining: null;
  };
}

/** -d: worker ↔ primary. */
export interface DecryptIpc {
  readonly requests: {
    /** A (re)started worker joins: it is sent the allow-list. */
    readonly hello: { readonly req: null; readonly res: MembersSnapshot };
    /** A route the worker's copy does not admit: the primary's verdict (it may refresh first). */
    readonly resolve: { readonly req: Route; readonly res: Member | string };
  };
  readonly notes: {
    /** Primary → worker: the allow-list after a refresh (the whole list). */
    readonly members: MembersSnapshot;
  };
}
