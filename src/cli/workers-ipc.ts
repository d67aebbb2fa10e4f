/**
 * The supervision messages of `--workers` (WorkersIpc in daemon/ipc-messages.ts, which lists
 * every message on the channel), spoken through daemon/ipc.ts's IpcPeer in namespace `workers`.
 * The primary holds one peer per worker (linkWorker); a worker holds one peer to its primary.
 *
 * The `-k -` key never goes on argv or into the environment. What cannot be zeroed: the bytes
 * node's serializer writes into its own buffer for the pipe (handed to the kernel, then garbage)
 * and the kernel's socket buffer. Every copy we hold is zeroed: the primary's at exit, the
 * worker's (the reply it received) by the caller once KeyRing has taken its own.
 */
import type { Worker } from 'node:cluster';
import { IpcPeer, parentEndpoint, workerEndpoint } from '../daemon/ipc.js';
import { WORKERS_IPC_NS, type WorkersIpc } from '../daemon/ipc-messages.js';
import { StartError } from './errors.js';

/** How long a worker waits for the key before it gives up (the primary answers at once). */
const KEY_WAIT_MS = 5000;

/** The primary's side of one worker's channel. */
export type WorkerPeer = IpcPeer<WorkersIpc>;

/** A request the primary makes of every listening worker. */
export type Ask = 'metrics' | 'probe';

/**
 * In the primary: the peer of worker `w`, just forked. The caller closes it when `w` exits.
 * `onError` hears the start-up error line the worker reports before it exits.
 */
export function linkWorker(w: Worker, onError: (line: string) => void): WorkerPeer {
  const peer = new IpcPeer<WorkersIpc>(workerEndpoint(w), WORKERS_IPC_NS);
  peer.onNote('error', (line) => {
    if (typeof line === 'string') onError(line);
  });
  return peer;
}

/**
 * In the primary: answer `peer`'s `key` request with `key` (K of `-k -`), for restarted workers
 * too. The caller zeroes `key` once the primary is done.
 */
export function serveStdinKey(peer: WorkerPeer, key: Uint8Array): void {
  peer.onRequest('key', () => key);
}

/**
 * In the primary: answer `peer`'s `keys` request with `keys()` (the primary's current keys, read
 * while it was root and re-read on every SIGHUP).
 */
export function serveKeys(peer: WorkerPeer, keys: () => readonly Uint8Array[]): void {
  peer.onRequest('keys', () => keys());
}

/** In the primary: tell each of `peers` to re-read its key files (SIGHUP). */
export function sendReload(peers: readonly WorkerPeer[]): void {
  // A message, not a signal: a worker that has not yet installed its handler drops it (and
  // reads its keys afterwards anyway), where SIGHUP's default action would kill it.
  for (const p of peers) p.notify('reload', null);
}

/** In the primary: tell each of `peers` (listening workers) to drain, or with `now` exit at once. */
export function sendStop(peers: readonly WorkerPeer[], now: boolean): void {
  for (const p of peers) p.notify('stop', { now });
}

/**
 * In the primary: ask each of `peers` for `what` and resolve with the answers that arrive within
 * `timeoutMs`; a worker that dies, fails or hangs is left out, so one bad worker does not fail
 * a scrape. Never rejects.
 */
export function askWorkers(
  peers: readonly WorkerPeer[],
  what: Ask,
  timeoutMs: number,
): Promise<unknown[]> {
  const answers: unknown[] = [];
  const all = Promise.allSettled(
    peers.map((p) => p.request(what, null).then((a: unknown) => void answers.push(a))),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
  return Promise.race([all, late]).then(() => {
    clearTimeout(timer);
    return [...answers];
  });
}

let toPrimary: WorkerPeer | null = null;

/** In a worker: its one peer to the primary, made on first use. */
function primary(): WorkerPeer {
  toPrimary ??= new IpcPeer<WorkersIpc>(parentEndpoint(), WORKERS_IPC_NS, KEY_WAIT_MS);
  return toPrimary;
}

/**
 * In a worker: ask the primary for the `-k -` key. Resolves with the received bytes, which the
 * caller must zero; rejects with StartError when the primary does not answer within KEY_WAIT_MS.
 */
export async function requestStdinKey(): Promise<Uint8Array> {
  try {
    const key = await primary().request('key', null);
    if (!(key instanceof Uint8Array)) throw new Error('not a key');
    return key;
  } catch {
    throw new StartError('the --workers primary did not hand over the -k - key');
  }
}

/**
 * In a worker forked after its primary gave up root: ask for every key. Resolves with the
 * received copies, which the caller must zero; rejects with StartError when the primary does not
 * answer within KEY_WAIT_MS.
 */
export async function requestKeys(): Promise<Uint8Array[]> {
  try {
    const keys = await primary().request('keys', null);
    if (!Array.isArray(keys) || !keys.every((k) => k instanceof Uint8Array))
      throw new Error('not keys');
    return keys;
  } catch {
    throw new StartError('the --workers primary did not hand over the keys');
  }
}

/** In a worker: how it answers the primary's requests (a missing one is an error reply). */
export interface Answers {
  /** Its registry as prom-client JSON. */
  readonly metrics?: () => Promise<unknown>;
  /** Null when ready, else why not. */
  readonly probe?: () => Promise<string | null>;
}

/** In a worker: answer the primary's metrics and probe requests with `answers`. */
export function answerPrimary(answers: Answers): void {
  if (answers.metrics) primary().onRequest('metrics', answers.metrics);
  if (answers.probe) primary().onRequest('probe', answers.probe);
}

/** In a worker: call `reload` whenever the primary passes a SIGHUP on. */
export function onReload(reload: () => void): void {
  primary().onNote('reload', () => reload());
}

/** In a worker: call `stop` when the primary passes a SIGTERM/SIGINT on (`now` on its second). */
export function onStop(stop: (now: boolean) => void): void {
  primary().onNote('stop', (m) => stop(m.now === true));
}

/** In a worker: tell the primary the one-line start-up error that stops it (see background.ts). */
export function reportToPrimary(line: string): void {
  primary().notify('error', line);
}
