/**
 * Pure rewriters for the replies that name cluster nodes (DESIGN.md §4): CLUSTER SLOTS, SHARDS,
 * NODES and REPLICAS|SLAVES, the same inside an EXEC array, and `-MOVED`/`-ASK`. Each reply kind
 * has one walker, used twice: to EXTRACT every node a reply names (so the caller can open local
 * listeners first), then to REWRITE the reply through the caller's AddressMap. Every length and
 * count is recomputed; any reply that is not the expected shape is reported as a failure (the
 * caller then forwards the original); an error or null reply is returned unchanged. Never throws.
 *
 * What a rewritten node looks like (DESIGN.md §4.2–§4.5): its dial address (SLOTS endpoint,
 * SHARDS `endpoint` and `port`, NODES `<ip>:<port>`) becomes the mapped host:port; `ip` fields
 * become the mapped host; `hostname` fields and `,<hostname>` are dropped (or set to the mapped
 * host, with `hostname: 'local'`); SHARDS `tls-port` is dropped (and `port` added if it was
 * absent); a SLOTS null endpoint (`$-1`, `_`) becomes the mapped host, never an empty one; NODES
 * cports are kept.
 */
import {
  type AddressMap,
  type MappedAddress,
  type NodeAddress,
  type RewriteOptions,
  type WalkContext,
  walkContext,
} from './node-address.js';
import { walkNodesText } from './nodes-text.js';
import { formatRedirect, type Redirect } from './redirect.js';
import {
  bulk,
  type DecodeFailure,
  decodeValue,
  encodeValue,
  integer,
  integerOf,
  isErrorOrNull,
  type RespAggregate,
  type RespValue,
  textOf,
} from './value.js';

/** The topology replies, by the command that asked for them. */
export type TopologyKind = 'slots' | 'shards' | 'nodes' | 'replicas';

/** Why a captured reply could not be walked. */
export type TopologyFailure = DecodeFailure | 'unexpected-shape' | 'count-mismatch';

/** Result of an extraction: every distinct node named, in reply order. */
export type ExtractResult =
  | { readonly ok: true; readonly nodes: readonly NodeAddress[] }
  | { readonly ok: false; readonly reason: TopologyFailure; readonly detail: string };

/**
 * Result of a rewrite. `bytes` is the input itself when nothing was rewritten. `nodes` counts
 * node entries seen and `rewritten` those mapped; fewer means some stayed unchanged.
 */
export type RewriteResult =
  | {
      readonly ok: true;
      readonly bytes: Uint8Array;
      readonly nodes: number;
      readonly rewritten: number;
    }
  | { readonly ok: false; readonly reason: TopologyFailure; readonly detail: string };

class Shape {
  constructor(readonly detail: string) {}
}

/** Every distinct node (by id, host and port) that a whole `kind` reply names. */
export function extractNodes(kind: TopologyKind, reply: Uint8Array): ExtractResult {
  return extract(reply, (v, ctx) => walk(kind, v, ctx));
}

/** Rewrite a whole `kind` reply through `map` (see the file comment). */
export function rewriteTopology(
  kind: TopologyKind,
  reply: Uint8Array,
  map: AddressMap,
  options: RewriteOptions = {},
): RewriteResult {
  return rewrite(reply, map, options, (v, ctx) => walk(kind, v, ctx));
}

/**
 * Every node named in an EXEC reply, whose element i answers a queued command of kind
 * `kinds[i]` (null: not a topology command, left alone). Fails with `count-mismatch` if the
 * array does not have one element per queued command.
 */
export function extractExecNodes(
  kinds: readonly (TopologyKind | null)[],
  reply: Uint8Array,
): ExtractResult {
  return extract(reply, (v, ctx) => walkExec(kinds, v, ctx));
}

/** Rewrite the topology elements of an EXEC reply (see extractExecNodes). */
export function rewriteExec(
  kinds: readonly (TopologyKind | null)[],
  reply: Uint8Array,
  map: AddressMap,
  options: RewriteOptions = {},
): RewriteResult {
  return rewrite(reply, map, options, (v, ctx) => walkExec(kinds, v, ctx));
}

/** The node a redirect names (only host and port are known). */
export function nodeOfRedirect(r: Redirect): NodeAddress {
  return { host: r.host, port: r.port, ip: null, hostname: null, id: null };
}

/** The redirect re-encoded with the mapped address, or null if `map` does not know the node. */
export function rewriteRedirect(r: Redirect, map: AddressMap): Uint8Array | null {
  const m = map(r.host, r.port, nodeOfRedirect(r));
  return m === null
    ? null
    : formatRedirect({ kind: r.kind, slot: r.slot, host: m.host, port: m.port });
}

type Walker = (v: RespValue, ctx: WalkContext) => RespValue;

function extract(reply: Uint8Array, walker: Walker): ExtractResult {
  const nodes: NodeAddress[] = [];
  const seen = new Set<string>();
  const ctx = walkContext((node) => {
    const key = `${node.id ?? ''}\0${node.host}\0${node.port}`;
    if (!seen.has(key)) {
      seen.add(key);
      nodes.push(node);
    }
    return null;
  });
  const r = run(reply, walker, ctx);
  return r.ok ? { ok: true, nodes } : r;
}

function rewrite(
  reply: Uint8Array,
  map: AddressMap,
  options: RewriteOptions,
  walker: Walker,
): RewriteResult {
  const ctx = walkContext((node) => map(node.host, node.port, node), options.hostname ?? 'drop');
  const r = run(reply, walker, ctx);
  if (!r.ok) return r;
  const bytes = ctx.rewritten === 0 ? reply : encodeValue(r.value);
  return { ok: true, bytes, nodes: ctx.nodes, rewritten: ctx.rewritten };
}

function run(
  reply: Uint8Array,
  walker: Walker,
  ctx: WalkContext,
):
  | { readonly ok: true; readonly value: RespValue }
  | { readonly ok: false; readonly reason: TopologyFailure; readonly detail: string } {
  const d = decodeValue(reply);
  if (!d.ok) return d;
  try {
    return { ok: true, value: isErrorOrNull(d.value) ? d.value : walker(d.value, ctx) };
  } catch (e) {
    if (e instanceof Shape) return { ok: false, reason: 'unexpected-shape', detail: e.detail };
    if (e instanceof CountMismatch)
      return { ok: false, reason: 'count-mismatch', detail: e.detail };
    throw e;
  }
}

class CountMismatch {
  constructor(readonly detail: string) {}
}

function walk(kind: TopologyKind, v: RespValue, ctx: WalkContext): RespValue {
  if (isErrorOrNull(v)) return v;
  switch (kind) {
    case 'slots':
      return mapItems(v, 'SLOTS', (range) =>
        mapItems(range, 'SLOTS range', (n, j) => (j < 2 ? n : slotsNode(n, ctx))),
      );
    case 'shards':
      return mapItems(v, 'SHARDS', (shard) => shardOf(shard, ctx));
    case 'nodes':
      return nodesText(v, ctx);
    case 'replicas':
      return mapItems(v, 'REPLICAS', (line) => nodesText(line, ctx));
  }
}

function walkExec(
  kinds: readonly (TopologyKind | null)[],
  v: RespValue,
  ctx: WalkContext,
): RespValue {
  const items = itemsOf(v, 'EXEC');
  if (items.length !== kinds.length)
    throw new CountMismatch(`EXEC has ${items.length} replies for ${kinds.length} queued commands`);
  return {
    ...(v as RespAggregate),
    items: items.map((item, i) => (kinds[i] ? walk(kinds[i], item, ctx) : item)),
  };
}

/** The items of a `*` array (or `~` set / `>` push); Shape otherwise. */
function itemsOf(v: RespValue, what: string): readonly RespValue[] {
  if (!('items' in v) || v.items === null || v.type === '%' || v.type === '|')
    throw new Shape(`${what}: expected an array, got '${v.type}'`);
  return v.items;
}

function mapItems(
  v: RespValue,
  what: string,
  f: (item: RespValue, j: number) => RespValue,
): RespValue {
  return { ...v, items: itemsOf(v, what).map(f) } as RespAggregate;
}

/** Flattened key/value pairs of a RESP3 `%` map or a RESP2 `*2k` array; Shape otherwise. */
function pairsOf(v: RespValue | undefined, what: string): readonly RespValue[] {
  if (v === undefined || !('items' in v) || v.items === null || (v.type !== '%' && v.type !== '*'))
    throw new Shape(`${what}: expected a map`);
  if (v.items.length % 2 !== 0) throw new Shape(`${what}: odd number of map entries`);
  return v.items;
}

/** The value of `key` in flattened pairs, or undefined. */
function lookup(pairs: readonly RespValue[], key: string): RespValue | undefined {
  for (let k = 0; k < pairs.length; k += 2) if (textOf(pairs[k]) === key) return pairs[k + 1];
  return undefined;
}

/** What happens to each field of a node map. */
type FieldRule = 'host' | 'port' | 'drop' | 'hostname';

/** Rewrite flattened pairs: 'host'/'port' fields get the mapped values, 'drop' ones go. */
function rewritePairs(
  pairs: readonly RespValue[],
  rules: Readonly<Record<string, FieldRule>>,
  m: MappedAddress,
  ctx: WalkContext,
): RespValue[] {
  const out: RespValue[] = [];
  for (let k = 0; k < pairs.length; k += 2) {
    const key = pairs[k]!;
    const name = textOf(key);
    let rule = name !== null && Object.hasOwn(rules, name) ? rules[name] : undefined;
    if (rule === 'hostname') rule = ctx.hostname === 'drop' ? 'drop' : 'host';
    if (rule === 'drop') continue;
    out.push(
      key,
      rule === 'host' ? bulk(m.host) : rule === 'port' ? integer(m.port) : pairs[k + 1]!,
    );
  }
  return out;
}

const SLOTS_META_RULES: Readonly<Record<string, FieldRule>> = { ip: 'host', hostname: 'hostname' };

/** One SLOTS node: `*4 <endpoint> :<port> $<id> <metadata>` (≥ 2 items; id and map since 4.0/7.0). */
function slotsNode(n: RespValue, ctx: WalkContext): RespValue {
  const items = itemsOf(n, 'SLOTS node');
  const ep = items[0];
  const port = integerOf(items[1]);
  if (ep === undefined || port === null) throw new Shape('SLOTS node: expected endpoint and port');
  const isNull = isErrorOrNull(ep);
  const endpoint = isNull ? '' : textOf(ep);
  if (endpoint === null) throw new Shape('SLOTS node: endpoint is not a string');
  const meta = items.length > 3 ? pairsOf(items[3], 'SLOTS metadata') : [];
  const metaIp = textOf(lookup(meta, 'ip'));
  const metaName = textOf(lookup(meta, 'hostname'));
  const named = metaIp !== null && endpoint !== '' && endpoint !== '?';
  const m = ctx.see({
    host: endpoint,
    port,
    ip: metaIp ?? (isNull ? null : endpoint),
    hostname: metaName ?? (named ? endpoint : null),
    id: textOf(items[2]),
  });
  if (m === null) return n;
  const out = [bulk(m.host), integer(m.port), ...items.slice(2)];
  if (items.length > 3)
    out[3] = {
      ...(items[3] as RespAggregate),
      items: rewritePairs(meta, SLOTS_META_RULES, m, ctx),
    };
  return { ...n, items: out } as RespAggregate;
}

/** One SHARDS entry: a map with `slots` and `nodes` (an array of node maps). */
function shardOf(shard: RespValue, ctx: WalkContext): RespValue {
  const pairs = pairsOf(shard, 'SHARDS shard');
  const out = pairs.map((p, k) =>
    k % 2 === 1 && textOf(pairs[k - 1]) === 'nodes'
      ? mapItems(p, 'SHARDS nodes', (n) => shardNode(n, ctx))
      : p,
  );
  return { ...shard, items: out } as RespAggregate;
}

const SHARD_NODE_RULES: Readonly<Record<string, FieldRule>> = {
  port: 'port',
  'tls-port': 'drop',
  ip: 'host',
  endpoint: 'host',
  hostname: 'hostname',
};

/** One SHARDS node map: id, port, tls-port, ip, endpoint, hostname, role, offset, health. */
function shardNode(n: RespValue, ctx: WalkContext): RespValue {
  const pairs = pairsOf(n, 'SHARDS node');
  const plain = integerOf(lookup(pairs, 'port'));
  const ip = textOf(lookup(pairs, 'ip'));
  const m = ctx.see({
    host: textOf(lookup(pairs, 'endpoint')) ?? ip ?? '',
    port: plain ?? integerOf(lookup(pairs, 'tls-port')) ?? 0,
    ip,
    hostname: textOf(lookup(pairs, 'hostname')),
    id: textOf(lookup(pairs, 'id')),
  });
  if (m === null) return n;
  const out = rewritePairs(pairs, SHARD_NODE_RULES, m, ctx);
  if (plain === null) {
    // A TLS-only node has no `port`: the tunnel's local port is plaintext, so add one after `id`.
    const at = textOf(out[0]) === 'id' ? 2 : 0;
    out.splice(at, 0, bulk('port'), integer(m.port));
  }
  return { ...n, items: out } as RespAggregate;
}

/** A NODES reply or REPLICAS entry: bulk `$` or verbatim `=` (`txt:` counted in its length). */
function nodesText(v: RespValue, ctx: WalkContext): RespValue {
  if (isErrorOrNull(v)) return v;
  if (!('data' in v) || v.data === null)
    throw new Shape(`NODES: expected a bulk string, got '${v.type}'`);
  const prefix = v.type === '=' ? v.data.slice(0, 4) : '';
  if (v.type === '=' && (prefix.length < 4 || prefix[3] !== ':'))
    throw new Shape('NODES: verbatim string without a format prefix');
  return { ...v, data: prefix + walkNodesText(v.data.slice(prefix.length), ctx) };
}
