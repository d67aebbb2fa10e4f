/**
 * What the --workers primary and its workers say to each other over node:cluster's IPC channel
 * (serialization 'advanced', see workers.ts). Every message is an object with a `cloakpipe` tag,
 * so none is mistaken for node:cluster's own or for background.ts's reports:
 *
 *   worker → primary  {cloakpipe: 'key?'}                 the `-k -` key, please
 *   primary → worker  {cloakpipe: 'key', key: Uint8Array}  K (32 bytes), never the raw input
 *   primary → worker  {cloakpipe: 'ask', id, what}         what = 'metrics' | 'probe'
 *   worker → primary  {cloakpipe: 'answer', id, value}     metrics JSON, or a probe result
 *   primary → worker  {cloakpipe: 'reload'}                SIGHUP: re-read the key files
 *   primary → worker  {cloakpipe: 'stop', now}             SIGTERM/SIGINT: drain, or exit now
 *
 * The key never goes on argv or into the environment. What cannot be zeroed: the bytes node's
 * serializer writes into its own buffer for the pipe (handed to the kernel, then garbage), and
 * the kernel's socket buffer. Every copy we hold is zeroed: the primary's at exit, the message's
 * in the worker once KeyRing has taken its own.
 */
import cluster, { type Worker } from 'node:cluster';
import { StartError } from './errors.js';

/** How long a worker waits for the key before it gives up (the primary answers at once). */
const KEY_WAIT_MS = 5000;

/** A request the primary makes of every listening worker. */
export type Ask = 'metrics' | 'probe';

/** Tagged IPC messages (see the table above). */
type Message =
  | { readonly cloakpipe: 'key?' }
  | { readonly cloakpipe: 'key'; readonly key: Uint8Array }
  | { readonly cloakpipe: 'ask'; readonly id: number; readonly what: Ask }
  | { readonly cloakpipe: 'answer'; readonly id: number; readonly value: unknown }
  | { readonly cloakpipe: 'reload' }
  | { readonly cloakpipe: 'stop'; readonly now: boolean };

const noop = (): void => {};

function tagged(m: unknown): Message | null {
  return typeof m === 'object' && m !== null && 'cloakpipe' in m ? (m as Message) : null;
}

/**
 * In the primary: answer every worker's `key?` with `key` (K of `-k -`), for restarted workers
 * too. The caller zeroes `key` once the primary is done.
 */
export function serveStdinKey(key: Uint8Array): void {
  cluster.on('message', (w: Worker, raw: unknown) => {
    // With a callback, a channel that closed meanwhile is an error here, not an 'error' event.
    if (tagged(raw)?.cloakpipe === 'key?') w.send({ cloakpipe: 'key', key }, undefined, {}, noop);
  });
}

/**
 * In a worker: ask the primary for the `-k -` key. Resolves with a copy the caller must zero;
 * rejects with StartError when the primary does not answer within KEY_WAIT_MS.
 */
export function requestStdinKey(): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown): void => {
      const m = tagged(raw);
      if (m?.cloakpipe !== 'key') return;
      done();
      const copy = Uint8Array.from(m.key);
      m.key.fill(0);
      resolve(copy);
    };
    const timer = setTimeout(() => {
      done();
      reject(new StartError('the --workers primary did not hand over the -k - key'));
    }, KEY_WAIT_MS);
    const done = (): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    process.send!({ cloakpipe: 'key?' });
  });
}

/** In a worker: how it answers the primary's requests (a missing one answers null). */
export type Answers = Partial<Record<Ask, () => Promise<unknown>>>;

/** In a worker: answer the primary's `ask` messages with `answers`. */
export function answerPrimary(answers: Answers): void {
  process.on('message', (raw: unknown) => {
    const m = tagged(raw);
    if (m?.cloakpipe !== 'ask') return;
    const reply = (value: unknown): void => {
      if (process.connected) process.send!({ cloakpipe: 'answer', id: m.id, value });
    };
    const answer = answers[m.what];
    if (answer === undefined) reply(null);
    else answer().then(reply, (err: Error) => reply({ error: err.message }));
  });
}

/**
 * In the primary: tell each of `workers` to re-read its key files (SIGHUP). A message, not a
 * signal: a worker that has not yet installed its handler ignores it (and reads its keys
 * afterwards anyway), where SIGHUP's default action would kill it.
 */
export function sendReload(workers: readonly Worker[]): void {
  for (const w of workers)
    if (w.isConnected()) w.send({ cloakpipe: 'reload' }, undefined, {}, noop);
}

/** In a worker: call `reload` whenever the primary passes a SIGHUP on. */
export function onReload(reload: () => void): void {
  process.on('message', (raw: unknown) => {
    if (tagged(raw)?.cloakpipe === 'reload') reload();
  });
}

/**
 * In the primary: tell each of `workers` (listening ones: their handlers are in) to drain, or
 * with `now` to exit at once.
 */
export function sendStop(workers: readonly Worker[], now: boolean): void {
  for (const w of workers)
    if (w.isConnected()) w.send({ cloakpipe: 'stop', now }, undefined, {}, noop);
}

/** In a worker: call `stop` when the primary passes a SIGTERM/SIGINT on (`now` on its second). */
export function onStop(stop: (now: boolean) => void): void {
  process.on('message', (raw: unknown) => {
    const m = tagged(raw);
    if (m?.cloakpipe === 'stop') stop(m.now);
  });
}

let nextId = 0;

/**
 * In the primary: send `what` to each of `workers` and resolve with the answers that arrive
 * within `timeoutMs` (a worker that dies or hangs is left out, so one bad worker does not fail
 * a scrape). Never rejects.
 */
export function askWorkers(
  workers: readonly Worker[],
  what: Ask,
  timeoutMs: number,
): Promise<unknown[]> {
  const id = nextId++;
  return new Promise((resolve) => {
    const answers: unknown[] = [];
    let pending = 0;
    const finish = (): void => {
      clearTimeout(timer);
      cluster.off('message', onMessage);
      resolve(answers);
    };
    const onMessage = (_w: Worker, raw: unknown): void => {
      const m = tagged(raw);
      if (m?.cloakpipe !== 'answer' || m.id !== id) return;
      answers.push(m.value);
      if (--pending === 0) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    cluster.on('message', onMessage);
    for (const w of workers) {
      if (!w.isConnected()) continue;
      pending++;
      w.send({ cloakpipe: 'ask', id, what }, undefined, {}, (err) => {
        if (err !== null && --pending === 0) finish();
      });
    }
    if (pending === 0) finish();
  });
}
