/**
 * Runs the pure Handshake (../protocol/handshake.ts) over the encrypted leg: writes what it says
 * to send, feeds it what arrives, and hands back the session's Sealer and Opener (the keys they
 * were made from zeroed) plus the bytes read past the handshake. The socket's listeners are
 * removed as soon as the handshake ends, so the tunnel's opening pipe takes over the stream.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FrameCipher } from '../crypto/compact.js';
import type { Opener, Sealer } from '../crypto/engine.js';
import { destroySessionKeys } from '../crypto/kdf.js';
import { NONCE_LEN } from '../crypto/sizes.js';
import { ProtocolError } from '../protocol/errors.js';
import { Handshake, type HandshakeDone } from '../protocol/handshake.js';
import type { HandshakeFailure } from './metrics.js';
import type { TunnelConfig, TunnelDeps } from './tunnel-deps.js';

/** What every finished handshake gives the tunnel. */
interface KeyedBase {
  readonly done: HandshakeDone;
  /** Bytes that followed the handshake (the first packets or frames), copied. */
  readonly rest: Buffer;
}

/**
 * What a finished handshake gives the tunnel: spiped framing's Sealer and Opener, or compact
 * framing's two FrameCiphers (DESIGN.md §9), as the handshake agreed.
 */
export type Keyed = KeyedBase &
  (
    | { readonly framing: 'spiped'; readonly sealer: Sealer; readonly opener: Opener }
    | { readonly framing: 'compact'; readonly seal: FrameCipher; readonly open: FrameCipher }
  );

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
    framing: cfg.framing ?? 'spiped',
    kdf: deps.engine.kdf,
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
      // EFRAMING on -d: our y_S ‖ h_S still goes out, so the client can diagnose it too.
      if (err.reply !== undefined) enc.write(err.reply);
      return failed(err.code as HandshakeFailure, err.message);
    }
    for (const out of step.send) enc.write(out);
    if (step.done === null) return;
    detach();
    const k = step.done.keys;
    const [eOut, hOut] = client ? [k.eC, k.hC] : [k.eS, k.hS];
    const [eIn, hIn] = client ? [k.eS, k.hS] : [k.eC, k.hC];
    const base = { done: step.done, rest: Buffer.from(step.rest) };
    const { engine } = deps;
    const result: Keyed =
      step.done.framing === 'compact'
        ? {
            ...base,
            framing: 'compact',
            seal: engine.frameCipher(eOut, hOut),
            open: engine.frameCipher(eIn, hIn),
          }
        : {
            ...base,
            framing: 'spiped',
            sealer: engine.sealer(eOut, hOut),
            opener: engine.opener(eIn, hIn),
          };
    destroySessionKeys(k);
    keyed(result);
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
