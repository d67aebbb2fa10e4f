/**
 * Every message a --workers primary and its workers exchange, in one place: each namespace on
 * the IPC channel (ipc.ts carries them) and the requests and notes it holds.
 *
 * - `workers` (WorkersIpc, every --workers end): the `-k -` key (with -u, every key), metrics and
 *   probe asks for the end's one /metrics and /readyz, SIGHUP reload, SIGTERM/SIGINT stop, a
 *   start-up error.
 * - `cluster` (EncryptIpc on -e, DecryptIpc on -d; DESIGN.md §6.1, §7.1): requests go worker →
 *   primary; `map` and `members` go primary → worker after every change; `adopt` carries a
 *   connection a node listener accepted; `draining` tells the primary a worker takes no more
 *   connections.
 */
import type { Member, MembersSnapshot } from '../cluster/members.js';
import type { LocalAddress, NodeMapSnapshot } from '../cluster/nodes.js';
import type { Route } from '../protocol/route.js';

/** The namespace of cluster mode's messages (EncryptIpc, DecryptIpc). */
export const CLUSTER_IPC_NS = 'cluster';

/** The namespace of the supervision messages every --workers end has (WorkersIpc). */
export const WORKERS_IPC_NS = 'workers';

/**
 * Supervision, primary ↔ worker. The `-k -` key travels as bytes (serialization 'advanced'),
 * never on argv or in the environment; each side zeroes the copy it holds once done with it.
 */
export interface WorkersIpc {
  readonly requests: {
    /** Worker → primary: K of `-k -` (32 bytes, never the raw input). */
    readonly key: { readonly req: null; readonly res: Uint8Array };
    /**
     * Worker → primary, from a worker forked after the primary gave up root (-u): every key, in
     * -k order (each K, 32 bytes), as the primary last read them.
     */
    readonly keys: { readonly req: null; readonly res: readonly Uint8Array[] };
    /** Primary → worker: its registry as prom-client JSON (--metrics). */
    readonly metrics: { readonly req: null; readonly res: unknown };
    /** Primary → worker: null when ready, else why not (/readyz, --ready-probe). */
    readonly probe: { readonly req: null; readonly res: string | null };
  };
  readonly notes: {
    /** Primary → worker: SIGHUP, re-read the key files. */
    readonly reload: null;
    /** Primary → worker: SIGTERM/SIGINT, drain; with `now` (a second signal), exit at once. */
    readonly stop: { readonly now: boolean };
    /** Worker → primary: the one-line start-up error that stops it (for a launcher). */
    readonly error: string;
  };
}

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
