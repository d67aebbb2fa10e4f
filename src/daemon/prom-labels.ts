/**
 * The label values each Prometheus failure counter starts with, so every series exists (at 0)
 * from start-up: a rate() or an alert on a reason that has never happened yet then sees 0, not
 * "no data". The README's metrics table lists the same values, and each counter's HELP text
 * names them (test/unit/daemon/ops-metrics.test.ts checks all three agree).
 */
import type { HandshakeFailure, PacketFailure, RejectReason } from '../pipe/metrics.js';

/** Keys of a record that must name every member of a union (the compiler checks it). */
function every<T extends string>(all: Record<T, true>): readonly T[] {
  return Object.keys(all) as T[];
}

/** cloakpipe_connections_rejected_total{reason}. */
export const REJECT_REASONS = every<RejectReason>({
  limit: true,
  draining: true,
  'accept-error': true,
});

/** cloakpipe_handshake_failures_total{reason}, with what each means. */
export const HANDSHAKE_FAILURES = every<HandshakeFailure>({
  EBADMAC: true,
  EBADDH: true,
  ENOPFS: true,
  ETIMEDOUT: true,
  ETRUNC: true,
  ESOCKET: true,
  EPEERMODE: true,
  EFRAMING: true,
  EPROBE: true,
  ENOTPEER: true,
  ESILENT: true,
});

/** cloakpipe_packets_rejected_total{reason}. */
export const PACKET_FAILURES = every<PacketFailure>({
  EBADPACKET: true,
  EBADLEN: true,
  ETRUNC: true,
});

/** cloakpipe_connections_closed_total{result}. */
export const CLOSE_RESULTS = ['ok', 'error'] as const;

/**
 * cloakpipe_target_connect_errors_total{code}: the codes a dial usually fails with. Others
 * (any errno) still get their own series when they happen.
 */
export const TARGET_ERROR_CODES = [
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'ENOENT',
  'EACCES',
  'EPEERHUP',
] as const;

/** cloakpipe_cluster_route_refusals_total{reason} (cluster mode, -d). */
export const ROUTE_REFUSALS = ['not-a-member'] as const;

/** cloakpipe_cluster_rewrites_total{kind} (cluster mode, -e); not a failure, so no zero series. */
export const REWRITE_KINDS = [
  'moved',
  'ask',
  'slots',
  'shards',
  'nodes',
  'replicas',
  'exec',
] as const;

/** "(a, b, c)" for a HELP text. */
export function listed(values: readonly string[]): string {
  return `(${values.join(', ')})`;
}
