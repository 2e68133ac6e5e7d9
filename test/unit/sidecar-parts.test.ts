// The sidecar's pure parts, driven exactly: circuit breaker and retry budget on an injected clock, the
// balancer on injected randomness, trace context, the latency histograms, and how a failed call is
// classified for a retry.
import { describe, expect, it } from 'vitest';
import { Balancer, FAILURE_PENALTY_MS } from '../../src/sidecar/balancer.js';
import { CircuitBreaker } from '../../src/sidecar/breaker.js';
import { classify, downstreamHeaders, upstreamHeaders } from '../../src/sidecar/forward.js';
import { acceptPollDelay } from '../../src/sidecar/inbound.js';
import {
  GoldenMetrics,
  LATENCY_BUCKETS_MS,
  MAX_ROUTES,
  quantile,
  routeOf,
  summarize,
} from '../../src/sidecar/metrics.js';
import { RetryBudget } from '../../src/sidecar/retry-budget.js';
import { continueTrace, parseTraceparent } from '../../src/sidecar/traceparent.js';

const clock = (start = 1_000_000) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe("waiting for the app's port", () => {
  it('tries every 20 ms for 2 s (an app that listens just after a try waits at most that)', () => {
    expect(acceptPollDelay(0, 20)).toBe(20);
    expect(acceptPollDelay(300, 20)).toBe(20);
    expect(acceptPollDelay(1999, 20)).toBe(20);
  });

  it('then doubles the interval up to 200 ms for an app that starts slowly', () => {
    const delays: number[] = [];
    let previous = 20;
    for (let i = 0; i < 5; i++) {
      previous = acceptPollDelay(2000 + i * 100, previous);
      delays.push(previous);
    }
    expect(delays).toEqual([40, 80, 160, 200, 200]);
  });
});

describe('circuit breaker', () => {
  const settings = { failures: 3, ejectionMs: 1000, maxEjectionMs: 3000 };
  /** A request sent and failed (or answered) at once. */
  const fail = (b: CircuitBreaker) => b.failure(b.begin());
  const succeed = (b: CircuitBreaker) => b.success(b.begin());

  it('opens after N consecutive failures, half-opens after the ejection, and closes on a successful trial', () => {
    const c = clock();
    const b = new CircuitBreaker(settings, c.now);
    fail(b);
    fail(b);
    succeed(b); // a success resets the count
    fail(b);
    fail(b);
    expect(b.state).toBe('closed');
    fail(b);
    expect(b.state).toBe('open');
    expect(b.allows()).toBe(false);
    c.advance(999);
    expect(b.allows()).toBe(false);
    c.advance(1);
    expect(b.state).toBe('half-open');
    expect(b.allows()).toBe(true);
    const trial = b.begin();
    expect(trial.trial).toBe(true);
    // One trial at a time.
    expect(b.allows()).toBe(false);
    b.success(trial);
    expect(b.state).toBe('closed');
    expect(b.allows()).toBe(true);
  });

  it('ejects for twice as long after each failed trial, up to the maximum, and starts over after a success', () => {
    const c = clock();
    const b = new CircuitBreaker(settings, c.now);
    for (let i = 0; i < 3; i++) fail(b);
    const ejections = [b.ejectionMs];
    for (let round = 0; round < 3; round++) {
      c.advance(b.ejectionMs);
      expect(b.allows()).toBe(true);
      fail(b);
      expect(b.state).toBe('open');
      ejections.push(b.ejectionMs);
    }
    expect(ejections).toEqual([1000, 2000, 3000, 3000]);
    c.advance(3000);
    succeed(b);
    for (let i = 0; i < 3; i++) fail(b);
    expect(b.ejectionMs).toBe(1000);
  });

  it('ignores verdicts of requests sent before the ejection, and frees the trial of a request cut short', () => {
    const c = clock();
    const b = new CircuitBreaker(settings, c.now);
    const early = b.begin();
    for (let i = 0; i < 3; i++) fail(b);
    b.success(early); // late answer of an earlier request
    expect(b.state).toBe('open');
    c.advance(1000);
    b.cancel(b.begin());
    expect(b.allows()).toBe(true);
  });

  it('shows its state, failures in a row, and since when and until when an instance is out', () => {
    const c = clock();
    const b = new CircuitBreaker(settings, c.now);
    fail(b);
    fail(b);
    expect(b.view()).toEqual({
      state: 'closed',
      consecutiveFailures: 2,
      since: null,
      until: null,
      ejections: 0,
    });
    fail(b);
    const since = c.now();
    expect(b.view()).toEqual({
      state: 'open',
      consecutiveFailures: 0,
      since,
      until: since + 1000,
      ejections: 1,
    });
    c.advance(1000);
    expect(b.view().state).toBe('half-open');
    // A failed trial ejects it again: out since the first ejection, for twice as long.
    fail(b);
    expect(b.view()).toEqual({
      state: 'open',
      consecutiveFailures: 0,
      since,
      until: since + 1000 + 2000,
      ejections: 2,
    });
    c.advance(2000);
    succeed(b);
    expect(b.view()).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      since: null,
      until: null,
      ejections: 0,
    });
  });

  it('lets only the trial decide while ejected: late failures of a hung instance do not eject it again', () => {
    const c = clock();
    const b = new CircuitBreaker(settings, c.now);
    // Requests pile up on an instance that hangs; three others fail and eject it for 1 s.
    const hung = Array.from({ length: 5 }, () => b.begin());
    for (let i = 0; i < 3; i++) fail(b);
    c.advance(1000);
    const trial = b.begin();
    // The piled-up requests time out now, one after another, while the trial is on its way.
    for (const ticket of hung) b.failure(ticket);
    expect([b.state, b.ejectionMs]).toEqual(['half-open', 1000]);
    b.success(trial); // it had recovered
    expect(b.state).toBe('closed');
  });
});

describe('retry budget', () => {
  it('allows retries up to the ratio of the requests of the window, plus the minimum per second', () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0 }, c.now);
    expect(budget.tryRetry()).toBe(false);
    for (let i = 0; i < 10; i++) budget.request();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    for (let i = 0; i < 5; i++) budget.request();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    // Ten seconds later the window has forgotten them all.
    c.advance(10_000);
    expect(budget.tryRetry()).toBe(false);

    const floor = new RetryBudget({ ratio: 0, minPerSecond: 1, windowMs: 3000 }, c.now);
    expect([floor.tryRetry(), floor.tryRetry(), floor.tryRetry(), floor.tryRetry()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});

describe('balancer', () => {
  const sequence = (values: number[]) => {
    let i = 0;
    return () => values[i++ % values.length] as number;
  };

  it('least-request: of two random instances, the one with fewer requests in flight', () => {
    const b = new Balancer('least-request', Date.now, sequence([0, 0.99]));
    b.sync(['a', 'b', 'c']);
    b.start('a');
    // Picks a (index 0) and c (index 2 after skipping a): c has none in flight.
    expect(b.pick(() => true)).toBe('c');
    expect(b.pick((key) => key === 'b')).toBe('b');
    expect(b.pick(() => false)).toBeNull();
  });

  it('ewma: latency times load, a slow answer taken at once, a failure counted as slow', () => {
    const c = clock();
    const b = new Balancer('ewma', c.now, sequence([0, 0]));
    b.sync(['a', 'b']);
    b.start('a');
    b.finish('a', 20, true);
    b.start('b');
    b.finish('b', 2, true);
    expect(b.cost('a')).toBe(20);
    expect(b.pick(() => true)).toBe('b');
    b.start('b');
    b.finish('b', 1, false);
    expect(b.cost('b')).toBe(FAILURE_PENALTY_MS);
    // A faster answer eases the estimate down with time.
    c.advance(10_000);
    b.start('b');
    b.finish('b', 1, true);
    expect(b.cost('b')).toBeLessThan(FAILURE_PENALTY_MS);
    expect(b.cost('b')).toBeGreaterThan(1);
    b.sync(['b']);
    expect(b.keys()).toEqual(['b']);
  });

  it('ewma: an instance that failed once is tried again as its estimate fades, not shut out for good', () => {
    const c = clock();
    const b = new Balancer('ewma', c.now, sequence([0, 0]));
    b.sync(['a', 'b']);
    b.start('a');
    b.finish('a', 1, false); // one failure: 250 ms
    const picks: string[] = [];
    // b answers in 1 ms, a request every second; a gets none while b is better.
    for (let s = 0; s < 90; s++) {
      c.advance(1000);
      const key = b.pick(() => true) as string;
      picks.push(key);
      b.start(key);
      b.finish(key, 1, true);
    }
    expect(picks.slice(0, 30).every((k) => k === 'b')).toBe(true);
    // 250 ms fades to b's 1 ms after 10 s × ln 250 (55 s): a is picked again within the 90 s.
    expect(picks.indexOf('a')).toBeGreaterThan(30);
    expect(picks.indexOf('a')).toBeLessThan(90);
  });

  it('ewma: after hours with no answer, requests in flight still count', () => {
    const c = clock();
    const b = new Balancer('ewma', c.now, sequence([0, 0]));
    b.sync(['a', 'b']);
    c.advance(3 * 3600_000); // the faded estimates underflow to 0 without a floor
    b.start('a');
    b.start('a');
    expect(b.cost('a')).toBeGreaterThan(b.cost('b'));
    expect(b.pick(() => true)).toBe('b');
  });
});

describe('traceparent', () => {
  const bytes = (fill: number) => (size: number) => new Uint8Array(size).fill(fill);

  it('continues a valid trace with a new span id, and starts one otherwise', () => {
    const incoming = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-00`;
    expect(continueTrace(incoming, bytes(0x11))).toEqual({
      traceparent: `00-${'ab'.repeat(16)}-${'11'.repeat(8)}-00`,
      traceId: 'ab'.repeat(16),
      spanId: '11'.repeat(8),
      started: false,
    });
    for (const bad of [
      undefined,
      'junk',
      `00-${'0'.repeat(32)}-${'cd'.repeat(8)}-01`,
      `00-${'ab'.repeat(16)}-${'0'.repeat(16)}-01`,
      `ff-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
      `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01-extra`,
    ]) {
      const started = continueTrace(bad, bytes(0x22));
      expect(started.started).toBe(true);
      expect(started.traceparent).toBe(`00-${'22'.repeat(16)}-${'22'.repeat(8)}-01`);
    }
    // A later version's extra fields are allowed; ids in upper case are not (W3C: lowercase hex, else ignored).
    expect(parseTraceparent(`01-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01-more`)?.traceId).toBe(
      'ab'.repeat(16),
    );
    for (const upper of [
      `00-${'AB'.repeat(16)}-${'cd'.repeat(8)}-01`,
      `00-${'ab'.repeat(16)}-${'CD'.repeat(8)}-01`,
      `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-0A`,
    ])
      expect(parseTraceparent(upper)).toBeNull();
  });
});

describe('golden metrics', () => {
  it('names routes by their first path segment', () => {
    expect([routeOf('/users/42?x=1'), routeOf('/'), routeOf('/?q'), routeOf(undefined)]).toEqual([
      '/users',
      '/',
      '/',
      '/',
    ]);
  });

  it('counts every request once, in its latency bucket, with the rate over the last seconds', () => {
    const c = clock(5_000_000);
    const m = new GoldenMetrics(c.now);
    c.advance(1000);
    for (let i = 0; i < 10; i++) m.record('inbound', '', '/a', 200, 0.3);
    m.record('inbound', '', '/a', 503, 40);
    m.record('outbound', 'api', '/a', 0, 2000, 2);
    c.advance(1000);
    const [inbound, outbound] = m.snapshot();
    expect(inbound).toMatchObject({
      direction: 'inbound',
      peer: '',
      route: '/a',
      requests: 11,
      successes: 10,
    });
    expect(inbound?.buckets[LATENCY_BUCKETS_MS.indexOf(0.5)]).toBe(10);
    expect(inbound?.buckets[LATENCY_BUCKETS_MS.indexOf(50)]).toBe(1);
    expect(inbound?.rps).toBe(5.5); // 11 requests over the 2 s since it started
    expect(outbound).toMatchObject({
      direction: 'outbound',
      peer: 'api',
      requests: 1,
      successes: 0,
      retries: 2,
    });
    const summary = summarize(inbound!);
    expect(summary.successRate).toBe(0.9091);
    expect(summary.p50Ms).toBeGreaterThan(0.25);
    expect(summary.p50Ms).toBeLessThanOrEqual(0.5);
    expect(summary.p99Ms).toBeGreaterThan(25);
  });

  it('interpolates quantiles inside a bucket, as histogram_quantile does', () => {
    const buckets = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
    buckets[LATENCY_BUCKETS_MS.indexOf(1)] = 4; // four requests between 0.75 and 1 ms
    expect(quantile(buckets, 0.5)).toBe(0.875);
    expect(quantile(buckets, 1)).toBe(1);
    buckets[LATENCY_BUCKETS_MS.length] = 4;
    expect(quantile(buckets, 0.99)).toBe(10_000);
    expect(quantile(new Array(buckets.length).fill(0), 0.5)).toBeNull();
  });

  it('keeps a bounded number of routes, counting the rest under "other"', () => {
    const m = new GoldenMetrics(Date.now);
    for (let i = 0; i < MAX_ROUTES + 5; i++) m.record('inbound', '', `/r${i}`, 200, 1);
    const routes = m.snapshot().map((s) => s.route);
    expect(routes).toHaveLength(MAX_ROUTES + 1);
    expect(m.snapshot().find((s) => s.route === 'other')?.requests).toBe(5);
  });
});

describe('failure kinds', () => {
  const failure = (code: string, name = 'Error') => Object.assign(new Error(code), { code, name });

  it('counts a failed certificate check as connect: the TLS handshake failed before anything was sent', () => {
    for (const code of [
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'CERT_HAS_EXPIRED',
      'CERT_NOT_YET_VALID',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    ])
      expect([code, classify(failure(code), false)]).toEqual([code, 'connect']);
    expect(classify(failure('', 'MeshIdentityError'), false)).toBe('connect');
    expect(classify(failure('ERR_SSL_WRONG_VERSION_NUMBER'), false)).toBe('connect');
    expect(classify(failure('ECONNREFUSED'), false)).toBe('connect');
    expect(classify(failure('MSUP_CONNECT_TIMEOUT'), false)).toBe('connect');
  });

  it('never counts a failure as connect once some of the request was sent, whatever its code', () => {
    for (const code of ['CERT_HAS_EXPIRED', 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', 'ECONNREFUSED'])
      expect([code, classify(failure(code), true)]).toEqual([code, 'reset']);
    expect(classify(failure('', 'MeshIdentityError'), true)).toBe('reset');
    expect(classify(failure('MSUP_RESPONSE_TIMEOUT'), true)).toBe('timeout');
    expect(classify(failure('UND_ERR_HEADERS_TIMEOUT'), true)).toBe('timeout');
    expect(classify(failure('MSUP_UPSTREAM_CLOSED'), true)).toBe('reset');
    // A close while connecting, and other codes: not known to be safe to send again.
    expect(classify(failure('ECONNRESET'), false)).toBe('reset');
  });
});

describe("a request's head toward the app", () => {
  it('drops the client id in any spelling a CGI-style server reads as it', () => {
    const rawHeaders = [
      'X-Msup-Client-Id',
      'a',
      'x_msup_client_id',
      'b',
      'X_Msup-Client_Id',
      'c',
      'X-Other_One',
      'd',
    ];
    const req = { rawHeaders, headers: {} } as unknown as Parameters<typeof upstreamHeaders>[0];
    expect(upstreamHeaders(req, {}, new Set(['x-msup-client-id']))).toEqual(['X-Other_One', 'd']);
  });

  it('keeps Host and Content-Length when Connection names them, as the front does, and drops the rest it names', () => {
    const rawHeaders = [
      'Host',
      'web.test',
      'Content-Length',
      '3',
      'X-Hop',
      '1',
      'Connection',
      'keep-alive, Content-Length, Host, X-Hop',
    ];
    const req = { rawHeaders, headers: { connection: rawHeaders[7] } } as unknown as Parameters<
      typeof upstreamHeaders
    >[0];
    expect(upstreamHeaders(req, {})).toEqual(['Host', 'web.test', 'Content-Length', '3']);
    expect(
      downstreamHeaders(['Content-Length', '3', 'X-Hop', '1', 'Connection', 'Content-Length, X-Hop']),
    ).toEqual(['Content-Length', '3']);
  });

  it('passes headers named as properties of every object (constructor, __proto__)', () => {
    const rawHeaders = ['constructor', 'a', '__proto__', 'b', 'toString', 'c', 'traceparent', 'old'];
    const req = { rawHeaders, headers: {} } as unknown as Parameters<typeof upstreamHeaders>[0];
    expect(upstreamHeaders(req, { traceparent: 'new' })).toEqual([
      'constructor',
      'a',
      '__proto__',
      'b',
      'toString',
      'c',
      'traceparent',
      'new',
    ]);
  });
});
