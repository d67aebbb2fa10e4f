/**
 * One direction of a tunnel (spiped lib/proto/proto_pipe.c): read from a source, pass each chunk
 * through a Transform, write what comes out to a sink, with backpressure (a slow sink pauses the
 * source), half-close (the source's EOF ends the sink) and nothing else. A tunnel runs two: one
 * that seals (plaintext → packets) and one that opens (packets → plaintext); which is "up" depends
 * on the mode. Extra stages (the cluster filter, the route exchange) are composed into the
 * transform only when they are in use, so a plain tunnel's hot path is source → framing → sink.
 *
 * The pipe never throws into the event loop: a failing transform stops it and is reported once
 * through `onError`; the tunnel decides what that means.
 */
import type { Readable, Writable } from 'node:stream';
import { isStaticRead, setStaticReader } from './dial.js';

/** Hands one output chunk on (to the next stage, or to the sink). */
export type Emit = (out: Buffer) => void;

/**
 * A step between a pipe's source and its sink: a framing (seal or open), a filter, a header
 * reader. Implementations are small objects with no I/O of their own.
 */
export interface Transform {
  /**
   * Take one chunk and call `emit` with each output chunk, in order. `chunk` may be reused by
   * the caller once push() returns (copy what must be kept). Return nothing when finished with
   * it, or a Promise to hold the pipe until it settles: the source is paused, later chunks wait
   * in order, and the sink's end is deferred. Throw (or reject) to stop the pipe.
   */
  push(chunk: Buffer, emit: Emit): void | Promise<void>;
  /** The source ended; no push() follows. May throw to stop the pipe. */
  end?(): void;
}

/**
 * `first`, then `second` on what `first` emits, as one Transform. If `second` returns a Promise,
 * the outputs after it wait for it (order kept), and the composite returns the chain.
 */
export function compose(first: Transform, second: Transform): Transform {
  return {
    push(chunk: Buffer, emit: Emit): void | Promise<void> {
      let chain: Promise<void> | undefined;
      const next = (x: Buffer): void => {
        if (chain !== undefined) {
          const copy = Buffer.from(x);
          chain = chain.then(() => second.push(copy, emit));
          return;
        }
        const r = second.push(x, emit);
        if (r !== undefined) chain = r;
      };
      let r: void | Promise<void>;
      try {
        r = first.push(chunk, next);
      } catch (err) {
        chain?.catch(() => {}); // the pipe stops on `err`; a later rejection has nobody to tell
        throw err;
      }
      if (r !== undefined) return r.then(() => chain);
      return chain;
    },
    end(): void {
      first.end?.();
      second.end?.();
    },
  };
}

/** What a pipe tells its owner. */
export interface PipeHooks {
  /** The transform threw or rejected; the pipe has stopped. Called at most once. */
  readonly onError: (err: unknown) => void;
  /** The source ended and the transform took its end (before the sink is ended). */
  readonly onEnd?: () => void;
  /** Called once per chunk read from the source (e.g. an idle timer's touch); omit to pay nothing. */
  readonly onChunk?: () => void;
}

/**
 * One direction: source → transform → sink. Construct (the source is paused and watched from
 * then on: chunks that arrive are queued), connect a sink if it was not known yet, then start().
 *
 * Two source modes: a stream's 'data' events, or, for a socket dialled with static reads
 * (./dial.ts), its reads in the shared buffer. In the second mode each read goes through the
 * transform synchronously; a read that has to wait (queued) is copied, and an output that is
 * still a view of the shared buffer is copied before it is written.
 */
export class Pipe {
  readonly #source: Readable;
  #sink: Writable | null;
  readonly #t: Transform;
  readonly #hooks: PipeHooks;
  /** Chunks read while not started or while the transform holds the pipe. */
  #queue: Buffer[] = [];
  #started = false;
  #stopped = false;
  /** The transform returned a Promise that has not settled. */
  #busy = false;
  #waitingDrain = false;
  /** The source has ended (its end is handled once every chunk before it went through). */
  #sourceEnded = false;
  /** The source's end went through the transform; the sink is to be ended once not busy. */
  #ended = false;
  #sinkEnded = false;
  /** The source is read into the shared static buffer (see the class comment). */
  readonly #static: boolean;
  readonly #emit: Emit = (out) => {
    if (this.#stopped || out.length === 0) return;
    if (this.#static && isStaticRead(out)) out = Buffer.from(out);
    if (!this.#sink!.write(out)) this.#backpressure();
  };
  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    this.#resume();
  };

  /** `sink` may be null until connect(); nothing is emitted before start(). */
  constructor(source: Readable, sink: Writable | null, transform: Transform, hooks: PipeHooks) {
    this.#source = source;
    this.#sink = sink;
    this.#t = transform;
    this.#hooks = hooks;
    source.pause();
    const onChunk = hooks.onChunk;
    const read = onChunk
      ? (chunk: Buffer): void => {
          onChunk();
          this.push(chunk);
        }
      : (chunk: Buffer): void => this.push(chunk);
    this.#static = setStaticReader(source, read);
    if (!this.#static) source.on('data', read);
    source.on('end', () => {
      this.#sourceEnded = true;
      if (this.#started && this.#queue.length === 0) this.#end();
    });
  }

  /** Set the sink (once) if the constructor had none. */
  connect(sink: Writable): void {
    this.#sink = sink;
  }

  /**
   * Begin: run what was queued, then read the source. Idempotent. Starting before connect() is
   * allowed only when the transform holds the pipe (returns a Promise) before it emits anything,
   * and the sink is connected before that Promise settles (the -d route exchange does this).
   */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#drainQueue();
  }

  /** Feed a chunk as if read from the source (e.g. bytes read past a handshake). */
  push(chunk: Buffer): void {
    if (this.#stopped) return;
    if (!this.#started || this.#busy) {
      this.#queue.push(this.#static && isStaticRead(chunk) ? Buffer.from(chunk) : chunk);
      this.#source.pause();
      return;
    }
    this.#feed(chunk);
  }

  /** Stop for good: nothing more is read, transformed or written; queued bytes are zeroed. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#static) setStaticReader(this.#source, null);
    for (const q of this.#queue) q.fill(0);
    this.#queue = [];
    this.#sink?.off('drain', this.#onDrain);
  }

  #feed(chunk: Buffer): void {
    let r: void | Promise<void>;
    try {
      r = this.#t.push(chunk, this.#emit);
    } catch (err) {
      return this.#fail(err);
    }
    if (r === undefined) return;
    this.#busy = true;
    this.#source.pause();
    r.then(
      () => {
        this.#busy = false;
        this.#drainQueue();
      },
      (err: unknown) => this.#fail(err),
    );
  }

  #drainQueue(): void {
    while (!this.#busy && !this.#stopped && this.#queue.length > 0)
      this.#feed(this.#queue.shift()!);
    if (this.#busy || this.#stopped) return;
    if (this.#ended) this.#endSink();
    else if (this.#sourceEnded) this.#end();
    else this.#resume();
  }

  /** The source's end, after every chunk before it: the transform's end, the hook, the sink's. */
  #end(): void {
    if (this.#ended || this.#stopped) return;
    this.#ended = true;
    try {
      this.#t.end?.();
    } catch (err) {
      return this.#fail(err);
    }
    if (this.#stopped) return;
    this.#hooks.onEnd?.();
    if (!this.#busy) this.#endSink();
  }

  #endSink(): void {
    if (this.#sinkEnded || this.#stopped || this.#sink === null) return;
    this.#sinkEnded = true;
    this.#sink.end();
  }

  #backpressure(): void {
    if (this.#waitingDrain) return;
    this.#waitingDrain = true;
    this.#source.pause();
    this.#sink!.once('drain', this.#onDrain);
  }

  #resume(): void {
    if (this.#started && !this.#busy && !this.#waitingDrain && !this.#stopped)
      this.#source.resume();
  }

  #fail(err: unknown): void {
    if (this.#stopped) return;
    this.stop();
    this.#hooks.onError(err);
  }
}
