/**
 * Classify a scanned request by what it means to a reply-rewriting tunnel (DESIGN.md §5):
 * which replies carry node addresses, which change how replies pair with requests, and which
 * carry addresses the other way (DESIGN.md §4.6). Case-insensitive on names and subcommands,
 * like Redis.
 */
import { string2llText } from './numbers.js';
import type { RequestEvent } from './request-scanner.js';
import type { TopologyKind } from './topology.js';

/** What a command is to the tunnel. */
export type CommandKind =
  /** CLUSTER SLOTS|SHARDS|NODES|REPLICAS|SLAVES: the reply names nodes; capture and rewrite it. */
  | 'cluster-slots'
  | 'cluster-shards'
  | 'cluster-nodes'
  | 'cluster-replicas'
  /** HELLO [protover …]: on success the RESP version may change. */
  | 'hello'
  /** MULTI / EXEC / DISCARD: queued commands answer `+QUEUED`; EXEC answers them all at once. */
  | 'multi'
  | 'exec'
  | 'discard'
  /** (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE: one reply per channel in RESP2, pushes in RESP3. */
  | 'subscribe'
  | 'unsubscribe'
  /** MONITOR: the server streams `+…` lines from now on. */
  | 'monitor'
  /** CLIENT REPLY OFF|ON|SKIP. */
  | 'client-reply-off'
  | 'client-reply-on'
  | 'client-reply-skip'
  /** CLIENT MAINT_NOTIFICATIONS: enables pushes carrying host:port (DESIGN.md §4.6). */
  | 'client-maint-notifications'
  /** RESET: `+RESET`, back to RESP2, leaves pub/sub, MONITOR, MULTI and CLIENT REPLY OFF. */
  | 'reset'
  /** ASKING, READONLY, READWRITE: per-connection cluster flags. */
  | 'asking'
  | 'readonly'
  | 'readwrite'
  /** MIGRATE, CLUSTER MEET, REPLICAOF/SLAVEOF: the request carries a host and port (§4.6). */
  | 'migrate'
  | 'cluster-meet'
  | 'replicaof'
  /** Anything else: one ordinary reply. */
  | 'other';

type Command = Extract<RequestEvent, { kind: 'command' }>;

const PLAIN: Readonly<Record<string, CommandKind>> = {
  hello: 'hello',
  multi: 'multi',
  exec: 'exec',
  discard: 'discard',
  subscribe: 'subscribe',
  psubscribe: 'subscribe',
  ssubscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  punsubscribe: 'unsubscribe',
  sunsubscribe: 'unsubscribe',
  monitor: 'monitor',
  reset: 'reset',
  asking: 'asking',
  readonly: 'readonly',
  readwrite: 'readwrite',
  migrate: 'migrate',
  replicaof: 'replicaof',
  slaveof: 'replicaof',
};

const CLUSTER: Readonly<Record<string, CommandKind>> = {
  slots: 'cluster-slots',
  shards: 'cluster-shards',
  nodes: 'cluster-nodes',
  replicas: 'cluster-replicas',
  slaves: 'cluster-replicas',
  meet: 'cluster-meet',
};

const CLIENT_REPLY: Readonly<Record<string, CommandKind>> = {
  off: 'client-reply-off',
  on: 'client-reply-on',
  skip: 'client-reply-skip',
};

/** Classify `cmd` by its name and first arguments. Never throws. */
export function classifyCommand(cmd: Command): CommandKind {
  const name = (cmd.args[0] ?? '').toLowerCase();
  const sub = (cmd.args[1] ?? '').toLowerCase();
  if (name === 'cluster') return Object.hasOwn(CLUSTER, sub) ? CLUSTER[sub]! : 'other';
  if (name === 'client') {
    if (sub === 'maint_notifications') return 'client-maint-notifications';
    const mode = (cmd.args[2] ?? '').toLowerCase();
    if (sub === 'reply' && cmd.argc === 3 && Object.hasOwn(CLIENT_REPLY, mode))
      return CLIENT_REPLY[mode]!;
    return 'other';
  }
  return Object.hasOwn(PLAIN, name) ? PLAIN[name]! : 'other';
}

/** The topology reply a command kind asks for, or null if its reply names no nodes. */
export function topologyOf(kind: CommandKind): TopologyKind | null {
  switch (kind) {
    case 'cluster-slots':
      return 'slots';
    case 'cluster-shards':
      return 'shards';
    case 'cluster-nodes':
      return 'nodes';
    case 'cluster-replicas':
      return 'replicas';
    default:
      return null;
  }
}

/**
 * The protocol version a HELLO asks for: its first argument as an integer, or null when it has
 * none (HELLO alone keeps the version). Whether it takes effect depends on the reply (`-NOPROTO`).
 */
export function helloVersion(cmd: Command): number | null {
  const v = cmd.argc >= 2 && cmd.args[1] !== undefined ? string2llText(cmd.args[1]) : Number.NaN;
  return Number.isNaN(v) ? null : v;
}
