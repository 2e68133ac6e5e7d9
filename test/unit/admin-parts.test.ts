// The admin listener's pure parts: who may read and act (Host, Origin, token), the actions' bodies,
// histograms and their quantiles, the metric families (runtimes' families checked and labelled), the
// dashboard's rates from two samples, and --admin on the command line.
import { describe, expect, it } from 'vitest';
import { parseAction } from '../../src/admin/actions.js';
import { DashboardSampler } from '../../src/admin/dashboard-state.js';
import { hostAllowed, refuseAction, tokenMatches } from '../../src/admin/guard.js';
import { parseCliArgs } from '../../src/cli/args.js';
import { MsupError } from '../../src/errors.js';
import { bucketIndex, Histogram, quantile } from '../../src/histogram.js';
import type { ServiceView } from '../../src/metrics/families.js';
import { buildFamilies } from '../../src/metrics/runtime-families.js';
import type { InstanceInfo, MetricFamily, MetricSample, ServiceInfo } from '../../src/types.js';

const settings = { host: '127.0.0.1', port: 9100, token: 'a'.repeat(43) };

describe('guard', () => {
  it('serves a Host that names the listener: an address, localhost, the configured name, on any port', () => {
    expect(hostAllowed('127.0.0.1:9100', settings)).toBe(true);
    expect(hostAllowed('[::1]:9100', settings)).toBe(true);
    expect(hostAllowed('localhost:9100', settings)).toBe(true);
    expect(hostAllowed('app.localhost:9100', settings)).toBe(true);
    expect(hostAllowed('box.lan:9100', { ...settings, host: 'box.lan' })).toBe(true);
    // DNS rebinding: a name the attacker controls, resolving to 127.0.0.1.
    expect(hostAllowed('evil.example:9100', settings)).toBe(false);
    // A tunnel's own port (ssh -L 9200:127.0.0.1:9100): before, 421 for every request.
    expect(hostAllowed('127.0.0.1:9200', settings)).toBe(true);
    expect(hostAllowed('localhost', settings)).toBe(true);
    expect(hostAllowed('evil.example', settings)).toBe(false);
    expect(hostAllowed(undefined, settings)).toBe(false);
    expect(hostAllowed('a b', settings)).toBe(false);
  });

  it('serves the names admin.allowedHosts gives, a leading dot for a domain and every name under it', () => {
    const allowing = { ...settings, host: '0.0.0.0', allowedHosts: ['myhost', '.Example.COM', 'box.lan.'] };
    expect(hostAllowed('myhost:9090', settings)).toBe(false);
    expect(hostAllowed('myhost:9090', allowing)).toBe(true);
    expect(hostAllowed('MyHost.', allowing)).toBe(true);
    expect(hostAllowed('example.com', allowing)).toBe(true);
    expect(hostAllowed('a.b.example.com:80', allowing)).toBe(true);
    expect(hostAllowed('box.lan', allowing)).toBe(true);
    expect(hostAllowed('notexample.com', allowing)).toBe(false);
    expect(hostAllowed('example.com.evil', allowing)).toBe(false);
    expect(hostAllowed('myhost.evil', allowing)).toBe(false);
    expect(hostAllowed('sub.myhost', allowing)).toBe(false);
  });

  it('lets an action run with the token and its own origin (or none) only', () => {
    const token = settings.token;
    const host = '127.0.0.1:9100';
    expect(refuseAction({ host, token }, settings)).toBeUndefined();
    expect(refuseAction({ host, token, origin: 'http://127.0.0.1:9100' }, settings)).toBeUndefined();
    expect(refuseAction({ host, origin: 'http://127.0.0.1:9100' }, settings)?.status).toBe(403);
    expect(refuseAction({ host, token: 'b'.repeat(43) }, settings)?.status).toBe(403);
    expect(refuseAction({ host, token, origin: 'http://evil.example' }, settings)?.reason).toBe(
      'requests from http://evil.example may not act on this msup',
    );
    expect(refuseAction({ host, token, origin: 'http://127.0.0.1:8000' }, settings)?.status).toBe(403);
    expect(refuseAction({ host, token, origin: 'null' }, settings)?.status).toBe(403);
    expect(refuseAction({ host: 'evil.example:9100', token }, settings)?.status).toBe(421);
    expect(tokenMatches(undefined, token)).toBe(false);
    expect(tokenMatches('short', token)).toBe(false);
  });
});

describe('actions', () => {
  it('are checked before anything runs', () => {
    expect(parseAction('restart', {})).toEqual({ action: 'restart' });
    expect(parseAction('restart', { service: 'web' })).toEqual({ action: 'restart', service: 'web' });
    expect(parseAction('scale', { service: 'web', count: 3 })).toEqual({
      action: 'scale',
      service: 'web',
      count: 3,
    });
    expect(parseAction('scale', { service: 'web', count: 1.5 })).toHaveProperty('problem');
    expect(parseAction('scale', { count: 1 })).toEqual({ problem: '"service": scale needs a service name' });
    expect(parseAction('restart', { service: 3 })).toHaveProperty('problem');
    expect(parseAction('restart', [])).toEqual({ problem: 'expected a JSON object as the request body' });
    expect(parseAction('delete', {})).toEqual({
      problem: 'no action "delete" (actions: restart, scale, stop)',
    });
  });
});

describe('histograms', () => {
  it('count each value in the first bucket at or above it, +Inf last', () => {
    const bounds = [0.1, 0.5, 1];
    expect([0, 0.1, 0.2, 0.5, 1, 7].map((v) => bucketIndex(bounds, v))).toEqual([0, 0, 1, 1, 2, 3]);
    const h = new Histogram(bounds);
    for (const v of [0.05, 0.3, 0.3, 2]) h.observe(v);
    expect([...h.counts]).toEqual([1, 2, 0, 1]);
    expect(h.count).toBe(4);
    expect(h.sum).toBeCloseTo(2.65);
  });

  it('answer quantiles as histogram_quantile does: linear within the bucket, the top bound above it', () => {
    const bounds = [1, 2, 4];
    expect(quantile(bounds, [0, 10, 0, 0], 0.5)).toBe(1.5);
    expect(quantile(bounds, [10, 0, 10, 0], 0.75)).toBe(3);
    expect(quantile(bounds, [0, 0, 0, 5], 0.99)).toBe(4);
    expect(quantile(bounds, [0, 0, 0, 0], 0.5)).toBeNaN();
  });
});

const instance = (index: number, extra: Partial<InstanceInfo> = {}): InstanceInfo => ({
  service: 'web',
  index,
  runtime: 'process',
  id: `p${index}`,
  pid: 100 + index,
  endpoint: null,
  port: null,
  state: 'running',
  ready: true,
  restarts: 0,
  lastExit: null,
  startedAt: 1_000_000,
  lastProbe: null,
  ...extra,
});

describe('metric families', () => {
  const service: ServiceView = { name: 'web', instances: [instance(0)], proxy: undefined };
  const samples = (families: MetricFamily[], name: string) =>
    families.find((f) => f.name === name)?.samples as MetricSample[] | undefined;

  it('keep the counters of an index scaled away, not its gauges', () => {
    const counters = { inFlight: 0, requests: 5, errors: 0, retries: 0, ejections: 0, ejected: false };
    const scaled: ServiceView = {
      name: 'web',
      instances: [instance(0)],
      proxy: { counters: { 0: counters, 1: counters }, answers: [], own: [], held: 0, heldNow: 0 },
    };
    const { families } = buildFamilies({ services: [scaled], usage: new Map(), runtimes: [] });
    const instances = (name: string) => samples(families, name)?.map((s) => s.labels.instance);
    expect(instances('msup_upstream_attempts_total')).toEqual(['0', '1']);
    // Instance 1 is gone: it read as a live instance with nothing in flight, not ejected.
    expect(instances('msup_in_flight')).toEqual(['0']);
    expect(instances('msup_ejected')).toEqual(['0']);
  });

  it("label a runtime's families with the service and instance", () => {
    const { families, problems } = buildFamilies({
      services: [service],
      usage: new Map(),
      runtimes: [
        {
          service: 'web',
          index: 0,
          families: [
            {
              name: 'msup_function_cold_starts_total',
              help: 'h',
              type: 'counter',
              samples: [{ labels: {}, value: 2 }],
            },
          ],
        },
      ],
    });
    expect(problems).toEqual([]);
    expect(samples(families, 'msup_function_cold_starts_total')).toEqual([
      { labels: { service: 'web', instance: '0' }, value: 2 },
    ]);
  });

  it("count an instance listed twice (a rolling restart: the current one, then its replacement) once, as the replacement's", () => {
    const requests = (value: number): MetricFamily[] => [
      { name: 'msup_sidecar_requests_total', help: 'h', type: 'counter', samples: [{ labels: {}, value }] },
    ];
    const { families } = buildFamilies({
      services: [service],
      usage: new Map(),
      runtimes: [
        { service: 'web', index: 0, families: requests(40) },
        { service: 'web', index: 1, families: requests(7) },
        { service: 'web', index: 0, families: requests(2) },
      ],
    });
    expect(samples(families, 'msup_sidecar_requests_total')).toEqual([
      { labels: { service: 'web', instance: '0' }, value: 2 },
      { labels: { service: 'web', instance: '1' }, value: 7 },
    ]);
  });

  it('leave out what would break the text: a taken name, a reserved or bad label, a bad histogram', () => {
    const counter = (name: string, labels: Record<string, string> = {}): MetricFamily => ({
      name,
      help: 'h',
      type: 'counter',
      samples: [{ labels, value: 1 }],
    });
    const { families, problems } = buildFamilies({
      services: [service],
      usage: new Map(),
      runtimes: [
        {
          service: 'web',
          index: 0,
          families: [
            counter('msup_instance_restarts_total'),
            counter('bad name'),
            counter('x_total', { instance: '9' }),
            counter('y_total', { 'bad-label': 'v' }),
            {
              name: 'z_seconds',
              help: 'h',
              type: 'histogram',
              samples: [{ labels: {}, bounds: [1, 2], counts: [1, 1], sum: 1 }],
            },
            // prom-client's own process metrics share the scrape: a second one made every scrape a 500.
            counter('process_cpu_seconds_total'),
            counter('nodejs_heap_size_total_bytes'),
            // promtool refuses both.
            { name: 'q_total', help: 'h', type: 'gauge', samples: [{ labels: {}, value: 1 }] },
            {
              name: 'w_seconds',
              help: 'h',
              type: 'histogram',
              samples: [{ labels: {}, bounds: [1, Number.POSITIVE_INFINITY], counts: [1, 1, 0], sum: 1 }],
            },
          ],
        },
      ],
    });
    expect(problems).toEqual([
      'web#0: metric "msup_instance_restarts_total" left out: msup uses this name',
      'web#0: metric "bad name" left out: not a valid metric name',
      `web#0: metric "x_total" left out: label "instance" is msup's own`,
      'web#0: metric "y_total" left out: label "bad-label" is not a valid label name',
      'web#0: metric "z_seconds" left out: a histogram needs one count per bound, plus +Inf',
      `web#0: metric "process_cpu_seconds_total" left out: msup's process metrics use this prefix`,
      `web#0: metric "nodejs_heap_size_total_bytes" left out: msup's process metrics use this prefix`,
      'web#0: metric "q_total" left out: a gauge may not end in _total',
      'web#0: metric "w_seconds" left out: histogram bounds must be finite (+Inf is added)',
    ]);
    expect(families.map((f) => f.name)).not.toContain('x_total');
    expect(samples(families, 'msup_instance_restarts_total')).toHaveLength(1);
  });
});

describe('the dashboard sampler', () => {
  it('turns counters into rates, latency quantiles and CPU over the time between two samples', () => {
    const bounds = [0.01, 0.1, 1];
    const families = (answers: number, errors: number, counts: number[], cpu: number): MetricFamily[] => [
      {
        name: 'msup_http_responses_total',
        help: '',
        type: 'counter',
        samples: [
          { labels: { service: 'web', instance: '0', code: '2xx' }, value: answers },
          { labels: { service: 'web', instance: '0', code: '5xx' }, value: errors },
        ],
      },
      {
        name: 'msup_http_request_duration_seconds',
        help: '',
        type: 'histogram',
        samples: [{ labels: { service: 'web', instance: '0' }, bounds, counts, sum: 0 }],
      },
      {
        name: 'msup_instance_cpu_seconds_total',
        help: '',
        type: 'counter',
        samples: [{ labels: { service: 'web', instance: '0' }, value: cpu }],
      },
    ];
    const services: ServiceInfo[] = [
      {
        name: 'web',
        url: 'http://127.0.0.1:1',
        stderrTail: [],
        instances: [instance(0, { startedAt: 1000 })],
      },
    ];
    const sampler = new DashboardSampler();
    const first = sampler.sample(families(100, 0, [100, 0, 0, 0], 1), services, 10_000);
    expect(first.services[0]).toMatchObject({ rps: null, p50: null, errors: null });
    const second = sampler.sample(families(300, 10, [100, 200, 10, 0], 1.5), services, 12_000);
    expect(second.services[0]).toMatchObject({ rps: 105, errors: 5 });
    // 210 new observations: 200 in (0.01, 0.1], 10 in (0.1, 1].
    expect(second.services[0]?.p50).toBeCloseTo(0.01 + 0.09 * (105 / 200));
    expect(second.services[0]?.p99).toBeCloseTo(0.1 + 0.9 * ((0.99 * 210 - 200) / 10));
    expect(second.services[0]?.instances[0]).toMatchObject({ cpuPercent: 25, uptimeMs: 11_000 });
  });

  it('gives a service with a front and no request yet a rate of 0, one without a front none', () => {
    const sampler = new DashboardSampler();
    const services: ServiceInfo[] = [
      {
        name: 'quiet',
        url: 'http://127.0.0.1:1',
        stderrTail: [],
        instances: [instance(0, { startedAt: 1000 })],
      },
      { name: 'worker', url: null, stderrTail: [], instances: [instance(0, { startedAt: 1000 })] },
    ];
    sampler.sample([], services, 10_000);
    const second = sampler.sample([], services, 12_000);
    // It stayed null (no rate, no charts) until the service's first request.
    expect(second.services.map((s) => [s.name, s.rps, s.errors])).toEqual([
      ['quiet', 0, 0],
      ['worker', null, null],
    ]);
  });
});

describe('--admin', () => {
  it('takes [HOST:]PORT, or --no-admin', () => {
    expect(parseCliArgs(['start', '--admin', '9100']).admin).toEqual({ port: 9100 });
    expect(parseCliArgs(['start', '--admin', '0.0.0.0:0']).admin).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseCliArgs(['start', '--admin=[::1]:9100']).admin).toEqual({ host: '::1', port: 9100 });
    expect(parseCliArgs(['start', '--no-admin']).admin).toBe(false);
    expect(parseCliArgs(['start']).admin).toBeUndefined();
    for (const bad of [
      ['--admin', 'x'],
      ['--admin', '70000'],
      ['--admin', '9100', '--no-admin'],
    ]) {
      expect(() => parseCliArgs(['start', ...bad])).toThrow(MsupError);
    }
    expect(() => parseCliArgs(['start', '--admin', 'host:'])).toThrow(/expected \[HOST:\]PORT/);
  });
});
