/**
 * Summaries of repeated measurements: median, min, max, and percentiles of latency samples.
 */

/** Median, min and max of one measurement over the rounds. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Every round's value, in run order. */
  readonly values: readonly number[];
}

/**
 * The `p`-th percentile (0..100) of `samples` by the nearest-rank method. Throws on an empty
 * array.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Median, min and max of `values`; throws on an empty array. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values: [...values] };
}

/** `list` rotated left by `n` (round r runs the implementations in a shifted order). */
export function rotate<T>(list: readonly T[], n: number): T[] {
  const k = ((n % list.length) + list.length) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
