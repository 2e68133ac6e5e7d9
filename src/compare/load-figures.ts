// What one load of a compare says: its figures (latency, throughput, errors), how many of its requests
// failed, and whether a warm load measured anything at all. A successful answer is one with a 2xx or 3xx
// status (the load generator's `latenciesMs`); a 4xx, 429 or 5xx answer, a connection error and a timeout
// are failures. Pure.
import type { LoadResult } from './load-protocol.js';
import { percentile } from './stats.js';
import type { MetricId } from './types.js';

/**
 * Over this share of failed requests in a round's warm load, a runtime is flagged (`manyErrors`): its
 * latency, throughput and cost count its successful answers only, and they may be of a different path.
 */
export const ERROR_SHARE_THRESHOLD = 0.05;

/** Answers with a 2xx or 3xx status. */
export function successes(r: LoadResult): number {
  return r.latenciesMs.length;
}

/** Total failed requests of a load: error answers and requests that got none. */
export function failures(r: LoadResult): number {
  return Object.values(r.errors).reduce((a, b) => a + b, 0);
}

/** Failed requests over requests sent; null when none was sent. */
export function errorShare(r: LoadResult): number | null {
  return r.sent > 0 ? failures(r) / r.sent : null;
}

/**
 * Latency percentiles (of the successful answers), throughput (successful answers per second: a runtime
 * that answers errors fast is not faster), errors and their share of one load.
 */
export function loadFigures(r: LoadResult): Partial<Record<MetricId, number | null>> {
  return {
    p50Ms: percentile(r.latenciesMs, 50),
    p95Ms: percentile(r.latenciesMs, 95),
    p99Ms: percentile(r.latenciesMs, 99),
    throughputRps: r.elapsedMs > 0 ? (successes(r) / r.elapsedMs) * 1000 : null,
    requestsSent: r.sent,
    requestsAnswered: r.answered,
    errors5xx: r.errors['5xx'],
    errors429: r.errors['429'],
    errors4xx: r.errors['4xx'],
    errorsConnection: r.errors.connection,
    errorsTimeout: r.errors.timeout,
    errorShare: errorShare(r),
  };
}

/** `200 answered 404, 3 connection errors, 1 timed out`: what the failed requests of a load got. */
export function describeFailures(r: LoadResult): string {
  const answered = Object.entries(r.statuses)
    .map(([status, n]) => ({ status: Number(status), n }))
    .filter(({ status }) => status >= 400)
    .sort((a, b) => b.n - a.n || a.status - b.status)
    .map(({ status, n }) => `${n} answered ${status}`);
  const { connection, timeout } = r.errors;
  return [
    ...answered,
    ...(connection > 0 ? [`${connection} connection error${connection === 1 ? '' : 's'}`] : []),
    ...(timeout > 0 ? [`${timeout} timed out`] : []),
  ].join(', ');
}

/**
 * Why a warm load measured nothing, or null when it got at least one successful answer: it sent no
 * request within its time limit, or every request failed (`every request to /x was answered 404`).
 */
export function warmLoadFailure(r: LoadResult, path: string, durationMs: number): string | null {
  if (successes(r) > 0) return null;
  if (r.sent === 0) {
    return `the warm load sent no request to ${path} within its time limit (${durationMs} ms): nothing was measured`;
  }
  const errorStatuses = Object.keys(r.statuses).filter((s) => Number(s) >= 400);
  const unanswered = r.errors.connection + r.errors.timeout;
  if (errorStatuses.length === 1 && unanswered === 0) {
    return `every request to ${path} was answered ${errorStatuses[0]} (${r.sent} of ${r.sent} in the warm load): no successful (2xx/3xx) answer to measure`;
  }
  return `no request to ${path} got a successful (2xx/3xx) answer in the warm load (${r.sent} sent: ${describeFailures(r)}): nothing to measure`;
}
