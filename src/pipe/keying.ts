/**
 * Runs the pure Handshake (../protocol/handshake.ts) over the encrypted leg: writes what it says
 * to send, feeds it what arrives, and hands back the session's Sealer and Opener (the keys they
 * were made from zeroed) plus the bytes read past the handshake. The socket's listeners are
 * removed as soon as the handshake ends, so the tunnel's opening pipe takes over the stream.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Opener, Sealer } from '../crypto/engine.js';
import { destroySessionKeys } from '../crypto/kdf.js';
import { NONCE_LEN } from '../crypto/sizes.js';
import { ProtocolError } from '../protocol/errors.js';
import { Handshake, type HandshakeDone } from '../protocol/handshake.js';
import type { HandshakeFailure } from './metrics.js';
import type { TunnelConfig, TunnelDeps } from './tunnel-deps.js';

/** What a finished handshake gives the tunnel. */
export interface Keyed {
  readonly sealer: Sealer;
  readonly opener: Opener;
  readonly done: HandshakeDone;
  /** Bytes that followed the handshake (the first packets), copied. */
  readonly rest: Buffer;
}

/** How the handshake ended early: a ProtocolError code (or ETRUNC on EOF) and a log text. */
export type KeyingFailed = (reason: HandshakeFailure, detail?: string) => void;

const TRUNCATED =
  'peer closed the connection during the handshake: wrong key on one end, -g here or there ' +
  'facing -f, the -d end could not reach its target, or the peer is not a spiped/cloakpipe end';

/**
 * Start the handshake on `enc` (client for -e, server for -d). Calls `keyed` once on success or
 * `failed` once on bad peer input or EOF; `heard`, if given, sees every chunk the peer sent during
 * the handshake (for diagnosis, ./diagnose.ts). Throws TypeError if the handshake cannot be set up
 * (a programming error, e.g. no keys). Returns an abandon function that zeroes its secrets.
 */
export function beginKeying(
  enc: Socket,
  cfg: TunnelConfig,
  deps: TunnelDeps,
  keyed: (k: Keyed) => void,
  failed: KeyingFailed,
  heard?: (chunk: Buffer) => void,
): () => void {
  const client = cfg.mode === 'encrypt';
  const hs = new Handshake({
    role: client ? 'client' : 'server',
    keys: deps.keys(),
    noPfs: cfg.noPfs,
    requirePfs: cfg.requirePfs,
    nonce: randomBytes(NONCE_LEN),
    ephemeral: cfg.noPfs ? null : deps.ephemeral(),
  });
  const detach = (): void => {
    enc.off('data', onData);
    enc.off('end', onEnd);
  };
  const onEnd = (): void => {
    detach();
    failed('ETRUNC', TRUNCATED);
  };
  const onData = (chunk: Buffer): void => {
    heard?.(chunk);
    let step: ReturnType<Handshake['push']>;
    try {
      step = hs.push(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      detach();
      return failed(err.code as HandshakeFailure, err.message);
    }
    for (const out of step.send) enc.write(out);
    if (step.done === null) return;
    detach();
    const k = step.done.keys;
    const sealer = deps.engine.sealer(client ? k.eC : k.eS, client ? k.hC : k.hS);
    const opener = deps.engine.opener(client ? k.eS : k.eC, client ? k.hS : k.hC);
    destroySessionKeys(k);
    keyed({ sealer, opener, done: step.done, rest: Buffer.from(step.rest) });
  };
  enc.on('data', onData);
  enc.on('end', onEnd);
  enc.write(hs.start());
  enc.resume();
  return () => {
    detach();
    if (!hs.finished) hs.destroy();
  };
}
