// Fixed-bucket histograms for what msup measures on hot paths (request durations, cold starts): one
// Float64Array per histogram, nothing allocated per observation; and quantiles read back from bucket
// counts. A leaf module like limits.ts: the proxy, the runtimes and the admin listener use it. Pure.

/**
 * Upper bounds of the duration buckets, in seconds: Prometheus' default buckets with finer steps below
 * 25 ms, where loopback requests land (a last bucket, +Inf, holds everything above).
 */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60,
]);

/** The index of the bucket a value falls in: the first bound at or above it, else the last (+Inf). */
export function bucketIndex(bounds: readonly number[], value: number): number {
  // Binary search: a handful of comparisons whatever the number of buckets.
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (value <= (bounds[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export class Histogram {
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last one is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = DURATION_BUCKETS_S) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const i = bucketIndex(this.bounds, value);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * The q-quantile (0..1) of observations counted per bucket, interpolated linearly within its bucket as
 * Prometheus' histogram_quantile does; the +Inf bucket answers with the highest bound. NaN when empty.
 */
export function quantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] as number;
    if (seen + n >= rank && n > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? Number.NaN;
      const lower = i === 0 ? 0 : (bounds[i - 1] as number);
      const upper = bounds[i] as number;
      return lower + (upper - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return bounds[bounds.length - 1] ?? Number.NaN;
}
