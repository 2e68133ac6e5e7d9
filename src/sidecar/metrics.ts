// Golden metrics (request rate, success rate, latency percentiles) per direction, peer and route, kept as
// histograms with fixed buckets so they can be summed, sent to msup and written as Prometheus text.
// Pure: the clock is passed in. Buckets and quantiles are msup's shared histogram.ts (a pure leaf module,
// the only import of this program outside its folder besides the proxy's upstream pool).
import { bucketIndex, quantile as histogramQuantile } from '../histogram.js';

/** Upper bounds of the latency buckets, in milliseconds (a last bucket holds everything above). */
export const LATENCY_BUCKETS_MS = [
  0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10_000,
] as const;

/** How many seconds the request rate is averaged over. */
export const RATE_WINDOW_S = 10;

/** Routes kept apart per direction and peer; more are counted under `other`. */
export const MAX_ROUTES = 50;

export type Direction = 'inbound' | 'outbound';

/** One series: what the sidecar counted for a direction, a peer (outbound) and a route. */
export interface SeriesSnapshot {
  direction: Direction;
  /** The service called (outbound), or '' (inbound). */
  peer: string;
  route: string;
  requests: number;
  /** Answered with a status below 500. */
  successes: number;
  /** Tries after the first (outbound). */
  retries: number;
  /** Counts per bucket of LATENCY_BUCKETS_MS, plus one for everything above (not cumulative). */
  buckets: number[];
  sumMs: number;
  /** Requests per second over the last RATE_WINDOW_S seconds. */
  rps: number;
}

/** A route as metrics name it: the first segment of the path (`/users/42?x` → `/users`), bounded in length. */
export function routeOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0] ?? '/';
  const first = /^\/[^/]*/.exec(path)?.[0] ?? '/';
  return first.length > 64 ? first.slice(0, 64) : first;
}

class Series {
  requests = 0;
  successes = 0;
  retries = 0;
  sumMs = 0;
  readonly buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  /** Requests per whole second, for the rate: [second, count] of the last RATE_WINDOW_S seconds. */
  readonly seconds: [number, number][] = [];

  record(ok: boolean, ms: number, second: number, retries: number): void {
    this.requests++;
    this.retries += retries;
    if (ok) this.successes++;
    this.sumMs += ms;
    const i = bucketIndex(LATENCY_BUCKETS_MS, ms);
    this.buckets[i] = (this.buckets[i] as number) + 1;
    const last = this.seconds[this.seconds.length - 1];
    if (last && last[0] === second) last[1]++;
    else this.seconds.push([second, 1]);
    while (this.seconds.length > RATE_WINDOW_S + 1) this.seconds.shift();
  }

  rps(second: number, startedSecond: number): number {
    // Whole seconds before this one, and not before the sidecar started.
    const from = Math.max(second - RATE_WINDOW_S, startedSecond);
    const span = second - from;
    if (span <= 0) return 0;
    let count = 0;
    for (const [s, n] of this.seconds) if (s >= from && s < second) count += n;
    return Math.round((count / span) * 100) / 100;
  }
}

export class GoldenMetrics {
  readonly #now: () => number;
  readonly #series = new Map<string, Series & { direction: Direction; peer: string; route: string }>();
  readonly #routes = new Map<string, number>();
  readonly #startedSecond: number;

  constructor(now: () => number) {
    this.#now = now;
    this.#startedSecond = Math.floor(now() / 1000);
  }

  /** One request done: `status` 0 when no answer came (a failure); `retries` sent after its first try. */
  record(direction: Direction, peer: string, route: string, status: number, ms: number, retries = 0): void {
    const scope = `${direction} ${peer}`;
    let key = `${scope} ${route}`;
    let series = this.#series.get(key);
    if (!series) {
      const routes = this.#routes.get(scope) ?? 0;
      if (routes >= MAX_ROUTES) {
        route = 'other';
        key = `${scope} ${route}`;
        series = this.#series.get(key);
      } else this.#routes.set(scope, routes + 1);
      if (!series) {
        series = Object.assign(new Series(), { direction, peer, route });
        this.#series.set(key, series);
      }
    }
    series.record(status > 0 && status < 500, ms, Math.floor(this.#now() / 1000), retries);
  }

  snapshot(): SeriesSnapshot[] {
    const second = Math.floor(this.#now() / 1000);
    return [...this.#series.values()].map((s) => ({
      direction: s.direction,
      peer: s.peer,
      route: s.route,
      requests: s.requests,
      successes: s.successes,
      retries: s.retries,
      buckets: [...s.buckets],
      sumMs: Math.round(s.sumMs * 1000) / 1000,
      rps: s.rps(second, this.#startedSecond),
    }));
  }
}

/**
 * The q-quantile (0..1) of a histogram, interpolated inside its bucket as Prometheus'
 * histogram_quantile does; null without requests. Above the last bound, the last bound.
 */
export function quantile(buckets: readonly number[], q: number): number | null {
  const value = histogramQuantile(LATENCY_BUCKETS_MS, buckets, q);
  return Number.isNaN(value) ? null : Math.round(value * 1000) / 1000;
}

/** What status shows of a series: rate, success rate and latency percentiles in ms. */
export interface GoldenSummary {
  requests: number;
  /** Tries after the first (outbound). */
  retries: number;
  rps: number;
  /** Share answered below 500, 0..1 (null without requests). */
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export function summarize(
  series: Pick<SeriesSnapshot, 'requests' | 'successes' | 'retries' | 'buckets' | 'rps'>,
): GoldenSummary {
  return {
    requests: series.requests,
    retries: series.retries,
    rps: series.rps,
    successRate:
      series.requests === 0 ? null : Math.round((series.successes / series.requests) * 10_000) / 10_000,
    p50Ms: quantile(series.buckets, 0.5),
    p95Ms: quantile(series.buckets, 0.95),
    p99Ms: quantile(series.buckets, 0.99),
  };
}
