// The statistics of a compare: percentiles, a latency histogram, the spread of rounds, and how far a
// figure's rounds leave it uncertain; the other work on the machine folded over the idle periods. Pure.
import type { BackgroundLoad } from './types.js';

/** The p-th percentile (0–100) of values, nearest-rank on the sorted list; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** The median of the numbers that are there (nulls left out); null when none is. */
export function median(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The mean of the values once the lowest and highest quarter are dropped (at least one at each end from
 * three values on: the median of three, the mean of the middle three of five); null when none is there.
 * It weighs three of five rounds where the median weighs one, and still leaves out a round that a burst of
 * other work on the machine moved.
 */
export function trimmedMean(values: readonly (number | null)[]): number | null {
  const sorted = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const drop = sorted.length >= 3 ? Math.max(1, Math.floor(sorted.length / 4)) : 0;
  const kept = sorted.slice(drop, sorted.length - drop);
  return kept.reduce((sum, v) => sum + v, 0) / kept.length;
}

/**
 * How many times larger one set of single measurements is than another: the median of every value over
 * every baseline value (the Hodges–Lehmann estimate, on ratios). For single requests, where each one moves
 * by a millisecond on its own, it weighs every request instead of one median of each side; baseline values
 * not above 0 are left out; null when nothing is left on either side.
 */
export function pairwiseRatio(values: readonly number[], baseline: readonly number[]): number | null {
  const ratios: number[] = [];
  for (const b of baseline) {
    if (!(b > 0)) continue;
    for (const v of values) ratios.push(v / b);
  }
  return median(ratios);
}

/** How far apart two compares on the same machine may put a figure or a ratio (a share: ±20%). */
export const AGREEMENT_BOUND = 0.2;

/**
 * A figure is flagged as noisy when its 95% interval, estimated from its rounds, reaches more than this far
 * from it (a share of the figure): 20%/√2, about 14.1%. Two runs that each know a figure to ±h put their two
 * values within h·√2 of each other 95% of the time (the 95% interval of a difference of two independent
 * estimates of equal uncertainty; a statement of probability, not a bound), so a figure known only to more
 * than ±14.1% may well land more than the ±20% of AGREEMENT_BOUND away in another run. Until 2026-12-07 the
 * mark stood at ±20% itself, under which a figure known to ±16.1% went unmarked (the function's first request
 * after ready, in a pair of that day that landed 22% apart).
 */
export const NOISE_THRESHOLD = AGREEMENT_BOUND / Math.SQRT2;

/**
 * How far the rounds of one figure disagree: (max − min) / median, or null with fewer than two rounds
 * (or a median of 0, where a ratio says nothing). Shown beside the figure; it grows with the number of
 * rounds, so it is not what the noise flag stands on.
 */
export function spread(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length < 2) return null;
  const mid = median(present) as number;
  if (mid === 0) return null;
  return (Math.max(...present) - Math.min(...present)) / Math.abs(mid);
}

/** Student's t for a two-sided 95% interval, by degrees of freedom (1 to 10); beyond, 1.96 + 2.4 / df. */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

export function t95(df: number): number {
  return df >= 1 && df <= T95.length ? (T95[df - 1] as number) : 1.96 + 2.4 / Math.max(1, df);
}

/** The q-quantile (0–1) of sorted values, interpolated between ranks (R's type 7). */
function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

/**
 * The half-width of a figure's 95% interval from its rounds, as a share of their median: Student's t for
 * rounds − 1 degrees of freedom times the standard error, the standard deviation estimated robustly (the
 * larger of 1.4826 × the median absolute deviation and the interquartile range / 1.349: one round that a
 * burst of other work moved does not widen it alone, and rounds that mostly tie do not hide the others)
 * over √rounds. Unlike the spread, it narrows as rounds are added; two rounds say little (t = 12.7). Null
 * with fewer than two rounds or a median of 0.
 */
export function uncertainty(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length < 2) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const mid = median(sorted) as number;
  if (mid === 0) return null;
  const mad = median(sorted.map((v) => Math.abs(v - mid))) as number;
  const iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
  const sd = Math.max(1.4826 * mad, iqr / 1.349);
  return (t95(present.length - 1) * sd) / Math.sqrt(present.length) / Math.abs(mid);
}

/** True when a figure's 95% interval from its rounds reaches past NOISE_THRESHOLD of it. */
export function isNoisy(values: readonly (number | null)[], threshold = NOISE_THRESHOLD): boolean {
  const u = uncertainty(values);
  return u !== null && u > threshold;
}

/** Over this share of the machine's CPU used by other work while the runtimes sat idle, the run was noisy. */
export const BACKGROUND_THRESHOLD = 0.1;
/**
 * Over this share of the machine's CPU used by other work in one warm load (the worst), the run was noisy.
 * During a load the compare keeps the cores busy itself, so other work there takes CPU from the runtime
 * measured: a fifth of the machine moves that round's figures by about as much as the ±20% two compares
 * must agree within. It is the worst load, not the mean (as for the idle periods): a burst of a minute falls
 * in one or two loads and moves their rounds. The kernel's own work for the load (the loopback network's
 * softirq time, 2-4% of the machine in a warm load of the demo, 2026-12-06) belongs to no process and is
 * counted as other work: the threshold leaves room for it.
 */
export const LOAD_BACKGROUND_THRESHOLD = 0.2;
/**
 * Idle periods shorter than this are not measured for other work: the kernel counts CPU time in ticks of
 * 10 ms, and 40 ticks (200 ms on 2 cores) would make 4 ticks that fell on the wrong side 10% of the machine.
 */
export const BACKGROUND_MIN_PERIOD_MS = 1000;

/** One idle period's share of the machine's CPU used by other work (null: not read), and where it was. */
export interface IdlePeriod {
  runtime: string;
  round: number;
  share: number | null;
}

/** The other work measured in every period, as one figure (the mean share) and its worst period. Pure. */
export function backgroundLoad(
  periods: readonly IdlePeriod[],
  threshold = BACKGROUND_THRESHOLD,
): BackgroundLoad {
  const read = periods.filter((p): p is IdlePeriod & { share: number } => p.share !== null);
  const worst = read.reduce<(typeof read)[number] | null>((w, p) => (w && w.share >= p.share ? w : p), null);
  return {
    share: read.length > 0 ? read.reduce((sum, p) => sum + p.share, 0) / read.length : null,
    max: worst ? worst.share : null,
    worst: worst ? { runtime: worst.runtime, round: worst.round } : null,
    periods: read.length,
    threshold,
  };
}

/**
 * Whether the machine was too busy to trust a compare: other work over BACKGROUND_THRESHOLD of its CPU on
 * average over the idle periods, or over its `load.threshold` in one warm load. Pure.
 */
export function machineNoisy(b: BackgroundLoad & { load?: BackgroundLoad }): boolean {
  const idle = b.share !== null && b.share > b.threshold;
  const load = b.load !== undefined && b.load.max !== null && b.load.max > b.load.threshold;
  return idle || load;
}

/** Upper bounds (ms) of the latency histogram's buckets: log-spaced from 0.1 ms to 10 s, then everything above. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.1,
  0.2,
  0.3,
  0.5,
  0.75,
  1,
  1.5,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  750,
  1000,
  2000,
  5000,
  10000,
  Number.POSITIVE_INFINITY,
];

/** How many latencies fall in each bucket of LATENCY_BUCKETS_MS (a value ≤ a bound, above the previous). */
export function histogram(
  values: readonly number[],
  bounds: readonly number[] = LATENCY_BUCKETS_MS,
): number[] {
  const counts = bounds.map(() => 0);
  for (const v of values) {
    const i = bounds.findIndex((b) => v <= b);
    const at = i === -1 ? counts.length - 1 : i;
    counts[at] = (counts[at] ?? 0) + 1;
  }
  return counts;
}

/** Two histograms of the same buckets added up. */
export function addHistograms(a: readonly number[], b: readonly number[]): number[] {
  return a.map((n, i) => n + (b[i] ?? 0));
}
