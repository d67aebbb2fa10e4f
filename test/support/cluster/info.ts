/**
 * What redis-cli prints, read for tests: CLUSTER NODES lines with every field (id, flags, master,
 * slots; src/cluster/nodes-reply.ts reads only the addresses -d may dial), and INFO sections.
 */

/** One line of CLUSTER NODES. */
export interface NodeLine {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly hostname: string;
  readonly flags: readonly string[];
  /** The master's id, or '-'. */
  readonly master: string;
  readonly epoch: number;
  readonly link: string;
  /** Slot ranges and migration markers as printed ("0-5460", "[12182->-id]"). */
  readonly slots: readonly string[];
}

/** Parse CLUSTER NODES text (`<id> <ip>:<port>@<cport>[,<hostname>] <flags> <master> …`). */
export function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id, addr, flags, master, , , epoch, link, ...slots] = l.split(' ');
      const [hostPort = '', hostname = ''] = (addr ?? '').split(',');
      const hp = hostPort.split('@')[0] ?? '';
      const i = hp.lastIndexOf(':');
      return {
        id: id ?? '',
        host: hp.slice(0, i),
        port: Number(hp.slice(i + 1)),
        hostname,
        flags: (flags ?? '').split(','),
        master: master ?? '-',
        epoch: Number(epoch),
        link: link ?? '',
        slots,
      };
    });
}

/** `key:value` lines (CLUSTER INFO, INFO) → record. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** The first slot of a node's first slot range (migration markers skipped). */
export function firstSlotOf(node: NodeLine): number {
  return Number(node.slots.find((r) => !r.startsWith('['))!.split('-')[0]);
}
