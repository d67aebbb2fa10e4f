/**
 * A live workload for cluster tests and the soak script: a client writing and reading while the
 * cluster changes under it, and a read-back of everything it had acknowledged.
 */
import { randomBytes } from 'node:crypto';
import { sleep } from '../procs.js';

/** A failed operation of a workload. */
export interface WorkloadError {
  /** ms since the epoch. */
  readonly at: number;
  readonly op: 'set' | 'get';
  readonly key: string;
  readonly message: string;
}

/** A running workload; stop() ends its loops and resolves once they have. */
export interface Workload {
  readonly name: string;
  /** Writes the server acknowledged: key → value. */
  readonly written: ReadonlyMap<string, string>;
  /** Failed operations, and reads that returned a value other than the acknowledged one. */
  readonly errors: readonly WorkloadError[];
  /** Operations completed (either kind, ok or not). */
  ops(): number;
  /** Acknowledged writes whose completion time is ≥ `since` (ms since the epoch). */
  okSince(since: number): number;
  /** Let each loop finish its current round, then hold it; resolves once all are held. */
  hold(): Promise<void>;
  /** Let held loops run again. */
  release(): void;
  stop(): Promise<void>;
}

/**
 * Start `concurrency` loops (default 2) that SET key(i) to a fresh value, then GET a random
 * earlier acknowledged key and compare, with `pauseMs` (default 2) between rounds. Never throws:
 * every failure is recorded in `errors`.
 */
export function startWorkload(o: {
  name: string;
  set: (k: string, v: string) => Promise<unknown>;
  get: (k: string) => Promise<string | null>;
  key: (i: number) => string;
  concurrency?: number;
  pauseMs?: number;
}): Workload {
  const written = new Map<string, string>();
  const writtenKeys: string[] = [];
  const okAt: number[] = [];
  const errors: WorkloadError[] = [];
  let ops = 0;
  let next = 0;
  let stopping = false;
  let gate: Promise<void> | null = null;
  let open: () => void = () => {};
  let held = 0;
  let onHeld: () => void = () => {};
  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (gate) {
        held++;
        onHeld();
        await gate;
        held--;
      }
      const k = o.key(next++);
      const v = `${o.name}-${randomBytes(4).toString('hex')}`;
      try {
        const r = await o.set(k, v);
        if (r !== 'OK') throw new Error(`SET replied ${String(r)}`);
        written.set(k, v);
        writtenKeys.push(k);
        okAt.push(Date.now());
      } catch (e) {
        errors.push({ at: Date.now(), op: 'set', key: k, message: (e as Error).message });
      }
      ops++;
      if (writtenKeys.length > 0) {
        const rk = writtenKeys[Math.floor(Math.random() * writtenKeys.length)]!;
        try {
          const got = await o.get(rk);
          if (got !== written.get(rk))
            throw new Error(`GET returned ${JSON.stringify(got)}, wrote ${written.get(rk)}`);
        } catch (e) {
          errors.push({ at: Date.now(), op: 'get', key: rk, message: (e as Error).message });
        }
        ops++;
      }
      await sleep(o.pauseMs ?? 2);
    }
  };
  const loops = Array.from({ length: o.concurrency ?? 2 }, () => loop());
  return {
    name: o.name,
    written,
    errors,
    ops: () => ops,
    okSince: (since) => okAt.filter((t) => t >= since).length,
    hold() {
      gate ??= new Promise<void>((r) => {
        open = r;
      });
      return new Promise<void>((resolve) => {
        onHeld = () => {
          if (held === loops.length) resolve();
        };
        onHeld();
      });
    },
    release() {
      gate = null;
      open();
    },
    async stop() {
      stopping = true;
      this.release();
      await Promise.all(loops);
    },
  };
}

/** Read every acknowledged key of `w` back with `get` (50 at a time); resolves the mismatches. */
export async function readBack(
  w: Workload,
  get: (k: string) => Promise<string | null>,
): Promise<string[]> {
  const entries = [...w.written];
  const bad: string[] = [];
  for (let i = 0; i < entries.length; i += 50) {
    const chunk = entries.slice(i, i + 50);
    const got = await Promise.all(
      chunk.map(([k]) => get(k).catch((e: Error) => `<error ${e.message}>`)),
    );
    chunk.forEach(([k, v], j) => {
      if (got[j] !== v) bad.push(`${k}: wrote ${v}, read ${got[j]}`);
    });
  }
  return bad;
}
