// The sidecars' golden metrics as msup reports them: a summary per route for `msup status --json`
// (an instance's details), and Prometheus text for every sidecar of a run. Pure.
import {
  type GoldenSummary,
  LATENCY_BUCKETS_MS,
  type SeriesSnapshot,
  summarize,
} from '../../sidecar/metrics.js';
import type { HistogramSample, MetricFamily, MetricSample } from '../../types.js';

export interface SidecarMetrics {
  /** Requests the instance served, by route (`/users`). */
  inbound: Record<string, GoldenSummary>;
  /** Calls the instance made, by peer service, then by route. */
  outbound: Record<string, Record<string, GoldenSummary>>;
}

export function summarizeSeries(series: readonly SeriesSnapshot[]): SidecarMetrics {
  const metrics: SidecarMetrics = { inbound: {}, outbound: {} };
  for (const s of series) {
    if (s.direction === 'inbound') metrics.inbound[s.route] = summarize(s);
    else {
      const peer = metrics.outbound[s.peer] ?? {};
      peer[s.route] = summarize(s);
      metrics.outbound[s.peer] = peer;
    }
  }
  return metrics;
}

/**
 * One instance's series as metric families for the admin listener's registry (RunningInstance.metrics):
 * the same names, labels and buckets as prometheusText, without `service` and `instance`, which the
 * supervisor adds.
 */
export function sidecarFamilies(series: readonly SeriesSnapshot[]): MetricFamily[] {
  const requests: MetricSample[] = [];
  const retries: MetricSample[] = [];
  const latency: HistogramSample[] = [];
  for (const s of series) {
    const base = { direction: s.direction, peer: s.peer, route: s.route };
    requests.push({ labels: { ...base, classification: 'success' }, value: s.successes });
    requests.push({ labels: { ...base, classification: 'failure' }, value: s.requests - s.successes });
    if (s.direction === 'outbound') retries.push({ labels: base, value: s.retries });
    latency.push({ labels: base, bounds: BOUNDS_S, counts: s.buckets, sum: s.sumMs / 1000 });
  }
  return [
    { name: 'msup_sidecar_requests_total', help: HELP.requests, type: 'counter', samples: requests },
    { name: 'msup_sidecar_retries_total', help: HELP.retries, type: 'counter', samples: retries },
    {
      name: 'msup_sidecar_request_duration_seconds',
      help: HELP.latency,
      type: 'histogram',
      samples: latency,
    },
  ];
}

const BOUNDS_S = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

const HELP = {
  requests:
    'Requests through a sidecar, by direction, peer, route and outcome (success: answered below 500).',
  retries: 'Tries after the first of calls to other services.',
  latency: 'Time from a request reaching a sidecar to the end of its response.',
};

const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;
}

/** Seconds as Prometheus writes bucket bounds. */
const seconds = (ms: number) => String(ms / 1000);

/**
 * One entry per instance slot (service and index): of those given oldest first, the last, in the order
 * each slot was first seen. Two incarnations of a slot (a rolling restart) would write the same series.
 */
function newestPerSlot<T extends { service: string; index: number }>(instances: readonly T[]): T[] {
  const bySlot = new Map<string, T>();
  for (const i of instances) bySlot.set(JSON.stringify([i.service, i.index]), i);
  return [...bySlot.values()];
}

/**
 * Prometheus text exposition (version 0.0.4) of the sidecars' series: a counter of requests by outcome
 * and a latency histogram, labelled by service, instance, direction, peer and route. An instance listed
 * more than once (the old and the new sidecar of a rolling restart, oldest first) is written once: its
 * last entry, the newest.
 */
export function prometheusText(
  instances: readonly { service: string; index: number; series: readonly SeriesSnapshot[] }[],
): string {
  const requests: string[] = [
    `# HELP msup_sidecar_requests_total ${HELP.requests}`,
    '# TYPE msup_sidecar_requests_total counter',
  ];
  const retries: string[] = [
    `# HELP msup_sidecar_retries_total ${HELP.retries}`,
    '# TYPE msup_sidecar_retries_total counter',
  ];
  const latency: string[] = [
    `# HELP msup_sidecar_request_duration_seconds ${HELP.latency}`,
    '# TYPE msup_sidecar_request_duration_seconds histogram',
  ];
  for (const { service, index, series } of newestPerSlot(instances)) {
    for (const s of series) {
      const base = { service, instance: String(index), direction: s.direction, peer: s.peer, route: s.route };
      requests.push(
        `msup_sidecar_requests_total${labels({ ...base, classification: 'success' })} ${s.successes}`,
      );
      requests.push(
        `msup_sidecar_requests_total${labels({ ...base, classification: 'failure' })} ${s.requests - s.successes}`,
      );
      if (s.direction === 'outbound') retries.push(`msup_sidecar_retries_total${labels(base)} ${s.retries}`);
      let cumulative = 0;
      LATENCY_BUCKETS_MS.forEach((bound, i) => {
        cumulative += s.buckets[i] ?? 0;
        latency.push(
          `msup_sidecar_request_duration_seconds_bucket${labels({ ...base, le: seconds(bound) })} ${cumulative}`,
        );
      });
      latency.push(
        `msup_sidecar_request_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${s.requests}`,
      );
      latency.push(`msup_sidecar_request_duration_seconds_sum${labels(base)} ${s.sumMs / 1000}`);
      latency.push(`msup_sidecar_request_duration_seconds_count${labels(base)} ${s.requests}`);
    }
  }
  return `${[...requests, ...retries, ...latency].join('\n')}\n`;
}
