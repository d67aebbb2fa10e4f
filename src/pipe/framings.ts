/**
 * The two directions' framing for a keyed tunnel: spiped's 1060-byte packets (DESIGN.md §2.3) or
 * compact frames (DESIGN.md §9), whichever the handshake agreed on. Keeps the Tunnel free of
 * framing details: it gets one sealing and one opening Transform and counts bytes through them.
 */
import { COMPACT_DEFAULT_BUCKET } from '../crypto/sizes.js';
import { type CountBytes, type Framing, OpenTransform, SealTransform } from './framing.js';
import { CompactSealer } from '../crypto/compact.js';
import { CompactOpenTransform } from './framing-compact.js';
import type { Keyed } from './keying.js';

/** A sealing framing: a Transform that can also seal one whole line (the cluster route header). */
export type SealFraming = SealTransform;

/**
 * What the Tunnel counts: plaintext bytes sealed and opened, and a stream cut mid-packet (or,
 * under compact framing, mid-frame).
 */
export interface FramingCounts {
  readonly sealed: CountBytes;
  readonly opened: CountBytes;
  readonly truncated: (pending: number, unit: 'packet' | 'frame') => void;
}

/**
 * The sealing and opening Transforms for `k`, taking ownership of its keys (destroy() zeroes
 * them). `bucket` is --frame-bucket (compact only; the default when undefined). Never throws.
 */
export function framingsFor(
  k: Keyed,
  bucket: number | undefined,
  c: FramingCounts,
): { seal: SealFraming; open: Framing } {
  if (k.framing === 'compact')
    return {
      seal: new SealTransform(
        new CompactSealer(k.seal, bucket ?? COMPACT_DEFAULT_BUCKET),
        c.sealed,
      ),
      open: new CompactOpenTransform(k.open, c.opened, (p) => c.truncated(p, 'frame')),
    };
  return {
    seal: new SealTransform(k.sealer, c.sealed),
    open: new OpenTransform(k.opener, c.opened, (p) => c.truncated(p, 'packet')),
  };
}
