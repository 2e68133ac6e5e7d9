// What a compare makes of one load: throughput and cost count successful (2xx/3xx) answers only, a warm
// load with none (or with no request sent) measured nothing and fails the round with a reason that names
// what the requests got, and a high error share is flagged in the table and the HTML report.
import { describe, expect, it } from 'vitest';
import { formatCompare } from '../../src/cli/format-compare.js';
import { alwaysOnCost } from '../../src/compare/cost.js';
import { errorWarning, formatValue } from '../../src/compare/format.js';
import {
  ERROR_SHARE_THRESHOLD,
  errorShare,
  loadFigures,
  warmLoadFailure,
} from '../../src/compare/load-figures.js';
import type { LoadResult } from '../../src/compare/load-protocol.js';
import { foldRounds } from '../../src/compare/metrics.js';
import { compareReportHtml } from '../../src/compare/report-html.js';
import { backgroundLoad } from '../../src/compare/stats.js';
import type { CompareResultV3, RuntimeReport } from '../../src/compare/types.js';

/** A load of `ok` successful answers of 1 ms, `statuses` error answers and `connection` errors, in 1 s. */
function load(ok: number, statuses: Record<number, number> = {}, connection = 0): LoadResult {
  const errors = { '5xx': 0, '429': 0, '4xx': 0, connection, timeout: 0 };
  let answeredErrors = 0;
  for (const [status, n] of Object.entries(statuses)) {
    const s = Number(status);
    answeredErrors += n;
    if (s === 429) errors['429'] += n;
    else if (s >= 500) errors['5xx'] += n;
    else errors['4xx'] += n;
  }
  return {
    type: 'result',
    id: 1,
    sent: ok + answeredErrors + connection,
    answered: ok + answeredErrors,
    latenciesMs: Array.from({ length: ok }, () => 1),
    statuses: ok > 0 ? { 200: ok, ...statuses } : { ...statuses },
    errors,
    elapsedMs: 1000,
  };
}

describe('the figures of a load', () => {
  it('counts successful answers only in the throughput, and so in the cost per million', () => {
    const mixed = loadFigures(load(800, { 404: 200 }));
    expect(mixed.throughputRps).toBe(800);
    expect(mixed.requestsAnswered).toBe(1000);
    expect(mixed.errors4xx).toBe(200);
    expect(mixed.errorShare).toBe(0.2);
    // A runtime that answers 404 fast is not cheaper: the cost stands on the successful answers.
    const cost = (rps: number) =>
      alwaysOnCost({ instances: 1, memoryMb: null, cpus: null, throughputRps: rps }).usdPerMillion;
    expect(cost(mixed.throughputRps as number)).toBe(cost(800));
    expect(loadFigures(load(0, { 404: 200 })).throughputRps).toBe(0);
    expect(errorShare(load(0))).toBeNull();
  });

  it('fails a warm load that got no successful answer, naming what it got', () => {
    expect(warmLoadFailure(load(1, { 404: 199 }), '/', 30_000)).toBeNull();
    expect(warmLoadFailure(load(0, { 404: 200 }), '/', 30_000)).toBe(
      'every request to / was answered 404 (200 of 200 in the warm load): no successful (2xx/3xx) answer to measure',
    );
    expect(warmLoadFailure(load(0, { 503: 5, 404: 10 }, 3), '/api', 30_000)).toBe(
      'no request to /api got a successful (2xx/3xx) answer in the warm load (18 sent: 10 answered 404, 5 answered 503, 3 connection errors): nothing to measure',
    );
    expect(warmLoadFailure(load(0), '/', 0)).toBe(
      'the warm load sent no request to / within its time limit (0 ms): nothing was measured',
    );
  });
});

describe('a high error share', () => {
  const report = (name: string, shares: number[]): RuntimeReport => ({
    runtime: name,
    status: 'ran',
    emulates: null,
    metrics: foldRounds(
      shares.map((errorShare) => ({ p50Ms: 1, errorShare })),
      false,
    ),
    manyErrors: shares.some((s) => s > ERROR_SHARE_THRESHOLD),
    latencyHistogram: [],
    memory: [],
    isolation: '',
    exportLoses: '',
    notes: [],
  });
  const result = (runtimes: RuntimeReport[], rounds: number): CompareResultV3 => ({
    version: 3,
    startedAt: '',
    finishedAt: '',
    machine: {
      cpus: 2,
      cpuModel: 'x',
      memoryBytes: 1,
      node: 'v20',
      platform: 'linux',
      release: '',
      loadAverage: [],
    },
    settings: {
      requests: 1,
      concurrency: 1,
      durationMs: 1000,
      rounds,
      idleMs: 1,
      target: { path: '/', service: 'web' },
    },
    latencyBucketsMs: [],
    baseline: 'process',
    errorShareThreshold: ERROR_SHARE_THRESHOLD,
    runtimes,
    published: [],
    background: backgroundLoad([]),
    noisy: false,
  });

  it('is written as a percentage, and warned about in the table and the HTML report', () => {
    expect(formatValue(0.05, 'share')).toBe('5%');
    expect(formatValue(0.1234, 'share')).toBe('12.3%');
    expect(formatValue(0, 'share')).toBe('0%');
    const flagged = report('container', [0.12]);
    expect(errorWarning(flagged, ERROR_SHARE_THRESHOLD)).toBe(
      "container: 12% of the warm load's requests failed, over 5%: its latency, throughput and cost count the successful (2xx/3xx) answers only (see its notes for what the requests got)",
    );
    expect(errorWarning(report('process', [0.01]), ERROR_SHARE_THRESHOLD)).toBeNull();
    const one = result([report('process', [0.01]), flagged], 1);
    const text = formatCompare(one);
    expect(text).toMatch(/errors: share of requests sent +measured +1% +12% ⚠/);
    expect(text).toContain("⚠ container: 12% of the warm load's requests failed, over 5%");
    expect(text).not.toContain('⚠ process');
    const html = compareReportHtml(one);
    expect(html).toMatch(/<li class="errors" data-runtime="container" data-many-errors="true">/);
    expect(html).toMatch(
      /class="num errors" data-runtime="container" data-metric="errorShare" data-value="0.12"/,
    );
    expect(html).not.toMatch(/data-runtime="process" data-many-errors/);
    // Over several rounds: the rounds over the threshold are named.
    expect(errorWarning(report('sidecar', [0.01, 0.3, 0.06]), ERROR_SHARE_THRESHOLD)).toMatch(
      /^sidecar: over 5% of the warm load's requests failed in round 2 \(30%\), round 3 \(6%\): /,
    );
  });
});
