/**
 * The text of CLUSTER NODES (and of each CLUSTER REPLICAS entry): one node a line, lines ended by
 * `\n` (`cluster.c@7.0.15` clusterGenNodeDescription):
 *   `<id> <ip>:<port>@<cport>[,<hostname>] <flags> <master> <ping> <pong> <epoch> <link> <slot>…`
 * Only the second field carries an address. The IP is unbracketed (`::1:7202@17202`, so the port
 * follows the LAST ':' before '@'), empty for a lone node (`:7300@17300`); the cport is a bus port
 * no client dials and is kept; Redis < 4 writes no `@<cport>`. Migration markers carry node IDs.
 * Rewrite rules: DESIGN.md §4.4, §4.5.
 */
import { MAX_PORT } from './limits.js';
import type { WalkContext } from './node-address.js';
import { string2llText } from './numbers.js';

/** Rewrite the address of every line of `text` through `ctx`; lines it cannot parse are kept. */
export function walkNodesText(text: string, ctx: WalkContext): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++)
    if (lines[i] !== '') lines[i] = walkNodesLine(lines[i]!, ctx);
  return lines.join('\n');
}

/** One NODES line. */
function walkNodesLine(line: string, ctx: WalkContext): string {
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) return line;
  const sp2 = line.indexOf(' ', sp1 + 1);
  const field = sp2 < 0 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
  const at = field.indexOf('@');
  const hostPort = at < 0 ? field : field.slice(0, at);
  const bus = at < 0 ? '' : field.slice(at);
  const comma = bus.indexOf(',');
  const cport = comma < 0 ? bus : bus.slice(0, comma);
  const hostname = comma < 0 ? null : bus.slice(comma + 1);
  const colon = hostPort.lastIndexOf(':');
  const port = colon < 0 ? Number.NaN : string2llText(hostPort.slice(colon + 1));
  const host = hostPort.slice(0, Math.max(colon, 0));
  const sp3 = sp2 < 0 ? -1 : line.indexOf(' ', sp2 + 1);
  const flags = sp2 < 0 ? [] : line.slice(sp2 + 1, sp3 < 0 ? undefined : sp3).split(',');
  const node = { host, port, ip: host, hostname, id: line.slice(0, sp1), flags };
  if (!(port >= 0 && port <= MAX_PORT)) {
    ctx.nodes++; // an entry with no usable address: counted, never mapped
    return line;
  }
  const mapped = ctx.see(node);
  if (mapped === null) return line;
  const name = hostname !== null && ctx.hostname === 'local' ? `,${mapped.host}` : '';
  const rest = sp2 < 0 ? '' : line.slice(sp2);
  return `${line.slice(0, sp1 + 1)}${mapped.host}:${mapped.port}${cport}${name}${rest}`;
}
