/**
 * Cluster mode's stages in a tunnel's pipes, composed in only when `--cluster` is on, so a plain
 * tunnel's hot path has none of them (DESIGN.md §3, §5):
 *
 *   opening pipe   open → RouteStage (the route exchange, then pass-through) → filter.down
 *   sealing pipe   filter.up → seal
 *
 * The route exchange itself is the pure RouteExchange (../protocol/route.ts); this file drives it
 * from opened plaintext and tells the tunnel, through a RouteHost, what the outcome means.
 */
import type { Logger } from 'pino';
import {
  encodeRouteReply,
  type Route,
  RouteExchange,
  type RouteOutcome,
} from '../protocol/route.js';
import type { Metrics } from './metrics.js';
import { compose, type Emit, type Transform } from './pipe.js';
import type { StreamFilter, TunnelRouting } from './tunnel-deps.js';

/** What the route exchange needs from its tunnel. */
export interface RouteHost {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Drop the connection with `reason` (already logged). */
  drop(reason: string): void;
  /** -d: dial `route`; the Promise settles once the target is up and the answer sent. */
  dial(route: Route): Promise<void>;
  /** -d: send `lines` (sealed) and close: the route is refused for `reason`. */
  refuse(reason: string, lines: Buffer[]): void;
  /** -e: -d answered OK; the client's bytes may flow now. */
  routed(): void;
}

/** A Transform that runs a RouteExchange in front of the rest of the stream. */
export class RouteStage implements Transform {
  #exchange: RouteExchange | null;
  readonly #decided: (outcome: RouteOutcome, send: Buffer[]) => void | Promise<void>;
  readonly #endedEarly: () => void;

  /**
   * `decided` is called once with the outcome and the lines to send (plaintext); a Promise from
   * it holds the stream until it settles. `endedEarly` is called when the stream ends before the
   * peer's line was complete.
   */
  constructor(
    exchange: RouteExchange,
    decided: (outcome: RouteOutcome, send: Buffer[]) => void | Promise<void>,
    endedEarly: () => void,
  ) {
    this.#exchange = exchange;
    this.#decided = decided;
    this.#endedEarly = endedEarly;
  }

  /** Read the line, then pass through. Never throws on peer input. */
  push(chunk: Buffer, emit: Emit): void | Promise<void> {
    const x = this.#exchange;
    if (x === null) return emit(chunk);
    const step = x.push(chunk);
    if (step.done === null) return undefined;
    this.#exchange = null;
    const rest = Buffer.from(step.rest);
    const held = this.#decided(step.done, step.send);
    if (held === undefined) return rest.length > 0 ? emit(rest) : undefined;
    return held.then(() => (rest.length > 0 ? emit(rest) : undefined));
  }

  end(): void {
    if (this.#exchange !== null) this.#endedEarly();
  }
}

/** One tunnel's cluster-mode stages and route policy. */
export class ClusterStages {
  readonly #routing: TunnelRouting;
  readonly #host: RouteHost;

  constructor(routing: TunnelRouting, host: RouteHost) {
    this.#routing = routing;
    this.#host = host;
  }

  /** -d: this end reads a route line and dials the node it names. */
  get serves(): boolean {
    return this.#routing.serve !== undefined;
  }

  /** -e: this end asks for a route, and holds the client's bytes until -d answers. */
  get asks(): boolean {
    return this.#routing.route !== undefined && !this.serves;
  }

  /** The opening direction: `framing`, then the route exchange (if any), then the filter. */
  opening(framing: Transform): Transform {
    let t = framing;
    if (this.serves || this.asks) {
      const side = this.serves
        ? { role: 'server' as const }
        : { role: 'client' as const, route: this.#routing.route! };
      const stage = new RouteStage(
        new RouteExchange(side),
        (outcome, send) => this.#decided(outcome, send),
        () => this.#endedEarly(),
      );
      t = compose(t, stage);
    }
    const f = this.#routing.filter;
    return f ? compose(t, filterDown(f)) : t;
  }

  /** The sealing direction: the filter (if any), then `framing`. */
  sealing(framing: Transform): Transform {
    const f = this.#routing.filter;
    return f ? compose({ push: (chunk, emit) => emit(f.up(chunk)) }, framing) : framing;
  }

  /** Lines to send (plaintext) as the tunnel opens: -e's request, or -d's OK naming `dialled`. */
  firstLines(dialled: Route): Buffer[] {
    if (this.serves) return [encodeRouteReply(dialled)];
    if (this.asks)
      return new RouteExchange({ role: 'client', route: this.#routing.route! }).start();
    return [];
  }

  #decided(outcome: RouteOutcome, send: Buffer[]): void | Promise<void> {
    const { log, metrics } = this.#host;
    if (outcome.kind === 'foreign') {
      if (this.serves) {
        metrics.handshakeFailed('EPEERMODE');
        log.error(
          { reason: 'EPEERMODE', head: outcome.head },
          'misconfiguration: the peer sent no cluster route header; this end runs --cluster but the ' +
            '-e end does not (start both ends with --cluster, or neither)',
        );
        return this.#host.drop('no route header');
      }
      log.error(
        { reason: 'EPEERMODE', answer: outcome.head },
        'misconfiguration: this end runs --cluster but the -d end does not (a plain cloakpipe -d or ' +
          'spiped passed our route header to its target, which answered as shown); start the -d end with --cluster',
      );
      return this.#host.drop('peer is not in cluster mode');
    }
    if (this.serves) {
      if (outcome.kind === 'refused') return this.#host.refuse(outcome.reason, send);
      const { route } = outcome;
      log.debug({ route: `${route.host}:${route.port}` }, 'route requested');
      return this.#host.dial(route);
    }
    if (outcome.kind === 'refused') {
      log.warn(
        { reason: 'EROUTE', detail: outcome.reason },
        `the -d end refused the route: ${outcome.reason}`,
      );
      return this.#host.drop(`route refused: ${outcome.reason}`);
    }
    this.#routing.filter?.routed?.(outcome.route);
    // Client bytes were held until now: a plain -d must never pass them to its target.
    this.#host.routed();
  }

  #endedEarly(): void {
    // -d waits for its -o deadline, as before any route line. -e drops: -d hung up before
    // answering (its dial failed, or it refused), and the client's bytes were never sent.
    if (this.serves) return;
    this.#host.log.info('the -d end closed before answering the route; dropping connection');
    this.#host.drop('no route answer');
  }
}

/** filter.down as a Transform: a Promise from it holds the stream (order kept). */
function filterDown(f: StreamFilter): Transform {
  return {
    push(chunk, emit) {
      const r = f.down(chunk);
      if (!Array.isArray(r)) return r.then((bufs) => bufs.forEach((b) => emit(b)));
      for (const b of r) emit(b);
      return undefined;
    },
  };
}
