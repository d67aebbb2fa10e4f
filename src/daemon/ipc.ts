/**
 * Typed messages between the --workers primary and its workers over node's IPC channel: requests
 * with ids and replies (worker → primary), and one-way notes (either way), optionally carrying a
 * socket handle. Every message is namespaced (`{cloakpipe: <namespace>, ...}`) so it never clashes
 * with node:cluster's own messages or prom-client's aggregator requests, which share the channel;
 * anything else on the channel is ignored. Which namespaces and messages exist is written in one
 * place, ipc-messages.ts. DESIGN.md §7.1.
 */
import type { Worker } from 'node:cluster';
import type { Socket } from 'node:net';

/** How long a request waits for its reply before it rejects. */
export const IPC_REQUEST_TIMEOUT_MS = 10_000;

/** One message on the channel. */
export interface IpcMessage {
  /** The namespace: which IpcPeer pair it belongs to. */
  readonly cloakpipe: string;
  /** The request or note kind; `reply` for a reply. */
  readonly kind: string;
  /** A request's id (requests only). */
  readonly id?: number;
  /** The id of the request a reply answers (replies only). */
  readonly re?: number;
  readonly body?: unknown;
  /** A reply's failure, instead of a body. */
  readonly error?: string;
}

/**
 * One end of an IPC channel: a cluster worker seen from the primary, or `process` in a worker.
 * `send` reports a failed send through `done` (or throws synchronously: both are handled).
 */
export interface IpcEndpoint {
  send(message: IpcMessage, handle?: Socket, done?: (err: Error | null) => void): void;
  /** Subscribe to incoming messages; returns the unsubscribe function. */
  listen(fn: (message: unknown, handle: Socket | undefined) => void): () => void;
}

/** The kinds a protocol has: requests (with their reply type) and notes. */
export interface IpcProtocol {
  readonly requests: Record<string, { readonly req: unknown; readonly res: unknown }>;
  readonly notes: Record<string, unknown>;
}

type ReqKind<P extends IpcProtocol> = keyof P['requests'] & string;
type NoteKind<P extends IpcProtocol> = keyof P['notes'] & string;

interface Pending {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Thrown (as a rejection) when a request cannot be answered. */
export class IpcError extends Error {}

/** One side of a namespaced request/reply and note channel. */
export class IpcPeer<P extends IpcProtocol> {
  readonly #ep: IpcEndpoint;
  readonly #ns: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #requests = new Map<string, (body: unknown) => unknown>();
  readonly #notes = new Map<string, (body: unknown, handle: Socket | undefined) => void>();
  readonly #unlisten: () => void;
  #nextId = 1;
  #closed: string | null = null;

  /**
   * Speak namespace `ns` over `endpoint`. Messages of other namespaces, and anything that is not
   * an IpcMessage, are ignored.
   */
  constructor(endpoint: IpcEndpoint, ns: string, timeoutMs = IPC_REQUEST_TIMEOUT_MS) {
    this.#ep = endpoint;
    this.#ns = ns;
    this.#timeoutMs = timeoutMs;
    this.#unlisten = endpoint.listen((m, h) => this.#receive(m, h));
  }

  /**
   * Ask the other side; resolves its handler's answer. Rejects with IpcError when the handler
   * throws or is missing, the send fails, no reply comes within the timeout, or close() is called.
   */
  request<K extends ReqKind<P>>(
    kind: K,
    body: P['requests'][K]['req'],
  ): Promise<P['requests'][K]['res']> {
    if (this.#closed !== null) return Promise.reject(new IpcError(this.#closed));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#settle(id, new IpcError(`no reply to ${kind} within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#send({ cloakpipe: this.#ns, kind, id, body }, undefined, (err) => {
        if (err) this.#settle(id, new IpcError(`cannot send ${kind}: ${err.message}`));
      });
    });
  }

  /** Tell the other side, with an optional socket; `done` hears whether the send failed. */
  notify<K extends NoteKind<P>>(
    kind: K,
    body: P['notes'][K],
    handle?: Socket,
    done?: (err: Error | null) => void,
  ): void {
    if (this.#closed !== null) {
      done?.(new IpcError(this.#closed));
      return;
    }
    this.#send({ cloakpipe: this.#ns, kind, body }, handle, done);
  }

  /** Answer requests of `kind` with `fn` (its value, or what its promise resolves; a throw is sent as an error). */
  onRequest<K extends ReqKind<P>>(
    kind: K,
    fn: (
      body: P['requests'][K]['req'],
    ) => P['requests'][K]['res'] | Promise<P['requests'][K]['res']>,
  ): void {
    this.#requests.set(kind, fn as (body: unknown) => unknown);
  }

  /** Handle notes of `kind`. */
  onNote<K extends NoteKind<P>>(
    kind: K,
    fn: (body: P['notes'][K], handle: Socket | undefined) => void,
  ): void {
    this.#notes.set(kind, fn as (body: unknown, handle: Socket | undefined) => void);
  }

  /** Stop listening; pending and later requests reject with `reason`. */
  close(reason = 'IPC channel closed'): void {
    if (this.#closed !== null) return;
    this.#closed = reason;
    this.#unlisten();
    for (const id of [...this.#pending.keys()]) this.#settle(id, new IpcError(reason));
  }

  #send(m: IpcMessage, handle: Socket | undefined, done?: (err: Error | null) => void): void {
    try {
      this.#ep.send(m, handle, (err) => done?.(err ?? null));
    } catch (err) {
      done?.(err as Error);
    }
  }

  #settle(id: number, err: Error | null, value?: unknown): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  #receive(raw: unknown, handle: Socket | undefined): void {
    if (!isMessage(raw, this.#ns)) return;
    if (raw.kind === 'reply') {
      if (typeof raw.re === 'number')
        this.#settle(raw.re, raw.error === undefined ? null : new IpcError(raw.error), raw.body);
      return;
    }
    if (typeof raw.id === 'number') {
      void this.#answer(raw.kind, raw.id, raw.body);
      return;
    }
    this.#notes.get(raw.kind)?.(raw.body, handle);
  }

  async #answer(kind: string, id: number, body: unknown): Promise<void> {
    const fn = this.#requests.get(kind);
    let reply: IpcMessage;
    try {
      if (!fn) throw new Error(`no handler for ${kind}`);
      reply = { cloakpipe: this.#ns, kind: 'reply', re: id, body: await fn(body) };
    } catch (err) {
      reply = { cloakpipe: this.#ns, kind: 'reply', re: id, error: (err as Error).message };
    }
    if (this.#closed === null) this.#send(reply, undefined);
  }
}

function isMessage(m: unknown, ns: string): m is IpcMessage {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { cloakpipe?: unknown }).cloakpipe === ns &&
    typeof (m as { kind?: unknown }).kind === 'string'
  );
}

/** The endpoint of a process talking to its parent (`process` in a cluster worker). */
export function parentEndpoint(proc: NodeJS.Process = process): IpcEndpoint {
  return {
    send(message, _handle, done) {
      if (!proc.send) throw new IpcError('this process has no IPC channel');
      proc.send(message, undefined, undefined, (err: Error | null) => done?.(err));
    },
    listen(fn) {
      const h = (m: unknown, handle: unknown): void =>
        fn(m, handle === undefined ? undefined : (handle as Socket));
      proc.on('message', h);
      return () => proc.off('message', h);
    },
  };
}

/** The endpoint of node:cluster worker `w`, seen from the primary. */
export function workerEndpoint(w: Worker): IpcEndpoint {
  return {
    send(message, handle, done) {
      w.send(message, handle, (err: Error | null) => done?.(err));
    },
    listen(fn) {
      const h = (m: unknown, handle: unknown): void =>
        fn(m, handle === undefined ? undefined : (handle as Socket));
      w.on('message', h);
      return () => w.off('message', h);
    },
  };
}
