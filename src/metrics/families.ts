// msup's metric families, built from what the supervisor and the proxy know at a scrape: instance state
// and readiness, restarts, CPU and memory, answers and durations, attempts, retries, ejections, held
// requests; then the runtimes' own families, checked and labelled. Neutral shapes (MetricFamily), which
// the admin listener renders as Prometheus text and the dashboard reads. Pure.
import type { HistogramSample, InstanceInfo, InstanceState, MetricFamily, MetricSample } from '../types.js';

const STATES: readonly InstanceState[] = [
  'waiting',
  'starting',
  'running',
  'backoff',
  'crash-loop',
  'stopping',
  'stopped',
  'exited',
];

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The proxy's view of one service (structurally what proxy/ keeps; metrics/ does not import it). */
export interface ProxyView {
  /** By instance index. */
  counters: Readonly<
    Record<
      number,
      {
        inFlight: number;
        requests: number;
        errors: number;
        retries: number;
        ejections: number;
        ejected: boolean;
      }
    >
  >;
  /** Answers per instance index: by status class (1xx..5xx), and the duration histogram. */
  answers: readonly {
    index: number;
    classes: ArrayLike<number>;
    duration: { bounds: readonly number[]; counts: ArrayLike<number>; sum: number };
  }[];
  /** msup's own answers, by status. */
  own: readonly (readonly [status: number, count: number])[];
  held: number;
  heldNow: number;
}

export interface ServiceView {
  name: string;
  instances: readonly InstanceInfo[];
  /** Absent for a service without a port or a route. */
  proxy: ProxyView | undefined;
}

/** A runtime's families for one instance, before the supervisor labels them. */
export interface InstanceFamilies {
  service: string;
  index: number;
  families: readonly MetricFamily[];
}

export interface MetricsInput {
  services: readonly ServiceView[];
  /** By instance id: CPU used so far (ms) and resident memory (bytes). */
  usage: ReadonlyMap<string, { cpuMs: number; rssBytes: number }>;
  /** Oldest first: an instance may be listed twice during a rolling restart (the newest counts). */
  runtimes: readonly InstanceFamilies[];
}

type Labels = Record<string, string>;

function family(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: MetricSample[],
): MetricFamily {
  return { name, type, help, samples };
}

/** msup's own families (service and instance labels on every sample), in a stable order. */
export function ownFamilies(input: MetricsInput): MetricFamily[] {
  const s = {
    state: [] as MetricSample[],
    ready: [] as MetricSample[],
    restarts: [] as MetricSample[],
    started: [] as MetricSample[],
    cpu: [] as MetricSample[],
    rss: [] as MetricSample[],
    answers: [] as MetricSample[],
    duration: [] as HistogramSample[],
    own: [] as MetricSample[],
    attempts: [] as MetricSample[],
    failures: [] as MetricSample[],
    retries: [] as MetricSample[],
    ejections: [] as MetricSample[],
    inFlight: [] as MetricSample[],
    ejected: [] as MetricSample[],
    held: [] as MetricSample[],
    heldNow: [] as MetricSample[],
  };
  for (const service of input.services) {
    for (const i of service.instances) {
      const labels: Labels = { service: service.name, instance: String(i.index) };
      for (const state of STATES)
        s.state.push({ labels: { ...labels, state }, value: i.state === state ? 1 : 0 });
      s.ready.push({ labels, value: i.ready ? 1 : 0 });
      s.restarts.push({ labels, value: i.restarts });
      if (i.startedAt !== null) s.started.push({ labels, value: i.startedAt / 1000 });
      const usage = i.id === null ? undefined : input.usage.get(i.id);
      if (usage) {
        s.cpu.push({ labels, value: usage.cpuMs / 1000 });
        s.rss.push({ labels, value: usage.rssBytes });
      }
    }
    const proxy = service.proxy;
    if (!proxy) continue;
    const base = { service: service.name };
    for (const a of proxy.answers) {
      const labels: Labels = { ...base, instance: String(a.index) };
      CLASSES.forEach((code, c) => {
        s.answers.push({ labels: { ...labels, code }, value: a.classes[c] ?? 0 });
      });
      s.duration.push({ labels, ...a.duration });
    }
    for (const [status, count] of proxy.own) {
      s.own.push({ labels: { ...base, code: String(status) }, value: count });
    }
    for (const [index, c] of Object.entries(proxy.counters)) {
      const labels: Labels = { ...base, instance: index };
      s.attempts.push({ labels, value: c.requests });
      s.failures.push({ labels, value: c.errors });
      s.retries.push({ labels, value: c.retries });
      s.ejections.push({ labels, value: c.ejections });
      // The counters of an index scaled away stay (Prometheus' rate() needs them); the gauges of an
      // instance that is no more would read as a live instance with nothing in flight.
      if (c.inFlight === 0 && !service.instances.some((i) => String(i.index) === index)) continue;
      s.inFlight.push({ labels, value: c.inFlight });
      s.ejected.push({ labels, value: c.ejected ? 1 : 0 });
    }
    s.held.push({ labels: base, value: proxy.held });
    s.heldNow.push({ labels: base, value: proxy.heldNow });
  }
  return [
    family(
      'msup_instance_state',
      'gauge',
      'The state of an instance: 1 for its state, 0 for the others.',
      s.state,
    ),
    family(
      'msup_instance_ready',
      'gauge',
      'Whether an instance is ready (in the proxy’s rotation).',
      s.ready,
    ),
    family(
      'msup_instance_restarts_total',
      'counter',
      'Times an instance was restarted or replaced.',
      s.restarts,
    ),
    family(
      'msup_instance_start_time_seconds',
      'gauge',
      'When the current process of an instance started, in seconds since the epoch.',
      s.started,
    ),
    family(
      'msup_instance_cpu_seconds_total',
      'counter',
      'CPU time used by everything the current incarnation of an instance runs (resets when it restarts).',
      s.cpu,
    ),
    family(
      'msup_instance_resident_memory_bytes',
      'gauge',
      'Resident memory of everything an instance runs.',
      s.rss,
    ),
    family(
      'msup_http_responses_total',
      'counter',
      'HTTP responses instances gave through the proxy, by status class.',
      s.answers,
    ),
    {
      name: 'msup_http_request_duration_seconds',
      type: 'histogram',
      help: 'From an HTTP request reaching msup to the end of the response an instance gave (holds and retries included).',
      samples: s.duration,
    },
    family(
      'msup_proxy_responses_total',
      'counter',
      'Answers msup gave itself, by status: 400, 408, 502, 503, 504; 499 when the client left before any answer.',
      s.own,
    ),
    family(
      'msup_upstream_attempts_total',
      'counter',
      'Attempts sent to an instance: HTTP requests and their retries, WebSocket upgrades, TCP connections.',
      s.attempts,
    ),
    family(
      'msup_upstream_failures_total',
      'counter',
      'Attempts that failed: refused, reset, timed out or answered with garbage.',
      s.failures,
    ),
    family(
      'msup_upstream_retries_total',
      'counter',
      'Attempts that retried a request another instance had failed.',
      s.retries,
    ),
    family(
      'msup_ejections_total',
      'counter',
      'Times passive health checks took an instance out of rotation.',
      s.ejections,
    ),
    family(
      'msup_in_flight',
      'gauge',
      'Requests (TCP mode: connections) an instance is serving now, upgraded connections included.',
      s.inFlight,
    ),
    family(
      'msup_ejected',
      'gauge',
      'Whether passive health checks have an instance out of rotation now.',
      s.ejected,
    ),
    family(
      'msup_held_total',
      'counter',
      'Times a request, upgrade or connection waited for a ready instance (the hold window).',
      s.held,
    ),
    family(
      'msup_held',
      'gauge',
      'Requests, upgrades and connections waiting now for a ready instance.',
      s.heldNow,
    ),
  ];
}
